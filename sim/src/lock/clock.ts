/**
 * Time as the lock sees it. Everything that waits (motor, 5 s and 60 s rules, pairing window,
 * backoff, advert tick, auto-lock) goes through a Clock, so tests can move time by hand.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds; only differences mean anything. */
  now(): number;
  /** Host wall time in Unix milliseconds; only seeds a factory-fresh lock's RTC. */
  wallNow(): number;
  setTimer(fn: () => void, ms: number): Timer;
}

/** Real time. Timers are unref'd so a forgotten lock never keeps a process alive. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => { clearTimeout(t); } };
  },
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Time that moves only when a test says so; timers fire in order, including ones they set. */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(private readonly wallStartMs = 1_795_000_000_000) {}

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.wallStartMs + this.t;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.pending.push(p);
    return {
      cancel: () => {
        p.cancelled = true;
      },
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled);
      const due = this.pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending.splice(this.pending.indexOf(due), 1);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }

  /** Timers still waiting (for tests that assert nothing is left behind). */
  get pendingCount(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }
}
