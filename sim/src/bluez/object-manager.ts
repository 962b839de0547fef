/**
 * org.freedesktop.DBus.ObjectManager on `/`, as bluetoothd has it. node-ble never asks it
 * (it introspects), but other clients, and a plugin watching InterfacesAdded, do.
 */
import { Interface, dbus, interfaceName, propertiesOf, type MessageBus, type Variant } from './dbus.js';

type Managed = Record<string, Record<string, Record<string, Variant>>>;

export class ObjectManager extends Interface {
  constructor(private readonly tree: ObjectTree) {
    super('org.freedesktop.DBus.ObjectManager');
  }

  GetManagedObjects(): Managed {
    return this.tree.managed();
  }
}
ObjectManager.configureMembers({
  methods: { GetManagedObjects: { outSignature: 'a{oa{sa{sv}}}' } },
  signals: { InterfacesAdded: { signature: 'oa{sa{sv}}' }, InterfacesRemoved: { signature: 'oas' } },
});

/** Every object the emulator exports, so adds and removals are announced as BlueZ does. */
export class ObjectTree {
  private readonly objects = new Map<string, Interface[]>();

  constructor(private readonly bus: MessageBus) {}

  add(path: string, ifaces: Interface[]): void {
    for (const iface of ifaces) this.bus.export(path, iface);
    this.objects.set(path, ifaces);
    const dict: Record<string, Record<string, Variant>> = {};
    for (const iface of ifaces) dict[interfaceName(iface)] = propertiesOf(iface);
    this.signal('InterfacesAdded', 'oa{sa{sv}}', [path, dict]);
  }

  remove(path: string): void {
    const ifaces = this.objects.get(path);
    if (!ifaces) return;
    this.objects.delete(path);
    (this.bus as unknown as { unexport(path: string): void }).unexport(path);
    this.signal('InterfacesRemoved', 'oas', [path, ifaces.map(interfaceName)]);
  }

  has(path: string): boolean {
    return this.objects.has(path);
  }

  managed(): Managed {
    const out: Managed = {};
    for (const [path, ifaces] of this.objects) {
      const entry: Record<string, Record<string, Variant>> = {};
      for (const iface of ifaces) entry[interfaceName(iface)] = propertiesOf(iface);
      out[path] = entry;
    }
    return out;
  }

  private signal(name: string, signature: string, body: unknown[]): void {
    this.bus.send(dbus.Message.newSignal('/', 'org.freedesktop.DBus.ObjectManager', name, signature, body));
  }
}
