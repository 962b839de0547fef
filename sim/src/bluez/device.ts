/**
 * org.bluez.Device1 for one simulated lock as one adapter sees it: advertisement data while
 * discovering, Connect/Disconnect with bluetoothd's ordering, and the lock's GATT database
 * exported under fresh paths for each connection.
 */
import {
  BSLD_SERVICE_UUID,
  CHALLENGE_CHAR_UUID,
  COMMAND_CHAR_UUID,
  INFO_CHAR_UUID,
  RESPONSE_CHAR_UUID,
  deviceIdToAddress,
} from 'homebridge-igrs-smartlock/protocol';
import { randomBytes } from 'node:crypto';
import { ConnectionRefused, type LockConnection, type SimLock } from '../lock/index.js';
import { BluezError, Interface, Variant, changed, delay } from './dbus.js';
import type { LatencyProfile, LockFaults } from './faults.js';
import { GattCharacteristic, GattDescriptor, GattService, type GattLink } from './gatt.js';
import type { ObjectTree } from './object-manager.js';

/** A lock as the emulator holds it: the core, its injected faults, its radio. */
export interface EmulatedLock {
  lock: SimLock;
  faults: LockFaults;
  rssi: number;
}

/** What a device needs from its adapter and the emulator. */
export interface DeviceHost {
  tree: ObjectTree;
  adapterPath: string;
  powered(): boolean;
  latency(): LatencyProfile;
  /** How long an LE connect to a lock that does not answer takes to give up. */
  unreachableConnectMs: number;
  /** Gap between the Disconnect reply and Connected=false (see docs/bluez notes). */
  disconnectSignalDelayMs: number;
}

export class Device extends Interface {
  readonly Address: string;
  readonly AddressType = 'public';
  readonly Name: string;
  Alias: string;
  readonly Class = 0;
  readonly Paired = false;
  readonly Bonded = false;
  Trusted = false;
  Blocked = false;
  readonly LegacyPairing = false;
  RSSI: number;
  Connected = false;
  ServicesResolved = false;
  UUIDs: string[];
  readonly Adapter: string;
  ManufacturerData: Record<string, Variant>;
  readonly ServiceData: Record<string, Variant> = {};
  readonly AdvertisingFlags = Buffer.from([0x06]);

  readonly path: string;
  private connecting = false;
  private disconnecting = false;
  private abortConnect = false;
  private linkDown: Promise<void> = Promise.resolve();
  private conn: LockConnection | undefined;
  /** Whether the radio link is up; a dropped link swallows the lock's notifications. */
  private linkUp = false;
  private writes = 0;
  private notifications = 0;
  private generation = 0;
  private gattPaths: string[] = [];
  private response: GattCharacteristic | undefined;

  constructor(
    private readonly host: DeviceHost,
    readonly entry: EmulatedLock,
  ) {
    super('org.bluez.Device1');
    const { lock } = entry;
    this.Address = deviceIdToAddress(lock.deviceId);
    this.Name = lock.name;
    this.Alias = lock.name;
    this.RSSI = entry.rssi;
    this.Adapter = host.adapterPath;
    this.path = `${host.adapterPath}/dev_${this.Address.replaceAll(':', '_')}`;
    // The scan response carries the service UUID and the name; the advert itself only flags
    // and manufacturer data (31 bytes exactly).
    this.UUIDs = [BSLD_SERVICE_UUID];
    this.ManufacturerData = this.manufacturerData();
  }

  get isConnected(): boolean {
    return this.Connected;
  }

  /** A fresh advert was received while discovering: update what changed, as bluetoothd does. */
  advertised(): void {
    const data = this.manufacturerData();
    const prev = this.ManufacturerData[String(this.entry.lock.companyId)]?.value as Buffer | undefined;
    if (!prev?.equals(data[String(this.entry.lock.companyId)]!.value as Buffer)) {
      this.ManufacturerData = data;
      changed(this, { ManufacturerData: data });
    }
    if (this.RSSI !== this.entry.rssi) {
      this.RSSI = this.entry.rssi;
      changed(this, { RSSI: this.RSSI });
    }
  }

