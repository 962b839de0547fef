/**
 * The BGW's view of BlueZ: node-ble picks the adapter and runs discovery; the narrow BluezBus
 * (dbus.ts) does per-lock work. One system-bus connection for both, with an error handler,
 * because an unhandled 'error' on it (e.g. LimitsExceeded) would end the Homebridge process.
 */
import { Subject, type Observable } from 'rxjs';
import NodeBle from 'node-ble';
import type dbus from 'dbus-next';
import { decodeAdvert, deviceIdFromAddress, type Advert } from '../protocol/index.js';
import type { Logger } from '../logger.js';
import { BluezBus, Variant, type PropertyMap } from './dbus.js';
import { BgwError, withTimeout } from './errors.js';
import { BsldLink, DEFAULT_LINK_TIMEOUTS, type LinkTimeouts } from './link.js';

const DEVICE = 'org.bluez.Device1';
const ADAPTER = 'org.bluez.Adapter1';

/** A BSLD advert as the scanner saw it; `advert` is undefined for other devices. */
export interface Sighting {
  deviceId: string;
  rssi: number | undefined;
  name: string | undefined;
  advert: Advert | undefined;
}

export interface BluezOptions {
  /** Choose the adapter by its address (notes: hciN numbering is not stable); else the first. */
  adapterAddress?: string;
  companyId?: number;
  log: Logger;
  timeouts?: Partial<LinkTimeouts>;
}

export class BluezGateway {
  private readonly links = new Map<string, BsldLink>();
  private readonly sightings = new Subject<Sighting>();
  private readonly unsubscribe: (() => void)[] = [];
  private closed = false;

  private constructor(
    private readonly destroy: () => void,
    private readonly adapter: NodeBle.Adapter,
    readonly bus: BluezBus,
    readonly adapterPath: string,
    readonly adapterAddress: string,
    private readonly options: BluezOptions,
  ) {}

  static async open(options: BluezOptions): Promise<BluezGateway> {
    const ble = NodeBle.createBluetooth();
    const { bluetooth } = ble;
    const destroy = () => {
      ble.destroy();
    };
    const raw = (bluetooth as unknown as { dbus: dbus.MessageBus }).dbus;
    raw.on('error', (err: unknown) => {
      options.log.error(`D-Bus connection error: ${err instanceof Error ? err.message : String(err)}`);
    });
    try {
      const bus = new BluezBus(raw);
      await withTimeout(bus.start(), 5_000, 'connecting to BlueZ on the system bus');
      const names = await withTimeout(bluetooth.adapters(), 5_000, 'listing Bluetooth adapters');
      let chosen: { name: string; address: string; adapter: NodeBle.Adapter } | undefined;
      for (const name of names) {
        const adapter = await bluetooth.getAdapter(name);
        const address = (await adapter.getAddress()).toUpperCase();
        if (!options.adapterAddress || options.adapterAddress.toUpperCase() === address) {
          chosen = { name, address, adapter };
          break;
        }
      }
      if (!chosen) {
        throw new BgwError(
          'unreachable',
          options.adapterAddress ? `no Bluetooth adapter with address ${options.adapterAddress} (found: ${names.join(', ') || 'none'})` : 'no Bluetooth adapter found',
        );
      }
      const path = `/org/bluez/${chosen.name}`;
      if ((await bus.getProperty(path, ADAPTER, 'Powered')) !== true) {
        options.log.warn(`Bluetooth adapter ${chosen.address} is powered off; powering it on`);
        await bus.call(path, 'org.freedesktop.DBus.Properties', 'Set', 'ssv', [ADAPTER, 'Powered', new Variant('b', true)]);
      }
      options.log.info(`Using Bluetooth adapter ${chosen.name} (${chosen.address})`);
      return new BluezGateway(destroy, chosen.adapter, bus, path, chosen.address, options);
    } catch (err) {
      destroy();
      if (err instanceof BgwError) throw err;
      throw new BgwError('bus', `cannot use BlueZ: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** The one link of a lock, kept for the gateway's life so its objects are never rebuilt. */
  link(deviceId: string): BsldLink {
    let link = this.links.get(deviceId);
    if (!link) {
      link = new BsldLink(this.bus, this.adapterPath, deviceId, { ...DEFAULT_LINK_TIMEOUTS, ...this.options.timeouts });
      this.links.set(deviceId, link);
    }
    return link;
  }

  /** Adverts seen while scanning: BSLDs in pairing mode, and sealed state of registered ones. */
  get sightings$(): Observable<Sighting> {
    return this.sightings.asObservable();
  }

  /** Starts LE discovery and reports every device the adapter sees or already knows. */
  async startScanning(): Promise<void> {
    if (this.unsubscribe.length === 0) {
      this.unsubscribe.push(
        this.bus.onPropertiesBelow(this.adapterPath, (path, iface, changed) => {
          if (iface === DEVICE && ('ManufacturerData' in changed || 'RSSI' in changed)) void this.report(path);
        }),
        this.bus.onInterfacesAdded((path, ifaces) => {
          if (path.startsWith(`${this.adapterPath}/`) && ifaces[DEVICE]) this.emit(ifaces[DEVICE]);
        }),
      );
    }
    // node-ble throws its own error when discovery already runs (e.g. another client's).
    if (!(await this.adapter.isDiscovering())) await withTimeout(this.adapter.startDiscovery(), 5_000, 'starting discovery');
    for (const node of await this.bus.children(this.adapterPath)) {
      if (node.startsWith('dev_')) await this.report(`${this.adapterPath}/${node}`);
    }
  }

  async stopScanning(): Promise<void> {
    if (await this.adapter.isDiscovering().catch(() => false)) await this.adapter.stopDiscovery().catch(() => undefined);
  }

  /** Locks the adapter currently knows of (within range recently). */
  async knownDeviceIds(): Promise<string[]> {
    const nodes = await this.bus.children(this.adapterPath);
    return nodes.filter((n) => n.startsWith('dev_')).map((n) => n.slice(4).replaceAll('_', ''));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribe.splice(0)) u();
    await Promise.all([...this.links.values()].map((l) => l.close().catch(() => undefined)));
    await this.stopScanning();
    this.sightings.complete();
    this.destroy();
  }

  private async report(path: string): Promise<void> {
    try {
      this.emit(await this.bus.getAll(path, DEVICE));
    } catch {
      // The device went away between the signal and the read: nothing to report.
    }
  }

  private emit(props: PropertyMap): void {
    if (typeof props.Address !== 'string') return;
    let deviceId: string;
    try {
      deviceId = deviceIdFromAddress(props.Address);
    } catch {
      return;
    }
    const data = props.ManufacturerData as Record<string, unknown> | undefined;
    const payload = data?.[String(this.options.companyId ?? 0xffff)];
    let advert: Advert | undefined;
    if (payload instanceof Uint8Array) {
      try {
        advert = decodeAdvert(payload);
        // An advert must name the device that sent it; a copied one is ignored.
        if (advert.deviceId !== deviceId) advert = undefined;
      } catch {
        advert = undefined;
      }
    }
    this.sightings.next({
      deviceId,
      rssi: typeof props.RSSI === 'number' ? props.RSSI : undefined,
      name: typeof props.Name === 'string' ? props.Name : undefined,
      advert,
    });
  }
}
