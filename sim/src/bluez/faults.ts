/** Radio conditions and misbehaviour the emulator can inject, per lock, at any time. */

export interface LatencyProfile {
  /** Added to every Device1.Connect. */
  connectMs: number;
  /** Added to every GATT method call (ReadValue, WriteValue, StartNotify, StopNotify). */
  gattMs: number;
}

export const LATENCY_PROFILES = {
  zero: { connectMs: 0, gattMs: 0 },
  /** What a later benchmark uses: a typical LE link on a Raspberry Pi class host. */
  realistic: { connectMs: 150, gattMs: 30 },
} as const satisfies Record<string, LatencyProfile>;

export type LatencyName = keyof typeof LATENCY_PROFILES;

export function resolveLatency(latency: LatencyName | LatencyProfile | undefined): LatencyProfile {
  if (latency === undefined) return { ...LATENCY_PROFILES.zero };
  if (typeof latency === 'string') {
    const profile = (LATENCY_PROFILES as Record<string, LatencyProfile | undefined>)[latency];
    if (!profile) throw new Error(`unknown latency profile ${latency}`);
    return { ...profile };
  }
  return { ...latency };
}

/** How an injected Connect failure looks: bluetoothd's two common answers. */
export type ConnectFailure = 'failed' | 'in-progress';

export class LockFaults {
  /** Not advertising and not connectable; a live link drops (supervision timeout). */
  outOfRange = false;
  /** The lock's firmware hangs: the link and GATT work, but it never answers or closes. */
  silent = false;
  /** Extra latency of this lock's link, on top of the global profile. */
  extraConnectMs = 0;
  extraGattMs = 0;
  /** Each Connect takes the next entry and fails with it. */
  readonly connectFailures: ConnectFailure[] = [];
  /** Drop the link right after the lock takes this Command write (1 = the first) of the next connection. */
  dropAfterWrites: number | undefined;

  failConnect(kind: ConnectFailure = 'failed', times = 1): void {
    for (let i = 0; i < times; i++) this.connectFailures.push(kind);
  }

  clear(): void {
    this.outOfRange = false;
    this.silent = false;
    this.extraConnectMs = 0;
    this.extraGattMs = 0;
    this.connectFailures.length = 0;
    this.dropAfterWrites = undefined;
  }
}