  async Connect(): Promise<void> {
    if (!this.host.powered()) throw BluezError.notReady();
    if (this.Connected && !this.disconnecting) return;
    if (this.connecting) throw BluezError.inProgress();
    this.connecting = true;
    this.abortConnect = false;
    try {
      // A Connect right after a Disconnect reply waits for that link to go down first.
      await this.linkDown;
      const { faults, lock } = this.entry;
      await delay(this.host.latency().connectMs + faults.extraConnectMs);
      // Aborted by a Disconnect, or the controller went away meanwhile.
      if (this.connectAborted() || !this.host.powered()) throw BluezError.connectAborted();
      const injected = faults.connectFailures.shift();
      if (injected === 'in-progress') throw BluezError.inProgress();
      if (injected === 'failed') throw BluezError.connectAborted();
      if (faults.outOfRange) {
        await delay(this.host.unreachableConnectMs);
        throw BluezError.connectAborted();
      }
      let conn: LockConnection | undefined;
      if (!faults.silent) {
        try {
          conn = lock.connect({
            notify: (frame) => {
              if (!this.linkUp || this.conn !== conn || faults.silent) return;
              const n = ++this.notifications;
              if (faults.takeDrop(`notify:${n}`)) {
                this.dropSoon(this.generation);
                return;
              }
              this.response?.notify(frame);
              if (faults.takeDrop(`notified:${n}`)) this.dropSoon(this.generation);
            },
            close: () => {
              if (this.conn === conn) this.teardown();
            },
          });
        } catch (err) {
          if (!(err instanceof ConnectionRefused)) throw err;
          // A lock that is busy or backing off does not take the connection request at all.
          await delay(this.host.unreachableConnectMs);
          throw BluezError.connectAborted();
        }
      }
      if (faults.takeDrop('connect')) {
        // The lock saw the link come up; it is gone before bluetoothd completes the connect.
        conn?.end('link-lost');
        throw BluezError.connectAborted();
      }
      this.conn = conn;
      this.linkUp = true;
      this.writes = 0;
      this.notifications = 0;
      // bluetoothd 5.66 (seen in the VM tier, docs/bluez.md): the property reads true, but a
      // Connect it initiated over LE often signals no Connected=true (the case modelled here);
      // the reply comes first, ServicesResolved=true only after it. Clients must not read GATT
      // on the reply alone, nor wait for Connected=true.
      this.Connected = true;
      this.exportGatt(conn);
      // A few ms after the reply rather than the next tick: a client reading both messages in
      // one chunk would otherwise see the signal before its awaited reply resumes it.
      const generation = this.generation;
      setTimeout(() => {
        if (!this.Connected || !this.linkUp || this.generation !== generation || this.ServicesResolved) return;
        this.ServicesResolved = true;
        changed(this, { ServicesResolved: true });
        if (faults.takeDrop('services-resolved')) this.dropSoon(generation);
      }, Math.max(5, this.host.latency().gattMs));
      if (faults.takeDrop('connected')) this.dropSoon(generation);
    } finally {
      this.connecting = false;
    }
  }

  Disconnect(): void {
    // Disconnect during a pending Connect cancels it: that Connect fails as an aborted LE connect.
    if (this.connecting && !this.Connected) this.abortConnect = true;
    if (!this.Connected || this.disconnecting) return;
    if (this.entry.faults.takeDrop('disconnect')) {
      // The link was lost just as the Disconnect came: the drop is signalled before the reply.
      this.dropLink();
      return;
    }
    this.disconnecting = true;
    // bluetoothd signals ServicesResolved=false before its reply, and Connected=false only
    // after it; clients that stop listening on the reply never see the disconnect.
    if (this.ServicesResolved) {
      this.ServicesResolved = false;
      changed(this, { ServicesResolved: false });
    }
    this.linkDown = new Promise((resolve) => {
      setTimeout(() => {
        this.conn?.end('central');
        this.teardown();
        resolve();
      }, this.host.disconnectSignalDelayMs);
    });
  }

  Pair(): void {
    throw BluezError.failed('Pairing not supported by this device');
  }

  CancelPair(): void {
    throw BluezError.doesNotExist();
  }

  /** Read through a call: the flag changes while Connect awaits. */
  private connectAborted(): boolean {
    return this.abortConnect;
  }

  /** The link is lost (out of range, injected drop): no Disconnect, just the signals. */
  dropLink(): void {
    if (!this.Connected) return;
    this.conn?.end('link-lost');
    this.teardown();
  }

  /**
   * Loses the link after the reply now being sent (a fault at a named step): swallows what the
   * lock says from here on, then signals the drop.
   */
  private dropSoon(generation: number): void {
    this.linkUp = false;
    setImmediate(() => {
      if (this.generation === generation) this.dropLink();
    });
  }

  /** The emulator is stopping. */
  shutdown(): void {
    this.dropLink();
  }

  private teardown(): void {
    if (!this.Connected) return;
    this.linkUp = false;
    this.conn = undefined;
    this.response = undefined;
    for (const p of this.gattPaths.reverse()) this.host.tree.remove(p);
    this.gattPaths = [];
    if (this.ServicesResolved) {
      this.ServicesResolved = false;
      changed(this, { ServicesResolved: false });
    }
    this.Connected = false;
    this.disconnecting = false;
    changed(this, { Connected: false });
  }

