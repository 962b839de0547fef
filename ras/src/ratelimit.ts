/**
 * Fixed-window counters in memory. A restart forgets them, which only ever lets a caller in
 * early; the scrypt cost of each password or setup-code guess stays.
 */
import type { Clock } from './clock.js';
import type { RateLimit } from './config.js';
import { RasError } from './errors.js';

interface Window {
  start: number;
  count: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private sweeps = 0;

  constructor(private readonly clock: Clock) {}

  /** 429 if the window under `key` is full, without counting a call. */
  check(key: string, rule: RateLimit): void {
    const w = this.windows.get(key);
    const now = this.clock();
    const span = rule.windowSeconds * 1000;
    if (w && now - w.start < span && w.count >= rule.limit) {
      const retryAfter = Math.max(1, Math.ceil((w.start + span - now) / 1000));
      throw new RasError(429, 'rate limited', { retryAfter }, retryAfter);
    }
  }

  /** Counts one call under `key`; 429 with Retry-After once the window is full. */
  hit(key: string, rule: RateLimit): void {
    const now = this.clock();
    const span = rule.windowSeconds * 1000;
    let w = this.windows.get(key);
    if (!w || now - w.start >= span) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= rule.limit) {
      const retryAfter = Math.max(1, Math.ceil((w.start + span - now) / 1000));
      throw new RasError(429, 'rate limited', { retryAfter }, retryAfter);
    }
    w.count++;
    if (++this.sweeps % 1000 === 0) this.sweep(now);
  }

  private sweep(now: number): void {
    // Windows are at most a day long; anything older is dead.
    for (const [k, w] of this.windows) if (now - w.start > 86_400_000) this.windows.delete(k);
  }
}
