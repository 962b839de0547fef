/**
 * Remote operations (Fig. 5): the RAS pushes a command to a gateway that reaches the lock,
 * builds its Table 5/7 frames for the lock's challenge (never handing out K_s), and decodes the
 * lock's own frames to learn the result. Only those results are lock-verified.
 */
import {
  ChannelError,
  FrameError,
  OperationType,
  Result,
  SessionRole,
  bytesToHex,
  deriveSessionKey,
  hexToBytes,
  openSession,
  type ChannelPair,
  type LockMessage,
} from 'homebridge-igrs-smartlock/protocol';
import { Durations } from '../config.js';
import { RasError } from '../errors.js';
import type { OperationRow } from '../storage/storage.js';
import type { Bslds } from './bslds.js';
import { nowOf, type Context } from './context.js';
import type { Ddms } from './ddms.js';
import type { Events } from './events.js';
import type { PushHub } from './push.js';
import { holds, relationOf, requireRight } from './rights.js';

export type Op = OperationRow['op'];
const OP_TYPE: Record<Op, OperationType> = { unlock: OperationType.Unlock, lock: OperationType.Lock, status: OperationType.Query };

export interface OperationView {
  state: 'pending' | 'done' | 'failed' | 'expired';
  result?: number;
  lockState?: number;
}

/** What a caller sees of an operation; a replaced one is a 409, as the profile says. */
export function operationView(op: OperationRow): OperationView {
  if (op.state === 'replaced') throw new RasError(409, 'the operation was replaced by a newer one');
  const state = op.state === 'revoked' ? 'failed' : op.state;
  const v: OperationView = { state };
  if (op.result !== null) v.result = op.result;
  if (op.lockState !== null) v.lockState = op.lockState;
  return v;
}

export class Operations {
  private readonly waiters = new Map<number, Set<() => void>>();

  constructor(
    private readonly ctx: Context,
    private readonly ddms: Ddms,
    private readonly push: PushHub,
    private readonly bslds: Bslds,
    private readonly events: Events,
  ) {}

  async create(accountId: string, deviceId: string, op: Op): Promise<{ operationId: number; state: 'pending' }> {
    const { storage, limiter, limits } = this.ctx;
    limiter.hit(`operation:account:${accountId}`, limits.operation);
    limiter.hit(`operation:device:${deviceId}`, limits.operation);
    const now = nowOf(this.ctx);
    await requireRight(storage, deviceId, accountId, now);
    // Gateways of accounts whose rights hold now and that say they hear the lock.
    const targets: { accountId: string; gatewayId: string }[] = [];
    for (const g of await storage.gatewaysReaching(deviceId)) {
      const right = await relationOf(storage, deviceId, g.accountId);
      if (right && holds(right, now)) targets.push({ accountId: g.accountId, gatewayId: g.gatewayId });
    }
    if (!targets.some((t) => this.push.online(t.accountId, t.gatewayId))) throw new RasError(426, 'no gateway online can reach the BSLD');
    const expiresAt = now + Durations.operationSeconds;
    const { operation, replaced } = await storage.createOperation({
      deviceId,
      accountId,
      op,
      state: 'pending',
      createdAt: now,
      expiresAt,
      framesChallenge: null,
      framesTs: null,
      framesAccountId: null,
      result: null,
      lockState: null,
      battery: null,
      doorState: null,
      late: false,
      finishedAt: null,
    });
    for (const r of replaced) await this.announce({ ...r, state: 'replaced' });
    await this.push.command(targets, deviceId, operation.operationId, { operationId: operation.operationId, op, expiresAt }, expiresAt);
    this.ctx.logger.info({ deviceId, operationId: operation.operationId, op, gateways: targets.length }, 'operation queued');
    return { operationId: operation.operationId, state: 'pending' };
  }

  /** The operation as its requester or the lock's owner may see it; 404 for anyone else. */
  private async visible(accountId: string, operationId: number): Promise<OperationRow> {
    await this.sweep();
    const op = await this.ctx.storage.getOperation(operationId);
    if (!op) throw new RasError(404, 'no such operation');
    if (op.accountId === accountId || op.framesAccountId === accountId) return op;
    const right = await relationOf(this.ctx.storage, op.deviceId, accountId);
    if (right?.role === 'owner') return op;
    throw new RasError(404, 'no such operation');
  }

  /** OperationQuery with long poll: answers at once unless pending, else on change or after `wait` s. */
  async query(accountId: string, operationId: number, wait: number, signal?: AbortSignal): Promise<OperationView> {
    let op = await this.visible(accountId, operationId);
    if (op.state === 'pending' && wait > 0) {
      await this.waitForChange(operationId, Math.min(wait, Durations.longPollSeconds) * 1000, signal);
      op = await this.visible(accountId, operationId);
    }
    return operationView(op);
  }

