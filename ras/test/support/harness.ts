/** Test support: a real RAS on loopback over a temp SQLite file, a typed client, a fake clock. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  Messages,
  Wire,
  makeRequest,
  pathFor,
  validate,
  type MessageStem,
} from 'homebridge-igrs-smartlock/protocol';
import type { Static, TSchema } from 'typebox';
import { CallbackSender, startRas, type RasHandle, type RasOptions, type VerificationMessage } from '../../src/index.js';

// The RAS must never leave a rejection unhandled; any that appears fails the run.
process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection:', err);
  process.exitCode = 1;
});

export class FakeClock {
  constructor(public ms = Date.UTC(2026, 10, 24, 12, 0, 0)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
  get seconds(): number {
    return Math.floor(this.ms / 1000);
  }
}

export interface TestRas {
  ras: RasHandle;
  dir: string;
  dbPath: string;
  masterKey: string;
  clock: FakeClock;
  codes: VerificationMessage[];
  client: Client;
  stop(): Promise<void>;
}

export async function startTestRas(options: Partial<RasOptions> & { dir?: string; masterKey?: string } = {}): Promise<TestRas> {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'ras-test-'));
  const dbPath = path.join(dir, 'ras.sqlite');
  const clock = new FakeClock();
  const codes: VerificationMessage[] = [];
  const masterKey = options.masterKey ?? randomBytes(32).toString('hex');
  const ras = await startRas({
    dbPath,
    port: 0,
    logger: false,
    clock: clock.now,
    sender: new CallbackSender((m) => {
      codes.push(m);
    }),
    adminToken: 'admin-token-for-tests-0123456789',
    sweepIntervalMs: 50,
    ...options,
    masterKey,
  });
  return {
    ras,
    dir,
    dbPath,
    masterKey,
    clock,
    codes,
    client: new Client(ras.url, clock),
    stop: async () => {
      await ras.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Spec<K extends MessageStem> = (typeof Messages)[K];

export interface CallResult {
  http: number;
  headers: Headers;
  /** The parsed envelope. */
  env: { version: string; msgType: string; seq: number; timestamp: number; status: number; message: string; body: Record<string, unknown> };
}

let seqCounter = 1;

export class Client {
  constructor(
    readonly url: string,
    private readonly clock?: FakeClock,
  ) {}

  /** Calls a row of the route table with a well-formed envelope, and checks the answer against the shared schemas. */
  async call<K extends MessageStem>(
    stem: K,
    options: { params?: Static<Spec<K>['params']>; query?: Record<string, string | number>; body?: Static<Spec<K>['request']>; token?: string } = {},
  ): Promise<CallResult> {
    const spec = Messages[stem];
    const seq = seqCounter++;
    const url = new URL(pathFor(stem, (options.params ?? {}) as never), this.url);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, String(v));
    const hasBody = spec.method === 'POST' || spec.method === 'PUT';
    if (!hasBody) url.searchParams.set('seq', String(seq));
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (hasBody) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(makeRequest(stem, seq, options.body ?? {}, this.clock?.seconds));
    }
    const res = await fetch(url, { method: spec.method, headers, body });
    const env = (await res.json()) as CallResult['env'];
    if (env.seq !== seq) throw new Error(`${stem}: seq ${env.seq} echoed for ${seq}`);
    const wire = Wire[stem];
    const checked = validate((env.status === 200 ? wire.response : wire.error) as TSchema, env);
    if (!checked.ok) throw new Error(`${stem}: response does not match the shared schema: ${checked.error.message} in ${JSON.stringify(env)}`);
    return { http: res.status, headers: res.headers, env };
  }

  /** A raw request, for malformed envelopes. */
  async raw(method: string, urlPath: string, body: string | undefined, headers: Record<string, string> = {}): Promise<{ http: number; env: CallResult['env'] }> {
    const res = await fetch(new URL(urlPath, this.url), { method, headers, body });
    return { http: res.status, env: (await res.json()) as CallResult['env'] };
  }
}

/** Expects a status; returns the body. */
export function expectStatus(r: CallResult, status: number, http?: number): Record<string, unknown> {
  if (r.env.status !== status || (http !== undefined && r.http !== http)) {
    throw new Error(`expected status ${status}${http ? `/HTTP ${http}` : ''}, got ${r.env.status}/HTTP ${r.http}: ${r.env.message} ${JSON.stringify(r.env.body)}`);
  }
  return r.env.body;
}

export interface Account {
  identifier: string;
  password: string;
  accountId: string;
  accessToken: string;
  refreshToken: string;
}

let userCounter = 0;

/** A verified user (operator path) logged in over HTTP. */
export async function newAccount(t: TestRas, name = 'user'): Promise<Account> {
  const identifier = `${name}${++userCounter}@example.com`;
  const password = 'correct horse battery';
  await t.ras.addUser(identifier, password);
  const body = expectStatus(await t.client.call('UserAuthentication', { body: { identifier, password } }), 200) as {
    accountId: string;
    accessToken: string;
    refreshToken: string;
  };
  return { identifier, password, ...body };
}
