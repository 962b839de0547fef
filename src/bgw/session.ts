/**
 * One BSLD's sessions (Clause 8 stage b) as the BGW runs them: one operation at a time, the
 * connection kept warm for a while so that a second command is fast, status reports handled
 * while connected, and commands pushed by the RAS run only with the frames the RAS built.
 */
import { randomInt } from 'node:crypto';
import { BehaviorSubject, Subject } from 'rxjs';
import {
  LockState,
  OperationType,
  Result,
  SessionRole,
  describeResult,
  isLockState,
  openSession,
  type ChannelPair,
  type DoorState,
  type LockMessage,
} from '../protocol/index.js';
import { BgwError, withTimeout } from './errors.js';

export type LockOp = 'unlock' | 'lock' | 'status';

/** What the BGW needs of a BLE link (BsldLink implements it; tests may fake it). */
export interface LockLink {
  readonly deviceId: string;
  readonly isConnected: boolean;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  readChallenge(): Promise<Buffer>;
  writeFrame(frame: Buffer): Promise<void>;
  onFrame(listener: (frame: Buffer) => void): () => void;
  onDisconnect(listener: () => void): () => void;
  /** Model and firmware from the Info characteristic, where the lock has one. */
  readInfo?(): Promise<{ model: string; firmware: string } | undefined>;
}

export interface SessionGrant {
  sessionKey: Buffer;
  ownerAccountId: string;
  role: 'owner' | 'member';
}

export interface RemoteOutcomeReport {
  state: string;
  result?: number;
  lockState?: number;
  /** The RAS could not be reached; the authority keeps the frames and sends them again later. */
  queued?: true;
}

/** What the BGW needs of the RAS; the RAC client provides it. */
export interface BgwAuthority {
  /** BsldSession: the authorisation point of every connection. */
  openSession(deviceId: string, challenge: Buffer): Promise<SessionGrant>;
  /** OperationFrames: the RAS-built Table 5 and Table 7 ciphertexts of a pushed command. */
  operationFrames(operationId: number, challenge: Buffer): Promise<Buffer[]>;
  /** OperationResult: every lock frame of the connection, or that the command expired. */
  operationResult(operationId: number, report: { challenge: Buffer; frames: Buffer[] } | { expired: true }): Promise<RemoteOutcomeReport>;
}

export interface LockSnapshot {
  lockState: LockState;
  battery: number;
  doorState: DoorState;
  /** Authenticated (from a lock frame under K_s or a RAS-verified result) or not. */
  verified: boolean;
  at: number;
}

export type LockEvent =
  | { kind: 'statusReport'; cause: number; snapshot: LockSnapshot }
  | { kind: 'operation'; op: LockOp; result: number; snapshot: LockSnapshot; remote: boolean }
  | { kind: 'disconnected' };

export interface PushedCommand {
  operationId: number;
  op: LockOp;
  /** Unix seconds; the command is never executed at or after it. */
  expiresAt: number;
}

export interface SessionOptions {
  /** Keep an idle stage-b connection this long (within the lock's 60 s session limit). */
  idleMs: number;
  /** A warm session older than this is replaced by a fresh one before use. */
  maxSessionMs: number;
  /** How long to wait for Table 6 and other prompt answers. */
  answerTimeoutMs: number;
  /** How long to wait for Table 8 (the motor takes time). */
  motorTimeoutMs: number;
  now: () => number;
  log: { debug(msg: string): void; info(msg: string): void; warn(msg: string): void };
}

export const DEFAULT_SESSION_OPTIONS: Omit<SessionOptions, 'log'> = {
  idleMs: 20_000,
  maxSessionMs: 50_000,
  answerTimeoutMs: 3_000,
  motorTimeoutMs: 10_000,
  now: () => Date.now(),
};

const OP_TYPES: Record<LockOp, OperationType> = {
  unlock: OperationType.Unlock,
  lock: OperationType.Lock,
  status: OperationType.Query,
};

interface Warm {
  channels: ChannelPair;
  openedAt: number;
}

