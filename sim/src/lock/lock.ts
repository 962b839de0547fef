/**
 * The BSLD itself: a state machine over the profile's Clause 8 rules, with no I/O of its own.
 * A front end (the BlueZ emulator here, a real bluetoothd GATT application later) feeds it
 * Command writes through a LockConnection and carries its notifications and closes.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import {
  ADVERT_TICK_SECONDS,
  BindType,
  ChannelError,
  DEFAULT_COMPANY_ID,
  DoorState,
  LockState,
  LockTiming,
  OperationType,
  Result,
  StatusCause,
  deriveAdvertKey,
  deriveSessionKey,
  deriveStageAKeys,
  encodeAdvert,
  hexToBytes,
  openConnection,
  openSession,
  sealAdvertState,
  deviceIdToBytes,
  type ChannelPair,
  type GatewayMessage,
  type LockMessage,
  type LockOperationRequest,
  type StatusReport,
} from 'homebridge-igrs-smartlock/protocol';
import { systemClock, type Clock, type Timer } from './clock.js';
import { MemoryStateStore, type PersistedLockState, type StateStore } from './store.js';

export interface LockConfig {
  deviceId: string;
  /** K_d as 32 hex digits or 16 bytes. */
  deviceKey: string | Uint8Array;
  setupCode: string;
  name: string;
  model?: string;
  firmware?: { major: number; minor: number };
  doorSensor?: boolean;
  /** True: the pairing button was just pressed when the lock starts. */
  pairingMode?: boolean;
  companyId?: number;
  /** How long the motor takes for one lock or unlock. */
  motorMs?: number;
  /** Battery percent used per motor run. */
  batteryDrainPerOp?: number;
  /** Battery of a factory-fresh lock. */
  battery?: number;
  /** Re-lock this long after any unlock; 0 disables auto-lock. */
  autoLockMs?: number;
  /** Time the lock takes to write a binding before its Table 4 answer. */
  stageAAnswerMs?: number;
  /** Below this the advert's low-battery flag is set. */
  lowBatteryPercent?: number;
  /** Below this the motor refuses to run (result 0x07). */
  criticalBatteryPercent?: number;
}

export const LOCK_DEFAULTS = {
  model: 'IGRS-SIM-1',
  firmware: { major: 1, minor: 2 },
  motorMs: 800,
  batteryDrainPerOp: 0.1,
  battery: 100,
  autoLockMs: 0,
  stageAAnswerMs: 0,
  lowBatteryPercent: 20,
  criticalBatteryPercent: 5,
  /** Backoff after the first connection without a valid frame; doubles up to LockTiming.maxBackoffMs. */
  firstBackoffMs: 1_000,
} as const;

export interface LockDeps {
  clock?: Clock;
  store?: StateStore;
  /** CSPRNG for challenges; tests inject fixed challenges (the vectors' ones). */
  random?: (n: number) => Buffer;
}

export type CloseReason =
  | 'bad-frame'
  | 'first-frame-timeout'
  | 'session-expired'
  | 'stage-a-done'
  | 'account-mismatch'
  | 'unexpected-frame'
  | 'central'
  | 'link-lost'
  | 'shutdown';

/** What the front end does for the lock: carry a notification, end the link. */
export interface LockLink {
  notify(frame: Buffer): void;
  close(reason: CloseReason): void;
}

export class ConnectionRefused extends Error {
  override readonly name = 'ConnectionRefused';
  constructor(
    readonly reason: 'busy' | 'backoff' | 'stopped',
    readonly retryInMs: number,
  ) {
    super(`lock refuses connections: ${reason}${retryInMs > 0 ? ` for ${Math.ceil(retryInMs)} ms` : ''}`);
  }
}

export interface LockSnapshot {
  deviceId: string;
  name: string;
  model: string;
  boundAccountId: string | null;
  pairingMode: boolean;
  lockState: LockState;
  battery: number;
  doorState: DoorState;
  jammed: boolean;
  lowBattery: boolean;
  blocked: boolean;
  stateCounter: number;
  opCounter: number;
  bootId: number;
  tick: number;
  rtc: number;
  connected: boolean;
  stage: Stage | null;
  motorRunning: boolean;
  backoffMs: number;
}

