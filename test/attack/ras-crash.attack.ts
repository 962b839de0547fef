/**
 * The RAS as an operator runs it (a child process on a SQLite file), killed with SIGKILL again
 * and again while it pushes and answers: no acknowledged push lost, none handled twice, the
 * database intact. The same child's logs, its HTTP answers and its database file are then
 * searched for every K_d and token; and every endpoint gets malformed envelopes.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Messages, makeRequest, pathFor, type MessageStem } from 'homebridge-igrs-smartlock/protocol';
import { TestLock } from '../../ras/test/support/lock.js';
import { PushClient, type PushMsg } from '../../ras/test/support/push-client.js';
import { KillableRas } from './support/killable-ras.js';
import { count, tally } from './support/report.js';

const ADMIN = 'admin-token-attack-suite-0123456789';

interface Seen {
  responses: string[];
}

/** fetch that keeps every response body for the secret search. */
async function call(seen: Seen, base: string, method: string, p: string, body?: unknown, token?: string, rawBody?: string): Promise<{ http: number; env: { status: number; message: string; body: Record<string, unknown> } }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined = rawBody;
  if (body !== undefined) payload = JSON.stringify({ version: '1.0', msgType: 'x', seq: 1, timestamp: Math.floor(Date.now() / 1000), body });
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(p, base), { method, headers, body: payload });
  const text = await res.text();
  seen.responses.push(text);
  let env: { status: number; message: string; body: Record<string, unknown> };
  try {
    env = JSON.parse(text) as typeof env;
  } catch {
    env = { status: -1, message: `not JSON: ${text.slice(0, 80)}`, body: {} };
  }
  return { http: res.status, env };
}

/** A well-formed call of one row of the route table. */
function api(seen: Seen, base: string, stem: MessageStem, params: Record<string, string>, body: Record<string, unknown>, token?: string): ReturnType<typeof call> {
  const spec = Messages[stem];
  return call(seen, base, spec.method, pathFor(stem, params as never), undefined, token, JSON.stringify(makeRequest(stem, 1, body as never)));
}

