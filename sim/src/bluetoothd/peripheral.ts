/**
 * The lock core behind the real bluetoothd: a GATT application and an advertisement registered
 * on one adapter (hci1 in the VM tier), so that a gateway on another adapter meets the lock only
 * through bluetoothd and the radio. The lock logic is the same SimLock the emulator drives; this
 * front end only maps bluetoothd's view (a central's Device1 on our adapter, GATT requests naming
 * that device) onto LockConnection.
 */
import {
  BSLD_SERVICE_UUID,
  CHALLENGE_CHAR_UUID,
  COMMAND_CHAR_UUID,
  INFO_CHAR_UUID,
  RESPONSE_CHAR_UUID,
  deviceIdFromAddress,
} from 'homebridge-igrs-smartlock/protocol';
import { ConnectionRefused, type CloseReason, type LockConnection, type SimLock } from '../lock/index.js';
import { dbus, Variant, type MessageBus } from '../bluez/dbus.js';
import { Advertisement, AppCharacteristic, AppObjectManager, AppService } from './application.js';

const BLUEZ = 'org.bluez';
const DEVICE = 'org.bluez.Device1';
const ADAPTER = 'org.bluez.Adapter1';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
/** A service that is not the profile's, to move the BSLD service's handles in a relayout. */
const FILLER_SERVICE_UUID = '5a4c00ff-8d2b-4b8e-9c1f-1e2d3c4b5a60';

export interface BluetoothdLockOptions {
  lock: SimLock;
  /** The adapter the lock advertises on, e.g. `hci1`; its address must be the lock's deviceId. */
  adapter: string;
  /** A system-bus connection to use (closed by the caller); a new one by default. */
  bus?: MessageBus;
  /** Where the application's objects live on our connection. */
  basePath?: string;
  log?: (line: string) => void;
  /**
   * How long the lock waits after its last notification before it ends a connection itself.
   * Firmware sends its final answer before it drops the link; without the wait bluetoothd could
   * tear the link down with the notification still queued.
   */
  closeGraceMs?: number;
}

/** Misbehaviour the front end can inject on the real link. */
export interface BluetoothdFaults {
  /** The lock takes the n-th Command write of a connection and drops the link before answering. */
  dropAfterWrites: number | undefined;
  /** The lock takes writes but never notifies. */
  silent: boolean;
}

export interface Layout {
  /** A second service registered first, so the BSLD service gets other handles. */
  filler?: boolean;
  /** The characteristics in reverse order, so handles map to other UUIDs. */
  reverse?: boolean;
}

interface Central {
  path: string;
  conn: LockConnection | undefined;
  /** False once the lock decided to drop the link: later notifications are lost with it. */
  linkUp: boolean;
  writes: number;
}

interface Registered {
  root: string;
  exported: [string, dbus.interface.Interface][];
  response: AppCharacteristic;
}

/** The Device1 path a central has on our adapter. */
function isDevicePathOf(adapterPath: string, path: string): boolean {
  return path.startsWith(`${adapterPath}/dev_`) && !path.slice(adapterPath.length + 1).includes('/');
}

export class BluetoothdLock {
  readonly faults: BluetoothdFaults = { dropAfterWrites: undefined, silent: false };
  readonly adapterPath: string;
  private readonly centrals = new Map<string, Central>();
  private readonly log: (line: string) => void;
  private readonly basePath: string;
  private app: Registered | undefined;
  private advert: Advertisement | undefined;
  private generation = 0;
  private stopped = false;
  private readonly onAdvert = (): void => {
    this.refreshAdvert();
  };
  private readonly onMessage = (msg: dbus.Message): void => {
    this.dispatch(msg);
  };

  private constructor(
    readonly lock: SimLock,
    readonly adapter: string,
    private readonly bus: MessageBus,
    private readonly ownsBus: boolean,
    private readonly options: BluetoothdLockOptions,
  ) {
    this.adapterPath = `/org/bluez/${adapter}`;
    this.log = options.log ?? (() => undefined);
    this.basePath = options.basePath ?? `/org/igrs/sim/lock_${lock.deviceId}`;
  }

  /** The adapter's address as a deviceId: what the lock's deviceId must be on that adapter. */
  static async adapterDeviceId(adapter: string, bus?: MessageBus): Promise<string> {
    const own = bus ?? dbus.systemBus();
    try {
      const msg = new dbus.Message({ destination: BLUEZ, path: `/org/bluez/${adapter}`, interface: PROPERTIES, member: 'Get', signature: 'ss', body: [ADAPTER, 'Address'] });
      const reply = await own.call(msg);
      const address: unknown = (reply?.body[0] as Variant | undefined)?.value;
      if (typeof address !== 'string') throw new Error(`${adapter} has no address`);
      return deviceIdFromAddress(address);
    } finally {
      if (!bus) own.disconnect();
    }
  }