  private waitForChange(operationId: number, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(operationId);
      if (!set) this.waiters.set(operationId, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(operationId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  /** Ends every long poll now (shutdown). */
  wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w();
  }

  private wake(operationId: number): void {
    for (const w of [...(this.waiters.get(operationId) ?? [])]) w();
  }

  private async session(op: OperationRow, challenge: Buffer): Promise<{ pair: ChannelPair; frames: Buffer[] }> {
    const binding = await this.ctx.storage.getBinding(op.deviceId);
    if (!binding) throw new RasError(404, 'no such BSLD');
    const deviceKey = await this.ddms.deviceKey(op.deviceId);
    const pair = openSession(deriveSessionKey(deviceKey, binding.ownerAccountId, challenge), challenge);
    const ts = op.framesTs!;
    const role = op.accountId === binding.ownerAccountId ? SessionRole.Owner : SessionRole.Member;
    const frames = [
      pair.toLock.sealMessage({ kind: 'authenticate', role, accountId: binding.ownerAccountId, ts }),
      pair.toLock.sealMessage({ kind: 'operation', op: OP_TYPE[op.op], operationId: op.operationId, ts }),
    ];
    return { pair, frames };
  }

  /** OperationFrames: Table 5 and Table 7 for the gateway's challenge, once per operation. */
  async frames(accountId: string, operationId: number, challengeHex: string): Promise<{ frames: string[] }> {
    const { storage, limiter, limits } = this.ctx;
    limiter.hit(`frames:account:${accountId}`, limits.frames);
    await this.sweep();
    const op = await storage.getOperation(operationId);
    if (!op) throw new RasError(404, 'no such operation');
    limiter.hit(`frames:device:${op.deviceId}`, limits.frames);
    const now = nowOf(this.ctx);
    // The gateway's account must hold rights for a whole connection, and so must the requester.
    const gatewayRight = await relationOf(storage, op.deviceId, accountId);
    if (!gatewayRight) throw new RasError(404, 'no such operation');
    if (!holds(gatewayRight, now, Durations.rightsMarginSeconds)) throw new RasError(403, 'your rights to this BSLD end within 60 s');
    const requesterRight = await relationOf(storage, op.deviceId, op.accountId);
    if (!requesterRight || !holds(requesterRight, now, Durations.rightsMarginSeconds)) {
      throw new RasError(403, "the requester's rights to this BSLD end within 60 s");
    }
    if (op.state === 'replaced') throw new RasError(409, 'the operation was replaced by a newer one');
    if (op.framesChallenge !== null) {
      // A retry of the same call gets the same frames; anyone else is late.
      if (op.framesChallenge !== challengeHex || op.framesAccountId !== accountId) throw new RasError(409, 'frames already issued for this operation');
    } else {
      if (op.state === 'expired' || now >= op.expiresAt) throw new RasError(427, 'operation expired before a gateway ran it');
      if (op.state !== 'pending') throw new RasError(409, 'the operation has ended');
    }
    const ts = await this.bslds.claim(op.deviceId, challengeHex, 'frames', accountId, String(operationId));
    if (op.framesChallenge === null && !(await storage.markFramesIssued(operationId, challengeHex, ts, accountId))) {
      throw new RasError(409, 'frames already issued for this operation');
    }
    const { frames } = await this.session({ ...op, framesTs: ts }, hexToBytes(challengeHex, 16, 'challenge'));
    return { frames: frames.map(bytesToHex) };
  }

  /** OperationResult: decodes the lock's frames for the challenge the RAS built frames for. */
  async result(
    accountId: string,
    operationId: number,
    input: { challenge: string; frames: string[] } | { expired: true },
  ): Promise<OperationView> {
    const { storage } = this.ctx;
    await this.sweep();
    const op = await storage.getOperation(operationId);
    if (!op) throw new RasError(404, 'no such operation');
    if ('expired' in input) {
      // The gateway will not run it; the RAS's own clock decides when it is expired.
      if (op.framesAccountId !== accountId && !(await relationOf(storage, op.deviceId, accountId))) throw new RasError(404, 'no such operation');
      return operationView(op);
    }
    if (op.framesAccountId !== accountId || op.framesChallenge !== input.challenge) throw new RasError(404, 'no frames were issued to you for this challenge');
    if (op.state === 'replaced') throw new RasError(409, 'the operation was replaced by a newer one');
    const { pair } = await this.session(op, hexToBytes(input.challenge, 16, 'challenge'));
    const messages: LockMessage[] = [];
    try {
      for (const hex of input.frames) messages.push(pair.fromLock.openMessage(hexToBytes(hex, 16, 'frame')) as LockMessage);
    } catch (err) {
      if (err instanceof ChannelError || err instanceof FrameError) throw new RasError(428, `a lock frame failed verification (${err.message})`);
      throw err;
    }
    const verdict = this.judge(op, messages);
    if (verdict === 'pending') return operationView(op);
    if (op.state === 'pending' || op.state === 'expired') {
      const late = op.state === 'expired';
      const update = { ...verdict, late, finishedAt: nowOf(this.ctx) };
      if (await storage.finishOperation(operationId, update, ['pending', 'expired'])) {
        const finished = { ...op, ...update };
        await this.recordVerified(finished, accountId);
        await this.announce(finished);
      }
    }
    const final = (await storage.getOperation(operationId))!;
    const view = operationView(final);
    if (final.state === 'failed' && final.result !== null && final.result !== Result.Ok) throw new RasError(431, 'the lock refused', { result: final.result });
    return view;
  }

  /** Reads the lock's answers: Table 6 then Table 8 (status reports may come between). */
  private judge(op: OperationRow, messages: LockMessage[]): 'pending' | Pick<OperationRow, 'state' | 'result' | 'lockState' | 'battery' | 'doorState'> {
    const first = messages[0];
    if (first?.kind !== 'authenticateResponse') throw new RasError(428, 'the first lock frame must be Table 6');
    if (first.result !== Result.Ok) {
      return { state: 'failed', result: first.result, lockState: first.lockState, battery: first.battery, doorState: first.doorState };
    }
    for (const m of messages.slice(1)) {
      if (m.kind === 'statusReport') continue;
      if (m.kind !== 'operationResponse') throw new RasError(428, `unexpected ${m.kind} after Table 6`);
      if (m.operationId !== op.operationId) throw new RasError(428, 'Table 8 answers another operationId');
      return { state: m.result === Result.Ok ? 'done' : 'failed', result: m.result, lockState: m.lockState, battery: m.battery, doorState: m.doorState };
    }
    return 'pending';
  }

  private async recordVerified(op: OperationRow, relayedBy: string): Promise<void> {
    const now = nowOf(this.ctx);
    if (op.lockState !== null) {
      const state: Record<string, number> = { lockState: op.lockState, updatedAt: now };
      if (op.battery !== null) state.battery = op.battery;
      if (op.doorState !== null) state.doorState = op.doorState;
      await this.ctx.storage.setLastState(op.deviceId, JSON.stringify(state));
      await this.events.notifyState(op.deviceId, state);
    }
    const event: Record<string, unknown> = { kind: 'operation', at: now, op: op.op, result: op.result ?? 0, operationId: op.operationId };
    if (op.lockState !== null) event.lockState = op.lockState;
    await this.events.store(op.deviceId, relayedBy, null, 'lock-verified', event);
  }

  /** Pushes bsld.operation to the account that asked and wakes its long polls. */
  private async announce(op: OperationRow): Promise<void> {
    this.wake(op.operationId);
    const state = op.state === 'replaced' || op.state === 'revoked' ? 'failed' : op.state;
    const body: Record<string, unknown> = { operationId: op.operationId, state };
    if (op.result !== null) body.result = op.result;
    if (op.lockState !== null) body.lockState = op.lockState;
    await this.push.toAccounts([op.accountId], { event: 'bsld.operation', deviceId: op.deviceId, body });
  }

  /** Ends pending operations of a lock that `which` selects (revoked member, removed lock). */
  async endPending(deviceId: string, which: (op: OperationRow) => boolean): Promise<void> {
    for (const op of await this.ctx.storage.listPendingOperations()) {
      if (op.deviceId !== deviceId || !which(op)) continue;
      const update = { state: 'revoked' as const, finishedAt: nowOf(this.ctx) };
      if (await this.ctx.storage.finishOperation(op.operationId, update, ['pending'])) await this.announce({ ...op, ...update });
    }
  }

  private sweeping: Promise<void> | undefined;

  /** Expires overdue operations and ends those whose requester's window closed. Idempotent. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { storage } = this.ctx;
    const now = nowOf(this.ctx);
    for (const op of await storage.listPendingOperations()) {
      if (now >= op.expiresAt) {
        const update = { state: 'expired' as const, finishedAt: now };
        if (await storage.finishOperation(op.operationId, update, ['pending'])) await this.announce({ ...op, ...update });
        continue;
      }
      const right = await relationOf(storage, op.deviceId, op.accountId);
      if (!right || !holds(right, now)) {
        const update = { state: 'revoked' as const, finishedAt: now };
        if (await storage.finishOperation(op.operationId, update, ['pending'])) await this.announce({ ...op, ...update });
      }
    }
  }
}