  private exportGatt(conn: LockConnection | undefined): void {
    const generation = ++this.generation;
    const link: GattLink = {
      call: async () => {
        await delay(this.host.latency().gattMs + this.entry.faults.extraGattMs);
        if (!this.linkUp || this.generation !== generation) throw BluezError.notConnected();
      },
    };
    // Handles, and so paths, move with each connection here, as the project's notes report
    // for real locks: clients must look services up again after every reconnect.
    const base = 0x0010 + ((generation - 1) % 0x100) * 0x10;
    const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
    const servicePath = `${this.path}/service${hex4(base)}`;
    const silentChallenge = randomBytes(16);
    const challenge = new GattCharacteristic(CHALLENGE_CHAR_UUID, servicePath, link, {
      read: () => {
        if (this.entry.faults.takeDrop('read-challenge')) this.dropSoon(generation);
        return Buffer.from(conn?.challenge ?? silentChallenge);
      },
    });
    const command = new GattCharacteristic(COMMAND_CHAR_UUID, servicePath, link, {
      write: (value) => {
        this.onCommand(conn, generation, value);
      },
    });
    const response = new GattCharacteristic(RESPONSE_CHAR_UUID, servicePath, link, {
      notify: true,
      onStartNotify: () => {
        if (this.entry.faults.takeDrop('start-notify')) this.dropSoon(generation);
      },
    });
    const info = new GattCharacteristic(INFO_CHAR_UUID, servicePath, link, { read: () => this.entry.lock.info() });
    const chars: [string, GattCharacteristic][] = [
      [`${servicePath}/char${hex4(base + 1)}`, challenge],
      [`${servicePath}/char${hex4(base + 3)}`, command],
      [`${servicePath}/char${hex4(base + 5)}`, response],
      [`${servicePath}/char${hex4(base + 8)}`, info],
    ];
    this.host.tree.add(servicePath, [new GattService(BSLD_SERVICE_UUID, this.path)]);
    this.gattPaths.push(servicePath);
    for (const [p, c] of chars) {
      this.host.tree.add(p, [c]);
      this.gattPaths.push(p);
    }
    const cccdPath = `${servicePath}/char${hex4(base + 5)}/desc${hex4(base + 7)}`;
    this.host.tree.add(cccdPath, [new GattDescriptor(`${servicePath}/char${hex4(base + 5)}`, link)]);
    this.gattPaths.push(cccdPath);
    this.response = response;
  }

  private onCommand(conn: LockConnection | undefined, generation: number, value: Buffer): void {
    // A lock turned silent mid-link swallows writes too; from its next link it takes none at all.
    if (!this.linkUp || this.generation !== generation || this.entry.faults.silent) return;
    this.writes++;
    if (this.entry.faults.takeDrop(`write:${this.writes}`)) {
      // The lock takes the frame and acts on it, but the link is gone before it can answer.
      this.linkUp = false;
      conn?.write(value);
      this.dropLink();
      return;
    }
    conn?.write(value);
  }

  private manufacturerData(): Record<string, Variant> {
    const { lock } = this.entry;
    return { [String(lock.companyId)]: new Variant('ay', lock.manufacturerData()) };
  }
}
Device.configureMembers({
  properties: {
    Address: { signature: 's', access: 'read' },
    AddressType: { signature: 's', access: 'read' },
    Name: { signature: 's', access: 'read' },
    Alias: { signature: 's', access: 'read' },
    Class: { signature: 'u', access: 'read', disabled: true },
    Paired: { signature: 'b', access: 'read' },
    Bonded: { signature: 'b', access: 'read' },
    Trusted: { signature: 'b', access: 'read' },
    Blocked: { signature: 'b', access: 'read' },
    LegacyPairing: { signature: 'b', access: 'read' },
    RSSI: { signature: 'n', access: 'read' },
    Connected: { signature: 'b', access: 'read' },
    ServicesResolved: { signature: 'b', access: 'read' },
    UUIDs: { signature: 'as', access: 'read' },
    Adapter: { signature: 'o', access: 'read' },
    ManufacturerData: { signature: 'a{qv}', access: 'read' },
    ServiceData: { signature: 'a{sv}', access: 'read' },
    AdvertisingFlags: { signature: 'ay', access: 'read' },
  },
  methods: {
    Connect: {},
    Disconnect: {},
    Pair: {},
    CancelPair: {},
  },
});
