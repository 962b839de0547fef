/**
 * The lock's side of the profile as a GATT application and an advertisement that the real
 * bluetoothd serves (org.bluez.GattManager1 / LEAdvertisingManager1): the server-side objects,
 * which bluetoothd calls, unlike the remote-GATT objects of the emulator, which clients call.
 */
import { dbus, Interface, Variant, changed } from '../bluez/dbus.js';

type Options = Record<string, Variant | undefined>;

/** The central a GATT request came from: bluetoothd passes its Device1 path as `device`. */
export function requestDevice(options: Options): string | undefined {
  const v: unknown = options.device?.value;
  return typeof v === 'string' ? v : undefined;
}

export class AppObjectManager extends Interface {
  constructor(private readonly objects: () => Record<string, Record<string, Record<string, Variant>>>) {
    super('org.freedesktop.DBus.ObjectManager');
  }

  GetManagedObjects(): Record<string, Record<string, Record<string, Variant>>> {
    return this.objects();
  }
}
AppObjectManager.configureMembers({
  methods: { GetManagedObjects: { outSignature: 'a{oa{sa{sv}}}' } },
  signals: {
    InterfacesAdded: { signature: 'oa{sa{sv}}' },
    InterfacesRemoved: { signature: 'oas' },
  },
});

export class AppService extends Interface {
  readonly Primary = true;
  constructor(readonly UUID: string) {
    super('org.bluez.GattService1');
  }

  properties(): Record<string, Variant> {
    return { UUID: new Variant('s', this.UUID), Primary: new Variant('b', true) };
  }
}
AppService.configureMembers({
  properties: {
    UUID: { signature: 's', access: 'read' },
    Primary: { signature: 'b', access: 'read' },
  },
});

export interface AppCharacteristicBehaviour {
  read?: (device: string | undefined) => Buffer;
  /** Runs after the method reply, so the ATT Write Response leaves before any notification. */
  write?: (value: Buffer, device: string | undefined, type: string) => void;
  notify?: boolean;
}

export class AppCharacteristic extends Interface {
  readonly Flags: string[];
  Value: Buffer = Buffer.alloc(0);
  Notifying = false;

  constructor(
    readonly UUID: string,
    readonly Service: string,
    private readonly behaviour: AppCharacteristicBehaviour,
  ) {
    super('org.bluez.GattCharacteristic1');
    // Command takes write requests only (Clause 8): no write-without-response.
    this.Flags = [...(behaviour.read ? ['read'] : []), ...(behaviour.write ? ['write'] : []), ...(behaviour.notify ? ['notify'] : [])];
  }

  properties(): Record<string, Variant> {
    return { UUID: new Variant('s', this.UUID), Service: new Variant('o', this.Service), Flags: new Variant('as', this.Flags) };
  }

  ReadValue(options: Options): Buffer {
    if (!this.behaviour.read) throw new dbus.DBusError('org.bluez.Error.NotPermitted', 'Read not permitted');
    const value = this.behaviour.read(requestDevice(options));
    const offset = Number(options.offset?.value ?? 0);
    if (offset > value.length) throw new dbus.DBusError('org.bluez.Error.InvalidOffset', 'Invalid offset');
    return value.subarray(offset);
  }

  WriteValue(value: Buffer, options: Options): void {
    const write = this.behaviour.write;
    if (!write) throw new dbus.DBusError('org.bluez.Error.NotPermitted', 'Write not permitted');
    if (Number(options.offset?.value ?? 0) !== 0) throw new dbus.DBusError('org.bluez.Error.InvalidOffset', 'Invalid offset');
    const data = Buffer.from(value);
    const device = requestDevice(options);
    const type = String(options.type?.value ?? 'request');
    setImmediate(() => {
      write(data, device, type);
    });
  }

  StartNotify(): void {
    if (!this.behaviour.notify) throw new dbus.DBusError('org.bluez.Error.NotSupported', 'Operation is not supported');
    this.Notifying = true;
  }

  StopNotify(): void {
    this.Notifying = false;
  }

  /** bluetoothd turns a Value change into a notification to every subscribed central. */
  notify(frame: Buffer): void {
    this.Value = Buffer.from(frame);
    changed(this, { Value: this.Value });
  }
}
AppCharacteristic.configureMembers({
  properties: {
    UUID: { signature: 's', access: 'read' },
    Service: { signature: 'o', access: 'read' },
    Flags: { signature: 'as', access: 'read' },
    Value: { signature: 'ay', access: 'read' },
  },
  methods: {
    ReadValue: { inSignature: 'a{sv}', outSignature: 'ay' },
    WriteValue: { inSignature: 'aya{sv}' },
    StartNotify: {},
    StopNotify: {},
  },
});

export class Advertisement extends Interface {
  readonly Type = 'peripheral';
  ManufacturerData: Record<string, Variant>;

  constructor(
    companyId: number,
    data: Buffer,
    private readonly released: () => void,
  ) {
    super('org.bluez.LEAdvertisement1');
    this.ManufacturerData = { [String(companyId)]: new Variant('ay', data) };
  }

  /** New manufacturer data; bluetoothd re-reads a changed property and updates the advert. */
  update(companyId: number, data: Buffer): boolean {
    const prev = this.ManufacturerData[String(companyId)]?.value as Buffer | undefined;
    if (prev?.equals(data)) return false;
    this.ManufacturerData = { [String(companyId)]: new Variant('ay', data) };
    changed(this, { ManufacturerData: this.ManufacturerData });
    return true;
  }

  Release(): void {
    this.released();
  }
}
Advertisement.configureMembers({
  properties: {
    Type: { signature: 's', access: 'read' },
    ManufacturerData: { signature: 'a{qv}', access: 'read' },
  },
  methods: { Release: {} },
});
