/**
 * The RAC's client of the RAS (Clause 7) over HTTPS with `got`: every call goes through the
 * shared route table and schemas, so a request the RAS would refuse is never sent, and an answer
 * that does not match the schema is an error, not data. Tokens are refreshed before they expire
 * and once more on 420; the refresh token is rotated and stored before it is used.
 */
import got, { type Got } from 'got';
import type { Static } from 'typebox';
import {
  Messages,
  PROTOCOL_VERSION,
  Status,
  Wire,
  decode,
  hasRequestBody,
  isStatus,
  pathFor,
  unixNow,
  validate,
  type MessageStem,
} from '../protocol/clause7/index.js';
import type { Logger } from '../logger.js';
import type { CredentialStore } from './credentials.js';
import { RasError, describeStatus } from './errors.js';

type Spec<K extends MessageStem> = (typeof Messages)[K];
export type RequestBody<K extends MessageStem> = Static<Spec<K>['request']>;
export type ResponseBody<K extends MessageStem> = Static<Spec<K>['response']>;

export interface CallArgs<K extends MessageStem> {
  params?: Static<Spec<K>['params']>;
  query?: Record<string, string | number>;
  body?: RequestBody<K>;
}

export interface RasClientOptions {
  /** `https://host:port`; plain `http://` only for loopback (development and tests). */
  baseUrl: string;
  store: CredentialStore;
  /** From the plugin's config; without it, only a stored refresh token can sign in. */
  login?: { identifier: string; password: string };
  log: Logger;
  /** Per-request time limit. HAP answers in 3 s, so a RAS call must not take longer. */
  timeoutMs?: number;
  /** Extra tries after a network failure or 503, for calls that are safe to repeat. */
  retries?: number;
}

/** Calls the RAS guarantees are safe to repeat (same challenge, same answer; or read-only). */
const REPEATABLE: ReadonlySet<MessageStem> = new Set<MessageStem>([
  'UserAuthentication',
  'BsldDiscovery',
  'BsldAuthentication',
  'BsldRegistration',
  'BsldConfirm',
  'BsldSession',
  'OperationFrames',
  'OperationQuery',
  'OperationResult',
  'GatewayReach',
  'EventQuery',
]);

const REFRESH_MARGIN_S = 30;

export class RasClient {
  readonly baseUrl: string;
  private readonly http: Got;
  private readonly options: Required<Omit<RasClientOptions, 'login'>> & Pick<RasClientOptions, 'login'>;
  private seq = 0;
  private access: { token: string; expiresAt: number } | undefined;
  private refreshing: Promise<string> | undefined;

