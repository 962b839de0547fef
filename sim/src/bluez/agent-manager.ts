/** org.bluez.AgentManager1 on /org/bluez: node-ble needs the interface to find adapters. */
import { BluezError, Interface } from './dbus.js';

export class AgentManager extends Interface {
  private readonly agents = new Set<string>();

  constructor() {
    super('org.bluez.AgentManager1');
  }

  RegisterAgent(agent: string, _capability: string): void {
    if (this.agents.has(agent)) throw BluezError.failed('Already Exists');
    this.agents.add(agent);
  }

  UnregisterAgent(agent: string): void {
    if (!this.agents.delete(agent)) throw BluezError.doesNotExist();
  }

  RequestDefaultAgent(agent: string): void {
    if (!this.agents.has(agent)) throw BluezError.doesNotExist();
  }
}
AgentManager.configureMembers({
  methods: {
    RegisterAgent: { inSignature: 'os' },
    UnregisterAgent: { inSignature: 'o' },
    RequestDefaultAgent: { inSignature: 'o' },
  },
});