export type Stage = 'pending' | 'a' | 'b';

export interface LockEvents {
  /** Manufacturer data (public flags or the sealed block) changed. */
  advert: [];
  /** Any change of what `snapshot()` shows. */
  change: [];
  statusReport: [StatusReport];
  /** One human-readable line per notable event, for the CLI. */
  log: [string];
  closed: [CloseReason];
}

type Channels = ChannelPair;

/** One BLE connection as the lock sees it. */
export class LockConnection {
  readonly challenge: Buffer;
  private stage: Stage = 'pending';
  private channels: Channels | undefined;
  private ended = false;
  private authenticated = false;
  private validFrameSeen = false;
  private readonly timers: Timer[] = [];

  /** @internal Created by SimLock.connect. */
  constructor(
    private readonly lock: SimLock,
    private readonly link: LockLink,
    challenge: Buffer,
  ) {
    this.challenge = challenge;
    this.after(LockTiming.firstFrameMs, () => {
      if (!this.validFrameSeen) this.close('first-frame-timeout');
    });
  }

  get open(): boolean {
    return !this.ended;
  }

  get currentStage(): Stage {
    return this.stage;
  }

  /** Whether status reports go out on this connection (stage b after Table 5). */
  get inSession(): boolean {
    return this.authenticated && !this.ended;
  }

  /** A Command write. Anything the lock says back comes through the link. */
  write(data: Uint8Array): void {
    if (this.ended) return;
    try {
      if (this.stage === 'pending') this.first(Buffer.from(data));
      else if (this.stage === 'b') this.inStageB(Buffer.from(data));
      else this.close('unexpected-frame');
    } catch (err) {
      if (!(err instanceof ChannelError)) throw err;
      this.close('bad-frame');
    }
  }

  /** The central went away (Disconnect or a lost link): no answer, no close back. */
  end(reason: CloseReason = 'central'): void {
    this.finish(reason);
  }

  /** @internal The lock sends a frame on this connection's lock→gateway chain. */
  send(msg: LockMessage): void {
    if (this.ended || !this.channels) return;
    let frame: Buffer;
    try {
      frame = this.channels.fromLock.sealMessage(msg);
    } catch (err) {
      // The lock's own frame left the TS window (a clock far off): end rather than throw from a timer.
      if (!(err instanceof ChannelError)) throw err;
      this.close('bad-frame');
      return;
    }
    this.link.notify(frame);
  }

  /** @internal */
  after(ms: number, fn: () => void): void {
    this.timers.push(this.lock.clock.setTimer(fn, ms));
  }

  /** @internal The lock ends the connection. */
  close(reason: CloseReason): void {
    if (this.ended) return;
    this.finish(reason);
    this.link.close(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) t.cancel();
    this.lock.connectionEnded(this, reason, this.validFrameSeen);
  }

  /** The first frame fixes the stage: Table 3 under K_a↓, or Table 5 under K_s; else silence. */
  private first(data: Buffer): void {
    const keys = this.lock.stageAKeys(this.challenge);
    const stageA = openConnection(keys, this.challenge);
    const asA = tryOpen(stageA, data);
    if (asA?.kind === 'writeAccountId') {
      this.accept('a', stageA, asA.ts);
      this.lock.handleTable3(this, asA.type, asA.accountId, asA.ts);
      return;
    }
    const bound = this.lock.boundAccountId;
    if (bound !== null) {
      const stageB = openSession(deriveSessionKey(this.lock.deviceKey, bound, this.challenge), this.challenge);
      const asB = tryOpen(stageB, data);
      if (asB?.kind === 'authenticate') {
        this.accept('b', stageB, asB.ts);
        if (asB.accountId !== bound) {
          this.send(this.lock.table6(Result.AccountMismatch));
          this.close('account-mismatch');
          return;
        }
        this.authenticated = true;
        this.lock.log(`session opened (${asB.role === 1 ? 'owner' : 'member'})`);
        this.send(this.lock.table6(Result.Ok));
        this.after(LockTiming.sessionMs, () => {
          this.close('session-expired');
        });
        return;
      }
    }
    this.close('bad-frame');
  }

