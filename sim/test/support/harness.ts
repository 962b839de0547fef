/** A lock core on a ManualClock with a scripted CSPRNG, and a gateway's view of one connection. */
import { randomBytes } from 'node:crypto';
import {
  deriveSessionKey,
  deriveStageAKeys,
  openConnection,
  FrameChannel,
  type ChannelPair,
  type Message,
} from 'homebridge-igrs-smartlock/protocol';
import { ManualClock, MemoryStateStore, SimLock, type CloseReason, type LockConfig, type LockConnection, type PersistedLockState, type StateStore } from '../../src/lock/index.js';
import { hex, vectors } from '../../../test/support/vectors.js';

export const T0 = 1_795_000_000;
export const DEVICE_KEY = hex(vectors.deviceKey);
export const ACCOUNT = vectors.accountId;
export const OTHER_ACCOUNT = 'ffeeddccbbaa998877';

export interface HarnessOptions {
  config?: Partial<LockConfig>;
  state?: Partial<PersistedLockState>;
  challenges?: Buffer[];
  store?: StateStore;
}

export function persisted(state: Partial<PersistedLockState> = {}): PersistedLockState {
  return {
    version: 1,
    boundAccountId: null,
    bootId: 0,
    rtc: { unix: T0, savedAtWallMs: T0 * 1000 },
    lockState: 1,
    battery: 100,
    doorState: 0xff,
    stateCounter: 0,
    opCounter: 0,
    blocked: false,
    ...state,
  };
}

export class Harness {
  readonly clock = new ManualClock(T0 * 1000);
  readonly store: StateStore;
  readonly lock: SimLock;
  private readonly challenges: Buffer[];

  constructor(options: HarnessOptions = {}) {
    this.store = options.store ?? new MemoryStateStore(options.state ? persisted(options.state) : undefined);
    this.challenges = [...(options.challenges ?? [])];
    this.lock = new SimLock(
      { deviceId: vectors.deviceId, deviceKey: DEVICE_KEY, setupCode: '12345678', name: 'Test lock', batteryDrainPerOp: 0, ...options.config },
      { clock: this.clock, store: this.store, random: (n) => this.challenges.shift() ?? randomBytes(n) },
    );
  }

  connect(challenge?: Buffer): Conn {
    if (challenge) this.challenges.unshift(challenge);
    return new Conn(this.lock);
  }
}

/** One connection as a gateway holding the right keys sees it. */
export class Conn {
  readonly sent: Buffer[] = [];
  readonly closed: CloseReason[] = [];
  readonly conn: LockConnection;
  private channels: ChannelPair | undefined;
  private toLockKey: Buffer | undefined;
  private lastToLock: Buffer | undefined;

  constructor(private readonly lock: SimLock) {
    this.conn = lock.connect({
      notify: (f) => this.sent.push(f),
      close: (r) => this.closed.push(r),
    });
  }

  get challenge(): Buffer {
    return this.conn.challenge;
  }

  stageA(): this {
    const keys = deriveStageAKeys(DEVICE_KEY, this.challenge);
    this.channels = openConnection(keys, this.challenge);
    this.toLockKey = keys.toLock;
    return this;
  }

  stageB(account = ACCOUNT): this {
    const key = deriveSessionKey(DEVICE_KEY, account, this.challenge);
    // Separate anchors: this gateway may send what the lock must refuse (TS out of window).
    this.channels = {
      toLock: new FrameChannel({ key, challenge: this.challenge, direction: 'toLock' }),
      fromLock: new FrameChannel({ key, challenge: this.challenge, direction: 'fromLock' }),
    };
    this.toLockKey = key;
    return this;
  }

  /** Seals with a one-shot channel at the chain's position, so nothing is refused on this side. */
  send(msg: Message): Buffer {
    const iv = this.lastToLock ?? this.challenge;
    const frame = new FrameChannel({ key: this.toLockKey!, challenge: iv, direction: 'toLock' }).sealMessage(msg);
    this.lastToLock = frame;
    this.conn.write(frame);
    return frame;
  }

  raw(frame: Buffer): void {
    this.conn.write(frame);
  }

  /** Decodes every frame the lock sent since the last call. */
  received(): Message[] {
    const out = this.sent.splice(0).map((f) => this.channels!.fromLock.openMessage(f));
    return out;
  }
}
