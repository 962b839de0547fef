/**
 * Table 2 push with a durable outbox. Each recipient stream is (account, gateway or '' for the
 * account's RACs); every message is a row in the outbox before it is sent, and stays there until
 * the stream acknowledges it, so a reconnect or a RAS restart loses nothing. Commands are checked
 * again when they leave: an expired, replaced or no longer authorised command is never sent.
 */
import { PROTOCOL_VERSION } from 'homebridge-igrs-smartlock/protocol';
import type { OutboxRow } from '../storage/storage.js';
import { nowOf, type Context } from './context.js';
import { holds, relationOf } from './rights.js';

export interface PushSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface PushConnection {
  accountId: string;
  gatewayId: string;
  familyId: string;
  socket: PushSocket;
  /** Highest seq sent on this connection; nothing at or below it is sent again here. */
  sentUpTo: number;
  started: boolean;
  /** Serialises sends so live pushes and a resume never interleave out of order. */
  chain: Promise<void>;
}

export interface PushMessage {
  event: string;
  deviceId?: string;
  body: Record<string, unknown>;
}

const BATCH = 200;

export class PushHub {
  private readonly streams = new Map<string, Set<PushConnection>>();
  private closed = false;

  constructor(private readonly ctx: Context) {}

  private static key(accountId: string, gatewayId: string): string {
    return `${accountId}/${gatewayId}`;
  }

  /** Streams of an account: its RAC stream and each of its gateways' streams. */
  async streamsOf(accountId: string): Promise<string[]> {
    const gateways = await this.ctx.storage.listGateways(accountId);
    return ['', ...gateways.map((g) => g.gatewayId)];
  }

  /** Queues a message for every stream of each account, then sends it where a connection is live. */
  async toAccounts(accountIds: Iterable<string>, message: PushMessage): Promise<void> {
    const rows: Omit<OutboxRow, 'seq'>[] = [];
    const now = nowOf(this.ctx);
    for (const accountId of new Set(accountIds)) {
      for (const gatewayId of await this.streamsOf(accountId)) {
        rows.push({ accountId, gatewayId, event: message.event, deviceId: message.deviceId ?? null, body: JSON.stringify(message.body), createdAt: now, expiresAt: null, operationId: null });
      }
    }
    await this.publish(rows);
  }

  /** Queues a command for specific gateway streams. */
  async command(targets: { accountId: string; gatewayId: string }[], deviceId: string, operationId: number, body: Record<string, unknown>, expiresAt: number): Promise<void> {
    const now = nowOf(this.ctx);
    await this.publish(
      targets.map((t) => ({ ...t, event: 'bsld.command', deviceId, body: JSON.stringify(body), createdAt: now, expiresAt, operationId })),
    );
  }

  private async publish(rows: Omit<OutboxRow, 'seq'>[]): Promise<void> {
    if (rows.length === 0) return;
    const stored = await this.ctx.storage.enqueue(rows);
    const touched = new Set(stored.map((r) => PushHub.key(r.accountId, r.gatewayId)));
    for (const k of touched) for (const conn of this.streams.get(k) ?? []) if (conn.started) this.pump(conn);
  }

  online(accountId: string, gatewayId: string): boolean {
    return (this.streams.get(PushHub.key(accountId, gatewayId))?.size ?? 0) > 0;
  }

  attach(conn: Omit<PushConnection, 'sentUpTo' | 'started' | 'chain'>): PushConnection {
    const c: PushConnection = { ...conn, sentUpTo: 0, started: false, chain: Promise.resolve() };
    const k = PushHub.key(c.accountId, c.gatewayId);
    let set = this.streams.get(k);
    if (!set) this.streams.set(k, (set = new Set()));
    set.add(c);
    return c;
  }

  detach(conn: PushConnection): void {
    const k = PushHub.key(conn.accountId, conn.gatewayId);
    const set = this.streams.get(k);
    set?.delete(conn);
    if (set?.size === 0) this.streams.delete(k);
  }

  /** PushResume: everything up to lastSeq was handled; send every unacknowledged later row. */
  async resume(conn: PushConnection, lastSeq: number): Promise<void> {
    await this.ctx.storage.ackUpTo(conn.accountId, conn.gatewayId, lastSeq);
    conn.sentUpTo = Math.max(conn.sentUpTo, lastSeq);
    this.start(conn);
  }

  /** Starts delivery on a connection that sent no PushResume: every unacknowledged row. */
  start(conn: PushConnection): void {
    conn.started = true;
    this.pump(conn);
  }

  async ack(conn: PushConnection, seq: number): Promise<void> {
    await this.ctx.storage.ack(conn.accountId, conn.gatewayId, seq);
  }

  /** Closes the push connections of a dead token family (or of every family of the account). */
  revoke(accountId: string, familyId: string | undefined, reason: string): void {
    for (const set of this.streams.values()) {
      for (const conn of set) {
        if (conn.accountId !== accountId || (familyId !== undefined && conn.familyId !== familyId)) continue;
        const now = nowOf(this.ctx);
        try {
          conn.socket.send(JSON.stringify({ version: PROTOCOL_VERSION, msgType: 'Push', seq: 0, timestamp: now, event: 'account.revoked', body: { reason } }));
        } catch {
          // The socket may already be gone; closing below is what matters.
        }
        conn.socket.close(4401, 'token revoked');
      }
    }
  }

  closeAll(): void {
    this.closed = true;
    for (const set of this.streams.values()) for (const conn of set) conn.socket.close(1001, 'RAS shutting down');
    this.streams.clear();
  }

  /** Waits for queued sends to finish (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.streams.values()].flatMap((s) => [...s].map((c) => c.chain)));
  }

  private pump(conn: PushConnection): void {
    conn.chain = conn.chain.then(
      () => this.deliver(conn),
      () => this.deliver(conn),
    ).catch((err: unknown) => {
      this.ctx.logger.error({ err: err instanceof Error ? err.message : String(err), accountId: conn.accountId }, 'push delivery failed');
    });
  }

  private async deliver(conn: PushConnection): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const rows = await this.ctx.storage.pendingFor(conn.accountId, conn.gatewayId, conn.sentUpTo, BATCH);
      if (rows.length === 0) return;
      for (const row of rows) {
        conn.sentUpTo = row.seq;
        if (!(await this.deliverable(row))) {
          await this.ctx.storage.ack(row.accountId, row.gatewayId, row.seq);
          continue;
        }
        const message: Record<string, unknown> = { version: PROTOCOL_VERSION, msgType: 'Push', seq: row.seq, timestamp: nowOf(this.ctx), event: row.event };
        if (row.deviceId !== null) message.deviceId = row.deviceId;
        message.body = JSON.parse(row.body) as unknown;
        conn.socket.send(JSON.stringify(message));
      }
      if (rows.length < BATCH) return;
    }
  }

  /** A command leaves only while it is pending, unexpired and its gateway's account holds rights now. */
  private async deliverable(row: OutboxRow): Promise<boolean> {
    if (row.event !== 'bsld.command') return true;
    const now = nowOf(this.ctx);
    if (row.expiresAt !== null && now >= row.expiresAt) return false;
    if (row.operationId === null || row.deviceId === null) return false;
    const op = await this.ctx.storage.getOperation(row.operationId);
    if (op?.state !== 'pending') return false;
    const right = await relationOf(this.ctx.storage, row.deviceId, row.accountId);
    return right !== undefined && holds(right, now);
  }
}