  private accept(stage: Stage, channels: Channels, ts: number): void {
    this.stage = stage;
    this.channels = channels;
    this.validFrameSeen = true;
    this.lock.followClock(ts);
  }

  /** After Table 5 only Table 7 is valid; a second Table 5 or anything else ends the connection. */
  private inStageB(data: Buffer): void {
    const msg: GatewayMessage | LockMessage = this.channels!.toLock.openMessage(data);
    if (msg.kind !== 'operation') {
      this.close('unexpected-frame');
      return;
    }
    this.lock.handleOperation(this, msg);
  }
}

function tryOpen(channels: Channels, data: Buffer): GatewayMessage | LockMessage | undefined {
  try {
    return channels.toLock.openMessage(data);
  } catch (err) {
    if (err instanceof ChannelError) return undefined;
    throw err;
  }
}

/** The simulated BSLD. One instance per lock; see docs/simulator.md for its behaviour. */
export class SimLock extends EventEmitter<LockEvents> {
  readonly deviceId: string;
  readonly deviceKey: Buffer;
  readonly setupCode: string;
  readonly name: string;
  readonly model: string;
  readonly firmware: { major: number; minor: number };
  readonly doorSensor: boolean;
  readonly companyId: number;
  readonly clock: Clock;
  private readonly cfg: Required<Pick<LockConfig, 'motorMs' | 'batteryDrainPerOp' | 'autoLockMs' | 'stageAAnswerMs' | 'lowBatteryPercent' | 'criticalBatteryPercent'>>;
  private readonly store: StateStore;
  private readonly random: (n: number) => Buffer;
  private readonly state: PersistedLockState;
  private readonly bootMono: number;

  private rtcUnix: number;
  private rtcAtMono: number;
  private connection: LockConnection | undefined;
  private pairingUntil: number | undefined;
  private pairingTimer: Timer | undefined;
  private motor: Timer | undefined;
  private autoLockTimer: Timer | undefined;
  private autoLockDue = false;
  private tickTimer: Timer | undefined;
  private sealed: Buffer = Buffer.alloc(16);
  private sealedTick = -1;
  private backoffLevel = 0;
  private backoffUntil = 0;
  private stopped = false;

  constructor(config: LockConfig, deps: LockDeps = {}) {
    super();
    deviceIdToBytes(config.deviceId);
    this.deviceId = config.deviceId;
    this.deviceKey = typeof config.deviceKey === 'string' ? hexToBytes(config.deviceKey, 16, 'deviceKey') : Buffer.from(config.deviceKey);
    if (this.deviceKey.length !== 16) throw new Error('deviceKey: must be 16 bytes');
    if (!/^\d{8}$/.test(config.setupCode)) throw new Error('setupCode: must be 8 digits');
    this.setupCode = config.setupCode;
    this.name = config.name;
    this.model = config.model ?? LOCK_DEFAULTS.model;
    this.firmware = config.firmware ?? LOCK_DEFAULTS.firmware;
    this.doorSensor = config.doorSensor ?? false;
    this.companyId = config.companyId ?? DEFAULT_COMPANY_ID;
    this.cfg = {
      motorMs: config.motorMs ?? LOCK_DEFAULTS.motorMs,
      batteryDrainPerOp: config.batteryDrainPerOp ?? LOCK_DEFAULTS.batteryDrainPerOp,
      autoLockMs: config.autoLockMs ?? LOCK_DEFAULTS.autoLockMs,
      stageAAnswerMs: config.stageAAnswerMs ?? LOCK_DEFAULTS.stageAAnswerMs,
      lowBatteryPercent: config.lowBatteryPercent ?? LOCK_DEFAULTS.lowBatteryPercent,
      criticalBatteryPercent: config.criticalBatteryPercent ?? LOCK_DEFAULTS.criticalBatteryPercent,
    };
    this.clock = deps.clock ?? systemClock;
    this.store = deps.store ?? new MemoryStateStore();
    this.random = deps.random ?? randomBytes;

    const loaded = this.store.load();
    const wall = this.clock.wallNow();
    this.state = loaded ?? {
      version: 1,
      boundAccountId: null,
      bootId: 0,
      rtc: { unix: Math.floor(wall / 1000), savedAtWallMs: wall },
      lockState: LockState.Secured,
      battery: config.battery ?? LOCK_DEFAULTS.battery,
      doorState: this.doorSensor ? DoorState.Closed : DoorState.NoSensor,
      stateCounter: 0,
      opCounter: 0,
      blocked: false,
    };
    if (!this.doorSensor) this.state.doorState = DoorState.NoSensor;
    else if (this.state.doorState === DoorState.NoSensor) this.state.doorState = DoorState.Closed;
    // A boot id is never reused, so a gateway can tell a reboot from a replayed advert.
    this.state.bootId = (this.state.bootId + 1) >>> 0;
    // The RTC kept running while the lock was off (it has its own coin cell).
    this.rtcUnix = this.state.rtc.unix + Math.max(0, Math.floor((wall - this.state.rtc.savedAtWallMs) / 1000));
    this.rtcAtMono = this.clock.now();
    this.bootMono = this.clock.now();
    this.persist();
    this.reseal();
    this.scheduleTick();
    if (config.pairingMode) this.pressButton();
  }