  static async start(options: BluetoothdLockOptions): Promise<BluetoothdLock> {
    const bus = options.bus ?? dbus.systemBus();
    // dbus-next emits bus errors as 'error'; without a listener Node would kill the process.
    bus.on('error', (err: unknown) => {
      options.log?.(`bluetoothd front end: bus error: ${err instanceof Error ? err.message : String(err)}`);
    });
    const front = new BluetoothdLock(options.lock, options.adapter, bus, options.bus === undefined, options);
    try {
      await front.init();
    } catch (err) {
      await front.stop().catch(() => undefined);
      throw err;
    }
    return front;
  }

  /** Centrals connected to the lock now (their Device1 paths on our adapter). */
  get connectedCentrals(): string[] {
    return [...this.centrals.keys()];
  }

  /** Registers the GATT application again with another layout: a firmware update, as a gateway sees it. */
  async relayout(layout: Layout): Promise<void> {
    await this.unregisterApp();
    await this.registerApp(layout);
  }

  /** The lock ends every connection now (it drops the link from its side). */
  async dropLink(): Promise<void> {
    await Promise.all([...this.centrals.values()].map((c) => this.disconnectCentral(c, 'link-lost')));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.lock.off('advert', this.onAdvert);
    this.lock.off('closed', this.onAdvert);
    this.bus.off('message', this.onMessage);
    for (const c of this.centrals.values()) c.conn?.end('shutdown');
    await Promise.all([...this.centrals.values()].map((c) => this.callDevice(c.path, 'Disconnect').catch(() => undefined)));
    this.centrals.clear();
    if (this.advert) {
      await this.adapterCall('org.bluez.LEAdvertisingManager1', 'UnregisterAdvertisement', 'o', [`${this.basePath}/advert`]).catch(() => undefined);
      this.bus.unexport(`${this.basePath}/advert`, this.advert);
      this.advert = undefined;
    }
    await this.unregisterApp().catch(() => undefined);
    if (this.ownsBus) this.bus.disconnect();
  }

  private async init(): Promise<void> {
    const deviceId = await BluetoothdLock.adapterDeviceId(this.adapter, this.bus);
    if (deviceId !== this.lock.deviceId) {
      throw new Error(`${this.adapter} has address ${deviceId}: a lock advertising there must have that deviceId, not ${this.lock.deviceId}`);
    }
    this.bus.on('message', this.onMessage);
    for (const rule of [
      `type='signal',sender='${BLUEZ}',interface='${PROPERTIES}',member='PropertiesChanged',arg0='${DEVICE}',path_namespace='${this.adapterPath}'`,
      `type='signal',sender='${BLUEZ}',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesAdded'`,
    ]) {
      await this.busCall('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
    }
    await this.busCall(BLUEZ, this.adapterPath, PROPERTIES, 'Set', 'ssv', [ADAPTER, 'Powered', new Variant('b', true)]);
    await this.registerApp({});
    this.advert = new Advertisement(this.lock.companyId, this.lock.manufacturerData(), () => {
      this.log(`[${this.lock.deviceId}] bluetoothd released the advertisement`);
    });
    this.bus.export(`${this.basePath}/advert`, this.advert);
    await this.adapterCall('org.bluez.LEAdvertisingManager1', 'RegisterAdvertisement', 'oa{sv}', [`${this.basePath}/advert`, {}]);
    this.lock.on('advert', this.onAdvert);
    this.lock.on('closed', this.onAdvert);
    this.log(`[${this.lock.deviceId}] advertising on ${this.adapter} through bluetoothd`);
  }

  private async registerApp(layout: Layout): Promise<void> {
    const root = `${this.basePath}/app${this.generation++}`;
    const objects: [string, AppService | AppCharacteristic][] = [];
    if (layout.filler) objects.push([`${root}/service0`, new AppService(FILLER_SERVICE_UUID)]);
    const servicePath = `${root}/service1`;
    objects.push([servicePath, new AppService(BSLD_SERVICE_UUID)]);
    const response = new AppCharacteristic(RESPONSE_CHAR_UUID, servicePath, { notify: true });
    const chars = [
      new AppCharacteristic(CHALLENGE_CHAR_UUID, servicePath, { read: (device) => this.challengeFor(device) }),
      new AppCharacteristic(COMMAND_CHAR_UUID, servicePath, {
        write: (value, device) => {
          this.onCommand(value, device);
        },
      }),
      response,
      new AppCharacteristic(INFO_CHAR_UUID, servicePath, { read: () => this.lock.info() }),
    ];
    if (layout.reverse) chars.reverse();
    chars.forEach((c, i) => objects.push([`${servicePath}/char${i}`, c]));
    const manager = new AppObjectManager(() =>
      Object.fromEntries(objects.map(([p, o]) => [p, { [o instanceof AppService ? 'org.bluez.GattService1' : 'org.bluez.GattCharacteristic1']: o.properties() }])),
    );
    const exported: [string, dbus.interface.Interface][] = [[root, manager], ...objects];
    for (const [p, o] of exported) this.bus.export(p, o);
    this.app = { root, exported, response };
    await this.adapterCall('org.bluez.GattManager1', 'RegisterApplication', 'oa{sv}', [root, {}]);
  }

  private async unregisterApp(): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.app = undefined;
    try {
      await this.adapterCall('org.bluez.GattManager1', 'UnregisterApplication', 'o', [app.root]);
    } finally {
      for (const [p, o] of app.exported) this.bus.unexport(p, o);
    }
  }

