/**
 * The BGW's view of BlueZ: node-ble picks the adapter and runs discovery; the narrow BluezBus
 * (dbus.ts) does per-lock work. One system-bus connection for both, with an error handler,
 * because an unhandled 'error' on it (e.g. LimitsExceeded) would end the Homebridge process.
 */
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
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

/**
 * Whether the chosen adapter can be used: `off` while it is powered off (`btmgmt power off`,
 * rfkill), `gone` while it is removed (a USB dongle unplugged, its controller index removed).
 */
export type AdapterStatus = 'ready' | 'off' | 'gone';

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
  private readonly status = new BehaviorSubject<AdapterStatus>('ready');
  /** Subscriptions of the scanner, tied to the adapter's path of the moment. */
  private readonly scanSubs: (() => void)[] = [];
  private readonly watchSubs: (() => void)[] = [];
  private unwatchAdapter: () => void = () => undefined;
  /** Whether the caller asked for discovery: it is restarted when the adapter returns. */
  private scanning = false;
  private returning: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly bluetooth: NodeBle.Bluetooth,
    private readonly destroy: () => void,
    private adapter: NodeBle.Adapter,
    readonly bus: BluezBus,
    private path: string,
    readonly adapterAddress: string,
    private readonly options: BluezOptions,
  ) {
    // hciN numbering is not stable: a replugged dongle may come back under another index, so
    // the adapter is recognised by its address.
    this.watchSubs.push(
      bus.onInterfacesRemoved((removed, ifaces) => {
        if (removed === this.path && ifaces.includes(ADAPTER)) this.lose('gone');
      }),
      bus.onInterfacesAdded((added, ifaces) => {
        const address = ifaces[ADAPTER]?.Address;
        if (this.status.value === 'gone' && typeof address === 'string' && address.toUpperCase() === this.adapterAddress) this.regain(added);
      }),
    );
    this.watchAdapter();
  }

  /** The object path of the adapter in use (`/org/bluez/hciN`); it may change when it returns. */
  get adapterPath(): string {
    return this.path;
  }

  /** The adapter's status now and as it changes. */
  get adapter$(): Observable<AdapterStatus> {
    return this.status.asObservable();
  }

  get adapterStatus(): AdapterStatus {
    return this.status.value;
  }

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
      return new BluezGateway(bluetooth, destroy, chosen.adapter, bus, path, chosen.address, options);
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
      link = new BsldLink(this.bus, this.path, deviceId, { ...DEFAULT_LINK_TIMEOUTS, ...this.options.timeouts });
      if (this.status.value !== 'ready') link.setAdapter(undefined, this.unavailableReason());
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
    this.scanning = true;
    if (this.status.value !== 'ready') throw new BgwError('unreachable', this.unavailableReason());
    await this.scan();
  }

  private async scan(): Promise<void> {
    if (this.scanSubs.length === 0) {
      const path = this.path;
      this.scanSubs.push(
        this.bus.onPropertiesBelow(path, (device, iface, changed) => {
          if (iface === DEVICE && ('ManufacturerData' in changed || 'RSSI' in changed)) void this.report(device);
        }),
        this.bus.onInterfacesAdded((device, ifaces) => {
          if (device.startsWith(`${path}/`) && ifaces[DEVICE]) this.emit(ifaces[DEVICE]);
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
    this.scanning = false;
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
    for (const u of [...this.scanSubs.splice(0), ...this.watchSubs.splice(0)]) u();
    this.unwatchAdapter();
    await this.returning?.catch(() => undefined);
    await Promise.all([...this.links.values()].map((l) => l.close().catch(() => undefined)));
    await this.stopScanning();
    this.sightings.complete();
    this.status.complete();
    this.destroy();
  }

  /** Powered going false is the adapter switched off; true again, back in use. */
  private watchAdapter(): void {
    this.unwatchAdapter();
    this.unwatchAdapter = this.bus.onProperties(this.path, (iface, changed) => {
      if (iface !== ADAPTER || typeof changed.Powered !== 'boolean') return;
      if (!changed.Powered) this.lose('off');
      else if (this.status.value === 'off') this.regain(this.path);
    });
  }

  private unavailableReason(): string {
    return this.status.value === 'gone'
      ? `the Bluetooth adapter ${this.adapterAddress} is gone (unplugged or removed); waiting for it to return`
      : `the Bluetooth adapter ${this.adapterAddress} is powered off; waiting for it to be powered on`;
  }

  /** Every link fails at once and operations are refused until the adapter is back. */
  private lose(status: 'off' | 'gone'): void {
    if (this.closed || this.status.value === status || (status === 'off' && this.status.value === 'gone')) return;
    this.status.next(status);
    const reason = this.unavailableReason();
    this.options.log.warn(`${reason[0]!.toUpperCase()}${reason.slice(1)}`);
    for (const link of this.links.values()) link.setAdapter(undefined, reason);
    // The scanner's subscriptions name the old path; they are made again on return.
    if (status === 'gone') for (const u of this.scanSubs.splice(0)) u();
  }

  /** The adapter is back (maybe under another path): powered, re-acquired, scanning again. */
  private regain(path: string, attempt = 0): void {
    if (this.closed || this.returning) return;
    this.returning = (async () => {
      try {
        if (path !== this.path) {
          for (const u of this.scanSubs.splice(0)) u();
          this.path = path;
          this.watchAdapter();
        }
        const name = path.slice(path.lastIndexOf('/') + 1);
        // node-ble's Adapter is bound to one path: a new one for the returned adapter.
        this.adapter = await withTimeout(this.bluetooth.getAdapter(name), 5_000, 'finding the returned adapter');
        await this.ensurePowered();
        // Discovery first: a returned adapter knows no device until it has heard it again.
        if (this.scanning) await this.scan();
        for (const link of this.links.values()) link.setAdapter(path);
        this.status.next('ready');
        this.options.log.info(`Bluetooth adapter ${this.adapterAddress} is back as ${name}`);
      } catch (err) {
        const again = attempt < 5 ? `; trying again in ${2 ** attempt} s` : '';
        this.options.log.error(`Bluetooth adapter ${this.adapterAddress} came back but cannot be used: ${err instanceof Error ? err.message : String(err)}${again}`);
        if (again) {
          setTimeout(() => {
            if (this.status.value !== 'ready') this.regain(this.path, attempt + 1);
          }, 1_000 * 2 ** attempt).unref();
        }
      }
    })().finally(() => {
      this.returning = undefined;
    });
  }

  /** bluetoothd powers a returning adapter itself (AutoEnable, its default); else the BGW does. */
  private async ensurePowered(): Promise<void> {
    for (let waited = 0; waited < 2_000; waited += 100) {
      if ((await this.bus.getProperty(this.path, ADAPTER, 'Powered')) === true) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.options.log.warn(`Bluetooth adapter ${this.adapterAddress} came back powered off; powering it on`);
    await this.bus.call(this.path, 'org.freedesktop.DBus.Properties', 'Set', 'ssv', [ADAPTER, 'Powered', new Variant('b', true)]);
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
