/**
 * What a lock keeps across restarts: its owner, its clock, its counters and its bolt. A
 * restarted lock must still answer its owner's sessions and must never reuse a boot id.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface PersistedLockState {
  version: 1;
  boundAccountId: string | null;
  bootId: number;
  /** The lock's RTC (Unix seconds) when saved, and the host's wall time then. */
  rtc: { unix: number; savedAtWallMs: number };
  lockState: number;
  /** Percent, fractional: drains a little per motor run. */
  battery: number;
  doorState: number;
  stateCounter: number;
  opCounter: number;
  /** The bolt is blocked (an injected jam), so every motor run ends jammed. */
  blocked: boolean;
}

export interface StateStore {
  load(): PersistedLockState | undefined;
  save(state: PersistedLockState): void;
}

export class MemoryStateStore implements StateStore {
  private state: PersistedLockState | undefined;
  constructor(initial?: PersistedLockState) {
    this.state = initial && structuredClone(initial);
  }
  load(): PersistedLockState | undefined {
    return this.state && structuredClone(this.state);
  }
  save(state: PersistedLockState): void {
    this.state = structuredClone(state);
  }
}

/** One JSON file per lock, replaced atomically so a kill mid-write never loses the owner. */
export class FileStateStore implements StateStore {
  constructor(readonly file: string) {}

  load(): PersistedLockState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed = JSON.parse(text) as Partial<PersistedLockState>;
    if (parsed.version !== 1) throw new Error(`${this.file}: unknown state version`);
    return parsed as PersistedLockState;
  }

  save(state: PersistedLockState): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