  // ---- what the lock is ---------------------------------------------------------------

  get boundAccountId(): string | null {
    return this.state.boundAccountId;
  }

  get pairingMode(): boolean {
    return this.pairingUntil !== undefined;
  }

  get batteryPercent(): number {
    return Math.max(0, Math.min(100, Math.floor(this.state.battery)));
  }

  /** The lock's own clock in Unix seconds: the last accepted connection's first TS plus elapsed time. */
  get rtc(): number {
    return (this.rtcUnix + Math.floor((this.clock.now() - this.rtcAtMono) / 1000)) >>> 0;
  }

  get tick(): number {
    return Math.floor((this.clock.now() - this.bootMono) / (ADVERT_TICK_SECONDS * 1000));
  }

  get activeConnection(): LockConnection | undefined {
    return this.connection?.open ? this.connection : undefined;
  }

  snapshot(): LockSnapshot {
    return {
      deviceId: this.deviceId,
      name: this.name,
      model: this.model,
      boundAccountId: this.state.boundAccountId,
      pairingMode: this.pairingMode,
      lockState: this.state.lockState as LockState,
      battery: this.batteryPercent,
      doorState: this.state.doorState as DoorState,
      jammed: this.state.lockState === LockState.Jammed,
      lowBattery: this.batteryPercent < this.cfg.lowBatteryPercent,
      blocked: this.state.blocked,
      stateCounter: this.state.stateCounter,
      opCounter: this.state.opCounter,
      bootId: this.state.bootId,
      tick: this.tick,
      rtc: this.rtc,
      connected: this.activeConnection !== undefined,
      stage: this.activeConnection?.currentStage ?? null,
      motorRunning: this.motor !== undefined,
      backoffMs: Math.max(0, this.backoffUntil - this.clock.now()),
    };
  }

  /** The 24-byte manufacturer-data payload as advertised now. */
  manufacturerData(): Buffer {
    if (this.sealedTick !== this.tick) this.reseal();
    return encodeAdvert({ registered: this.state.boundAccountId !== null, pairingMode: this.pairingMode, deviceId: this.deviceId }, this.sealed);
  }

  /** The Info characteristic: `model;major.minor`. */
  info(): Buffer {
    return Buffer.from(`${this.model};${this.firmware.major}.${this.firmware.minor}`, 'utf8');
  }

  // ---- connections ---------------------------------------------------------------------

  /** A central connects. Refused while another connection is live or while backing off. */
  connect(link: LockLink): LockConnection {
    if (this.stopped) throw new ConnectionRefused('stopped', 0);
    if (this.activeConnection) throw new ConnectionRefused('busy', 0);
    const wait = this.backoffUntil - this.clock.now();
    if (wait > 0) throw new ConnectionRefused('backoff', wait);
    const conn = new LockConnection(this, link, this.random(16));
    this.connection = conn;
    this.emitChange();
    return conn;
  }

