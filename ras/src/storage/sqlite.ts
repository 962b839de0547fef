/**
 * The default storage: one SQLite file (better-sqlite3, WAL). better-sqlite3 is synchronous, so
 * each method below is atomic by construction in this single-process server; methods that read
 * and then write run inside a transaction so they stay atomic against other processes (the CLI).
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { MIGRATIONS } from './migrations.js';
import type {
  BindingRow,
  ChallengeClaim,
  ClaimOutcome,
  DeviceRow,
  EventRow,
  GatewayRow,
  MemberRow,
  OperationRow,
  OperationState,
  OutboxRow,
  PendingBindRow,
  Storage,
  TokenRow,
  UserRow,
  VerificationRow,
} from './storage.js';

type Row = Record<string, unknown>;

/** Runs a synchronous step and hands its outcome over as a promise. */
function run<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

const str = (v: unknown): string => v as string;
const num = (v: unknown): number => v as number;
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number));
const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

const userRow = (r: Row): UserRow => ({
  accountId: str(r.account_id),
  identifier: str(r.identifier),
  displayName: optStr(r.display_name),
  passwordHash: str(r.password_hash),
  createdAt: num(r.created_at),
});
const tokenRow = (r: Row): TokenRow => ({
  tokenHash: str(r.token_hash),
  kind: str(r.kind) as TokenRow['kind'],
  accountId: str(r.account_id),
  familyId: str(r.family_id),
  expiresAt: num(r.expires_at),
  spentAt: optNum(r.spent_at),
  revokedAt: optNum(r.revoked_at),
});
const deviceRow = (r: Row): DeviceRow => ({
  deviceId: str(r.device_id),
  sealedKey: r.sealed_key as Buffer,
  setupCodeHash: str(r.setup_code_hash),
  model: str(r.model),
  provisionedAt: num(r.provisioned_at),
});
const bindingRow = (r: Row): BindingRow => ({
  deviceId: str(r.device_id),
  ownerAccountId: str(r.owner_account_id),
  name: str(r.name),
  registeredAt: num(r.registered_at),
  lastState: optStr(r.last_state),
});
const memberRow = (r: Row): MemberRow => ({
  deviceId: str(r.device_id),
  accountId: str(r.account_id),
  validFrom: optNum(r.valid_from),
  validUntil: optNum(r.valid_until),
  createdAt: num(r.created_at),
});
const gatewayRow = (r: Row): GatewayRow => ({
  gatewayId: str(r.gateway_id),
  accountId: str(r.account_id),
  name: str(r.name),
  createdAt: num(r.created_at),
});
const operationRow = (r: Row): OperationRow => ({
  operationId: num(r.operation_id),
  deviceId: str(r.device_id),
  accountId: str(r.account_id),
  op: str(r.op) as OperationRow['op'],
  state: str(r.state) as OperationState,
  createdAt: num(r.created_at),
  expiresAt: num(r.expires_at),
  framesChallenge: optStr(r.frames_challenge),
  framesTs: optNum(r.frames_ts),
  framesAccountId: optStr(r.frames_account_id),
  result: optNum(r.result),
  lockState: optNum(r.lock_state),
  battery: optNum(r.battery),
  doorState: optNum(r.door_state),
  late: r.late === 1,
  finishedAt: optNum(r.finished_at),
});
const outboxRow = (r: Row): OutboxRow => ({
  seq: num(r.seq),
  accountId: str(r.account_id),
  gatewayId: str(r.gateway_id),
  event: str(r.event),
  deviceId: optStr(r.device_id),
  body: str(r.body),
  createdAt: num(r.created_at),
  expiresAt: optNum(r.expires_at),
  operationId: optNum(r.operation_id),
});
const eventRow = (r: Row): EventRow => ({
  id: num(r.id),
  deviceId: str(r.device_id),
  receivedAt: num(r.received_at),
  accountId: str(r.account_id),
  gatewayId: optStr(r.gateway_id),
  verification: str(r.verification) as EventRow['verification'],
  event: str(r.event),
});

const OPERATION_COLUMNS: Record<string, string> = {
  state: 'state',
  framesChallenge: 'frames_challenge',
  framesTs: 'frames_ts',
  framesAccountId: 'frames_account_id',
  result: 'result',
  lockState: 'lock_state',
  battery: 'battery',
  doorState: 'door_state',
  late: 'late',
  finishedAt: 'finished_at',
};

export class SqliteStorage implements Storage {
  readonly kind = 'sqlite';
  readonly db: Database.Database;

