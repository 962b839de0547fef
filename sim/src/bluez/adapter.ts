/**
 * org.bluez.Adapter1: power, discovery filter, discovery, and the Device1 objects of the locks
 * it has heard. A device appears only once the adapter has scanned while the lock advertised.
 */
import { BSLD_SERVICE_UUID } from 'homebridge-igrs-smartlock/protocol';
import { BluezError, Interface, changed, type Variant } from './dbus.js';
import { Device, type DeviceHost, type EmulatedLock } from './device.js';
import type { LatencyProfile } from './faults.js';
import type { ObjectTree } from './object-manager.js';

export interface AdapterHost {
  tree: ObjectTree;
  latency(): LatencyProfile;
  unreachableConnectMs: number;
  disconnectSignalDelayMs: number;
  locks(): Iterable<EmulatedLock>;
}

const FILTER_KEYS = new Set(['UUIDs', 'RSSI', 'Pathloss', 'Transport', 'DuplicateData', 'Discoverable', 'Pattern']);

export class Adapter extends Interface {
  readonly Address: string;
  readonly AddressType = 'public';
  readonly Name: string;
  Alias: string;
  readonly Class = 0;
  private powered: boolean;
  Discoverable = false;
  Pairable = true;
  Discovering = false;
  readonly UUIDs: string[] = [];
  readonly Roles = ['central', 'peripheral'];

  readonly path: string;
  private filter: { uuids: string[]; rssi: number | undefined } = { uuids: [], rssi: undefined };
  private readonly devices = new Map<string, Device>();
  private readonly deviceHost: DeviceHost;

  constructor(
    readonly id: string,
    address: string,
    private readonly host: AdapterHost,
    powered = true,
  ) {
    super('org.bluez.Adapter1');
    this.powered = powered;
    this.path = `/org/bluez/${id}`;
    this.Address = address;
    this.Name = `igrs-sim-${id}`;
    this.Alias = this.Name;
    this.deviceHost = {
      tree: host.tree,
      adapterPath: this.path,
      powered: () => this.powered,
      latency: () => host.latency(),
      unreachableConnectMs: host.unreachableConnectMs,
      disconnectSignalDelayMs: host.disconnectSignalDelayMs,
    };
  }

  get Powered(): boolean {
    return this.powered;
  }

  set Powered(on: boolean) {
    if (on === this.powered) return;
    this.powered = on;
    if (!on) {
      for (const d of this.devices.values()) d.dropLink();
      this.setDiscovering(false);
    }
    changed(this, { Powered: on });
  }

  SetDiscoveryFilter(filter: Record<string, Variant>): void {
    for (const key of Object.keys(filter)) if (!FILTER_KEYS.has(key)) throw BluezError.invalidArguments();
    const transport = filter.Transport?.value as string | undefined;
    if (transport !== undefined && !['auto', 'le', 'bredr'].includes(transport)) throw BluezError.invalidArguments();
    this.filter = {
      uuids: ((filter.UUIDs?.value as string[] | undefined) ?? []).map((u) => u.toLowerCase()),
      rssi: filter.RSSI?.value as number | undefined,
    };
  }

  GetDiscoveryFilters(): string[] {
    return [...FILTER_KEYS];
  }

  StartDiscovery(): void {
    if (!this.powered) throw BluezError.notReady();
    if (this.Discovering) throw BluezError.busy();
    this.setDiscovering(true);
    // The first adverts arrive within one advertising interval; announce them after the reply.
    setImmediate(() => {
      this.scan();
    });
  }

  StopDiscovery(): void {
    if (!this.powered) throw BluezError.notReady();
    if (!this.Discovering) throw BluezError.failed('No discovery started');
    this.setDiscovering(false);
  }

  RemoveDevice(path: string): void {
    const entry = [...this.devices.entries()].find(([, d]) => d.path === path);
    if (!entry) throw BluezError.doesNotExist();
    entry[1].dropLink();
    this.devices.delete(entry[0]);
    this.host.tree.remove(path);
  }

  /** A lock's advert changed or it came into range: seen only while discovering. */
  heard(entry: EmulatedLock): void {
    if (!this.Discovering || !this.powered || entry.faults.outOfRange) return;
    // A connected peripheral stops advertising.
    if (entry.lock.activeConnection) return;
    if (!this.matches(entry)) return;
    const existing = this.devices.get(entry.lock.deviceId);
    if (existing) {
      existing.advertised();
      return;
    }
    const device = new Device(this.deviceHost, entry);
    this.devices.set(entry.lock.deviceId, device);
    this.host.tree.add(device.path, [device]);
  }

  device(deviceId: string): Device | undefined {
    return this.devices.get(deviceId);
  }

  /**
   * The controller is going away (USB unplug, index removed): live links drop first
   * (Connected=false), then the adapter reads powered off and not discovering, then every
   * device object is removed. The caller removes the adapter object itself last.
   */
  unplug(): void {
    for (const d of this.devices.values()) d.dropLink();
    this.setDiscovering(false);
    if (this.powered) {
      this.powered = false;
      changed(this, { Powered: false });
    }
    for (const d of this.devices.values()) this.host.tree.remove(d.path);
    this.devices.clear();
  }

  shutdown(): void {
    for (const d of this.devices.values()) d.shutdown();
  }

  private scan(): void {
    for (const entry of this.host.locks()) this.heard(entry);
  }

  private matches(entry: EmulatedLock): boolean {
    if (this.filter.rssi !== undefined && entry.rssi < this.filter.rssi) return false;
    if (this.filter.uuids.length === 0) return true;
    // Every lock answers scans with the BSLD service UUID.
    return this.filter.uuids.includes(BSLD_SERVICE_UUID);
  }

  private setDiscovering(on: boolean): void {
    if (this.Discovering === on) return;
    this.Discovering = on;
    changed(this, { Discovering: on });
  }
}
Adapter.configureMembers({
  properties: {
    Address: { signature: 's', access: 'read' },
    AddressType: { signature: 's', access: 'read' },
    Name: { signature: 's', access: 'read' },
    Alias: { signature: 's', access: 'read' },
    Class: { signature: 'u', access: 'read' },
    Powered: { signature: 'b', access: 'readwrite' },
    Discoverable: { signature: 'b', access: 'read' },
    Pairable: { signature: 'b', access: 'read' },
    Discovering: { signature: 'b', access: 'read' },
    UUIDs: { signature: 'as', access: 'read' },
    Roles: { signature: 'as', access: 'read' },
  },
  methods: {
    SetDiscoveryFilter: { inSignature: 'a{sv}' },
    GetDiscoveryFilters: { outSignature: 'as' },
    StartDiscovery: {},
    StopDiscovery: {},
    RemoveDevice: { inSignature: 'o' },
  },
});