  private refreshAdvert(): void {
    if (this.stopped || !this.advert) return;
    this.advert.update(this.lock.companyId, this.lock.manufacturerData());
  }

  // ---- connections -------------------------------------------------------------------------

  private dispatch(msg: dbus.Message): void {
    if (msg.type !== dbus.MessageType.SIGNAL || this.stopped) return;
    if (msg.interface === PROPERTIES && msg.member === 'PropertiesChanged' && msg.body[0] === DEVICE) {
      if (!isDevicePathOf(this.adapterPath, msg.path)) return;
      const connected: unknown = (msg.body[1] as Record<string, Variant | undefined>).Connected?.value;
      if (connected === true) this.centralConnected(msg.path);
      if (connected === false) this.centralGone(msg.path);
    } else if (msg.member === 'InterfacesAdded') {
      const path = msg.body[0] as string;
      const device = (msg.body[1] as Record<string, Record<string, Variant> | undefined>)[DEVICE];
      if (isDevicePathOf(this.adapterPath, path) && device?.Connected?.value === true) this.centralConnected(path);
    }
  }

  /** A central connected to our adapter: the lock takes the connection, or drops it at once. */
  private centralConnected(path: string): Central {
    const known = this.centrals.get(path);
    if (known) return known;
    const central: Central = { path, conn: undefined, linkUp: true, writes: 0 };
    this.centrals.set(path, central);
    try {
      central.conn = this.lock.connect({
        notify: (frame) => {
          this.notify(central, frame);
        },
        close: (reason) => {
          setTimeout(() => void this.disconnectCentral(central, reason), this.options.closeGraceMs ?? 100);
        },
      });
      this.log(`[${this.lock.deviceId}] central ${path.slice(-17)} connected`);
    } catch (err) {
      if (!(err instanceof ConnectionRefused)) throw err;
      // A busy or backing-off lock would not have taken the connection request at all.
      this.log(`[${this.lock.deviceId}] refusing central ${path.slice(-17)}: ${err.reason}`);
      void this.disconnectCentral(central, 'shutdown');
    }
    return central;
  }

  private centralGone(path: string): void {
    const central = this.centrals.get(path);
    if (!central) return;
    this.centrals.delete(path);
    central.linkUp = false;
    central.conn?.end('central');
  }

  /** GATT requests name their central; a request can beat the Connected signal to us. */
  private centralFor(device: string | undefined): Central | undefined {
    if (device === undefined || !isDevicePathOf(this.adapterPath, device)) return undefined;
    return this.centrals.get(device) ?? this.centralConnected(device);
  }

  private challengeFor(device: string | undefined): Buffer {
    const conn = this.centralFor(device)?.conn;
    if (!conn?.open) throw new dbus.DBusError('org.bluez.Error.NotPermitted', 'Read not permitted');
    return Buffer.from(conn.challenge);
  }

  private onCommand(value: Buffer, device: string | undefined): void {
    const central = this.centralFor(device);
    if (!central?.conn || !central.linkUp || this.faults.silent) return;
    central.writes++;
    const drop = this.faults.dropAfterWrites;
    if (drop !== undefined && central.writes >= drop) {
      this.faults.dropAfterWrites = undefined;
      // The lock acts on the frame, but the link is gone before its answer can leave.
      central.linkUp = false;
      central.conn.write(value);
      void this.disconnectCentral(central, 'link-lost');
      return;
    }
    central.conn.write(value);
  }

  private notify(central: Central, frame: Buffer): void {
    if (!central.linkUp || this.faults.silent || !this.app) return;
    this.app.response.notify(frame);
  }

  private async disconnectCentral(central: Central, reason: CloseReason): Promise<void> {
    central.linkUp = false;
    if (reason === 'link-lost') central.conn?.end('link-lost');
    if (this.centrals.get(central.path) !== central) return;
    await this.callDevice(central.path, 'Disconnect').catch((err: unknown) => {
      this.log(`[${this.lock.deviceId}] Disconnect of ${central.path} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  // ---- D-Bus --------------------------------------------------------------------------------

  private callDevice(path: string, member: string): Promise<unknown[]> {
    return this.busCall(BLUEZ, path, DEVICE, member);
  }

  private adapterCall(iface: string, member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return this.busCall(BLUEZ, this.adapterPath, iface, member, signature, body);
  }

  private async busCall(destination: string, path: string, iface: string, member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    const reply = await this.bus.call(new dbus.Message({ destination, path, interface: iface, member, signature, body }));
    return (reply?.body ?? []) as unknown[];
  }
}
