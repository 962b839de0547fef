/**
 * Everything a test or a developer runs at once: a private bus, the BlueZ emulator on it and
 * the simulated locks, with handles to act on each lock by hand or inject faults.
 */
import path from 'node:path';
import { PrivateBus } from './bus.js';
import { BluezEmulator, type AdapterSpec } from './bluez/emulator.js';
import { LockFaults, resolveLatency, type ConnectFailure, type DropStep, type LatencyName, type LatencyProfile } from './bluez/faults.js';
import type { EmulatedLock } from './bluez/device.js';
import { FileStateStore, MemoryStateStore, SimLock, type Clock, type LockConfig, type LockSnapshot, type StateStore } from './lock/index.js';

/** One lock: the locks.json fields plus optional simulation knobs. */
export interface LockSpec extends LockConfig {
  /** Signal strength the adapters report. */
  rssi?: number;
}

export interface SimulatorOptions {
  locks: LockSpec[];
  /** `zero` (default), `realistic` (connect 150 ms, 30 ms per GATT call) or explicit numbers. */
  latency?: LatencyName | LatencyProfile;
  adapters?: AdapterSpec[];
  /** Persist each lock's state as `<stateDir>/<deviceId>.json`; in memory when absent. */
  stateDir?: string;
  /** How long a Connect to an absent, busy or backing-off lock takes to fail. */
  unreachableConnectMs?: number;
  /** The locks' clock (timers, RTC); the emulator's radio delays always use real time. */
  clock?: Clock;
  /** Where lock log lines go (the CLI prints them); silent by default. */
  log?: (line: string) => void;
}

/** A handle on one simulated lock: what a person can do to it, and what the radio can. */
export class SimulatedLock {
  constructor(
    private readonly sim: Simulator,
    private readonly entry: EmulatedLock,
  ) {}

  get deviceId(): string {
    return this.entry.lock.deviceId;
  }

  /** The lock core (state machine) behind this handle; replaced by `restart()`. */
  get core(): SimLock {
    return this.entry.lock;
  }

  get faults(): LockFaults {
    return this.entry.faults;
  }

  snapshot(): LockSnapshot {
    return this.entry.lock.snapshot();
  }

  /** Turn by hand: toggles, or goes to `lock`/`unlock`. Emits a status report. */
  turn(target?: 'lock' | 'unlock'): void {
    this.core.turn(target);
  }

  /** Opens or closes the door (locks with a door sensor only). */
  door(open: boolean): void {
    this.core.setDoor(open);
  }

  /** The pairing button: 60 s of pairing mode. */
  press(): void {
    this.core.pressButton();
  }

  jam(): void {
    this.core.jam();
  }

  unjam(): void {
    this.core.unjam();
  }

  /** Ends the lock's backoff after connections without a valid frame. */
  clearBackoff(): void {
    this.core.clearBackoff();
  }

  setBattery(percent: number): void {
    this.core.setBattery(percent);
  }

  /** Out of radio range: not discoverable, Connect fails, a live link drops. */
  outOfRange(): void {
    this.sim.emulator.setOutOfRange(this.deviceId, true);
  }

  /**
   * BlueZ forgets the lock, as after a reboot of the gateway's host (an unbonded device is not
   * restored) or when its temporary-device timeout ends: its Device1 objects go until an advert
   * is heard again.
   */
  forget(): void {
    for (const adapter of this.sim.emulator.adapters) {
      const device = adapter.device(this.deviceId);
      if (device) adapter.RemoveDevice(device.path);
    }
  }

  /** Back in range. */
  back(): void {
    this.sim.emulator.setOutOfRange(this.deviceId, false);
  }

  /** The next `times` Connects fail: `failed` (le-connection-abort-by-local) or `in-progress`. */
  failConnect(kind: ConnectFailure = 'failed', times = 1): void {
    this.faults.failConnect(kind, times);
  }

  /** Drops the live link now (supervision timeout). */
  dropLink(): void {
    this.sim.emulator.dropLink(this.deviceId);
  }

  /** Drops the link right after the lock takes the n-th Command write of a connection. */
  dropAfterWrites(n: number): void {
    this.faults.dropAfterWrites = n;
  }

  /** The next connection to reach `step` loses its link there (see DropStep). */
  dropAt(step: DropStep): void {
    this.faults.dropAt = step;
  }

  /** A lock that never answers (firmware hung): GATT works, nothing comes back. */
  silent(on = true): void {
    this.faults.silent = on;
  }