  /** @internal */
  connectionEnded(conn: LockConnection, reason: CloseReason, validFrameSeen: boolean): void {
    if (this.connection === conn) this.connection = undefined;
    if (validFrameSeen) {
      this.backoffLevel = 0;
      this.backoffUntil = 0;
    } else if (reason !== 'shutdown') {
      // Guessing costs a connection, and each wasted one makes the next one later.
      const ms = Math.min(LockTiming.maxBackoffMs, LOCK_DEFAULTS.firstBackoffMs * 2 ** this.backoffLevel);
      this.backoffLevel++;
      this.backoffUntil = this.clock.now() + ms;
    }
    this.log(`connection closed: ${reason}`);
    this.emit('closed', reason);
    this.emitChange();
  }

  /** @internal */
  stageAKeys(challenge: Buffer): { toLock: Buffer; fromLock: Buffer } {
    return deriveStageAKeys(this.deviceKey, challenge);
  }

  /** @internal The clock follows the first frame of each accepted connection. */
  followClock(ts: number): void {
    this.rtcUnix = ts;
    this.rtcAtMono = this.clock.now();
    this.persist();
  }

  /** @internal Table 3 (bind/unbind); answers Table 4 and ends the connection. */
  handleTable3(conn: LockConnection, type: BindType, accountId: string, _ts: number): void {
    let result: Result;
    const bound = this.state.boundAccountId;
    if (type === BindType.Bind) {
      if (this.pairingMode) {
        this.state.boundAccountId = accountId;
        this.endPairing();
        result = Result.Ok;
        this.log(`bound to ${accountId}`);
      } else if (bound === accountId) {
        result = Result.Ok;
      } else {
        result = Result.PairingModeRequired;
      }
    } else if (bound === null) {
      result = Result.NotBound;
    } else if (bound === accountId) {
      this.state.boundAccountId = null;
      result = Result.Ok;
      this.log('unbound');
    } else {
      result = Result.AccountMismatch;
    }
    this.persist();
    this.emit('advert');
    this.emitChange();
    const answer = (): void => {
      conn.send({
        kind: 'writeAccountIdResponse',
        result,
        fwMajor: this.firmware.major,
        fwMinor: this.firmware.minor,
        battery: this.batteryPercent,
        lockState: this.state.lockState as LockState,
        requestType: type,
        // The echo names the request's account, so the RAS can match answer to request.
        accountIdPrefix: accountId.slice(0, 8),
        ts: this.rtc,
      });
      conn.close('stage-a-done');
    };
    if (this.cfg.stageAAnswerMs > 0) conn.after(this.cfg.stageAAnswerMs, answer);
    else answer();
  }

  /** @internal */
  table6(result: Result): LockMessage {
    return {
      kind: 'authenticateResponse',
      result,
      lockState: this.state.lockState as LockState,
      battery: this.batteryPercent,
      doorState: this.state.doorState as DoorState,
      opCounter: this.state.opCounter >>> 0,
      ts: this.rtc,
    };
  }

  private table8(result: Result, operationId: number): LockMessage {
    return {
      kind: 'operationResponse',
      result,
      operationId,
      lockState: this.state.lockState as LockState,
      battery: this.batteryPercent,
      doorState: this.state.doorState as DoorState,
      ts: this.rtc,
    };
  }

  /** @internal Table 7. The answer (Table 8) goes out when the motor stops. */
  handleOperation(conn: LockConnection, op: LockOperationRequest): void {
    const { operationId } = op;
    if (op.op === OperationType.Query) {
      conn.send(this.table8(Result.Ok, operationId));
      return;
    }
    if (this.motor) {
      conn.send(this.table8(Result.Busy, operationId));
      return;
    }
    if (this.batteryPercent < this.cfg.criticalBatteryPercent) {
      conn.send(this.table8(Result.BatteryTooLow, operationId));
      return;
    }
    const target = op.op === OperationType.Unlock ? LockState.Unsecured : LockState.Secured;
    if (this.state.lockState === target) {
      conn.send(this.table8(Result.Ok, operationId));
      return;
    }
    this.log(`${op.op === OperationType.Unlock ? 'unlocking' : 'locking'} (operation ${operationId})`);
    this.runMotor(target, (ok) => {
      // The connection may have ended while the motor ran: the bolt moved anyway.
      conn.send(this.table8(ok ? Result.Ok : Result.Jammed, operationId));
    });
  }

