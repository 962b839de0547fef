/**
 * BSLD discovery (7.3), authentication, registration and confirmation (7.4), removal (7.5),
 * sessions (the authorisation point of every BLE connection) and resource sharing.
 */
import {
  BindType,
  ChannelError,
  FrameError,
  bytesToHex,
  deriveAdvertKey,
  deriveSessionKey,
  deriveStageAKeys,
  expectMessage,
  hexToBytes,
  openConnection,
  table4Confirms,
  type WriteAccountIdRequest,
  type BsldState,
  type WriteAccountIdResponse,
} from 'homebridge-igrs-smartlock/protocol';
import { Durations } from '../config.js';
import { RasError } from '../errors.js';
import type { BindingRow } from '../storage/storage.js';
import { nowOf, type Context } from './context.js';
import type { Ddms } from './ddms.js';
import type { Operations } from './operations.js';
import type { PushHub } from './push.js';
import { holds, relationOf, requireOwner, requireRight } from './rights.js';

export type LastState = BsldState;

export interface BsldView {
  deviceId: string;
  name: string;
  role: 'owner' | 'member';
  ownerAccountId: string;
  advertKey?: string;
  registeredAt: number;
  lastState: LastState;
}

export function parseLastState(binding: BindingRow): LastState {
  if (binding.lastState) {
    try {
      return JSON.parse(binding.lastState) as LastState;
    } catch {
      // Fall through to "unknown".
    }
  }
  return { lockState: 3, updatedAt: binding.registeredAt };
}

/** A Table 3 frame for `challenge`, under K_a↓ with IV = C. */
function table3(deviceKey: Buffer, challenge: Buffer, request: WriteAccountIdRequest): Buffer {
  return openConnection(deriveStageAKeys(deviceKey, challenge), challenge).toLock.sealMessage(request);
}

/** Opens the lock's Table 4 answer to a Table 3 request, or 428. */
function openTable4(deviceKey: Buffer, challenge: Buffer, request: WriteAccountIdRequest, response: Buffer): WriteAccountIdResponse {
  const pair = openConnection(deriveStageAKeys(deviceKey, challenge), challenge);
  // Sealing the request again fixes the connection's TS anchor exactly as the lock saw it.
  pair.toLock.sealMessage(request);
  try {
    return expectMessage(pair.fromLock.openMessage(response), 'writeAccountIdResponse');
  } catch (err) {
    if (err instanceof ChannelError || err instanceof FrameError) throw new RasError(428, `the Table 4 frame failed verification (${err.message})`);
    throw err;
  }
}

export class Bslds {
  constructor(
    private readonly ctx: Context,
    private readonly ddms: Ddms,
    private readonly push: PushHub,
    private readonly operations: () => Operations,
  ) {}

  async view(binding: BindingRow, accountId: string): Promise<BsldView> {
    const owner = binding.ownerAccountId === accountId;
    const v: BsldView = {
      deviceId: binding.deviceId,
      name: binding.name,
      role: owner ? 'owner' : 'member',
      ownerAccountId: binding.ownerAccountId,
      registeredAt: binding.registeredAt,
      lastState: parseLastState(binding),
    };
    // K_v lets its holder read every advert of the lock: owners only, never members.
    if (owner) v.advertKey = bytesToHex(deriveAdvertKey(await this.ddms.deviceKey(binding.deviceId), accountId));
    return v;
  }

  async discovery(accountId: string): Promise<{ bslds: BsldView[] }> {
    const bindings = await this.ctx.storage.listBindingsFor(accountId);
    return { bslds: await Promise.all(bindings.map((b) => this.view(b, accountId))) };
  }

  async authentication(accountId: string, deviceId: string): Promise<{ legitimate: boolean; registered: boolean; registeredToYou: boolean }> {
    const { limiter, limits, storage } = this.ctx;
    limiter.hit(`bsldAuth:account:${accountId}`, limits.bsldAuthentication);
    limiter.hit(`bsldAuth:device:${deviceId}`, limits.bsldAuthentication);
    const legitimate = await this.ddms.exists(deviceId);
    const binding = legitimate ? await storage.getBinding(deviceId) : undefined;
    return { legitimate, registered: binding !== undefined, registeredToYou: binding?.ownerAccountId === accountId };
  }

