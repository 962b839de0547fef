/**
 * One BSLD as BlueZ shows it: a Device1 object and, while connected, the GATT characteristics
 * of the profile's service. Object paths of services may change per connection, so they are
 * looked up after every connect; everything else (the device path, the signal subscription) lives
 * as long as the link.
 */
import { BSLD_SERVICE_UUID, CHALLENGE_CHAR_UUID, COMMAND_CHAR_UUID, RESPONSE_CHAR_UUID, INFO_CHAR_UUID, deviceIdToAddress } from '../protocol/index.js';
import { BgwError, withTimeout } from './errors.js';
import { dbusErrorName, Variant, type BluezBus, type PropertyMap } from './dbus.js';

const DEVICE = 'org.bluez.Device1';
const SERVICE = 'org.bluez.GattService1';
const CHARACTERISTIC = 'org.bluez.GattCharacteristic1';

export interface LinkTimeouts {
  connectMs: number;
  servicesMs: number;
  gattMs: number;
}

export const DEFAULT_LINK_TIMEOUTS: LinkTimeouts = { connectMs: 10_000, servicesMs: 5_000, gattMs: 3_000 };

interface GattPaths {
  challenge: string;
  command: string;
  response: string;
  info: string | undefined;
}

/** The BlueZ errors after which one immediate retry usually succeeds (notes: real adapters). */
function isTransientConnectError(err: unknown): boolean {
  const name = dbusErrorName((err as { details?: { cause?: unknown } }).details?.cause ?? err);
  const text = err instanceof Error ? err.message : '';
  return name === 'org.bluez.Error.InProgress' || /le-connection-abort-by-local|InProgress|Software caused connection abort/.test(text);
}

function mapBusError(err: unknown, what: string): BgwError {
  if (err instanceof BgwError && err.code !== 'bus') return err;
  const name = dbusErrorName((err as { details?: { cause?: unknown } }).details?.cause ?? err);
  const text = err instanceof Error ? err.message : String(err);
  // A device BlueZ has not discovered (or has forgotten) has no Device1 object to ask.
  if (/UnknownObject|UnknownInterface|DoesNotExist|InvalidArgs|UnknownMethod/.test(`${name} ${text}`)) {
    return new BgwError('unreachable', `${what}: the adapter has not seen the lock (out of range, or not yet discovered)`, { cause: err });
  }
  // An LE connect aborted twice is a lock that does not answer (Failed below), not a busy BlueZ.
  if (name === 'org.bluez.Error.InProgress' || /InProgress/.test(text)) {
    return new BgwError('busy', `${what}: BlueZ is busy with this lock`, { cause: err });
  }
  if (name === 'org.bluez.Error.NotConnected' || /NotConnected|Not connected/.test(text)) {
    return new BgwError('disconnected', `${what}: the lock is not connected`, { cause: err });
  }
  if (name === 'org.bluez.Error.Failed' && /connect|abort|timeout|Host is down/i.test(text)) {
    return new BgwError('unreachable', `${what}: ${text}`, { cause: err });
  }
  return new BgwError('bus', `${what}: ${text}`, { cause: err });
}

export class BsldLink {
  private devicePath: string;
  /** Why connecting is refused at once: the adapter is gone or powered off (set by the gateway). */
  private unavailable: string | undefined;
  /** Counts losses of the link, so a step can tell the link it started on went down meanwhile. */
  private losses = 0;
  private gattPaths: GattPaths | undefined;
  private readonly uuidByPath = new Map<string, string>();
  private connected = false;
  private servicesResolved = false;
  private unsubscribeDevice: () => void;
  private unsubscribeResponse: (() => void) | undefined;
  private readonly frameListeners = new Set<(frame: Buffer) => void>();
  private readonly disconnectListeners = new Set<() => void>();
  private readonly resolvedWaiters = new Set<() => void>();
  private readonly downWaiters = new Set<() => void>();
  private readonly lossWaiters = new Set<() => void>();

  constructor(
    private readonly bus: BluezBus,
    adapterPath: string,
    readonly deviceId: string,
    private readonly timeouts: LinkTimeouts = DEFAULT_LINK_TIMEOUTS,
  ) {
    this.devicePath = BsldLink.devicePathOf(adapterPath, deviceId);
    this.unsubscribeDevice = this.watchDevice();
  }

  static devicePathOf(adapterPath: string, deviceId: string): string {
    return `${adapterPath}/dev_${deviceIdToAddress(deviceId).replaceAll(':', '_')}`;
  }

  /** The lock's Device1 object path under the adapter in use. */
  get path(): string {
    return this.devicePath;
  }