  // ---- the physical lock ----------------------------------------------------------------

  private runMotor(target: LockState, done: (ok: boolean) => void): void {
    this.cancelAutoLock();
    this.motor = this.clock.setTimer(() => {
      this.motor = undefined;
      this.state.battery = Math.max(0, this.state.battery - this.cfg.batteryDrainPerOp);
      this.state.opCounter = (this.state.opCounter + 1) >>> 0;
      const ok = !this.state.blocked;
      this.state.lockState = ok ? target : LockState.Jammed;
      this.log(ok ? `motor done: ${target === LockState.Secured ? 'secured' : 'unsecured'}` : 'motor jammed');
      this.stateChanged();
      if (ok && target === LockState.Unsecured) this.scheduleAutoLock();
      done(ok);
    }, this.cfg.motorMs);
    this.emitChange();
  }

  /** Someone turns the thumb-turn or key: instant, no motor, a status report with cause 1. */
  turn(target?: 'lock' | 'unlock'): void {
    const to =
      target === 'lock'
        ? LockState.Secured
        : target === 'unlock'
          ? LockState.Unsecured
          : this.state.lockState === LockState.Secured
            ? LockState.Unsecured
            : LockState.Secured;
    this.manualChange({ lockState: to });
  }

  /** A person changes the lock by hand (bolt, door or both at once): one status report. */
  manualChange(change: { lockState?: LockState; doorState?: DoorState }, cause: StatusCause = StatusCause.Manual): void {
    const lockMoves = change.lockState !== undefined && change.lockState !== this.state.lockState;
    const doorMoves = change.doorState !== undefined && this.doorSensor && change.doorState !== this.state.doorState;
    // A hand on the bolt frees it, even when it ends where it was.
    if (change.lockState !== undefined) this.state.blocked = false;
    if (!lockMoves && !doorMoves) {
      this.persist();
      return;
    }
    if (lockMoves) this.state.lockState = change.lockState!;
    if (doorMoves) this.state.doorState = change.doorState!;
    this.log(`by hand: ${describe(this.state.lockState as LockState)}, door ${this.state.doorState}`);
    this.stateChanged(cause);
    if (lockMoves) {
      if (this.state.lockState === LockState.Unsecured) this.scheduleAutoLock();
      else this.cancelAutoLock();
    }
    if (this.autoLockDue && this.state.doorState !== DoorState.Open) this.autoLock();
  }

  /** The door opens or closes (only with a door sensor). */
  setDoor(open: boolean): void {
    if (!this.doorSensor) return;
    this.manualChange({ doorState: open ? DoorState.Open : DoorState.Closed });
  }

  /** The pairing button: opens pairing mode for 60 s; a hand on the lock also lifts backoff. */
  pressButton(): void {
    this.pairingTimer?.cancel();
    this.pairingUntil = this.clock.now() + LockTiming.pairingMs;
    this.pairingTimer = this.clock.setTimer(() => {
      this.endPairing();
    }, LockTiming.pairingMs);
    this.backoffLevel = 0;
    this.backoffUntil = 0;
    this.log('pairing mode for 60 s');
    this.emit('advert');
    this.emitChange();
  }

  /** Injects a jam: the bolt is blocked, and the next motor run (or the running one) ends jammed. */
  jam(): void {
    this.state.blocked = true;
    this.log('bolt blocked');
    this.persist();
    this.emitChange();
  }

  /** Frees the bolt; the state stays jammed until the next run or a turn by hand. */
  unjam(): void {
    this.state.blocked = false;
    this.persist();
    this.emitChange();
  }

