/**
 * The account's locks as this Homebridge serves them: the RAC part (sign-in, discovery, push,
 * events) and the BGW part (BlueZ, one LockSession per lock, adverts) joined, with each lock's
 * view as an observable. Everything here retries in the background; nothing throws at Homebridge.
 */
import { BehaviorSubject, Subject, filter, firstValueFrom, type Subscription } from 'rxjs';
import { AdvertTracker } from '../bgw/advert-tracker.js';
import { BluezGateway, type Sighting } from '../bgw/bluez.js';
import { BgwError, withTimeout } from '../bgw/errors.js';
import { LockSession, type BgwAuthority, type LockEvent, type LockOp, type LockSnapshot } from '../bgw/session.js';
import type { Logger } from '../logger.js';
import { LockState, Result, describeResult, isLockState, type BsldInfo, type DoorState, type Push, type ReportedEvent } from '../protocol/index.js';
import { RasClient } from '../rac/client.js';
import { CredentialStore, credentialsFile } from '../rac/credentials.js';
import { RasError } from '../rac/errors.js';
import { pushStream } from '../rac/push.js';
import { ResultOutbox } from '../rac/result-outbox.js';
import type { ResolvedConfig } from './config.js';

/** What HomeKit shows of one lock. */
export interface LockView {
  lockState: LockState;
  battery: number | undefined;
  doorState: DoorState | undefined;
  /** Where the state came from: the lock under K_s, a sealed advert, the RAS, or the cache. */
  source: 'lock' | 'advert' | 'ras' | 'cache';
  /** False while the lock or the RAS is known to be unreachable. */
  reachable: boolean;
  /** From the lock's Info characteristic, once a connection has read it. */
  model?: string;
  firmware?: string;
  at: number;
}

export interface HubLock {
  info: BsldInfo;
  view$: BehaviorSubject<LockView>;
}

export interface HubOptions {
  config: ResolvedConfig;
  storagePath: string;
  log: Logger;
  /** Where the push channel and RAS retries start from; tests shorten it. */
  retryMs?: number;
}

const REDISCOVERY_MS = 10 * 60_000;
const STARTUP_GRACE_MS = 8_000;
/**
 * After a reboot BlueZ knows no unbonded device until discovery hears it, and a lock may
 * advertise only every second or two; an operation on a lock not heard yet waits this long.
 */
const FIRST_ADVERT_GRACE_MS = 8_000;
/** A first look that found the lock unreachable is tried again when it is heard, at most this often. */
const FIRST_LOOK_RETRY_MS = 30_000;

interface SessionEntry {
  session: LockSession;
  subs: Subscription[];
  tracker?: AdvertTracker;
  /** Set when the first look found the lock unreachable: when to try again once it is heard. */
  lookAgainAt?: number;
}