  /**
   * The adapter went away (`reason` says how) or came back, possibly under another hciN: a link
   * on a gone adapter is lost, and connecting fails at once until it returns.
   */
  setAdapter(adapterPath: string | undefined, reason = 'the Bluetooth adapter is not available'): void {
    if (adapterPath === undefined) {
      this.unavailable = reason;
      this.lost();
      return;
    }
    this.unavailable = undefined;
    const path = BsldLink.devicePathOf(adapterPath, this.deviceId);
    if (path === this.devicePath) return;
    this.unsubscribeDevice();
    this.devicePath = path;
    this.unsubscribeDevice = this.watchDevice();
  }

  private watchDevice(): () => void {
    return this.bus.onProperties(this.devicePath, (iface, changed) => {
      if (iface === DEVICE) this.onDeviceChanged(changed);
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Frames notified on the Response characteristic while connected. */
  onFrame(listener: (frame: Buffer) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Called once per loss of the connection, whoever ended it. */
  onDisconnect(listener: () => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async connect(): Promise<void> {
    if (this.unavailable) throw new BgwError('unreachable', this.unavailable);
    const losses = this.losses;
    try {
      await this.connectSteps(losses);
    } catch (err) {
      if (this.unavailable) throw new BgwError('unreachable', this.unavailable, { cause: err });
      if (this.losses === losses || (err instanceof BgwError && (err.code === 'disconnected' || err.code === 'unreachable'))) throw err;
      // A step failing because the link went down under it (no services, NotConnected, a wait
      // cut short) is one thing to the caller: the lock dropped the connection.
      this.forget();
      throw new BgwError('disconnected', `the link was lost while connecting (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  }

  private async connectSteps(losses: number): Promise<void> {
    const props = await this.bus.getAll(this.path, DEVICE).catch((err: unknown) => {
      throw mapBusError(err, 'looking up the lock');
    });
    this.connected = props.Connected === true;
    this.servicesResolved = props.ServicesResolved === true;
    if (!this.connected) {
      try {
        await this.bus.call(this.path, DEVICE, 'Connect', '', [], this.timeouts.connectMs);
      } catch (err) {
        if (!isTransientConnectError(err)) throw mapBusError(err, 'connecting');
        await this.bus.call(this.path, DEVICE, 'Connect', '', [], this.timeouts.connectMs).catch((e: unknown) => {
          throw mapBusError(e, 'connecting (retry)');
        });
      }
      // Connected=false may have been handled before this continuation: the reply and the
      // signal can arrive in one read. connect() compares the loss count.
      this.connected = true;
    }
    if (this.losses !== losses) {
      this.forget();
      throw new BgwError('disconnected', 'the link was lost as it connected');
    }
    await this.waitServicesResolved();
    await this.resolveGatt();
    await this.call(this.gattPaths!.response, 'StartNotify');
  }

  async disconnect(): Promise<void> {
    this.stopResponse();
    if (!this.connected) return;
    let gone: () => void = () => undefined;
    const down = new Promise<void>((resolve) => {
      gone = resolve;
      this.downWaiters.add(resolve);
    });
    try {
      await this.bus.call(this.path, DEVICE, 'Disconnect', '', [], this.timeouts.connectMs).catch(() => undefined);
      // BlueZ replies to Disconnect before Connected=false: a Connect in between would find the
      // old link still up and reuse its challenge. Wait for the link to be really down.
      if ((await this.bus.getProperty(this.path, DEVICE, 'Connected').catch(() => false)) === true) {
        await withTimeout(down, this.timeouts.servicesMs, 'the link going down').catch(() => undefined);
      }
    } finally {
      this.downWaiters.delete(gone);
      this.markDisconnected();
    }
  }

  async readChallenge(): Promise<Buffer> {
    const value = await this.read(this.requirePaths().challenge);
    if (value.length !== 16) throw new BgwError('protocol', `the lock's challenge is ${value.length} bytes, not 16`);
    return value;
  }

  /** Model and firmware from the Info characteristic (`model;major.minor`), if the lock has it. */
  async readInfo(): Promise<{ model: string; firmware: string } | undefined> {
    const path = this.requirePaths().info;
    if (!path) return undefined;
    const [model = '', firmware = ''] = (await this.read(path)).toString('utf8').split(';');
    return { model, firmware };
  }

  async writeFrame(frame: Buffer): Promise<void> {
    // A write request (with response): node-ble's default 'reliable' is a BlueZ Reliable Write.
    await this.call(this.requirePaths().command, 'WriteValue', 'aya{sv}', [frame, { type: new Variant('s', 'request') }]);
  }

  /** Ends the link for good: unsubscribes everything. */
  async close(): Promise<void> {
    await this.disconnect();
    this.unsubscribeDevice();
    this.frameListeners.clear();
    this.disconnectListeners.clear();
  }

  private requirePaths(): GattPaths {
    if (!this.connected || !this.gattPaths) throw new BgwError('disconnected', 'the lock is not connected');
    return this.gattPaths;
  }

  private async read(path: string): Promise<Buffer> {
    const [value] = await this.callRaw(path, 'ReadValue', 'a{sv}', [{}]);
    return Buffer.from(value as Uint8Array);
  }

  private async call(path: string, member: string, signature = '', body: unknown[] = []): Promise<void> {
    await this.callRaw(path, member, signature, body);
  }

  private async callRaw(path: string, member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    const losses = this.losses;
    try {
      return await this.bus.call(path, CHARACTERISTIC, member, signature, body, this.timeouts.gattMs);
    } catch (err) {
      // The characteristic's object goes with the link: UnknownObject then means a lost link.
      if (this.losses !== losses || !this.connected) throw new BgwError('disconnected', `${member}: the link was lost`, { cause: err });
      throw mapBusError(err, member);
    }
  }

  private async waitServicesResolved(): Promise<void> {
    if (this.servicesResolved) return;
    let done: () => void = () => undefined;
    let lost: () => void = () => undefined;
    const resolved = new Promise<void>((resolve, reject) => {
      done = resolve;
      lost = () => {
        reject(new BgwError('disconnected', 'the link was lost before its services were resolved'));
      };
      this.resolvedWaiters.add(done);
      this.lossWaiters.add(lost);
    });
    resolved.catch(() => undefined);
    try {
      // The property may have flipped between GetAll and the subscription.
      if ((await this.bus.getProperty(this.path, DEVICE, 'ServicesResolved')) === true) return;
      await withTimeout(resolved, this.timeouts.servicesMs, 'resolving GATT services');
    } finally {
      this.resolvedWaiters.delete(done);
      this.lossWaiters.delete(lost);
    }
  }

  private async resolveGatt(): Promise<void> {
    const found: Partial<GattPaths> = {};
    for (const serviceNode of await this.bus.children(this.path)) {
      const servicePath = `${this.path}/${serviceNode}`;
      if ((await this.uuidOf(servicePath, SERVICE)) !== BSLD_SERVICE_UUID) continue;
      for (const charNode of await this.bus.children(servicePath)) {
        const charPath = `${servicePath}/${charNode}`;
        switch (await this.uuidOf(charPath, CHARACTERISTIC)) {
          case CHALLENGE_CHAR_UUID:
            found.challenge = charPath;
            break;
          case COMMAND_CHAR_UUID:
            found.command = charPath;
            break;
          case RESPONSE_CHAR_UUID:
            found.response = charPath;
            break;
          case INFO_CHAR_UUID:
            found.info = charPath;
            break;
        }
      }
    }
    if (!found.challenge || !found.command || !found.response) {
      throw new BgwError('protocol', 'the device does not offer the BSLD service of Clause 8');
    }
    this.gattPaths = { challenge: found.challenge, command: found.command, response: found.response, info: found.info };
    this.stopResponse();
    const responsePath = found.response;
    this.unsubscribeResponse = this.bus.onProperties(responsePath, (iface, changed) => {
      if (iface !== CHARACTERISTIC || !(changed.Value instanceof Uint8Array)) return;
      const frame = Buffer.from(changed.Value);
      for (const l of [...this.frameListeners]) l(frame);
    });
  }

  /** UUIDs of a path hold for one connection only: handles (and so paths) may move between them. */
  private async uuidOf(path: string, iface: string): Promise<string | undefined> {
    const cached = this.uuidByPath.get(path);
    if (cached) return cached;
    const uuid = await this.bus.getProperty(path, iface, 'UUID').catch(() => undefined);
    if (typeof uuid !== 'string') return undefined;
    const lower = uuid.toLowerCase();
    this.uuidByPath.set(path, lower);
    return lower;
  }

  private onDeviceChanged(changed: PropertyMap): void {
    if (changed.ServicesResolved === true) {
      this.servicesResolved = true;
      for (const w of [...this.resolvedWaiters]) w();
    }
    if (changed.ServicesResolved === false) this.servicesResolved = false;
    if (changed.Connected === true) this.connected = true;
    if (changed.Connected === false) this.lost();
  }

  private lost(): void {
    this.losses++;
    for (const w of [...this.downWaiters]) w();
    for (const w of [...this.lossWaiters]) w();
    this.markDisconnected();
  }

  private markDisconnected(): void {
    const was = this.connected || this.gattPaths !== undefined;
    this.forget();
    if (was) for (const l of [...this.disconnectListeners]) l();
  }

  /** Drops what belonged to the link, without telling the listeners (already told). */
  private forget(): void {
    this.connected = false;
    this.servicesResolved = false;
    this.gattPaths = undefined;
    this.uuidByPath.clear();
    this.stopResponse();
  }

  private stopResponse(): void {
    this.unsubscribeResponse?.();
    this.unsubscribeResponse = undefined;
  }
}