  /** Forgets the backoff (a test or a developer's shortcut; the lock itself never does this). */
  clearBackoff(): void {
    this.backoffLevel = 0;
    this.backoffUntil = 0;
    this.emitChange();
  }

  setBattery(percent: number): void {
    this.state.battery = Math.max(0, Math.min(100, percent));
    this.stateChanged();
  }

  /** Power off: ends the connection and every timer; state is already on disk. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.activeConnection?.close('shutdown');
    for (const t of [this.pairingTimer, this.motor, this.autoLockTimer, this.tickTimer]) t?.cancel();
    this.persist();
  }

  /** @internal */
  log(line: string): void {
    this.emit('log', `[${this.deviceId}] ${line}`);
  }

  private endPairing(): void {
    if (this.pairingUntil === undefined) return;
    this.pairingTimer?.cancel();
    this.pairingTimer = undefined;
    this.pairingUntil = undefined;
    this.emit('advert');
    this.emitChange();
  }

  private scheduleAutoLock(): void {
    this.cancelAutoLock();
    if (this.cfg.autoLockMs <= 0) return;
    this.autoLockTimer = this.clock.setTimer(() => {
      this.autoLockTimer = undefined;
      // With the door open the bolt would lock nothing: wait until it closes.
      if (this.state.doorState === DoorState.Open) this.autoLockDue = true;
      else this.autoLock();
    }, this.cfg.autoLockMs);
  }

  private cancelAutoLock(): void {
    this.autoLockTimer?.cancel();
    this.autoLockTimer = undefined;
    this.autoLockDue = false;
  }

  private autoLock(): void {
    this.autoLockDue = false;
    if (this.motor || this.state.lockState === LockState.Secured) return;
    this.log('auto-lock');
    this.runMotor(LockState.Secured, () => {
      this.sendStatusReport(StatusCause.AutoLock);
    });
  }

  /** Bumps the state counter and, for changes the gateway did not ask for, reports them. */
  private stateChanged(cause?: StatusCause): void {
    this.state.stateCounter = (this.state.stateCounter + 1) >>> 0;
    this.persist();
    this.emitChange();
    if (cause !== undefined) this.sendStatusReport(cause);
  }

  private sendStatusReport(cause: StatusCause): void {
    const report: StatusReport = {
      kind: 'statusReport',
      lockState: this.state.lockState as LockState,
      battery: this.batteryPercent,
      doorState: this.state.doorState as DoorState,
      cause,
      counter: this.state.stateCounter >>> 0,
      ts: this.rtc,
    };
    this.emit('statusReport', report);
    const conn = this.activeConnection;
    if (conn?.inSession) conn.send(report);
  }

  /** The sealed block changes only when the tick advances: state leaks no finer than 10 s. */
  private reseal(): void {
    const tick = this.tick;
    const bound = this.state.boundAccountId;
    this.sealed =
      bound === null
        ? Buffer.alloc(16)
        : sealAdvertState(deriveAdvertKey(this.deviceKey, bound), {
            lockState: this.state.lockState as LockState,
            battery: this.batteryPercent,
            doorState: this.state.doorState as DoorState,
            jammed: this.state.lockState === LockState.Jammed,
            lowBattery: this.batteryPercent < this.cfg.lowBatteryPercent,
            stateCounter: this.state.stateCounter >>> 0,
            bootId: this.state.bootId >>> 0,
            tick: tick >>> 0,
          });
    this.sealedTick = tick;
  }

  private scheduleTick(): void {
    const period = ADVERT_TICK_SECONDS * 1000;
    const next = (this.tick + 1) * period - (this.clock.now() - this.bootMono);
    this.tickTimer = this.clock.setTimer(() => {
      if (this.stopped) return;
      this.reseal();
      this.emit('advert');
      this.scheduleTick();
    }, next);
  }

  private persist(): void {
    this.state.rtc = { unix: this.rtc, savedAtWallMs: this.clock.wallNow() };
    this.store.save(this.state);
  }

  private emitChange(): void {
    this.emit('change');
  }
}

function describe(s: LockState): string {
  return ['unsecured', 'secured', 'jammed', 'unknown'][s] ?? 'unknown';
}