export class LockHub {
  readonly locks$ = new BehaviorSubject<ReadonlyMap<string, HubLock>>(new Map());
  /** Operations and state changes, for logs a person can read. */
  readonly activity$ = new Subject<{ deviceId: string; event: LockEvent }>();
  private client: RasClient | undefined;
  /** Results of pushed commands the RAS could not take when the lock had run them. */
  private results: ResultOutbox | undefined;
  private store: CredentialStore | undefined;
  private bluez: BluezGateway | undefined;
  private readonly sessions = new Map<string, SessionEntry>();
  /** Locks the adapter has reported since Bluetooth opened (adverts, or objects BlueZ kept). */
  private readonly heard = new Set<string>();
  private readonly subs: Subscription[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private pendingEvents = new Map<string, ReportedEvent[]>();
  private stopped = false;
  private pushStarted = false;
  /** The locks the RAS was last told this gateway can hear. */
  private reach = new Set<string>();
  private reachPending = false;
  /** Set while the adapter is away or off, so that its return brings a fresh look at each lock. */
  private adapterWasLost = false;
  /** Resolves once Bluetooth is open and the sessions exist; operations wait for it briefly. */
  private readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;
  /** True once the RAS answered a discovery: only then may accessories be removed. */
  discovered = false;

  constructor(private readonly options: HubOptions) {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
  }

  get log(): Logger {
    return this.options.log;
  }

  /**
   * True while the Bluetooth adapter is removed or powered off: no lock can be reached or heard,
   * so HomeKit answers No Response rather than a state nothing can confirm.
   */
  get bluetoothLost(): boolean {
    return this.bluez !== undefined && this.bluez.adapterStatus !== 'ready';
  }

  /** Starts everything; failures are logged and retried, never thrown. */
  async start(cached: BsldInfo[] = []): Promise<void> {
    const { config, storagePath } = this.options;
    this.applyDiscovery(cached, 'cache');
    this.store = await CredentialStore.open(credentialsFile(storagePath, config.rasUrl), config.rasUrl);
    this.client = new RasClient({ baseUrl: config.rasUrl, store: this.store, ...(config.login ? { login: config.login } : {}), log: this.log });
    this.results = new ResultOutbox(this.client, this.log, this.options.retryMs ?? 2_000);
    this.subs.push(this.results.delivered$.subscribe(({ deviceId, answer }) => { this.onLateResult(deviceId, answer); }));
    this.retry('connecting to the RAS', () => this.connectRas());
    this.retry('opening Bluetooth', () => this.openBluetooth());
  }

  /** Runs a HomeKit operation on one lock; typed BgwError/RasError on failure. */
  async operate(deviceId: string, op: LockOp): Promise<LockSnapshot> {
    // Right after a start HomeKit may ask before Bluetooth is open; give it a few seconds.
    if (!this.sessions.has(deviceId)) await withTimeout(this.ready, STARTUP_GRACE_MS, 'waiting for Bluetooth').catch(() => undefined);
    const entry = this.sessions.get(deviceId);
    if (!entry) throw new BgwError('unreachable', this.bluez ? 'the lock is not known to this gateway' : 'Bluetooth is not available');
    if (!this.heard.has(deviceId) && this.bluez?.adapterStatus === 'ready') await this.firstAdvert(deviceId);
    try {
      const snapshot = await entry.session.operate(op);
      this.setReachable(deviceId, true);
      return snapshot;
    } catch (err) {
      if ((err instanceof BgwError && err.code !== 'refused' && err.code !== 'protocol') || (err instanceof RasError && err.isOutage)) {
        this.setReachable(deviceId, false);
      }
      if (err instanceof BgwError && err.code === 'refused' && err.details.result === Result.Jammed) {
        this.updateView(deviceId, { lockState: LockState.Jammed, source: 'lock' });
      }
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.subs.splice(0)) s.unsubscribe();
    await this.flushEvents().catch(() => undefined);
    await this.results?.flush().catch(() => undefined);
    this.results?.stop();
    await Promise.all(
      [...this.sessions.values()].map(async ({ session, subs }) => {
        for (const s of subs) s.unsubscribe();
        await session.close().catch(() => undefined);
      }),
    );
    this.sessions.clear();
    await this.bluez?.close().catch(() => undefined);
    this.bluez = undefined;
  }

  private async connectRas(): Promise<void> {
    const client = this.client!;
    const store = this.store!;
    if (!client.canSignIn()) {
      // The settings page may sign in at any time; it writes the same credentials file.
      await store.reload();
      if (!client.canSignIn()) {
        throw new RasError('signed-out', 'not signed in: set identifier and password in the plugin config, or sign in from the plugin settings page');
      }
    }
    await this.discover();
    if (!store.get().gatewayId) {
      const { gatewayId } = await client.call('GatewayRegistration', { body: { name: this.options.config.gatewayName } });
      await store.update({ gatewayId });
      this.log.info(`Registered this Homebridge as a Bluetooth gateway with the RAS`);
    }
    await this.updateReach().catch((err: unknown) => { this.log.debug(`reach list not sent: ${message(err)}`); });
    if (this.pushStarted) return;
    this.pushStarted = true;
    const gatewayId = store.get().gatewayId;
    this.subs.push(
      pushStream({
        client,
        store,
        ...(gatewayId ? { gatewayId } : {}),
        log: this.log,
        minBackoffMs: this.options.retryMs ?? 1_000,
      }).subscribe({ next: (push) => void this.onPush(push).catch((err: unknown) => { this.log.warn(`Push ${push.event} not handled: ${message(err)}`); }) }),
    );
    this.every(REDISCOVERY_MS, () => this.discover());
  }

  private async discover(): Promise<void> {
    const { bslds } = await this.client!.call('BsldDiscovery');
    this.discovered = true;
    this.applyDiscovery(bslds, 'ras');
  }

  private applyDiscovery(bslds: BsldInfo[], source: 'ras' | 'cache'): void {
    const before = this.locks$.value;
    const next = new Map<string, HubLock>();
    for (const info of bslds) {
      const existing = before.get(info.deviceId);
      if (existing) {
        existing.info = info;
        next.set(info.deviceId, existing);
        if (source === 'ras' && existing.view$.value.source === 'cache') this.updateView(info.deviceId, { ...viewOf(info), source: 'ras' }, existing);
      } else {
        next.set(info.deviceId, { info, view$: new BehaviorSubject<LockView>({ ...viewOf(info), source, reachable: true, at: Date.now() }) });
      }
    }
    const added = [...next.keys()].filter((d) => !before.has(d));
    const removed = [...before.keys()].filter((d) => !next.has(d));
    if (source === 'ras' || added.length || removed.length) {
      for (const d of removed) {
        this.log.info(`Lock ${d} is no longer on the account; removing it`);
        void this.dropSession(d);
        before.get(d)?.view$.complete();
      }
      this.locks$.next(next);
      this.ensureSessions();
    }
  }

  private async openBluetooth(): Promise<void> {
    const { config } = this.options;
    this.bluez = await BluezGateway.open({
      ...(config.adapter ? { adapterAddress: config.adapter } : {}),
      companyId: config.companyId,
      log: this.log,
    });
    this.subs.push(
      this.bluez.sightings$.subscribe((s) => { this.onSighting(s); }),
      this.bluez.adapter$.subscribe((status) => { this.onAdapter(status); }),
    );
    this.ensureSessions();
    await this.bluez.startScanning();
    await this.updateReach().catch(() => undefined);
  }

  private ensureSessions(): void {
    const { bluez, client, results } = this;
    if (!bluez || !client || !results) return;
    for (const [deviceId, lock] of this.locks$.value) {
      if (this.sessions.has(deviceId)) continue;
      // The RAC client, except that a result the RAS cannot take now is held and sent again.
      const authority: BgwAuthority = {
        openSession: (id, challenge) => client.openSession(id, challenge),
        operationFrames: (operationId, challenge) => client.operationFrames(operationId, challenge),
        operationResult: (operationId, report) => results.send(deviceId, operationId, report),
      };
      const session = new LockSession(bluez.link(deviceId), authority, {
        log: this.log,
        idleMs: this.options.config.idleMs,
        motorTimeoutMs: this.options.config.operationTimeoutMs,
      });
      const tracker = lock.info.advertKey ? new AdvertTracker(Buffer.from(lock.info.advertKey, 'hex')) : undefined;
      const subs = [
        session.state$.subscribe((snap) => {
          if (!snap) return;
          tracker?.resetFromSession(snap.lockState);
          this.updateView(deviceId, { lockState: snap.lockState, battery: snap.battery, doorState: snap.doorState, source: 'lock', reachable: true });
        }),
        session.events$.subscribe((event) => {
          this.activity$.next({ deviceId, event });
          this.recordEvent(deviceId, event);
        }),
        session.info$.subscribe((info) => {
          if (info) this.updateView(deviceId, { model: info.model, firmware: info.firmware });
        }),
      ];
      const entry: SessionEntry = { session, subs, ...(tracker ? { tracker } : {}) };
      this.sessions.set(deviceId, entry);
      this.later(500 + this.sessions.size * 250, () => this.firstLook(deviceId, entry));
    }
  }

  /**
   * One authenticated look at each lock at start: real state (and door sensor) for HomeKit, and
   * the anchor that lets its sealed adverts count afterwards. A lock out of reach gets its look
   * when the adapter hears it, or its sealed adverts would be ignored until the first operation.
   */
  private async firstLook(deviceId: string, entry: SessionEntry): Promise<void> {
    try {
      await entry.session.operate('status');
    } catch (err) {
      if (this.stopped || this.sessions.get(deviceId) !== entry) return;
      const unreached = err instanceof BgwError && ['unreachable', 'timeout', 'busy', 'disconnected'].includes(err.code);
      if (unreached) entry.lookAgainAt = Date.now() + (this.heard.has(deviceId) ? FIRST_LOOK_RETRY_MS : 0);
      this.log.warn(`${this.nameOf(deviceId)}: first status query failed: ${message(err)}${unreached ? '; will look again when the adapter hears it' : ''}`);
    }
  }

  /** Resolves at the lock's first sighting, or after the grace; never rejects. */
  private async firstAdvert(deviceId: string): Promise<void> {
    const bluez = this.bluez;
    if (!bluez) return;
    this.log.debug(`${this.nameOf(deviceId)}: not heard by the adapter yet; waiting up to ${FIRST_ADVERT_GRACE_MS / 1000} s for its advert`);
    await withTimeout(firstValueFrom(bluez.sightings$.pipe(filter((s) => s.deviceId === deviceId))), FIRST_ADVERT_GRACE_MS, 'the first advert').catch(() => undefined);
  }

  private onAdapter(status: 'ready' | 'off' | 'gone'): void {
    if (status !== 'ready') {
      this.adapterWasLost = true;
      // Its device objects go with it: after its return no lock has been heard.
      this.heard.clear();
      for (const deviceId of this.locks$.value.keys()) this.setReachable(deviceId, false);
      return;
    }
    if (!this.adapterWasLost) return;
    this.adapterWasLost = false;
    this.log.info('Bluetooth is back; asking each lock for its state');
    // Nothing was heard while the adapter was away: an authenticated look at each lock, as at start.
    let i = 0;
    for (const [deviceId, entry] of this.sessions) {
      this.later(500 + i++ * 250, () => this.firstLook(deviceId, entry));
    }
    this.later(2_000, () => this.updateReach());
  }

  private async dropSession(deviceId: string): Promise<void> {
    const entry = this.sessions.get(deviceId);
    if (!entry) return;
    this.sessions.delete(deviceId);
    for (const s of entry.subs) s.unsubscribe();
    await entry.session.close().catch(() => undefined);
  }

  private onSighting(s: Sighting): void {
    // A lock of the account heard for the first time: tell the RAS, so it can push its commands here.
    if (this.locks$.value.has(s.deviceId) && !this.reach.has(s.deviceId) && !this.reachPending) {
      this.reachPending = true;
      this.later(2_000, async () => {
        this.reachPending = false;
        await this.updateReach();
      });
    }
    this.heard.add(s.deviceId);
    const entry = this.sessions.get(s.deviceId);
    if (entry?.lookAgainAt !== undefined && Date.now() >= entry.lookAgainAt) {
      delete entry.lookAgainAt;
      this.log.info(`${this.nameOf(s.deviceId)}: heard by the adapter; looking at it now`);
      this.later(0, () => this.firstLook(s.deviceId, entry));
    }
    if (!entry?.tracker || !s.advert?.registered) return;
    const state = entry.tracker.observe(s.advert.sealed);
    if (!state) return;
    this.updateView(s.deviceId, {
      lockState: state.jammed ? LockState.Jammed : state.lockState,
      battery: state.battery,
      doorState: state.doorState,
      source: 'advert',
      reachable: true,
    });
  }

  /** The RAS verified a result it could not take when the lock ran the command. */
  private onLateResult(deviceId: string, answer: { lockState?: number }): void {
    const view = this.locks$.value.get(deviceId)?.view$.value;
    // Only the unknown left by the lost report is replaced; anything the lock said since is newer.
    if (view?.lockState !== LockState.Unknown || answer.lockState === undefined || !isLockState(answer.lockState)) return;
    this.updateView(deviceId, { lockState: answer.lockState, source: 'lock', reachable: true });
  }

  private async onPush(push: Push): Promise<void> {
    switch (push.event) {
      case 'bsld.command': {
        const entry = this.sessions.get(push.deviceId);
        const { operationId, op, expiresAt } = push.body;
        if (!entry) {
          this.log.warn(`Remote ${op} for ${push.deviceId} cannot run here: the lock is not reachable through this gateway`);
          return;
        }
        this.log.info(`Remote ${op} of ${this.nameOf(push.deviceId)} requested through the RAS (operation ${operationId})`);
        // expiresAt is on the RAS's clock. When this gateway's clock lags it (the push was stamped
        // "later" than it arrived), the local deadline moves earlier by that much; never later.
        const lag = Math.max(0, push.timestamp - Math.floor(Date.now() / 1000));
        const report = await entry.session.runCommand({ operationId, op, expiresAt: expiresAt - lag });
        this.log.info(`Remote ${op} of ${this.nameOf(push.deviceId)}: ${report.state}${report.result !== undefined ? `, ${describeResult(report.result)}` : ''}`);
        return;
      }
      case 'bsld.state': {
        const current = this.locks$.value.get(push.deviceId)?.view$.value;
        // The RAS's record is older news than what this gateway saw itself.
        if (current && current.source !== 'cache' && current.at > push.body.updatedAt * 1000) return;
        this.updateView(push.deviceId, { lockState: push.body.lockState as LockState, battery: push.body.battery, doorState: push.body.doorState, source: 'ras' });
        return;
      }
      case 'bsld.registered':
      case 'bsld.removed':
      case 'member.changed':
        await this.discover();
        await this.updateReach();
        return;
      case 'bsld.operation':
        return;
      case 'account.revoked':
        this.log.error(`The RAS revoked this account's session (${push.body.reason}); signing in again`);
        this.client?.invalidateAccess();
        return;
    }
  }

  /** Tells the RAS which of the account's locks this gateway can hear, for pushed commands. */
  private async updateReach(): Promise<void> {
    const gatewayId = this.store?.get().gatewayId;
    if (!gatewayId || !this.bluez || !this.client) return;
    const heard = new Set(await this.bluez.knownDeviceIds());
    const deviceIds = [...this.locks$.value.keys()].filter((d) => heard.has(d));
    await this.client.call('GatewayReach', { params: { gatewayId }, body: { deviceIds } });
    this.reach = new Set(deviceIds);
  }

  private recordEvent(deviceId: string, event: LockEvent): void {
    const at = Math.floor(Date.now() / 1000);
    let reported: ReportedEvent | undefined;
    if (event.kind === 'statusReport') {
      reported = { kind: 'state', at, lockState: event.snapshot.lockState, battery: event.snapshot.battery, doorState: event.snapshot.doorState, ...(event.cause >= 1 && event.cause <= 3 ? { cause: event.cause } : {}) };
      this.log.info(`${this.nameOf(deviceId)} is now ${lockStateName(event.snapshot.lockState)} (${['', 'turned by hand', 'auto-locked', 'keypad'][event.cause] ?? 'reported'})`);
    } else if (event.kind === 'operation' && !event.remote) {
      reported = { kind: 'operation', at, op: event.op, result: event.result, lockState: event.snapshot.lockState };
    }
    if (!reported) return;
    const queue = this.pendingEvents.get(deviceId) ?? [];
    // Bounded: an offline RAS must not grow memory without end; the oldest go first.
    queue.push(reported);
    if (queue.length > 64) queue.splice(0, queue.length - 64);
    this.pendingEvents.set(deviceId, queue);
    this.later(1_000, () => this.flushEvents());
  }

  private async flushEvents(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const pending = this.pendingEvents;
    this.pendingEvents = new Map();
    for (const [deviceId, events] of pending) {
      try {
        await client.call('EventReport', { params: { deviceId }, body: { events } });
      } catch (err) {
        if (err instanceof RasError && err.isOutage) {
          const queue = [...events, ...(this.pendingEvents.get(deviceId) ?? [])].slice(-64);
          this.pendingEvents.set(deviceId, queue);
          this.later(30_000, () => this.flushEvents());
        } else {
          this.log.debug(`Events of ${deviceId} not stored: ${message(err)}`);
        }
      }
    }
  }

  private updateView(deviceId: string, change: Partial<LockView>, lock = this.locks$.value.get(deviceId)): void {
    if (!lock || lock.view$.closed) return;
    lock.view$.next({ ...lock.view$.value, ...stripUndefined(change), at: Date.now() });
  }

  private setReachable(deviceId: string, reachable: boolean): void {
    const lock = this.locks$.value.get(deviceId);
    if (lock && lock.view$.value.reachable !== reachable) this.updateView(deviceId, { reachable });
  }

  private nameOf(deviceId: string): string {
    return this.locks$.value.get(deviceId)?.info.name ?? deviceId;
  }

  /** Runs `task` until it succeeds, with growing pauses, logging each failure once. */
  private retry(what: string, task: () => Promise<void>, attempt = 0): void {
    if (this.stopped) return;
    task().then(
      () => {
        if (attempt > 0) this.log.info(`Recovered: ${what} succeeded`);
      },
      (err: unknown) => {
        const delay = Math.min(60_000, (this.options.retryMs ?? 2_000) * 2 ** Math.min(attempt, 5));
        this.log.error(`${what} failed: ${message(err)}; trying again in ${Math.round(delay / 1000)} s`);
        this.later(delay, () => {
          this.retry(what, task, attempt + 1);
          return Promise.resolve();
        });
      },
    );
  }

  private later(ms: number, task: () => Promise<void>): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      task().catch((err: unknown) => { this.log.debug(message(err)); });
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private every(ms: number, task: () => Promise<void>): void {
    this.later(ms, async () => {
      await task().catch((err: unknown) => { this.log.debug(message(err)); });
      this.every(ms, task);
    });
  }
}

function viewOf(info: BsldInfo): Pick<LockView, 'lockState' | 'battery' | 'doorState'> {
  return {
    lockState: info.lastState.lockState as LockState,
    battery: info.lastState.battery,
    doorState: info.lastState.doorState,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function lockStateName(s: number): string {
  return ['unlocked', 'locked', 'jammed', 'in an unknown state'][s] ?? 'in an unknown state';
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
