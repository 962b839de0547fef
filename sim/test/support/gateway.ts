/** A gateway's side of the radio for tests: unmodified node-ble, plus dbus-next for what node-ble hides. */
import nodeBle from 'node-ble';
import dbus from 'dbus-next';
import {
  BSLD_SERVICE_UUID,
  CHALLENGE_CHAR_UUID,
  COMMAND_CHAR_UUID,
  INFO_CHAR_UUID,
  RESPONSE_CHAR_UUID,
  deviceIdToAddress,
} from 'homebridge-igrs-smartlock/protocol';
import { servicesResolved } from '../../src/testing.js';

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${what} timed out after ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One live BLE link through node-ble, with the lock's notifications collected. */
export class Link {
  readonly frames: Buffer[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly device: nodeBle.Device,
    readonly servicePath: string,
    readonly challengeChar: nodeBle.GattCharacteristic,
    readonly command: nodeBle.GattCharacteristic,
    readonly response: nodeBle.GattCharacteristic,
    readonly info: nodeBle.GattCharacteristic,
  ) {
    response.on('valuechanged', (buf: Buffer) => {
      this.frames.push(buf);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(device: nodeBle.Device): Promise<Link> {
    await device.connect();
    await servicesResolved(device, 3000);
    const gatt = await withTimeout(device.gatt(), 3000, 'gatt()');
    const service = await gatt.getPrimaryService(BSLD_SERVICE_UUID);
    const servicePath = (service as unknown as { service: string }).service;
    const link = new Link(
      device,
      servicePath,
      await service.getCharacteristic(CHALLENGE_CHAR_UUID),
      await service.getCharacteristic(COMMAND_CHAR_UUID),
      await service.getCharacteristic(RESPONSE_CHAR_UUID),
      await service.getCharacteristic(INFO_CHAR_UUID),
    );
    await link.response.startNotifications();
    return link;
  }

  readChallenge(): Promise<Buffer> {
    return this.challengeChar.readValue();
  }

  write(frame: Buffer): Promise<void> {
    return this.command.writeValue(frame, { type: 'request' });
  }

  /** The next notification not yet taken, or a timeout. */
  async next(ms = 2000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no notification');
      await withTimeout(
        new Promise<void>((r) => this.waiters.push(r)),
        left,
        'notification',
      ).catch(() => undefined);
    }
    return this.frames.shift()!;
  }
}

/** node-ble on the simulator's bus, and a dbus-next connection for raw Device1 properties. */
export class Gateway {
  private readonly ble: { bluetooth: nodeBle.Bluetooth; destroy(): void };
  readonly raw: dbus.MessageBus;
  private readonly devices = new Map<string, nodeBle.Device>();
  adapter!: nodeBle.Adapter;

  private constructor() {
    this.ble = nodeBle.createBluetooth();
    this.raw = dbus.systemBus();
    this.raw.on('error', () => undefined);
  }

  static async open(): Promise<Gateway> {
    const g = new Gateway();
    g.adapter = await g.ble.bluetooth.defaultAdapter();
    return g;
  }

  /** Discovers a lock (node-ble polls; 50 ms here) and caches its Device as the notes advise. */
  async device(deviceId: string): Promise<nodeBle.Device> {
    const cached = this.devices.get(deviceId);
    if (cached) return cached;
    if (!(await this.adapter.isDiscovering())) await this.adapter.startDiscovery();
    const d = await this.adapter.waitDevice(deviceIdToAddress(deviceId), 5000, 50);
    this.devices.set(deviceId, d);
    return d;
  }

  devicePath(deviceId: string): string {
    return `/org/bluez/hci0/dev_${deviceIdToAddress(deviceId).replaceAll(':', '_')}`;
  }

  async properties(path: string, iface: string): Promise<Record<string, unknown>> {
    const obj = await this.raw.getProxyObject('org.bluez', path);
    const props = obj.getInterface('org.freedesktop.DBus.Properties');
    const getAll = props.GetAll as (iface: string) => Promise<Record<string, dbus.Variant>>;
    const all = await getAll(iface);
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.value as unknown]));
  }

  async call(path: string, iface: string, method: string, ...args: unknown[]): Promise<unknown> {
    const obj = await this.raw.getProxyObject('org.bluez', path);
    const fn = obj.getInterface(iface)[method] as (...a: unknown[]) => Promise<unknown>;
    return fn(...args);
  }

  /** Records every Connected change of a device, as the notes advise watching it directly. */
  async watchConnected(deviceId: string): Promise<{ events: boolean[]; stop(): void; waitFor(v: boolean, ms?: number): Promise<void> }> {
    const obj = await this.raw.getProxyObject('org.bluez', this.devicePath(deviceId));
    const props = obj.getInterface('org.freedesktop.DBus.Properties');
    const events: boolean[] = [];
    const onChange = (iface: string, changed: Record<string, dbus.Variant>): void => {
      if (iface === 'org.bluez.Device1' && 'Connected' in changed) events.push(changed.Connected.value as boolean);
    };
    props.on('PropertiesChanged', onChange);
    return {
      events,
      stop: () => props.off('PropertiesChanged', onChange),
      waitFor: async (v: boolean, ms = 2000) => {
        const deadline = Date.now() + ms;
        while (!events.includes(v)) {
          if (Date.now() > deadline) throw new Error(`Connected=${v} not seen`);
          await sleep(10);
        }
      },
    };
  }

  async close(): Promise<void> {
    try {
      if (await this.adapter.isDiscovering()) await this.adapter.stopDiscovery();
    } catch {
      // The bus may be gone already.
    }
    this.ble.destroy();
    this.raw.disconnect();
  }
}
