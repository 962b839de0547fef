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

/**
 * A point of a connection at which the link can be lost (a supervision timeout, the lock's
 * firmware resetting), named by what the central has just seen. Counts are per connection:
 * `write:2` is its second Command write (Table 7 in stage b), `notify:1` its first
 * notification (Table 4 in stage a, Table 6 in stage b), `notify:2` the second (Table 8, or a
 * status report that came first).
 *
 * - `connect`: the lock took the connection, the link is lost before Connect replies (Connect
 *   fails as an aborted LE connect);
 * - `connected`: after the Connect reply, before ServicesResolved=true;
 * - `services-resolved`: right after ServicesResolved=true;
 * - `start-notify`: right after the StartNotify reply on Response;
 * - `read-challenge`: right after the Challenge read reply;
 * - `write:N`: the lock takes and acts on the N-th Command write, the link is lost before it answers;
 * - `notify:N`: the lock sends its N-th notification, the link is lost before it arrives;
 * - `notified:N`: the link is lost right after the N-th notification arrived;
 * - `disconnect`: the link is lost while a Disconnect is pending (Connected=false before its reply).
 */
export type DropStep =
  | 'connect'
  | 'connected'
  | 'services-resolved'
  | 'start-notify'
  | 'read-challenge'
  | `write:${number}`
  | `notify:${number}`
  | `notified:${number}`
  | 'disconnect';

const DROP_STEP = /^(connect|connected|services-resolved|start-notify|read-challenge|disconnect|(write|notify|notified):[1-9]\d*)$/;

export function parseDropStep(text: string): DropStep {
  if (!DROP_STEP.test(text)) {
    throw new Error(`unknown drop step ${text} (connect, connected, services-resolved, start-notify, read-challenge, write:N, notify:N, notified:N, disconnect)`);
  }
  return text as DropStep;
}

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
  /** The next connection to reach this step loses its link there (once). */
  dropAt: DropStep | undefined;

  /** Drop the link right after the lock takes this Command write (1 = the first): `dropAt = write:N`. */
  get dropAfterWrites(): number | undefined {
    const m = /^write:(\d+)$/.exec(this.dropAt ?? '');
    return m ? Number(m[1]) : undefined;
  }

  set dropAfterWrites(n: number | undefined) {
    this.dropAt = n === undefined ? undefined : `write:${n}`;
  }

  /** Whether the link is to be lost at `step` now; a hit is used up. */
  takeDrop(step: DropStep): boolean {
    if (this.dropAt !== step) return false;
    this.dropAt = undefined;
    return true;
  }

  failConnect(kind: ConnectFailure = 'failed', times = 1): void {
    for (let i = 0; i < times; i++) this.connectFailures.push(kind);
  }

  clear(): void {
    this.outOfRange = false;
    this.silent = false;
    this.extraConnectMs = 0;
    this.extraGattMs = 0;
    this.connectFailures.length = 0;
    this.dropAt = undefined;
  }
}
