/** Milliseconds since the epoch; injectable so expiry can be tested without waiting. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Unix seconds, the unit of every timestamp in Clause 7 and of a frame's TS. */
export function unixSeconds(clock: Clock): number {
  return Math.floor(clock() / 1000);
}