  constructor(options: RasClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
      throw new RasError('network', `the RAS URL must use https:// (plain http:// is only allowed on loopback): ${url.origin}`);
    }
    this.baseUrl = url.origin;
    this.options = { timeoutMs: 5_000, retries: 2, ...options };
    this.http = got.extend({
      prefixUrl: this.baseUrl,
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: false,
      responseType: 'text',
      headers: { 'user-agent': 'homebridge-igrs-smartlock' },
    });
  }

  get accountId(): string | undefined {
    return this.options.store.get().accountId;
  }

  /** Whether a session with the RAS can be had without asking the user. */
  canSignIn(): boolean {
    return Boolean(this.options.store.get().refreshToken ?? this.options.login);
  }

  /** A valid access token: the cached one, or a refreshed one, or a new login. */
  async accessToken(): Promise<string> {
    if (this.access && this.access.expiresAt - REFRESH_MARGIN_S > unixNow()) return this.access.token;
    this.refreshing ??= this.renew().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Forgets the access token, e.g. after the RAS answered 420 to it. */
  invalidateAccess(): void {
    this.access = undefined;
  }

  /** 7.2 UserAuthentication with the given or configured password. */
  async login(credentials = this.options.login): Promise<ResponseBody<'UserAuthentication'>> {
    if (!credentials) throw new RasError('signed-out', 'not signed in to the RAS: configure an identifier and password, or sign in from the plugin settings');
    const answer = await this.call('UserAuthentication', { body: credentials }, { auth: false });
    await this.options.store.update({ accountId: answer.accountId, refreshToken: answer.refreshToken, identifier: credentials.identifier });
    this.access = { token: answer.accessToken, expiresAt: unixNow() + answer.expiresIn };
    this.options.log.info(`Signed in to the RAS at ${this.baseUrl} as ${credentials.identifier}`);
    return answer;
  }

  /** 7.2 Logout: the RAS revokes the refresh token's family; the store forgets it. */
  async logout(): Promise<void> {
    const { refreshToken } = this.options.store.get();
    this.access = undefined;
    await this.options.store.update({ refreshToken: undefined, pushLastSeq: 0 });
    if (refreshToken) await this.call('Logout', { body: { refreshToken } }, { auth: false }).catch(() => undefined);
  }

  /** One Clause 7 call: envelope, bearer token, schema checks, Table 1 errors as RasError. */
  async call<K extends MessageStem>(stem: K, args: CallArgs<K> = {}, opts: { auth?: boolean; timeoutMs?: number } = {}): Promise<ResponseBody<K>> {
    const spec = Messages[stem] as Spec<MessageStem>;
    const auth = opts.auth ?? spec.auth === 'bearer';
    const tries = 1 + (REPEATABLE.has(stem) ? this.options.retries : 0);
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(stem, args, auth, opts.timeoutMs ?? this.options.timeoutMs);
      } catch (err) {
        if (!(err instanceof RasError)) throw err;
        if (auth && !renewed && err.status === Status.TokenInvalid) {
          // The access token died early (logout elsewhere, RAS restart with new keys): renew once.
          renewed = true;
          this.invalidateAccess();
          attempt--;
          continue;
        }
        const transient = err.kind === 'network' || err.kind === 'timeout' || err.status === Status.Unavailable;
        if (!transient || attempt >= tries) throw err;
        await sleep(150 * 4 ** (attempt - 1));
      }
    }
  }

  // The BGW's needs of the RAS (the bgw module's BgwAuthority), in Clause 8 byte terms.

  /** BsldSession: K_s for one connection, after the RAS checked this account's rights now. */
  async openSession(deviceId: string, challenge: Buffer): Promise<{ sessionKey: Buffer; ownerAccountId: string; role: 'owner' | 'member' }> {
    const answer = await this.call('BsldSession', { params: { deviceId }, body: { challenge: challenge.toString('hex') } });
    return { sessionKey: Buffer.from(answer.sessionKey, 'hex'), ownerAccountId: answer.ownerAccountId, role: answer.role };
  }

  /** OperationFrames: the Table 5 and Table 7 ciphertexts the RAS built for a pushed command. */
  async operationFrames(operationId: number, challenge: Buffer): Promise<Buffer[]> {
    const answer = await this.call('OperationFrames', { params: { operationId }, body: { challenge: challenge.toString('hex') } });
    return answer.frames.map((f) => Buffer.from(f, 'hex'));
  }

  /** OperationResult: every lock frame of the connection in order, or that the command expired. */
  async operationResult(
    operationId: number,
    report: { challenge: Buffer; frames: Buffer[] } | { expired: true },
  ): Promise<ResponseBody<'OperationResult'>> {
    const body = 'expired' in report ? report : { challenge: report.challenge.toString('hex'), frames: report.frames.map((f) => f.toString('hex')) };
    return this.call('OperationResult', { params: { operationId }, body });
  }

  // Stage a (the bgw module's StageAAuthority).

  async bsldAuthentication(deviceId: string): Promise<ResponseBody<'BsldAuthentication'>> {
    return this.call('BsldAuthentication', { params: { deviceId }, body: {} });
  }

  async bsldRegistration(request: { deviceId: string; challenge: Buffer; name: string; setupCode: string }): Promise<Buffer> {
    const answer = await this.call('BsldRegistration', { body: { ...request, challenge: request.challenge.toString('hex') } });
    return Buffer.from(answer.registrationFrame, 'hex');
  }

  async bsldRemovalFrame(deviceId: string, challenge: Buffer): Promise<Buffer> {
    const answer = await this.call('BsldRemoval', { params: { deviceId }, body: { challenge: challenge.toString('hex') } });
    if (!answer.removalFrame) throw new RasError('malformed', 'BsldRemoval: the RAS sent no removal frame for the challenge');
    return Buffer.from(answer.removalFrame, 'hex');
  }

  /** BsldConfirm; a lock's refusal (431) comes back as its result byte, not as an error. */
  async bsldConfirm(deviceId: string, challenge: Buffer, response: Buffer): Promise<{ result: number }> {
    try {
      return await this.call('BsldConfirm', { params: { deviceId }, body: { challenge: challenge.toString('hex'), response: response.toString('hex') } });
    } catch (err) {
      if (err instanceof RasError && err.status === Status.LockRefused && err.details.result !== undefined) return { result: err.details.result };
      throw err;
    }
  }

  private async once<K extends MessageStem>(stem: K, args: CallArgs<K>, auth: boolean, timeoutMs: number): Promise<ResponseBody<K>> {
    const spec = Messages[stem] as Spec<MessageStem>;
    const seq = this.nextSeq();
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Bearer ${await this.accessToken()}`;
    const url = pathFor(stem, (args.params ?? {}) as never).replace(/^\//, '');
    const searchParams = hasRequestBody(stem) ? args.query : { seq, ...args.query };
    const started = Date.now();
    let response;
    try {
      response = await this.http(url, {
        method: spec.method,
        headers,
        searchParams,
        timeout: { request: timeoutMs },
        ...(hasRequestBody(stem)
          ? { json: { version: PROTOCOL_VERSION, msgType: `${stem}Request`, seq, timestamp: unixNow(), body: args.body ?? {} } }
          : {}),
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ETIMEDOUT') throw new RasError('timeout', `${stem}: the RAS did not answer within ${timeoutMs} ms`);
      throw new RasError('network', `${stem}: cannot reach the RAS at ${this.baseUrl} (${code ?? (err instanceof Error ? err.message : String(err))})`);
    }
    this.options.log.debug(`RAS ${spec.method} ${spec.path} → ${response.statusCode} in ${Date.now() - started} ms`);
    if (response.statusCode === 200) {
      const ok = decode(Wire[stem].response, response.body);
      if (!ok.ok) throw new RasError('malformed', `${stem}: the RAS answered with a malformed envelope (${ok.error.message})`, { httpStatus: 200 });
      return (ok.value as unknown as { body: ResponseBody<K> }).body;
    }
    const failed = decode(Wire[stem].error, response.body);
    if (!failed.ok) {
      const status = response.statusCode === 503 ? Status.Unavailable : response.statusCode >= 500 ? Status.ServerError : undefined;
      throw new RasError(status ? 'status' : 'malformed', `${stem}: the RAS answered HTTP ${response.statusCode} without a valid envelope`, {
        httpStatus: response.statusCode,
        ...(status ? { status } : {}),
      });
    }
    const { status, message, body } = failed.value as { status: number; message: string; body: { field?: string; result?: number; retryAfter?: number } };
    if (!isStatus(status)) throw new RasError('malformed', `${stem}: unknown status ${status}`);
    throw new RasError('status', `${stem}: ${describeStatus(status)}${message ? ` (${message})` : ''}`, {
      status,
      httpStatus: response.statusCode,
      ...body,
    });
  }

  private async renew(): Promise<string> {
    const { refreshToken } = this.options.store.get();
    if (refreshToken) {
      try {
        const answer = await this.call('TokenRefresh', { body: { refreshToken } }, { auth: false });
        // Rotation: the new refresh token is stored before anything uses the new access token.
        await this.options.store.update({ refreshToken: answer.refreshToken });
        this.access = { token: answer.accessToken, expiresAt: unixNow() + answer.expiresIn };
        return answer.accessToken;
      } catch (err) {
        if (!(err instanceof RasError) || err.isOutage) throw err;
        this.options.log.warn(`The stored RAS session is no longer valid (${err.message}); signing in again`);
        await this.options.store.update({ refreshToken: undefined });
      }
    }
    const answer = await this.login();
    return answer.accessToken;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 0x1_0000_0000;
    return this.seq;
  }
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export { validate };
