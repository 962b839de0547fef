/** The service layer assembled: every rule of the profile lives in these objects, none in HTTP code. */
import { timingSafeEqual } from 'node:crypto';
import { unixSeconds } from './clock.js';
import { Durations } from './config.js';
import { tokenHash } from './crypto/secrets.js';
import { RasError } from './errors.js';
import { Accounts } from './service/accounts.js';
import { Bslds } from './service/bslds.js';
import type { Context } from './service/context.js';
import { Ddms } from './service/ddms.js';
import { Events, Gateways } from './service/events.js';
import { Operations } from './service/operations.js';
import { PushHub } from './service/push.js';

export class RasServices {
  readonly accounts: Accounts;
  readonly ddms: Ddms;
  readonly push: PushHub;
  readonly bslds: Bslds;
  readonly events: Events;
  readonly gateways: Gateways;
  readonly operations: Operations;
  private readonly adminTokenHash: string | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private lastPrune = 0;

  constructor(
    readonly ctx: Context,
    adminToken?: string,
  ) {
    this.accounts = new Accounts(ctx);
    this.ddms = new Ddms(ctx);
    this.push = new PushHub(ctx);
    this.events = new Events(ctx, this.push);
    this.gateways = new Gateways(ctx);
    this.bslds = new Bslds(ctx, this.ddms, this.push, () => this.operations);
    this.operations = new Operations(ctx, this.ddms, this.push, this.bslds, this.events);
    this.accounts.onRevoked = (familyId, accountId, reason) => {
      this.push.revoke(accountId, familyId, reason);
    };
    this.adminTokenHash = adminToken ? tokenHash(adminToken) : undefined;
  }

  now(): number {
    return unixSeconds(this.ctx.clock);
  }

  /** The DDMS admin token; without one configured, the admin calls are closed. */
  requireAdmin(header: string | undefined): void {
    const m = header ? /^Bearer (.+)$/.exec(header) : null;
    if (!this.adminTokenHash || !m) throw new RasError(401, 'admin token required');
    if (!timingSafeEqual(Buffer.from(tokenHash(m[1]!), 'hex'), Buffer.from(this.adminTokenHash, 'hex'))) throw new RasError(401, 'wrong admin token');
  }

  /** Runs the periodic work: operation expiry, window ends, pruning. */
  startSweeper(intervalMs = 1000): void {
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => {
        this.ctx.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'sweep failed');
      });
    }, intervalMs);
    this.sweeper.unref();
  }

  async sweep(): Promise<void> {
    await this.operations.sweep();
    const now = this.now();
    if (now - this.lastPrune >= 600) {
      this.lastPrune = now;
      await this.ctx.storage.pruneOutbox(now - Durations.outboxRetentionSeconds, now - Durations.outboxUnreadSeconds);
      await this.ctx.storage.pruneTokens(now);
    }
  }

  /** Stops timers and wakes every long poll, so the HTTP server can close promptly. */
  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.operations.wakeAll();
  }
}
