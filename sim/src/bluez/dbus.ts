/** dbus-next as this emulator uses it, and BlueZ's own error names and texts (src/error.c). */
import dbus from 'dbus-next';
import { createRequire } from 'node:module';

interface SimpleMarshaller {
  marshall(ps: unknown, data: unknown): void;
}
const marshallers = createRequire(import.meta.url)('dbus-next/lib/marshallers.js') as {
  MakeSimpleMarshaller: (type: string) => SimpleMarshaller;
};
/**
 * dbus-next 0.10.2 marshals a dict only from a JS object, whose keys are strings, and then
 * refuses them for integer key types: a{qv} (ManufacturerData) could not be sent at all.
 * Integer marshallers here take decimal strings too; nothing else changes.
 */
if (!(marshallers as { patchedByIgrsSim?: boolean }).patchedByIgrsSim) {
  const original = marshallers.MakeSimpleMarshaller;
  marshallers.MakeSimpleMarshaller = (type: string): SimpleMarshaller => {
    const m = original(type);
    if ('ynqiu'.includes(type)) {
      const marshall = m.marshall.bind(m);
      m.marshall = (ps, data) => {
        marshall(ps, typeof data === 'string' && /^-?\d+$/.test(data) ? Number(data) : data);
      };
    }
    return m;
  };
  (marshallers as { patchedByIgrsSim?: boolean }).patchedByIgrsSim = true;
}

export { dbus };
export type MessageBus = dbus.MessageBus;
export const Interface = dbus.interface.Interface;
export type Interface = dbus.interface.Interface;
export const Variant = dbus.Variant;
export type Variant = dbus.Variant;

/** BlueZ errors exactly as bluetoothd names them, so client code can match on them. */
export const BluezError = {
  inProgress: () => new dbus.DBusError('org.bluez.Error.InProgress', 'In Progress'),
  busy: () => new dbus.DBusError('org.bluez.Error.InProgress', 'Operation already in progress'),
  failed: (text: string) => new dbus.DBusError('org.bluez.Error.Failed', text),
  notReady: () => new dbus.DBusError('org.bluez.Error.NotReady', 'Resource Not Ready'),
  notSupported: () => new dbus.DBusError('org.bluez.Error.NotSupported', 'Operation is not supported'),
  notPermitted: (text: string) => new dbus.DBusError('org.bluez.Error.NotPermitted', text),
  invalidArguments: () => new dbus.DBusError('org.bluez.Error.InvalidArguments', 'Invalid arguments in method call'),
  invalidOffset: () => new dbus.DBusError('org.bluez.Error.InvalidOffset', 'Invalid offset'),
  doesNotExist: () => new dbus.DBusError('org.bluez.Error.DoesNotExist', 'Does Not Exist'),
  /** What an LE connect that never completes (out of range, not connectable) ends with. */
  connectAborted: () => new dbus.DBusError('org.bluez.Error.Failed', 'le-connection-abort-by-local'),
  notConnected: () => new dbus.DBusError('org.bluez.Error.Failed', 'Not connected'),
};

interface Introspected {
  $properties?: Record<string, { signature: string; name?: string; disabled?: boolean }>;
  $name: string;
}

/** The interface's properties as a{sv}, for GetManagedObjects and InterfacesAdded. */
export function propertiesOf(iface: Interface): Record<string, Variant> {
  const meta = iface as unknown as Introspected & Record<string, unknown>;
  const out: Record<string, Variant> = {};
  for (const [key, opts] of Object.entries(meta.$properties ?? {})) {
    if (opts.disabled) continue;
    const value = meta[key];
    if (value !== undefined) out[opts.name ?? key] = new Variant(opts.signature, value);
  }
  return out;
}

export function interfaceName(iface: Interface): string {
  return (iface as unknown as Introspected).$name;
}

export function changed(iface: Interface, props: Record<string, unknown>): void {
  Interface.emitPropertiesChanged(iface, props, []);
}

export const delay = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