  async registration(
    accountId: string,
    input: { deviceId: string; challenge: string; name: string; setupCode?: string | undefined },
  ): Promise<{ registrationFrame: string }> {
    const { limiter, limits, storage } = this.ctx;
    const { deviceId } = input;
    // Only wrong setup codes count: they are the guesses the limit is there to starve.
    limiter.check(`registration:account:${accountId}`, limits.registration);
    limiter.check(`registration:device:${deviceId}`, limits.registration);
    const deviceKey = await this.ddms.deviceKey(deviceId);
    const binding = await storage.getBinding(deviceId);
    if (binding && binding.ownerAccountId !== accountId) throw new RasError(424, 'BSLD already registered to another account');
    if (!input.setupCode) throw new RasError(423, 'setup code missing');
    if (!(await this.ddms.setupCodeMatches(deviceId, input.setupCode))) {
      limiter.hit(`registration:account:${accountId}`, limits.registration);
      limiter.hit(`registration:device:${deviceId}`, limits.registration);
      throw new RasError(423, 'setup code wrong');
    }
    const ts = await this.claim(deviceId, input.challenge, 'bind', accountId, '');
    const challenge = hexToBytes(input.challenge, 16, 'challenge');
    const request: WriteAccountIdRequest = { kind: 'writeAccountId', type: BindType.Bind, accountId, ts };
    await storage.putPendingBind({ deviceId, kind: 'bind', accountId, challenge: input.challenge, ts, name: input.name, expiresAt: nowOf(this.ctx) + Durations.pendingBindSeconds });
    return { registrationFrame: bytesToHex(table3(deviceKey, challenge, request)) };
  }

  async confirm(accountId: string, deviceId: string, input: { challenge: string; response: string }): Promise<{ result: number; bsld?: BsldView }> {
    const { storage } = this.ctx;
    const now = nowOf(this.ctx);
    const pending = await storage.getPendingBind(deviceId);
    if (!pending || pending.challenge !== input.challenge || pending.accountId !== accountId || pending.expiresAt <= now) {
      throw new RasError(404, 'no pending registration or removal for this challenge');
    }
    const deviceKey = await this.ddms.deviceKey(deviceId);
    const request: WriteAccountIdRequest = {
      kind: 'writeAccountId',
      type: pending.kind === 'bind' ? BindType.Bind : BindType.Unbind,
      // An unbind names the bound account, which only the owner may remove.
      accountId: pending.accountId,
      ts: pending.ts,
    };
    const answer = openTable4(deviceKey, hexToBytes(input.challenge, 16, 'challenge'), request, hexToBytes(input.response, 16, 'response'));
    if (answer.requestType !== request.type || answer.accountIdPrefix !== request.accountId.slice(0, 8)) {
      throw new RasError(428, 'the Table 4 frame does not echo the request');
    }
    if (!table4Confirms(answer, request)) throw new RasError(431, 'the lock refused', { result: answer.result });
    await storage.deletePendingBind(deviceId, pending.challenge);
    if (pending.kind === 'bind') {
      const lastState: LastState = { lockState: answer.lockState, battery: answer.battery, updatedAt: now };
      const previous = await storage.getBinding(deviceId);
      await storage.putBinding({ deviceId, ownerAccountId: accountId, name: pending.name, registeredAt: now, lastState: JSON.stringify(lastState) });
      const binding = (await storage.getBinding(deviceId))!;
      const bsld = await this.view(binding, accountId);
      this.ctx.logger.info({ deviceId, accountId, repeated: previous?.ownerAccountId === accountId }, 'BSLD registered');
      await this.push.toAccounts([accountId], { event: 'bsld.registered', deviceId, body: { bsld } });
      return { result: answer.result, bsld };
    }
    await this.remove(deviceId, false);
    return { result: answer.result };
  }

  async removal(accountId: string, deviceId: string, input: { challenge?: string | undefined; force?: boolean | undefined }): Promise<{ removalFrame?: string }> {
    const right = await requireOwner(this.ctx.storage, deviceId, accountId);
    if (input.force) {
      await this.remove(deviceId, true);
      return {};
    }
    if (!input.challenge) throw new RasError(400, 'body.challenge: is required unless force is true');
    const deviceKey = await this.ddms.deviceKey(deviceId);
    const ts = await this.claim(deviceId, input.challenge, 'unbind', accountId, '');
    const request: WriteAccountIdRequest = { kind: 'writeAccountId', type: BindType.Unbind, accountId: right.binding.ownerAccountId, ts };
    await this.ctx.storage.putPendingBind({
      deviceId,
      kind: 'unbind',
      accountId,
      challenge: input.challenge,
      ts,
      name: right.binding.name,
      expiresAt: nowOf(this.ctx) + Durations.pendingBindSeconds,
    });
    return { removalFrame: bytesToHex(table3(deviceKey, hexToBytes(input.challenge, 16, 'challenge'), request)) };
  }

