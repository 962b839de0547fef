/**
 * The BlueZ emulator: owns org.bluez on a (private) bus and exports what bluetoothd would for
 * one or more adapters and the simulated locks they hear. It holds no lock logic: each lock
 * is a SimLock driven through LockConnection.
 */
import { LockFaults, resolveLatency, type LatencyName, type LatencyProfile } from './faults.js';
import { AgentManager } from './agent-manager.js';
import { Adapter, type AdapterHost } from './adapter.js';
import { dbus, type MessageBus } from './dbus.js';
import type { EmulatedLock } from './device.js';
import { ObjectManager, ObjectTree } from './object-manager.js';
import type { SimLock } from '../lock/index.js';

export interface AdapterSpec {
  /** `hci0`, `hci1`, …; defaults by position. */
  id?: string;
  /** Choose adapters by address, not by hciN: this is what a client should match. */
  address: string;
}

export interface BluezEmulatorOptions {
  busAddress: string;
  adapters?: AdapterSpec[];
  latency?: LatencyName | LatencyProfile;
  /** How long an LE connect to an absent or refusing lock takes to fail (bluetoothd: ~20 s). */
  unreachableConnectMs?: number;
  disconnectSignalDelayMs?: number;
}

export const DEFAULT_ADAPTERS: AdapterSpec[] = [{ id: 'hci0', address: '00:1A:7D:DA:71:01' }];

export class BluezEmulator {
  latency: LatencyProfile;
  private readonly entries = new Map<string, EmulatedLock & { onAdvert: () => void }>();
  private readonly adapterList: Adapter[] = [];
  private readonly unplugged: AdapterSpec[] = [];
  private readonly host: AdapterHost;
  private stopped = false;

  private constructor(
    private readonly bus: MessageBus,
    private readonly tree: ObjectTree,
    options: BluezEmulatorOptions,
  ) {
    this.latency = resolveLatency(options.latency);
    const host: AdapterHost = {
      tree,
      latency: () => this.latency,
      unreachableConnectMs: options.unreachableConnectMs ?? 2_000,
      disconnectSignalDelayMs: options.disconnectSignalDelayMs ?? 20,
      locks: () => this.entries.values(),
    };
    this.host = host;
    (options.adapters ?? DEFAULT_ADAPTERS).forEach((spec, i) => {
      this.adapterList.push(new Adapter(spec.id ?? `hci${i}`, spec.address, host));
    });
  }

  static async start(options: BluezEmulatorOptions): Promise<BluezEmulator> {
    const bus = dbus.sessionBus({ busAddress: options.busAddress });
    // dbus-next emits bus errors as 'error'; without a listener Node would kill the process.
    bus.on('error', (err: unknown) => {
      console.error('[bluez-emulator] bus error:', err);
    });
    const tree = new ObjectTree(bus);
    const emulator = new BluezEmulator(bus, tree, options);
    bus.export('/', new ObjectManager(tree));
    tree.add('/org/bluez', [new AgentManager()]);
    for (const a of emulator.adapterList) tree.add(a.path, [a]);
    const reply = await bus.requestName('org.bluez', dbus.NameFlag.DO_NOT_QUEUE);
    if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
      bus.disconnect();
      throw new Error('org.bluez is already owned on this bus');
    }
    return emulator;
  }

  get adapters(): readonly Adapter[] {
    return this.adapterList;
  }

  addLock(lock: SimLock, options: { rssi?: number; faults?: LockFaults } = {}): EmulatedLock {
    if (this.entries.has(lock.deviceId)) throw new Error(`lock ${lock.deviceId} already added`);
    const entry = {
      lock,
      faults: options.faults ?? new LockFaults(),
      rssi: options.rssi ?? -60,
      onAdvert: () => {
        this.heard(lock.deviceId);
      },
    };
    this.entries.set(lock.deviceId, entry);
    lock.on('advert', entry.onAdvert);
    // Advertising resumes when a connection ends.
    lock.on('closed', entry.onAdvert);
    this.heard(lock.deviceId);
    return entry;
  }

  /** Swaps in a rebooted core for the same lock, keeping its faults and Device objects. */
  replaceLock(lock: SimLock): void {
    const e = this.entries.get(lock.deviceId);
    if (!e) throw new Error(`no simulated lock ${lock.deviceId}`);
    e.lock.off('advert', e.onAdvert);
    e.lock.off('closed', e.onAdvert);
    e.lock = lock;
    lock.on('advert', e.onAdvert);
    lock.on('closed', e.onAdvert);
    this.heard(lock.deviceId);
  }

  entry(deviceId: string): EmulatedLock {
    const e = this.entries.get(deviceId);
    if (!e) throw new Error(`no simulated lock ${deviceId}`);
    return e;
  }

  /** Takes a lock out of radio range (its links drop) or brings it back. */
  setOutOfRange(deviceId: string, out: boolean): void {
    const e = this.entry(deviceId);
    e.faults.outOfRange = out;
    if (out) this.dropLink(deviceId);
    else this.heard(deviceId);
  }

  /** Drops every live link to the lock now, as a supervision timeout would. */
  dropLink(deviceId: string): void {
    for (const a of this.adapterList) a.device(deviceId)?.dropLink();
  }

  /**
   * The adapter is unplugged (or its controller index removed): live links drop, then its
   * device objects and the adapter object itself leave the bus (InterfacesRemoved each).
   */
  removeAdapter(id: string): void {
    const i = this.adapterList.findIndex((a) => a.id === id);
    if (i < 0) throw new Error(`no adapter ${id} (present: ${this.adapterList.map((a) => a.id).join(', ') || 'none'})`);
    const [adapter] = this.adapterList.splice(i, 1) as [Adapter];
    adapter.unplug();
    this.tree.remove(adapter.path);
    this.unplugged.push({ id: adapter.id, address: adapter.Address });
  }

  /**
   * An unplugged adapter comes back: a new object (it may get another hciN, as a replugged
   * dongle can), announced with Powered=false; bluetoothd's AutoEnable (the default) then
   * powers it, which `powered: false` leaves out. It has heard no device yet.
   */
  returnAdapter(options: { address?: string; id?: string; powered?: boolean } = {}): Adapter {
    const i = options.address ? this.unplugged.findIndex((s) => s.address.toUpperCase() === options.address!.toUpperCase()) : this.unplugged.length - 1;
    const spec = this.unplugged[i];
    if (!spec) throw new Error(options.address ? `adapter ${options.address} was not removed` : 'no adapter was removed');
    const id = options.id ?? spec.id ?? 'hci0';
    if (this.adapterList.some((a) => a.id === id)) throw new Error(`${id} is taken`);
    this.unplugged.splice(i, 1);
    const adapter = new Adapter(id, spec.address, this.host, false);
    this.adapterList.push(adapter);
    this.tree.add(adapter.path, [adapter]);
    if (options.powered !== false) {
      setTimeout(() => {
        if (!this.stopped && this.adapterList.includes(adapter)) adapter.Powered = true;
      }, 20);
    }
    return adapter;
  }

  /** Re-announces a lock's advert to every discovering adapter. */
  heard(deviceId: string): void {
    if (this.stopped) return;
    const e = this.entry(deviceId);
    for (const a of this.adapterList) a.heard(e);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const e of this.entries.values()) {
      e.lock.off('advert', e.onAdvert);
      e.lock.off('closed', e.onAdvert);
    }
    for (const a of this.adapterList) a.shutdown();
    try {
      await this.bus.releaseName('org.bluez');
    } catch {
      // The bus may already be gone; nothing to release then.
    }
    this.bus.disconnect();
  }
}