  /** Extra latency of this lock's link, on top of the global profile. */
  latency(extra: Partial<LatencyProfile>): void {
    if (extra.connectMs !== undefined) this.faults.extraConnectMs = extra.connectMs;
    if (extra.gattMs !== undefined) this.faults.extraGattMs = extra.gattMs;
  }

  /** Clears every injected fault. */
  clearFaults(): void {
    this.sim.emulator.setOutOfRange(this.deviceId, false);
    this.faults.clear();
  }

  /** Power-cycles the lock: links drop, a new core boots from the persisted state. */
  restart(): SimLock {
    return this.sim.restartLock(this.deviceId);
  }
}

export class Simulator {
  private readonly handles = new Map<string, SimulatedLock>();
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly bus: PrivateBus,
    readonly emulator: BluezEmulator,
    private readonly options: SimulatorOptions,
  ) {}

  static async start(options: SimulatorOptions): Promise<Simulator> {
    const ids = new Set<string>();
    for (const l of options.locks) {
      if (ids.has(l.deviceId)) throw new Error(`duplicate deviceId ${l.deviceId}`);
      ids.add(l.deviceId);
    }
    resolveLatency(options.latency);
    const bus = await PrivateBus.start();
    let emulator: BluezEmulator | undefined;
    try {
      emulator = await BluezEmulator.start({
        busAddress: bus.address,
        ...(options.adapters ? { adapters: options.adapters } : {}),
        ...(options.latency !== undefined ? { latency: options.latency } : {}),
        ...(options.unreachableConnectMs !== undefined ? { unreachableConnectMs: options.unreachableConnectMs } : {}),
      });
      const sim = new Simulator(bus, emulator, options);
      for (const spec of options.locks) {
        const entry = emulator.addLock(sim.boot(spec), { ...(spec.rssi !== undefined ? { rssi: spec.rssi } : {}) });
        sim.handles.set(spec.deviceId, new SimulatedLock(sim, entry));
      }
      return sim;
    } catch (err) {
      await emulator?.stop();
      await bus.stop();
      throw err;
    }
  }

  /** The address to put in DBUS_SYSTEM_BUS_ADDRESS for node-ble (or anything using dbus-next). */
  get busAddress(): string {
    return this.bus.address;
  }

  lock(deviceId: string): SimulatedLock {
    const h = this.handles.get(deviceId);
    if (!h) throw new Error(`no simulated lock ${deviceId}`);
    return h;
  }

  get locks(): SimulatedLock[] {
    return [...this.handles.values()];
  }

  /** Switches the global latency profile at run time. */
  setLatency(latency: LatencyName | LatencyProfile): void {
    this.emulator.latency = resolveLatency(latency);
  }

  /** Unplugs an adapter: links drop, its devices and then the adapter leave the bus. */
  removeAdapter(id = 'hci0'): void {
    this.emulator.removeAdapter(id);
  }

  /** Plugs a removed adapter back (by default the last one, under its old hciN, powered by AutoEnable). */
  returnAdapter(options: { address?: string; id?: string; powered?: boolean } = {}): void {
    this.emulator.returnAdapter(options);
  }

  /** @internal */
  restartLock(deviceId: string): SimLock {
    const spec = this.options.locks.find((l) => l.deviceId === deviceId);
    if (!spec) throw new Error(`no simulated lock ${deviceId}`);
    const entry = this.emulator.entry(deviceId);
    entry.lock.stop();
    this.emulator.dropLink(deviceId);
    const fresh = this.boot({ ...spec, pairingMode: false });
    this.emulator.replaceLock(fresh);
    return fresh;
  }

  /** Stops every lock, the emulator and the bus. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const h of this.handles.values()) h.core.stop();
      await this.emulator.stop();
      await this.bus.stop();
    })();
    return this.stopping;
  }

  private boot(spec: LockSpec): SimLock {
    const store: StateStore = this.options.stateDir
      ? new FileStateStore(path.join(this.options.stateDir, `${spec.deviceId}.json`))
      : (this.memoryStores.get(spec.deviceId) ?? new MemoryStateStore());
    if (store instanceof MemoryStateStore) this.memoryStores.set(spec.deviceId, store);
    const lock = new SimLock(spec, { ...(this.options.clock ? { clock: this.options.clock } : {}), store });
    const log = this.options.log;
    if (log) lock.on('log', log);
    return lock;
  }

  private readonly memoryStores = new Map<string, MemoryStateStore>();
}
