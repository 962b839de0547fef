/** UDMS: users, verification codes (7.1), login and rotating refresh tokens (7.2). */
import { Durations, MIN_PASSWORD_LENGTH } from '../config.js';
import { codeHash, hashSecret, newToken, randomDigits, randomHex, tokenHash, verifySecret } from '../crypto/secrets.js';
import { RasError } from '../errors.js';
import { nowOf, type Context } from './context.js';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface Caller {
  accountId: string;
  familyId: string;
}

/** A fixed hash to verify against when the user does not exist, so timing does not tell. */
let dummyHash: Promise<string> | undefined;

const WEAK = new Set(['password', 'password1', '12345678', '123456789', '1234567890', 'qwertyui', 'qwerty123', '11111111', '00000000', 'iloveyou', 'abcdefgh']);

export function passwordProblem(password: string): string | undefined {
  if (password.length === 0) return 'password is empty';
  if (Array.from(password).length < MIN_PASSWORD_LENGTH) return `password must have at least ${MIN_PASSWORD_LENGTH} characters`;
  if (WEAK.has(password.toLowerCase()) || /^(.)\1*$/.test(password)) return 'password is too common';
  return undefined;
}

/** Called when a token family dies, so live push connections of it close. */
export type FamilyRevoked = (familyId: string | undefined, accountId: string, reason: 'logout' | 'token-reuse' | 'admin') => void;

export class Accounts {
  onRevoked: FamilyRevoked = () => {};

  constructor(private readonly ctx: Context) {}

  async requestVerification(identifier: string, clientKey: string): Promise<{ expiresIn: number }> {
    const { limiter, limits, storage, sender, masterKey } = this.ctx;
    limiter.hit(`verification:id:${identifier}`, limits.verification);
    limiter.hit(`verification:ip:${clientKey}`, { limit: limits.verification.limit * 4, windowSeconds: limits.verification.windowSeconds });
    const code = randomDigits(6);
    const expiresIn = Durations.verificationSeconds;
    await storage.putVerification({ identifier, codeHash: codeHash(masterKey, identifier, code), expiresAt: nowOf(this.ctx) + expiresIn, attempts: 0 });
    try {
      await sender.send({ identifier, code, expiresIn });
    } catch (err) {
      this.ctx.logger.error({ sender: sender.kind, err: err instanceof Error ? err.message : String(err) }, 'TPSP could not deliver a verification code');
      throw new RasError(503, 'the verification code could not be sent');
    }
    return { expiresIn };
  }

  async register(input: { identifier: string; password: string; verificationCode?: string | undefined; displayName?: string | undefined }): Promise<{ accountId: string }> {
    const { storage, masterKey } = this.ctx;
    const problem = passwordProblem(input.password);
    if (problem) throw new RasError(422, problem);
    if (!input.verificationCode) throw new RasError(423, 'verification code missing');
    const row = await storage.getVerification(input.identifier);
    const now = nowOf(this.ctx);
    if (!row || row.expiresAt <= now || row.attempts >= Durations.verificationAttempts) throw new RasError(423, 'verification code wrong or expired');
    if (row.codeHash !== codeHash(masterKey, input.identifier, input.verificationCode)) {
      await storage.bumpVerificationAttempts(input.identifier);
      throw new RasError(423, 'verification code wrong or expired');
    }
    const created = await this.createUser(input.identifier, input.password, input.displayName);
    await storage.deleteVerification(input.identifier);
    return created;
  }

  /** A verified user without the TPSP: for operators (CLI `users add`) and tests. */
  async createUser(identifier: string, password: string, displayName?: string): Promise<{ accountId: string }> {
    const problem = passwordProblem(password);
    if (problem) throw new RasError(422, problem);
    const accountId = randomHex(9);
    const outcome = await this.ctx.storage.createUser({
      accountId,
      identifier,
      displayName: displayName ?? null,
      passwordHash: await hashSecret(password),
      createdAt: nowOf(this.ctx),
    });
    if (outcome === 'exists') throw new RasError(421, 'user already exists');
    return { accountId };
  }

  async login(identifier: string, password: string, clientKey: string): Promise<TokenPair & { accountId: string }> {
    const { limiter, limits, storage } = this.ctx;
    limiter.hit(`login:id:${identifier}`, limits.login);
    limiter.hit(`login:ip:${clientKey}`, { limit: limits.login.limit * 5, windowSeconds: limits.login.windowSeconds });
    const user = await storage.getUserByIdentifier(identifier);
    if (!user) {
      dummyHash ??= hashSecret(randomHex(16));
      await verifySecret(password, await dummyHash);
      throw new RasError(401, 'wrong identifier or password');
    }
    if (!(await verifySecret(password, user.passwordHash))) throw new RasError(401, 'wrong identifier or password');
    const pair = await this.issue(user.accountId, randomHex(16));
    return { accountId: user.accountId, ...pair };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const { storage } = this.ctx;
    const now = nowOf(this.ctx);
    const row = await storage.getToken(tokenHash(refreshToken));
    if (!row || row.kind !== 'refresh' || row.revokedAt !== null || row.expiresAt <= now) throw new RasError(420, 'refresh token invalid or expired');
    if (!(await storage.spendRefreshToken(row.tokenHash, now))) {
      // A spent token presented again: one of the two holders is a thief, so neither keeps the family.
      await storage.revokeFamily(row.familyId, now);
      this.ctx.logger.warn({ accountId: row.accountId }, 'refresh token reused; token family revoked');
      this.onRevoked(row.familyId, row.accountId, 'token-reuse');
      throw new RasError(420, 'refresh token already used; every token of this login is revoked');
    }
    return this.issue(row.accountId, row.familyId);
  }

  async logout(refreshToken: string): Promise<void> {
    const { storage } = this.ctx;
    const now = nowOf(this.ctx);
    const row = await storage.getToken(tokenHash(refreshToken));
    if (!row || row.kind !== 'refresh' || row.revokedAt !== null || row.expiresAt <= now) throw new RasError(420, 'refresh token invalid or expired');
    await storage.revokeFamily(row.familyId, now);
    this.onRevoked(row.familyId, row.accountId, 'logout');
  }

  /** The caller of an access token; 401 without one, 420 if it is invalid, revoked or expired. */
  async authenticate(header: string | undefined): Promise<Caller> {
    if (!header) throw new RasError(401, 'Authorization: Bearer <accessToken> required');
    const m = /^Bearer ([A-Za-z0-9._~+/=-]{16,2048})$/.exec(header);
    if (!m) throw new RasError(401, 'Authorization must be a bearer token');
    const row = await this.ctx.storage.getToken(tokenHash(m[1]!));
    if (!row || row.kind !== 'access' || row.revokedAt !== null || row.expiresAt <= nowOf(this.ctx)) throw new RasError(420, 'access token invalid or expired');
    return { accountId: row.accountId, familyId: row.familyId };
  }

  private async issue(accountId: string, familyId: string): Promise<TokenPair> {
    const now = nowOf(this.ctx);
    const accessToken = newToken();
    const refreshToken = newToken();
    const base = { accountId, familyId, spentAt: null, revokedAt: null };
    await this.ctx.storage.putToken({ ...base, tokenHash: tokenHash(accessToken), kind: 'access', expiresAt: now + Durations.accessTokenSeconds });
    await this.ctx.storage.putToken({ ...base, tokenHash: tokenHash(refreshToken), kind: 'refresh', expiresAt: now + Durations.refreshTokenSeconds });
    return { accessToken, refreshToken, expiresIn: Durations.accessTokenSeconds };
  }
}