describe('faults: the RAS killed; secrets; malformed envelopes', function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(tmpdir(), 'igrs-attack-ras-'));
  const ras = new KillableRas(dir, { adminToken: ADMIN });
  const db = ras.db;
  const seen: Seen = { responses: [] };
  const logs = ras.logs;
  const lock = TestLock.random();
  const password = 'correct horse battery staple';
  const tokens: string[] = [];
  let ownerToken = '';
  const start = () => ras.start();
  const kill = () => ras.kill();

  before(async () => {
    writeFileSync(path.join(dir, 'factory.json'), JSON.stringify([lock.factoryEntry]));
    assert.equal(ras.cli(['provision', '--db', db, '--file', path.join(dir, 'factory.json')]).status, 0);
    assert.equal(ras.cli(['users', 'add', '--db', db, '--identifier', 'owner@example.com', '--password', password]).status, 0);
    assert.equal(ras.cli(['users', 'add', '--db', db, '--identifier', 'member@example.com', '--password', password]).status, 0);
    const c = await start();
    const login = await api(seen, c.url, 'UserAuthentication', {}, { identifier: 'owner@example.com', password });
    ownerToken = login.env.body.accessToken as string;
    tokens.push(ownerToken, login.env.body.refreshToken as string);
    const challenge = lock.connect();
    const reg = await api(seen, c.url, 'BsldRegistration', {}, { deviceId: lock.deviceId, challenge, name: 'Door', setupCode: lock.setupCode }, ownerToken);
    assert.equal(reg.env.status, 200, reg.env.message);
    const response = lock.writeAccountId(reg.env.body.registrationFrame as string);
    assert.equal((await api(seen, c.url, 'BsldConfirm', { deviceId: lock.deviceId }, { challenge, response }, ownerToken)).env.status, 200);
  });
  after(async () => {
    await ras.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL during pushes and calls: no acknowledged push lost, none handled twice, integrity_check ok', async () => {
    const rounds = count(10, 100);
    const fig = tally('RAS SIGKILLed during pushes and member changes', `${rounds} kills`);
    const lost = tally('  pushes lost / handled twice across the kills');
    let lastSeq = 0;
    const handledSeqs = new Set<number>();
    const handledMarkers = new Map<number, number>();
    const committed = new Set<number>();
    let marker = 2_000_000_000;
    let worstRecovery = 0;
    const handle = (client: PushClient, m: PushMsg): void => {
      if (m.seq <= lastSeq || handledSeqs.has(m.seq)) return; // a client skips what it handled
      handledSeqs.add(m.seq);
      lastSeq = m.seq;
      if (m.event === 'member.changed' && typeof m.body.validUntil === 'number') {
        handledMarkers.set(m.body.validUntil, (handledMarkers.get(m.body.validUntil) ?? 0) + 1);
      }
      client.ack(m.seq);
    };
    for (let round = 0; round < rounds; round++) {
      const restartAt = performance.now();
      const c = await start();
      const client = await PushClient.connect(c.url, ownerToken, { resume: lastSeq });
      worstRecovery = Math.max(worstRecovery, performance.now() - restartAt);
      let read = 0;
      const pump = setInterval(() => {
        for (; read < client.messages.length; read++) handle(client, client.messages[read]!);
      }, 5);
      // Member changes fire as fast as the RAS answers; the kill lands somewhere among them.
      const killAfter = 20 + Math.random() * 300;
      const killer = new Promise<void>((resolve) => setTimeout(resolve, killAfter));
      const state = { killed: false };
      const writer = (async () => {
        while (!state.killed) {
          const m = marker++;
          try {
            const r = await api(seen, c.url, 'MemberAddition', { deviceId: lock.deviceId }, { identifier: 'member@example.com', validUntil: m }, ownerToken);
            if (r.env.status === 200) committed.add(m);
          } catch {
            break; // the RAS died mid-call: that change may or may not have been committed
          }
        }
      })();
      await killer;
      state.killed = true;
      fig.attempts++;
      await kill();
      await writer;
      clearInterval(pump);
      for (; read < client.messages.length; read++) handle(client, client.messages[read]!);
      client.ws.terminate();
    }
    // A last start delivers whatever is still in the outbox.
    const c = await start();
    const client = await PushClient.connect(c.url, ownerToken, { resume: lastSeq });
    const deadline = Date.now() + 5_000;
    let read = 0;
    while (Date.now() < deadline && [...committed].some((m) => !handledMarkers.has(m))) {
      await new Promise((r) => setTimeout(r, 50));
      for (; read < client.messages.length; read++) handle(client, client.messages[read]!);
    }
    await client.close();
    const missing = [...committed].filter((m) => !handledMarkers.has(m));
    const twice = [...handledMarkers.values()].filter((n) => n > 1).length;
    lost.attempts = committed.size;
    lost.accepted = missing.length + twice;
    fig.recoveredMs = worstRecovery;
    fig.note = `${rounds} kills; recovered-in-ms: worst restart-to-push-reconnected`;
    assert.deepEqual(missing, [], 'every committed change reached the client');
    assert.equal(twice, 0, 'no change handled twice');
    assert.ok(committed.size > rounds, 'the kills landed among real traffic');
    // Integrity after the kills: the RAS stops so the check sees the file alone.
    await kill();
    const integrity = ras.integrity();
    const integ = tally('SQLite PRAGMA integrity_check after the kills');
    integ.attempts = 1;
    integ.accepted = integrity === 'ok' ? 0 : 1;
    assert.equal(integrity, 'ok');
  });

  it('malformed envelopes into every RAS endpoint: no 500, always a typed envelope', async () => {
    const n = count(1_000, 10_000);
    const fig = tally('fuzz: malformed envelopes into every RAS endpoint', `${n}; accepted = 500 or untyped answer`);
    const c = await start();
    const stems = Object.keys(Messages) as MessageStem[];
    const junk = (): unknown => {
      const pick = Math.floor(Math.random() * 12);
      const s = randomBytes(Math.floor(Math.random() * 40)).toString('hex');
      return [null, 0, -1, 2 ** 53, 1e308, '', s, [], [s], {}, { [s]: s }, true][pick];
    };
    const bodies = (stem: MessageStem): string => {
      const k = Math.floor(Math.random() * 8);
      const seq = Math.random() < 0.5 ? 1 : junk();
      const fields = ['deviceId', 'challenge', 'setupCode', 'refreshToken', 'identifier', 'password', 'op', 'frames', 'response', 'force', 'validUntil', 'deviceIds', 'name', 'event'];
      const body: Record<string, unknown> = {};
      for (const f of fields) if (Math.random() < 0.4) body[f] = junk();
      if (Math.random() < 0.3) body.challenge = lock.connect();
      switch (k) {
        case 0:
          return randomBytes(Math.floor(Math.random() * 64)).toString('latin1');
        case 1:
          return JSON.stringify({ version: '1.0', msgType: `${stem}Request`, seq, timestamp: junk(), body }).slice(0, Math.floor(Math.random() * 100));
        case 2:
          return JSON.stringify(junk());
        case 3:
          return JSON.stringify({ version: junk(), msgType: junk(), seq, timestamp: 1, body });
        case 4:
          return JSON.stringify({ version: '1.0', msgType: `${stem}Request`, seq: 1, timestamp: 1, body: junk() });
        case 5:
          return '{"version":"1.0","msgType":"' + stem + 'Request","seq":1,"timestamp":1,"body":' + '['.repeat(2000) + ']'.repeat(2000) + '}';
        default:
          return JSON.stringify({ version: '1.0', msgType: `${stem}Request`, seq: 1, timestamp: Math.floor(Date.now() / 1000), body });
      }
    };
    const failures: string[] = [];
    for (let i = 0; i < n; i++) {
      const stem = stems[i % stems.length]!;
      const spec = Messages[stem];
      const params: Record<string, string> = { deviceId: Math.random() < 0.5 ? lock.deviceId : String(junk()), operationId: String(Math.random() < 0.5 ? 1 : junk()), accountId: String(junk()), gatewayId: String(junk()) };
      let p: string;
      try {
        p = pathFor(stem, params as never);
      } catch {
        p = spec.path.replace(/:(\w+)/g, (_m, k: string) => encodeURIComponent(params[k] ?? 'x'));
      }
      const token = Math.random() < 0.7 ? ownerToken : Math.random() < 0.5 ? randomBytes(20).toString('hex') : undefined;
      const hasBody = spec.method === 'POST' || spec.method === 'PUT';
      const r = await call(seen, c.url, spec.method, hasBody ? p : `${p}?seq=${String(junk())}`, undefined, token, hasBody ? bodies(stem) : undefined);
      fig.attempts++;
      if (r.http >= 500 || r.env.status === -1 || typeof r.env.status !== 'number' || r.env.status >= 500) {
        fig.accepted++;
        if (failures.length < 5) failures.push(`${stem} ${r.http} ${r.env.status} ${r.env.message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('K_d, passwords and tokens appear in no HTTP answer, log line or database byte', async () => {
    const fig = tally('secrets in RAS output (K_d, tokens, password): HTTP, logs, database');
    const c = await start();
    // More token material: a refresh, a logout, a member login.
    const login = await api(seen, c.url, 'UserAuthentication', {}, { identifier: 'member@example.com', password });
    const refreshed = await api(seen, c.url, 'TokenRefresh', {}, { refreshToken: login.env.body.refreshToken });
    await api(seen, c.url, 'Logout', {}, { refreshToken: refreshed.env.body.refreshToken });
    tokens.push(login.env.body.accessToken as string, login.env.body.refreshToken as string, refreshed.env.body.accessToken as string, refreshed.env.body.refreshToken as string);
    await api(seen, c.url, 'BsldSession', { deviceId: lock.deviceId }, { challenge: lock.connect() }, ownerToken);
    await kill();
    const kd = lock.deviceKey;
    const needles: { what: string; bytes: Buffer }[] = [
      { what: 'K_d raw', bytes: kd },
      { what: 'K_d hex', bytes: Buffer.from(kd.toString('hex')) },
      { what: 'K_d HEX', bytes: Buffer.from(kd.toString('hex').toUpperCase()) },
      { what: 'K_d base64', bytes: Buffer.from(kd.toString('base64')) },
      { what: 'password', bytes: Buffer.from(password) },
      { what: 'admin token', bytes: Buffer.from(ADMIN) },
      ...tokens.filter(Boolean).map((t, i) => ({ what: `token ${i}`, bytes: Buffer.from(t) })),
    ];
    // Responses legitimately carry the tokens of their own login; search them for K_d only.
    const haystacks: { where: string; bytes: Buffer; needles: typeof needles }[] = [
      { where: 'RAS log', bytes: Buffer.from(logs.join('\n')), needles },
      { where: 'HTTP responses', bytes: Buffer.from(seen.responses.join('\n')), needles: needles.filter((n) => n.what.startsWith('K_d') || n.what === 'password' || n.what === 'admin token') },
      ...readdirSync(dir)
        .filter((f) => f.startsWith('ras.sqlite'))
        .map((f) => ({ where: f, bytes: readFileSync(path.join(dir, f)), needles })),
    ];
    const found: string[] = [];
    for (const h of haystacks) {
      for (const n of h.needles) {
        fig.attempts++;
        if (h.bytes.includes(n.bytes)) {
          fig.accepted++;
          found.push(`${n.what} in ${h.where}`);
        }
      }
    }
    fig.note = `${logs.length} log lines, ${seen.responses.length} responses, database files searched`;
    assert.deepEqual(found, []);
  });
});