  private async remove(deviceId: string, forced: boolean): Promise<void> {
    const { storage } = this.ctx;
    const binding = await storage.getBinding(deviceId);
    if (!binding) return;
    const members = await storage.listMembers(deviceId);
    await this.operations().endPending(deviceId, () => true);
    await storage.deleteBinding(deviceId);
    this.ctx.logger.info({ deviceId, forced }, 'BSLD removed');
    await this.push.toAccounts([binding.ownerAccountId, ...members.map((m) => m.accountId)], { event: 'bsld.removed', deviceId, body: { forced } });
  }

  /** BsldSession: K_s for one connection, only to a caller whose right holds now and for the session's length. */
  async session(accountId: string, deviceId: string, challengeHex: string): Promise<{ sessionKey: string; ownerAccountId: string; role: 'owner' | 'member'; expiresIn: number }> {
    const { limiter, limits, storage } = this.ctx;
    limiter.hit(`session:account:${accountId}`, limits.session);
    limiter.hit(`session:device:${deviceId}`, limits.session);
    const right = await requireRight(storage, deviceId, accountId, nowOf(this.ctx), Durations.rightsMarginSeconds);
    const deviceKey = await this.ddms.deviceKey(deviceId);
    await this.claim(deviceId, challengeHex, 'session', accountId, '');
    const owner = right.binding.ownerAccountId;
    return {
      sessionKey: bytesToHex(deriveSessionKey(deviceKey, owner, hexToBytes(challengeHex, 16, 'challenge'))),
      ownerAccountId: owner,
      role: right.role,
      expiresIn: Durations.sessionSeconds,
    };
  }

  /**
   * Honours each (deviceId, C) once across every call that derives keys from it. Returns the TS
   * to build frames with: a retry of the same call by the same caller gets the same frames.
   */
  async claim(deviceId: string, challenge: string, call: 'session' | 'frames' | 'bind' | 'unbind', accountId: string, target: string): Promise<number> {
    const now = nowOf(this.ctx);
    const outcome = await this.ctx.storage.claimChallenge({ deviceId, challenge, call, accountId, target, ts: now }, now);
    if (outcome.kind === 'taken') throw new RasError(430, 'challenge already used for another call');
    return outcome.kind === 'repeat' ? outcome.ts : now;
  }

  async addMember(
    ownerId: string,
    deviceId: string,
    input: { identifier: string; validFrom?: number | undefined; validUntil?: number | undefined },
  ): Promise<{ accountId: string; validFrom?: number; validUntil?: number }> {
    const { storage } = this.ctx;
    await requireOwner(storage, deviceId, ownerId);
    const user = await storage.getUserByIdentifier(input.identifier);
    if (!user) throw new RasError(404, 'no such user');
    if (user.accountId === ownerId) throw new RasError(409, 'the owner cannot be a member of its own lock');
    if (input.validFrom !== undefined && input.validUntil !== undefined && input.validUntil <= input.validFrom) {
      throw new RasError(400, 'body.validUntil: must be after validFrom');
    }
    const existing = await storage.getMember(deviceId, user.accountId);
    await storage.putMember({
      deviceId,
      accountId: user.accountId,
      validFrom: input.validFrom ?? null,
      validUntil: input.validUntil ?? null,
      createdAt: existing?.createdAt ?? nowOf(this.ctx),
    });
    const out: { accountId: string; validFrom?: number; validUntil?: number } = { accountId: user.accountId };
    if (input.validFrom !== undefined) out.validFrom = input.validFrom;
    if (input.validUntil !== undefined) out.validUntil = input.validUntil;
    await this.push.toAccounts([ownerId, user.accountId], { event: 'member.changed', deviceId, body: { ...out, change: existing ? 'updated' : 'added' } });
    // A narrowed window may already have ended: its operations end with it.
    const right = await relationOf(storage, deviceId, user.accountId);
    if (right && !holds(right, nowOf(this.ctx))) await this.operations().endPending(deviceId, (op) => op.accountId === user.accountId);
    return out;
  }

  async removeMember(ownerId: string, deviceId: string, accountId: string): Promise<void> {
    const { storage } = this.ctx;
    await requireOwner(storage, deviceId, ownerId);
    if (!(await storage.deleteMember(deviceId, accountId))) throw new RasError(404, 'no such member');
    await this.operations().endPending(deviceId, (op) => op.accountId === accountId);
    await this.push.toAccounts([ownerId, accountId], { event: 'member.changed', deviceId, body: { accountId, change: 'removed' } });
  }
}
