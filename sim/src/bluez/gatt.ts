/**
 * GattService1, GattCharacteristic1 and GattDescriptor1 objects of one connected device, as
 * bluetoothd exports a remote GATT database: new objects (and paths) per connection, gone at
 * disconnect, with BlueZ's errors for what the remote attribute does not permit.
 */
import { BluezError, Interface, changed } from './dbus.js';
import type { Variant } from './dbus.js';

/** What a characteristic asks of the link it lives on. */
export interface GattLink {
  /** Waits the per-call latency, then throws unless the link is still up. */
  call(): Promise<void>;
}

export class GattService extends Interface {
  readonly UUID: string;
  readonly Primary = true;
  readonly Device: string;
  readonly Includes: string[] = [];

  constructor(uuid: string, devicePath: string) {
    super('org.bluez.GattService1');
    this.UUID = uuid;
    this.Device = devicePath;
  }
}
GattService.configureMembers({
  properties: {
    UUID: { signature: 's', access: 'read' },
    Primary: { signature: 'b', access: 'read' },
    Device: { signature: 'o', access: 'read' },
    Includes: { signature: 'ao', access: 'read' },
  },
});

export interface CharacteristicBehaviour {
  read?: () => Buffer;
  /** Called after the write's reply is on its way, as the remote acts after its ATT response. */
  write?: (value: Buffer) => void;
  notify?: boolean;
  /** Called as StartNotify succeeds, before its reply leaves. */
  onStartNotify?: () => void;
  /** Prepare/Execute Write (a BlueZ "reliable" write) supported by the remote. */
  reliableWrite?: boolean;
}

type Options = Record<string, Variant | undefined>;

export class GattCharacteristic extends Interface {
  readonly UUID: string;
  readonly Service: string;
  readonly Flags: string[];
  readonly MTU = 247;
  Value: Buffer = Buffer.alloc(0);
  Notifying = false;

  constructor(
    uuid: string,
    servicePath: string,
    private readonly link: GattLink,
    private readonly behaviour: CharacteristicBehaviour,
  ) {
    super('org.bluez.GattCharacteristic1');
    this.UUID = uuid;
    this.Service = servicePath;
    this.Flags = [...(behaviour.read ? ['read'] : []), ...(behaviour.write ? ['write'] : []), ...(behaviour.notify ? ['notify'] : [])];
  }

  async ReadValue(options: Options): Promise<Buffer> {
    await this.link.call();
    if (!this.behaviour.read) throw BluezError.notPermitted('Read not permitted');
    const offset = Number(options.offset?.value ?? 0);
    const value = this.behaviour.read();
    if (offset > value.length) throw BluezError.invalidOffset();
    this.Value = value;
    return value.subarray(offset);
  }

  async WriteValue(value: Buffer, options: Options): Promise<void> {
    await this.link.call();
    const write = this.behaviour.write;
    if (!write) throw BluezError.notPermitted('Write not permitted');
    const type = String(options.type?.value ?? 'request');
    // Without write-without-response in its properties BlueZ refuses a command write itself;
    // the lock's firmware has no prepare-write queue, so a reliable write fails at the remote.
    if (type === 'command' || (type === 'reliable' && !this.behaviour.reliableWrite)) throw BluezError.notSupported();
    if (type !== 'request' && type !== 'reliable') throw BluezError.invalidArguments();
    if (Number(options.offset?.value ?? 0) !== 0) throw BluezError.invalidOffset();
    const data = Buffer.from(value);
    setImmediate(() => {
      write(data);
    });
  }

  async StartNotify(): Promise<void> {
    await this.link.call();
    if (!this.behaviour.notify) throw BluezError.notSupported();
    if (this.Notifying) return;
    this.Notifying = true;
    changed(this, { Notifying: true });
    this.behaviour.onStartNotify?.();
  }

  async StopNotify(): Promise<void> {
    await this.link.call();
    if (!this.Notifying) throw BluezError.failed('No notify session started');
    this.Notifying = false;
    changed(this, { Notifying: false });
  }

  /** A notification from the remote: seen only by a client that started notifications. */
  notify(value: Buffer): boolean {
    if (!this.Notifying) return false;
    this.Value = Buffer.from(value);
    changed(this, { Value: this.Value });
    return true;
  }
}
GattCharacteristic.configureMembers({
  properties: {
    UUID: { signature: 's', access: 'read' },
    Service: { signature: 'o', access: 'read' },
    Flags: { signature: 'as', access: 'read' },
    MTU: { signature: 'q', access: 'read' },
    Value: { signature: 'ay', access: 'read' },
    Notifying: { signature: 'b', access: 'read' },
  },
  methods: {
    ReadValue: { inSignature: 'a{sv}', outSignature: 'ay' },
    WriteValue: { inSignature: 'aya{sv}' },
    StartNotify: {},
    StopNotify: {},
  },
});

/** The Client Characteristic Configuration descriptor BlueZ shows under a notifying characteristic. */
export class GattDescriptor extends Interface {
  readonly UUID = '00002902-0000-1000-8000-00805f9b34fb';
  readonly Characteristic: string;
  readonly Flags = ['read', 'write'];
  Value: Buffer = Buffer.from([0, 0]);

  constructor(
    characteristicPath: string,
    private readonly link: GattLink,
  ) {
    super('org.bluez.GattDescriptor1');
    this.Characteristic = characteristicPath;
  }

  async ReadValue(_options: Options): Promise<Buffer> {
    await this.link.call();
    return this.Value;
  }

  async WriteValue(_value: Buffer, _options: Options): Promise<void> {
    await this.link.call();
    // bluetoothd owns the CCCD of a remote characteristic: clients use StartNotify.
    throw BluezError.notPermitted('Write not permitted');
  }
}
GattDescriptor.configureMembers({
  properties: {
    UUID: { signature: 's', access: 'read' },
    Characteristic: { signature: 'o', access: 'read' },
    Flags: { signature: 'as', access: 'read' },
    Value: { signature: 'ay', access: 'read' },
  },
  methods: {
    ReadValue: { inSignature: 'a{sv}', outSignature: 'ay' },
    WriteValue: { inSignature: 'aya{sv}' },
  },
});
