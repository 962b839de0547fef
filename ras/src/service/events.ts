/** The audit trail: what gateways report, and the lock-verified results of pushed commands. */
import { randomHex } from '../crypto/secrets.js';
import { RasError } from '../errors.js';
import { nowOf, type Context } from './context.js';
import type { PushHub } from './push.js';
import { requireRight } from './rights.js';

export interface StoredEventView {
  eventId: number;
  event: Record<string, unknown>;
  reportedBy: string;
  gatewayId?: string;
  verification: 'lock-verified' | 'gateway-reported';
  receivedAt: number;
}

export class Events {
  constructor(
    private readonly ctx: Context,
    private readonly push: PushHub,
  ) {}

  async store(deviceId: string, accountId: string, gatewayId: string | null, verification: 'lock-verified' | 'gateway-reported', event: Record<string, unknown>): Promise<void> {
    await this.ctx.storage.addEvent({ deviceId, receivedAt: nowOf(this.ctx), accountId, gatewayId, verification, event: JSON.stringify(event) });
  }

  /** Pushes a state change to everyone whose rights hold now. */
  async notifyState(deviceId: string, state: Record<string, unknown>): Promise<void> {
    const binding = await this.ctx.storage.getBinding(deviceId);
    if (!binding) return;
    const now = nowOf(this.ctx);
    const members = (await this.ctx.storage.listMembers(deviceId)).filter(
      (m) => (m.validFrom === null || m.validFrom <= now) && (m.validUntil === null || now < m.validUntil),
    );
    await this.push.toAccounts([binding.ownerAccountId, ...members.map((m) => m.accountId)], { event: 'bsld.state', deviceId, body: state });
  }

  async report(accountId: string, deviceId: string, events: Record<string, unknown>[]): Promise<{ stored: number }> {
    await requireRight(this.ctx.storage, deviceId, accountId, nowOf(this.ctx));
    // Gateway-reported state still refreshes what RACs show; the trail keeps its provenance.
    let state: Record<string, unknown> | undefined;
    const ordered = [...events].sort((a, b) => (a.at as number) - (b.at as number));
    for (const e of ordered) {
      await this.store(deviceId, accountId, null, 'gateway-reported', e);
      if (typeof e.lockState !== 'number') continue;
      state = { ...state, lockState: e.lockState, updatedAt: e.at };
      if (e.battery !== undefined) state.battery = e.battery;
      if (e.doorState !== undefined) state.doorState = e.doorState;
    }
    if (state) {
      await this.ctx.storage.setLastState(deviceId, JSON.stringify(state));
      await this.notifyState(deviceId, state);
    }
    return { stored: events.length };
  }

  async query(accountId: string, deviceId: string, since: number, limit: number): Promise<{ events: StoredEventView[] }> {
    await requireRight(this.ctx.storage, deviceId, accountId, nowOf(this.ctx));
    const rows = await this.ctx.storage.listEvents(deviceId, since, limit);
    return {
      events: rows.map((r) => {
        const v: StoredEventView = {
          eventId: r.id,
          event: JSON.parse(r.event) as Record<string, unknown>,
          reportedBy: r.accountId,
          verification: r.verification,
          receivedAt: r.receivedAt,
        };
        if (r.gatewayId !== null) v.gatewayId = r.gatewayId;
        return v;
      }),
    };
  }
}

export class Gateways {
  constructor(private readonly ctx: Context) {}

  async register(accountId: string, name: string): Promise<{ gatewayId: string }> {
    const gatewayId = randomHex(8);
    await this.ctx.storage.createGateway({ gatewayId, accountId, name, createdAt: nowOf(this.ctx) });
    return { gatewayId };
  }

  async setReach(accountId: string, gatewayId: string, deviceIds: string[]): Promise<void> {
    const g = await this.ctx.storage.getGateway(gatewayId);
    if (g?.accountId !== accountId) throw new RasError(404, 'no such gateway');
    await this.ctx.storage.setReach(gatewayId, deviceIds);
  }

  async owned(accountId: string, gatewayId: string): Promise<boolean> {
    const g = await this.ctx.storage.getGateway(gatewayId);
    return g?.accountId === accountId;
  }
}