interface Waiter {
  accept(msg: LockMessage): boolean;
  resolve(msg: LockMessage): void;
  reject(err: BgwError): void;
}

export class LockSession {
  readonly state$ = new BehaviorSubject<LockSnapshot | undefined>(undefined);
  readonly events$ = new Subject<LockEvent>();
  /** The lock's model and firmware, read once on the first connection. */
  readonly info$ = new BehaviorSubject<{ model: string; firmware: string } | undefined>(undefined);
  private readonly options: SessionOptions;
  private tail: Promise<unknown> = Promise.resolve();
  private warm: Warm | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private waiter: Waiter | undefined;
  /** Raw frames of a pushed command's connection, which the BGW cannot decrypt. */
  private rawSink: ((frame: Buffer) => void) | undefined;
  private closed = false;
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly link: LockLink,
    private readonly authority: BgwAuthority,
    options: Partial<SessionOptions> & Pick<SessionOptions, 'log'>,
  ) {
    this.options = { ...DEFAULT_SESSION_OPTIONS, ...options };
    this.unsubscribe = [
      link.onFrame((frame) => {
        this.onFrame(frame);
      }),
      link.onDisconnect(() => {
        this.onDisconnected();
      }),
    ];
  }

  get deviceId(): string {
    return this.link.deviceId;
  }

  /** Whether a stage-b connection is open and usable now. */
  get isWarm(): boolean {
    return this.warm !== undefined && this.link.isConnected;
  }

  /** Runs a local operation (HomeKit); queued behind any running one. */
  operate(op: LockOp): Promise<LockSnapshot> {
    return this.enqueue(() => this.runLocal(op));
  }

  /** Runs a command the RAS pushed for a remote RAC; never after its expiresAt. */
  runCommand(command: PushedCommand): Promise<RemoteOutcomeReport> {
    return this.enqueue(() => this.runPushed(command));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearIdle();
    for (const u of this.unsubscribe) u();
    this.failWaiter(new BgwError('closed', 'the gateway is shutting down'));
    this.warm = undefined;
    await this.link.disconnect().catch(() => undefined);
    this.state$.complete();
    this.events$.complete();
    this.info$.complete();
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new BgwError('closed', 'the gateway is shutting down'));
    const run = this.tail.then(task, task);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async runLocal(op: LockOp): Promise<LockSnapshot> {
    this.clearIdle();
    try {
      const reused = this.isWarm;
      try {
        return await this.attemptLocal(op);
      } catch (err) {
        // A warm link can die unseen (the lock dropped it, BlueZ has not told us yet). Table 7
        // sets a target state, so running it again on a fresh session is safe; once only.
        if (!reused || !(err instanceof BgwError) || !['disconnected', 'unreachable', 'bus', 'timeout'].includes(err.code)) throw err;
        this.options.log.debug(`${this.deviceId}: the kept connection was gone; retrying on a fresh session`);
        await this.drop();
        return await this.attemptLocal(op);
      }
    } finally {
      this.scheduleIdle();
    }
  }

  private async attemptLocal(op: LockOp): Promise<LockSnapshot> {
    let table7Sent = false;
    try {
      const warm = await this.ensureWarm();
      const operationId = randomInt(0, 0xffffffff);
      table7Sent = true;
      const answer = await this.exchange(
        warm,
        { kind: 'operation', op: OP_TYPES[op], operationId, ts: this.unixNow() },
        (m) => m.kind === 'operationResponse' && m.operationId === operationId,
        this.options.motorTimeoutMs,
      );
      if (answer.kind !== 'operationResponse') throw new BgwError('protocol', 'unexpected answer to Table 7');
      let snapshot = this.snapshot(answer.lockState, answer.battery, answer.doorState, true);
      // Busy: the motor is running (another operation, an auto-lock, or this one's Table 7 taken
      // just before a lost link): the state in the answer is about to change.
      if (answer.result === Result.Busy) snapshot = this.outcomeUnknown();
      this.events$.next({ kind: 'operation', op, result: answer.result, snapshot, remote: false });
      if (answer.result !== Result.Ok) {
        throw new BgwError('refused', `the lock refused to ${op}: ${describeResult(answer.result)}`, { result: answer.result });
      }
      return snapshot;
    } catch (err) {
      if (!(err instanceof BgwError && err.code === 'refused')) {
        if (table7Sent) this.outcomeUnknown();
        await this.drop();
      }
      throw err;
    }
  }

  /**
   * Table 7 may have reached the lock but its Table 8 did not come back: the bolt may have moved.
   * Showing the last verified state would tell HomeKit "secured" of a lock that may be open.
   */
  private outcomeUnknown(): LockSnapshot {
    const prev = this.state$.value;
    return this.snapshot(LockState.Unknown, prev?.battery ?? 0, prev?.doorState ?? 0xff, false);
  }

  /** A live stage-b connection: the warm one, or connect → C → RAS session → Table 5/6. */
  private async ensureWarm(): Promise<Warm> {
    if (this.warm && this.link.isConnected && this.options.now() - this.warm.openedAt < this.options.maxSessionMs) {
      return this.warm;
    }
    await this.drop();
    await this.link.connect();
    const challenge = await this.link.readChallenge();
    const grant = await this.authority.openSession(this.link.deviceId, challenge);
    // Read once, after the session is granted, so it never delays the lock's 5 s first-frame limit
    // by more than one GATT read; a lock without the characteristic simply has no info.
    if (!this.info$.value && this.link.readInfo) {
      const info = await this.link.readInfo().catch(() => undefined);
      if (info) this.info$.next(info);
    }
    const warm: Warm = { channels: openSession(grant.sessionKey, challenge), openedAt: this.options.now() };
    this.warm = warm;
    const answer = await this.exchange(
      warm,
      {
        kind: 'authenticate',
        role: grant.role === 'owner' ? SessionRole.Owner : SessionRole.Member,
        accountId: grant.ownerAccountId,
        ts: this.unixNow(),
      },
      (m) => m.kind === 'authenticateResponse',
      this.options.answerTimeoutMs,
    );
    if (answer.kind !== 'authenticateResponse') throw new BgwError('protocol', 'unexpected answer to Table 5');
    this.snapshot(answer.lockState, answer.battery, answer.doorState, true);
    if (answer.result !== Result.Ok) {
      // The lock closes a refused session itself; nothing of it is reusable.
      await this.drop();
      throw new BgwError('refused', `the lock refused the session: ${describeResult(answer.result)}`, { result: answer.result });
    }
    this.options.log.debug(`${this.deviceId}: stage-b session open`);
    return warm;
  }

  /** Writes one gateway frame and waits for the lock frame that answers it. */
  private async exchange(warm: Warm, msg: Parameters<ChannelPair['toLock']['sealMessage']>[0], accept: (m: LockMessage) => boolean, timeoutMs: number): Promise<LockMessage> {
    const answered = new Promise<LockMessage>((resolve, reject) => {
      this.waiter = { accept, resolve, reject };
    });
    answered.catch(() => undefined);
    try {
      await this.link.writeFrame(warm.channels.toLock.sealMessage(msg));
      return await withTimeout(answered, timeoutMs, `the lock's answer to ${msg.kind}`);
    } finally {
      this.waiter = undefined;
    }
  }

  private async runPushed(command: PushedCommand): Promise<RemoteOutcomeReport> {
    this.clearIdle();
    const expired = () => this.unixNow() >= command.expiresAt;
    if (expired()) return this.reportExpired(command);
    // The lock takes one connection; a pushed command cannot use the BGW's own session.
    await this.drop();
    const frames: Buffer[] = [];
    let notify: (() => void) | undefined;
    this.rawSink = (frame) => {
      frames.push(frame);
      notify?.();
    };
    const nextFrame = (count: number, timeoutMs: number) =>
      frames.length >= count
        ? Promise.resolve()
        : withTimeout(
            new Promise<void>((resolve) => {
              notify = () => {
                if (frames.length >= count) resolve();
              };
            }),
            timeoutMs,
            'the lock',
          );
    let table7Sent = false;
    try {
      await this.link.connect();
      const challenge = await this.link.readChallenge();
      if (expired()) return await this.reportExpired(command);
      const [table5, table7] = await this.authority.operationFrames(command.operationId, challenge);
      if (!table5 || !table7) throw new BgwError('ras', 'the RAS sent no frames for the command');
      await this.link.writeFrame(table5);
      await nextFrame(1, this.options.answerTimeoutMs);
      // Checked again right before the frame that moves the bolt: never late.
      if (expired()) return await this.reportExpired(command);
      table7Sent = true;
      await this.link.writeFrame(table7);
      let report: RemoteOutcomeReport = { state: 'pending' };
      for (let want = 2; report.state === 'pending' && !report.queued && want <= 6; want++) {
        await nextFrame(want, this.options.motorTimeoutMs).catch(() => undefined);
        report = await this.authority.operationResult(command.operationId, { challenge, frames: [...frames] });
      }
      if (report.lockState !== undefined && isLockState(report.lockState)) {
        const prev = this.state$.value;
        this.snapshot(report.lockState, prev?.battery ?? 0, prev?.doorState ?? 0xff, true);
      } else if (report.state === 'pending') {
        this.outcomeUnknown();
      }
      const snapshot = this.state$.value;
      if (snapshot) this.events$.next({ kind: 'operation', op: command.op, result: report.result ?? -1, snapshot, remote: true });
      return report;
    } catch (err) {
      if (table7Sent) this.outcomeUnknown();
      throw err;
    } finally {
      this.rawSink = undefined;
      await this.link.disconnect().catch(() => undefined);
    }
  }

  private async reportExpired(command: PushedCommand): Promise<RemoteOutcomeReport> {
    this.options.log.warn(`${this.deviceId}: remote ${command.op} (operation ${command.operationId}) expired before it could run; not executed`);
    return this.authority.operationResult(command.operationId, { expired: true });
  }

  private onFrame(frame: Buffer): void {
    if (this.rawSink) {
      this.rawSink(frame);
      return;
    }
    const warm = this.warm;
    if (!warm) return;
    let msg: LockMessage;
    try {
      msg = warm.channels.fromLock.openMessage(frame) as LockMessage;
    } catch (err) {
      // One bad frame ends the connection (the lock's own rule, mirrored by the gateway).
      this.options.log.warn(`${this.deviceId}: dropped the connection after a bad frame from the lock (${err instanceof Error ? err.message : String(err)})`);
      this.failWaiter(new BgwError('protocol', 'a frame from the lock failed verification'));
      void this.drop();
      return;
    }
    if (msg.kind === 'statusReport') {
      const snapshot = this.snapshot(msg.lockState, msg.battery, msg.doorState, true);
      this.events$.next({ kind: 'statusReport', cause: msg.cause, snapshot });
    }
    if (this.waiter?.accept(msg)) this.waiter.resolve(msg);
  }

  private onDisconnected(): void {
    if (this.warm) this.options.log.debug(`${this.deviceId}: connection closed`);
    this.warm = undefined;
    this.failWaiter(new BgwError('disconnected', 'the lock dropped the connection'));
    if (!this.closed) this.events$.next({ kind: 'disconnected' });
  }

  private failWaiter(err: BgwError): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private async drop(): Promise<void> {
    this.warm = undefined;
    if (this.link.isConnected) await this.link.disconnect().catch(() => undefined);
  }

  private snapshot(lockState: LockState, battery: number, doorState: DoorState, verified: boolean): LockSnapshot {
    const s: LockSnapshot = { lockState, battery, doorState, verified, at: this.options.now() };
    this.state$.next(s);
    return s;
  }

  private scheduleIdle(): void {
    this.clearIdle();
    if (this.closed || !this.warm) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.enqueue(() => this.drop()).catch(() => undefined);
    }, this.options.idleMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private unixNow(): number {
    return Math.floor(this.options.now() / 1000);
  }
}

export { LockState };
