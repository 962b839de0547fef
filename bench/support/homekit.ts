/**
 * Watching HomeKit the two ways a controller can: by polling GETs (what the bench's ratios use:
 * the value is there when a GET returns it) and by events (what the Home app sees, including
 * HAP-NodeJS's up-to-250 ms event coalescing, which is not the plugin's time).
 */
import { performance } from 'node:perf_hooks';
import type { Controller } from '../../test/support/homebridge.js';

/**
 * One HAP request in flight at a time on the controller's connection: hap-controller's
 * persistent connection stalled for good under 20 concurrent writers and a poller (seen here),
 * and the Home app does not pipeline either.
 */
export class HapSerial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
    const next = this.tail.then(() => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => { reject(new Error(`a HAP request took over ${timeoutMs} ms`)); }, timeoutMs);
        }),
      ]).finally(() => { clearTimeout(timer); });
    });
    this.tail = next.catch(() => undefined);
    return next;
  }
}

interface Waiter {
  id: string;
  value: unknown;
  resolve(at: number): void;
  reject(err: Error): void;
  deadline: number;
}

/** One loop of batched GETs for every characteristic someone is waiting on. */
export class StatePoller {
  private readonly waiters = new Set<Waiter>();
  private running = false;
  gets = 0;

  constructor(
    private readonly home: Controller,
    private readonly serial: HapSerial,
  ) {}

  get waiting(): number {
    return this.waiters.size;
  }

  /** Resolves with performance.now() of the GET answer that first showed `value`. */
  waitFor(id: string, value: unknown, timeoutMs = 20_000): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiters.add({ id, value, resolve, reject, deadline: performance.now() + timeoutMs });
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.waiters.size > 0) {
        const ids = [...new Set([...this.waiters].map((w) => w.id))];
        let values: Map<string, unknown>;
        try {
          const { characteristics } = await this.serial.run(() => this.home.client.getCharacteristics(ids));
          this.gets++;
          values = new Map(characteristics.map((c) => [`${String(c.aid)}.${String(c.iid)}`, c.value]));
        } catch (err) {
          for (const w of this.waiters) w.reject(err instanceof Error ? err : new Error(String(err)));
          this.waiters.clear();
          return;
        }
        const now = performance.now();
        for (const w of [...this.waiters]) {
          if (values.get(w.id) === w.value) {
            this.waiters.delete(w);
            w.resolve(now);
          } else if (now > w.deadline) {
            this.waiters.delete(w);
            w.reject(new Error(`${w.id} did not become ${String(w.value)} in time`));
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** Characteristic events on a second paired connection, as the Home app subscribes. */
export class EventWatcher {
  private readonly waiters = new Set<Omit<Waiter, 'deadline'> & { timer: NodeJS.Timeout }>();

  private constructor(private readonly controller: Controller) {
    controller.client.on('event', (ev: { characteristics?: { aid: unknown; iid: unknown; value: unknown }[] }) => {
      const now = performance.now();
      for (const c of ev.characteristics ?? []) {
        const id = `${String(c.aid)}.${String(c.iid)}`;
        for (const w of [...this.waiters]) {
          if (w.id === id && w.value === c.value) {
            this.waiters.delete(w);
            clearTimeout(w.timer);
            w.resolve(now);
          }
        }
      }
    });
  }

  static async watch(controller: Controller, ids: string[]): Promise<EventWatcher> {
    const watcher = new EventWatcher(controller);
    await controller.client.subscribeCharacteristics(ids);
    return watcher;
  }

  /** Resolves with performance.now() of the event carrying `value`; NaN if none came in time. */
  waitFor(id: string, value: unknown, timeoutMs = 20_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        resolve(Number.NaN);
      }, timeoutMs);
      const w = { id, value, resolve, reject, timer };
      this.waiters.add(w);
    });
  }

  cancelAll(): void {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
  }
}
