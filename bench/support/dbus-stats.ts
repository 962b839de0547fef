/**
 * The match rules one process holds on the simulator's bus, from the dbus-daemon's own books
 * (org.freedesktop.DBus.Debug.Stats), which count what the daemon keeps, whatever the client
 * library believes it sent.
 */
import dbus from 'dbus-next';

const { Message } = dbus;

export interface ConnectionStats {
  uniqueName: string;
  matchRules: number;
}

export class BusStats {
  private constructor(private readonly bus: dbus.MessageBus) {}

  static open(address: string): BusStats {
    const bus = dbus.sessionBus({ busAddress: address });
    bus.on('error', () => undefined);
    return new BusStats(bus);
  }

  private async call(member: string, signature: string, body: unknown[], iface = 'org.freedesktop.DBus'): Promise<unknown[]> {
    const reply = await this.bus.call(new Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: iface, member, signature, body }));
    return (reply?.body ?? []) as unknown[];
  }

  /** Every connection of a process (Homebridge has one for node-ble and the plugin). */
  async connectionsOf(pid: number): Promise<string[]> {
    const [names] = (await this.call('ListNames', '', [])) as [string[]];
    const mine: string[] = [];
    for (const name of names.filter((n) => n.startsWith(':'))) {
      const [p] = await this.call('GetConnectionUnixProcessID', 's', [name]).catch(() => [undefined]);
      if (p === pid) mine.push(name);
    }
    return mine;
  }

  async stats(uniqueName: string): Promise<ConnectionStats> {
    const [dict] = (await this.call('GetConnectionStats', 's', [uniqueName], 'org.freedesktop.DBus.Debug.Stats')) as [Record<string, { value: unknown }>];
    return { uniqueName, matchRules: Number(dict.MatchRules?.value ?? Number.NaN) };
  }

  /** Match rules summed over a process's connections. */
  async matchRulesOf(pid: number): Promise<number> {
    let n = 0;
    for (const name of await this.connectionsOf(pid)) n += (await this.stats(name)).matchRules;
    return n;
  }

  close(): void {
    this.bus.disconnect();
  }
}
