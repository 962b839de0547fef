/**
 * The BGW's own narrow D-Bus layer for per-connection BlueZ work. node-ble builds new proxy
 * helpers for every connection and characteristic, and dbus-next never sends RemoveMatch, so
 * each would add a match rule for good (the bus refuses more after about 510). This layer adds
 * exactly two match rules for the life of the bus and dispatches signals by object path.
 */
import dbus from 'dbus-next';
import { BgwError, withTimeout } from './errors.js';

const { Message, Variant } = dbus;
type Message = dbus.Message;

const SIGNAL = 4;
const PROPERTIES = 'org.freedesktop.DBus.Properties';
const OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager';
export const BLUEZ = 'org.bluez';

export type PropertyMap = Record<string, unknown>;
export type PropertiesListener = (iface: string, changed: PropertyMap) => void;

/** Unwraps dbus-next Variants recursively into plain values. */
export function unwrap(value: unknown): unknown {
  if (value instanceof Variant) return unwrap(value.value);
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof Uint8Array)) {
    const out: PropertyMap = {};
    for (const [k, v] of Object.entries(value as PropertyMap)) out[k] = unwrap(v);
    return out;
  }
  return value;
}

/** The BlueZ error name of a failed call, e.g. `org.bluez.Error.InProgress`. */
export function dbusErrorName(err: unknown): string {
  if (err && typeof err === 'object' && 'type' in err && typeof err.type === 'string') return err.type;
  return '';
}

export class BluezBus {
  private readonly listeners = new Map<string, Set<PropertiesListener>>();
  private readonly prefixListeners = new Set<{ prefix: string; listener: (path: string, iface: string, changed: PropertyMap) => void }>();
  private readonly interfacesListeners = new Set<(path: string, ifaces: Record<string, PropertyMap>) => void>();
  private readonly removedListeners = new Set<(path: string, ifaces: string[]) => void>();
  private bluezOwner: string | undefined;
  private started: Promise<void> | undefined;

  constructor(
    readonly bus: dbus.MessageBus,
    private readonly callTimeoutMs = 10_000,
  ) {
    bus.on('message', (msg: Message) => {
      this.dispatch(msg);
    });
  }

  /** Adds the two match rules once and learns which connection owns org.bluez. */
  start(): Promise<void> {
    this.started ??= (async () => {
      for (const rule of [
        `type='signal',sender='${BLUEZ}',interface='${PROPERTIES}',member='PropertiesChanged'`,
        `type='signal',sender='${BLUEZ}',interface='${OBJECT_MANAGER}'`,
        `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BLUEZ}'`,
      ]) {
        await this.callRaw('/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule], 'org.freedesktop.DBus');
      }
      const reply = await this.callRaw('/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetNameOwner', 's', [BLUEZ], 'org.freedesktop.DBus').catch(
        () => undefined,
      );
      this.bluezOwner = reply?.body[0] as string | undefined;
    })();
    return this.started;
  }

  /** Listens to PropertiesChanged of one object path; returns the unsubscribe function. */
  onProperties(path: string, listener: PropertiesListener): () => void {
    let set = this.listeners.get(path);
    if (!set) {
      set = new Set();
      this.listeners.set(path, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(path);
    };
  }

  /** Listens to PropertiesChanged of every object below a path (a scanner's devices). */
  onPropertiesBelow(prefix: string, listener: (path: string, iface: string, changed: PropertyMap) => void): () => void {
    const entry = { prefix: prefix.endsWith('/') ? prefix : `${prefix}/`, listener };
    this.prefixListeners.add(entry);
    return () => this.prefixListeners.delete(entry);
  }

  onInterfacesAdded(listener: (path: string, ifaces: Record<string, PropertyMap>) => void): () => void {
    this.interfacesListeners.add(listener);
    return () => this.interfacesListeners.delete(listener);
  }

  onInterfacesRemoved(listener: (path: string, ifaces: string[]) => void): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  /** The number of per-path listeners held, for leak tests. */
  get listenerCount(): number {
    let n = this.interfacesListeners.size + this.prefixListeners.size + this.removedListeners.size;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  async call(path: string, iface: string, member: string, signature = '', body: unknown[] = [], timeoutMs = this.callTimeoutMs): Promise<unknown[]> {
    const reply = await this.callRaw(path, iface, member, signature, body, BLUEZ, timeoutMs);
    return (reply?.body ?? []) as unknown[];
  }

  async getProperty(path: string, iface: string, name: string): Promise<unknown> {
    const [value] = await this.call(path, PROPERTIES, 'Get', 'ss', [iface, name]);
    return unwrap(value);
  }

  async getAll(path: string, iface: string): Promise<PropertyMap> {
    const [value] = await this.call(path, PROPERTIES, 'GetAll', 's', [iface]);
    return unwrap(value) as PropertyMap;
  }

  /** Child node names of an object, from Introspect (what node-ble relies on too). */
  async children(path: string): Promise<string[]> {
    const [xml] = await this.call(path, 'org.freedesktop.DBus.Introspectable', 'Introspect');
    if (typeof xml !== 'string') return [];
    return [...xml.matchAll(/<node\s+name="([^"]+)"/g)].map((m) => m[1]!).filter((n) => !n.startsWith('/'));
  }

  private async callRaw(
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
    destination: string,
    timeoutMs = this.callTimeoutMs,
  ): Promise<Message | null> {
    const msg = new Message({ destination, path, interface: iface, member, signature, body });
    try {
      return await withTimeout(this.bus.call(msg), timeoutMs, `${member} on ${path}`);
    } catch (err) {
      if (err instanceof BgwError) throw err;
      const name = dbusErrorName(err);
      // BlueZ's text says more than its error name (Failed: le-connection-abort-by-local).
      const text = err && typeof err === 'object' && 'text' in err && typeof err.text === 'string' ? err.text : '';
      const why = name ? `${name}${text ? ` (${text})` : ''}` : err instanceof Error ? err.message : String(err);
      throw new BgwError('bus', `${member} on ${path} failed: ${why}`, { cause: err });
    }
  }

  private dispatch(msg: Message): void {
    if (msg.type !== SIGNAL) return;
    if (msg.member === 'NameOwnerChanged' && msg.interface === 'org.freedesktop.DBus') {
      if (msg.body[0] === BLUEZ) this.bluezOwner = (msg.body[2] as string) || undefined;
      return;
    }
    // Other clients on the bus could forge BlueZ's signals; only its owner is believed.
    if (this.bluezOwner === undefined || msg.sender !== this.bluezOwner) return;
    if (msg.interface === PROPERTIES && msg.member === 'PropertiesChanged') {
      const iface = msg.body[0] as string;
      const changed = unwrap(msg.body[1]) as PropertyMap;
      for (const l of [...(this.listeners.get(msg.path) ?? [])]) l(iface, changed);
      for (const { prefix, listener } of [...this.prefixListeners]) {
        if (msg.path.startsWith(prefix)) listener(msg.path, iface, changed);
      }
    } else if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesAdded') {
      const path = msg.body[0] as string;
      const ifaces = unwrap(msg.body[1]) as Record<string, PropertyMap>;
      for (const l of [...this.interfacesListeners]) l(path, ifaces);
    } else if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesRemoved') {
      const path = msg.body[0] as string;
      const ifaces = msg.body[1] as string[];
      for (const l of [...this.removedListeners]) l(path, ifaces);
    }
  }
}

export { Variant };