  constructor(readonly file: string) {
    const fresh = file !== ':memory:' && !existsSync(file);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    // Sealed keys and hashes are still nobody else's business.
    if (fresh) chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    // NORMAL under WAL keeps every committed transaction across a process crash (only an OS crash can lose the last ones).
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  /** The schema version this file is at after opening. */
  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.schemaVersion;
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this RAS (${MIGRATIONS.length}); upgrade the RAS`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  private get(sql: string, ...params: unknown[]): Row | undefined {
    return this.db.prepare(sql).get(...params) as Row | undefined;
  }

  private all(sql: string, ...params: unknown[]): Row[] {
    return this.db.prepare(sql).all(...params) as Row[];
  }

  private exec(sql: string, ...params: unknown[]): Database.RunResult {
    return this.db.prepare(sql).run(...params);
  }

  close(): Promise<void> {
    return run(() => {
      if (this.db.open) {
        // Folds the WAL back so a backup of the single file is complete.
        this.db.pragma('wal_checkpoint(TRUNCATE)');
        this.db.close();
      }
    });
  }

  /** An online, consistent copy of the database (SQLite's backup API). */
  async backup(destination: string): Promise<void> {
    await this.db.backup(destination);
  }

  getMeta(key: string): Promise<string | undefined> {
    return run(() => this.get('SELECT value FROM meta WHERE key = ?', key)?.value as string | undefined);
  }
  setMeta(key: string, value: string): Promise<void> {
    return run(() => {
      this.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', key, value);
    });
  }

  createUser(row: UserRow): Promise<'created' | 'exists'> {
    return run(() => {
      const r = this.exec(
        'INSERT INTO users (account_id, identifier, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
        row.accountId,
        row.identifier,
        row.displayName,
        row.passwordHash,
        row.createdAt,
      );
      return r.changes === 1 ? 'created' : 'exists';
    });
  }
  getUserByIdentifier(identifier: string): Promise<UserRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM users WHERE identifier = ?', identifier);
      return r && userRow(r);
    });
  }
  getUser(accountId: string): Promise<UserRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM users WHERE account_id = ?', accountId);
      return r && userRow(r);
    });
  }
  putVerification(row: VerificationRow): Promise<void> {
    return run(() => {
      this.exec(
        'INSERT INTO verifications (identifier, code_hash, expires_at, attempts) VALUES (?, ?, ?, ?) ON CONFLICT(identifier) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = excluded.attempts',
        row.identifier,
        row.codeHash,
        row.expiresAt,
        row.attempts,
      );
    });
  }
  getVerification(identifier: string): Promise<VerificationRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM verifications WHERE identifier = ?', identifier);
      return r && { identifier: str(r.identifier), codeHash: str(r.code_hash), expiresAt: num(r.expires_at), attempts: num(r.attempts) };
    });
  }
  bumpVerificationAttempts(identifier: string): Promise<void> {
    return run(() => {
      this.exec('UPDATE verifications SET attempts = attempts + 1 WHERE identifier = ?', identifier);
    });
  }
  deleteVerification(identifier: string): Promise<void> {
    return run(() => {
      this.exec('DELETE FROM verifications WHERE identifier = ?', identifier);
    });
  }

  putToken(row: TokenRow): Promise<void> {
    return run(() => {
      this.exec(
        'INSERT INTO tokens (token_hash, kind, account_id, family_id, expires_at, spent_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        row.tokenHash,
        row.kind,
        row.accountId,
        row.familyId,
        row.expiresAt,
        row.spentAt,
        row.revokedAt,
      );
    });
  }
  getToken(tokenHash: string): Promise<TokenRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM tokens WHERE token_hash = ?', tokenHash);
      return r && tokenRow(r);
    });
  }
  spendRefreshToken(tokenHash: string, at: number): Promise<boolean> {
    return run(
      () =>
        this.exec("UPDATE tokens SET spent_at = ? WHERE token_hash = ? AND kind = 'refresh' AND spent_at IS NULL AND revoked_at IS NULL", at, tokenHash)
          .changes === 1,
    );
  }
  revokeFamily(familyId: string, at: number): Promise<void> {
    return run(() => {
      this.exec('UPDATE tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL', at, familyId);
    });
  }
  revokeAccountTokens(accountId: string, at: number): Promise<void> {
    return run(() => {
      this.exec('UPDATE tokens SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL', at, accountId);
    });
  }
  pruneTokens(before: number): Promise<void> {
    return run(() => {
      // Spent refresh tokens stay until they expire: their reuse is what reveals a theft.
      this.exec('DELETE FROM tokens WHERE expires_at < ?', before);
    });
  }

  putDevice(row: DeviceRow, sameKey: (existing: DeviceRow) => boolean): Promise<'created' | 'updated' | 'key-conflict'> {
    return run(() =>
      this.db
        .transaction((): 'created' | 'updated' | 'key-conflict' => {
          const r = this.get('SELECT * FROM devices WHERE device_id = ?', row.deviceId);
          if (!r) {
            this.exec(
              'INSERT INTO devices (device_id, sealed_key, setup_code_hash, model, provisioned_at) VALUES (?, ?, ?, ?, ?)',
              row.deviceId,
              row.sealedKey,
              row.setupCodeHash,
              row.model,
              row.provisionedAt,
            );
            return 'created';
          }
          if (!sameKey(deviceRow(r))) return 'key-conflict';
          this.exec('UPDATE devices SET setup_code_hash = ?, model = ? WHERE device_id = ?', row.setupCodeHash, row.model, row.deviceId);
          return 'updated';
        })
        .immediate(),
    );
  }
  getDevice(deviceId: string): Promise<DeviceRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM devices WHERE device_id = ?', deviceId);
      return r && deviceRow(r);
    });
  }
  listDevices(): Promise<DeviceRow[]> {
    return run(() => this.all('SELECT * FROM devices ORDER BY device_id').map(deviceRow));
  }

  getBinding(deviceId: string): Promise<BindingRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM bindings WHERE device_id = ?', deviceId);
      return r && bindingRow(r);
    });
  }
  putBinding(row: BindingRow): Promise<void> {
    return run(() => {
      this.db
        .transaction(() => {
          const prev = this.get('SELECT owner_account_id FROM bindings WHERE device_id = ?', row.deviceId);
          if (prev && prev.owner_account_id !== row.ownerAccountId) this.exec('DELETE FROM members WHERE device_id = ?', row.deviceId);
          this.exec(
            'INSERT INTO bindings (device_id, owner_account_id, name, registered_at, last_state) VALUES (?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET owner_account_id = excluded.owner_account_id, name = excluded.name, registered_at = excluded.registered_at',
            row.deviceId,
            row.ownerAccountId,
            row.name,
            row.registeredAt,
            row.lastState,
          );
          // The owner is never also a member.
          this.exec('DELETE FROM members WHERE device_id = ? AND account_id = ?', row.deviceId, row.ownerAccountId);
        })
        .immediate();
    });
  }
  deleteBinding(deviceId: string): Promise<void> {
    return run(() => {
      this.db
        .transaction(() => {
          this.exec('DELETE FROM members WHERE device_id = ?', deviceId);
          this.exec('DELETE FROM pending_binds WHERE device_id = ?', deviceId);
          this.exec('DELETE FROM bindings WHERE device_id = ?', deviceId);
        })
        .immediate();
    });
  }
  setLastState(deviceId: string, lastState: string): Promise<void> {
    return run(() => {
      this.exec('UPDATE bindings SET last_state = ? WHERE device_id = ?', lastState, deviceId);
    });
  }
  listBindingsFor(accountId: string): Promise<BindingRow[]> {
    return run(() =>
      this.all(
        'SELECT b.* FROM bindings b WHERE b.owner_account_id = ? UNION SELECT b.* FROM bindings b JOIN members m ON m.device_id = b.device_id WHERE m.account_id = ? ORDER BY device_id',
        accountId,
        accountId,
      ).map(bindingRow),
    );
  }
  listBindings(): Promise<BindingRow[]> {
    return run(() => this.all('SELECT * FROM bindings ORDER BY device_id').map(bindingRow));
  }
  putPendingBind(row: PendingBindRow): Promise<void> {
    return run(() => {
      this.exec(
        'INSERT INTO pending_binds (device_id, kind, account_id, challenge, ts, name, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET kind = excluded.kind, account_id = excluded.account_id, challenge = excluded.challenge, ts = excluded.ts, name = excluded.name, expires_at = excluded.expires_at',
        row.deviceId,
        row.kind,
        row.accountId,
        row.challenge,
        row.ts,
        row.name,
        row.expiresAt,
      );
    });
  }
  getPendingBind(deviceId: string): Promise<PendingBindRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM pending_binds WHERE device_id = ?', deviceId);
      return (
        r && {
          deviceId: str(r.device_id),
          kind: str(r.kind) as PendingBindRow['kind'],
          accountId: str(r.account_id),
          challenge: str(r.challenge),
          ts: num(r.ts),
          name: str(r.name),
          expiresAt: num(r.expires_at),
        }
      );
    });
  }
  deletePendingBind(deviceId: string, challenge: string): Promise<void> {
    return run(() => {
      this.exec('DELETE FROM pending_binds WHERE device_id = ? AND challenge = ?', deviceId, challenge);
    });
  }

  claimChallenge(claim: ChallengeClaim, at: number): Promise<ClaimOutcome> {
    return run(() =>
      this.db
        .transaction((): ClaimOutcome => {
          const r = this.get('SELECT * FROM challenges WHERE device_id = ? AND challenge = ?', claim.deviceId, claim.challenge);
          if (!r) {
            this.exec(
              'INSERT INTO challenges (device_id, challenge, call, account_id, target, ts, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
              claim.deviceId,
              claim.challenge,
              claim.call,
              claim.accountId,
              claim.target,
              claim.ts,
              at,
            );
            return { kind: 'claimed' };
          }
          if (r.call === claim.call && r.account_id === claim.accountId && r.target === claim.target) return { kind: 'repeat', ts: num(r.ts) };
          return { kind: 'taken' };
        })
        .immediate(),
    );
  }

  putMember(row: MemberRow): Promise<void> {
    return run(() => {
      this.exec(
        'INSERT INTO members (device_id, account_id, valid_from, valid_until, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(device_id, account_id) DO UPDATE SET valid_from = excluded.valid_from, valid_until = excluded.valid_until',
        row.deviceId,
        row.accountId,
        row.validFrom,
        row.validUntil,
        row.createdAt,
      );
    });
  }
  getMember(deviceId: string, accountId: string): Promise<MemberRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM members WHERE device_id = ? AND account_id = ?', deviceId, accountId);
      return r && memberRow(r);
    });
  }
  deleteMember(deviceId: string, accountId: string): Promise<boolean> {
    return run(() => this.exec('DELETE FROM members WHERE device_id = ? AND account_id = ?', deviceId, accountId).changes === 1);
  }
  listMembers(deviceId: string): Promise<MemberRow[]> {
    return run(() => this.all('SELECT * FROM members WHERE device_id = ? ORDER BY created_at, account_id', deviceId).map(memberRow));
  }

  createGateway(row: GatewayRow): Promise<void> {
    return run(() => {
      this.exec('INSERT INTO gateways (gateway_id, account_id, name, created_at) VALUES (?, ?, ?, ?)', row.gatewayId, row.accountId, row.name, row.createdAt);
    });
  }
  getGateway(gatewayId: string): Promise<GatewayRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM gateways WHERE gateway_id = ?', gatewayId);
      return r && gatewayRow(r);
    });
  }
  listGateways(accountId: string): Promise<GatewayRow[]> {
    return run(() => this.all('SELECT * FROM gateways WHERE account_id = ? ORDER BY created_at, gateway_id', accountId).map(gatewayRow));
  }
  setReach(gatewayId: string, deviceIds: string[]): Promise<void> {
    return run(() => {
      this.db
        .transaction(() => {
          this.exec('DELETE FROM gateway_reach WHERE gateway_id = ?', gatewayId);
          const ins = this.db.prepare('INSERT OR IGNORE INTO gateway_reach (gateway_id, device_id) VALUES (?, ?)');
          for (const d of deviceIds) ins.run(gatewayId, d);
        })
        .immediate();
    });
  }
  getReach(gatewayId: string): Promise<string[]> {
    return run(() => this.all('SELECT device_id FROM gateway_reach WHERE gateway_id = ? ORDER BY device_id', gatewayId).map((r) => str(r.device_id)));
  }
  gatewaysReaching(deviceId: string): Promise<GatewayRow[]> {
    return run(() =>
      this.all('SELECT g.* FROM gateways g JOIN gateway_reach r ON r.gateway_id = g.gateway_id WHERE r.device_id = ? ORDER BY g.gateway_id', deviceId).map(
        gatewayRow,
      ),
    );
  }

  createOperation(row: Omit<OperationRow, 'operationId'>): Promise<{ operation: OperationRow; replaced: OperationRow[] }> {
    return run(() =>
      this.db
        .transaction(() => {
          const replaced = this.all("SELECT * FROM operations WHERE device_id = ? AND state = 'pending'", row.deviceId).map(operationRow);
          this.exec("UPDATE operations SET state = 'replaced', finished_at = ? WHERE device_id = ? AND state = 'pending'", row.createdAt, row.deviceId);
          // operationId is a u32 (Table 7) and unique across the RAS, so /operations/{id} needs no deviceId.
          const last = this.get('SELECT MAX(operation_id) AS m FROM operations');
          const id = ((optNum(last?.m) ?? 0) % 0xffff_ffff) + 1;
          this.exec(
            'INSERT INTO operations (operation_id, device_id, account_id, op, state, created_at, expires_at, late) VALUES (?, ?, ?, ?, ?, ?, ?, 0)',
            id,
            row.deviceId,
            row.accountId,
            row.op,
            row.state,
            row.createdAt,
            row.expiresAt,
          );
          return { operation: operationRow(this.get('SELECT * FROM operations WHERE operation_id = ?', id)!), replaced };
        })
        .immediate(),
    );
  }
  getOperation(operationId: number): Promise<OperationRow | undefined> {
    return run(() => {
      const r = this.get('SELECT * FROM operations WHERE operation_id = ?', operationId);
      return r && operationRow(r);
    });
  }
  markFramesIssued(operationId: number, challenge: string, ts: number, accountId: string): Promise<boolean> {
    return run(
      () =>
        this.exec(
          'UPDATE operations SET frames_challenge = ?, frames_ts = ?, frames_account_id = ? WHERE operation_id = ? AND frames_challenge IS NULL',
          challenge,
          ts,
          accountId,
          operationId,
        ).changes === 1,
    );
  }
  finishOperation(operationId: number, update: Partial<OperationRow> & { state: OperationState }, from: OperationState[]): Promise<boolean> {
    return run(() => {
      const sets: string[] = [];
      const params: unknown[] = [];
      for (const [k, v] of Object.entries(update)) {
        const col = OPERATION_COLUMNS[k];
        if (!col) continue;
        sets.push(`${col} = ?`);
        params.push(typeof v === 'boolean' ? (v ? 1 : 0) : v);
      }
      const marks = from.map(() => '?').join(', ');
      return this.exec(`UPDATE operations SET ${sets.join(', ')} WHERE operation_id = ? AND state IN (${marks})`, ...params, operationId, ...from).changes === 1;
    });
  }
  listPendingOperations(): Promise<OperationRow[]> {
    return run(() => this.all("SELECT * FROM operations WHERE state = 'pending' ORDER BY operation_id").map(operationRow));
  }

  enqueue(rows: Omit<OutboxRow, 'seq'>[]): Promise<OutboxRow[]> {
    return run(() =>
      this.db
        .transaction(() =>
          rows.map((row) => {
            const r = this.exec(
              'INSERT INTO outbox (account_id, gateway_id, event, device_id, body, created_at, expires_at, operation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
              row.accountId,
              row.gatewayId,
              row.event,
              row.deviceId,
              row.body,
              row.createdAt,
              row.expiresAt,
              row.operationId,
            );
            return { ...row, seq: Number(r.lastInsertRowid) };
          }),
        )
        .immediate(),
    );
  }
  pendingFor(accountId: string, gatewayId: string, afterSeq: number, limit: number): Promise<OutboxRow[]> {
    return run(() =>
      this.all('SELECT * FROM outbox WHERE account_id = ? AND gateway_id = ? AND acked = 0 AND seq > ? ORDER BY seq LIMIT ?', accountId, gatewayId, afterSeq, limit).map(
        outboxRow,
      ),
    );
  }
  ack(accountId: string, gatewayId: string, seq: number): Promise<void> {
    return run(() => {
      this.exec('UPDATE outbox SET acked = 1 WHERE account_id = ? AND gateway_id = ? AND seq = ?', accountId, gatewayId, seq);
    });
  }
  ackUpTo(accountId: string, gatewayId: string, seq: number): Promise<void> {
    return run(() => {
      this.exec('UPDATE outbox SET acked = 1 WHERE account_id = ? AND gateway_id = ? AND seq <= ? AND acked = 0', accountId, gatewayId, seq);
    });
  }
  pruneOutbox(settledBefore: number, anyBefore: number): Promise<void> {
    return run(() => {
      this.exec('DELETE FROM outbox WHERE (created_at < ? AND (acked = 1 OR expires_at IS NOT NULL)) OR created_at < ?', settledBefore, anyBefore);
    });
  }

  addEvent(row: Omit<EventRow, 'id'>): Promise<EventRow> {
    return run(() => {
      const r = this.exec(
        'INSERT INTO events (device_id, received_at, account_id, gateway_id, verification, event) VALUES (?, ?, ?, ?, ?, ?)',
        row.deviceId,
        row.receivedAt,
        row.accountId,
        row.gatewayId,
        row.verification,
        row.event,
      );
      return { ...row, id: Number(r.lastInsertRowid) };
    });
  }
  listEvents(deviceId: string, since: number, limit: number): Promise<EventRow[]> {
    return run(() => this.all('SELECT * FROM events WHERE device_id = ? AND received_at >= ? ORDER BY id DESC LIMIT ?', deviceId, since, limit).map(eventRow));
  }
}
