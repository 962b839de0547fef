import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { makeRequest, Push, validate } from 'homebridge-igrs-smartlock/protocol';
import { startRas } from '../src/index.js';
import { expectStatus, newAccount, startTestRas, type Account, type TestRas } from './support/harness.js';
import { TestLock } from './support/lock.js';
import { PushClient, sleep } from './support/push-client.js';
import { register } from './bslds.test.js';

const json = { 'content-type': 'application/json' };

describe('7.7 envelope, Table 1 mapping, admin, gateways, events, push authentication, TLS', () => {
  let t: TestRas;
  let owner: Account;
  let lock: TestLock;
  before(async () => {
    t = await startTestRas();
    owner = await newAccount(t, 'env');
    lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
  });
  after(async () => {
    await t.stop();
  });

  it('refuses malformed envelopes with 400 naming the field, and echoes seq when it can', async () => {
    const login = (body: unknown): Promise<{ http: number; env: { status: number; seq: number; msgType: string; body: Record<string, unknown> } }> =>
      t.client.raw('POST', '/v1/auth/login', typeof body === 'string' ? body : JSON.stringify(body), json);
    let r = await login('{not json');
    assert.equal(r.http, 400);
    assert.equal(r.env.status, 400);
    assert.equal(r.env.msgType, 'UserAuthenticationResponse');
    r = await login({ ...makeRequest('BsldSession', 41, { identifier: owner.identifier, password: owner.password }) });
    assert.equal(r.env.status, 400);
    assert.equal(r.env.body.field, 'msgType');
    assert.equal(r.env.seq, 41);
    r = await login(makeRequest('UserAuthentication', 42, { identifier: owner.identifier }));
    assert.equal(r.env.body.field, 'body.password');
    assert.equal(r.env.seq, 42);
    r = await login({ ...makeRequest('UserAuthentication', 43, { identifier: owner.identifier, password: owner.password }), version: '2.0' });
    assert.equal(r.env.body.field, 'version');
    r = await login(makeRequest('UserAuthentication', 44, { identifier: 'not an identifier', password: 'x' }));
    assert.equal(r.env.body.field, 'body.identifier');
    // Unknown fields are ignored.
    r = await login({ ...makeRequest('UserAuthentication', 45, { identifier: owner.identifier, password: owner.password, extra: 1 }), extra: true });
    assert.equal(r.env.status, 200);
    assert.equal(r.env.seq, 45);
    // No Content-Type, or no body at all.
    r = await t.client.raw('POST', '/v1/auth/login', JSON.stringify(makeRequest('UserAuthentication', 46, {})), {});
    assert.equal(r.env.status, 400);
    r = await t.client.raw('POST', '/v1/auth/login', undefined, json);
    assert.equal(r.env.status, 400);
  });

  it('refuses bodies over 64 KiB with 400', async () => {
    const big = JSON.stringify(makeRequest('UserAuthentication', 7, { identifier: owner.identifier, password: 'x'.repeat(70_000) }));
    const r = await t.client.raw('POST', '/v1/auth/login', big, json);
    assert.equal(r.http, 400);
    assert.equal(r.env.status, 400);
    assert.equal(r.env.msgType, 'UserAuthenticationResponse');
  });

  it('validates path and query parameters (400) and answers unknown calls with a 404 envelope', async () => {
    const r = await t.client.raw('GET', '/v1/bslds/not-a-mac/events?seq=9', undefined, { authorization: `Bearer ${owner.accessToken}` });
    assert.equal(r.env.status, 400);
    assert.equal(r.env.body.field, 'params.deviceId');
    assert.equal(r.env.seq, 9);
    const q = await t.client.raw('GET', `/v1/operations/1?wait=99`, undefined, { authorization: `Bearer ${owner.accessToken}` });
    assert.equal(q.env.body.field, 'query.wait');
    const n = await t.client.raw('GET', '/v1/nothing-here', undefined, {});
    assert.equal(n.http, 404);
    assert.equal(n.env.status, 404);
  });

  it('Provision: admin token only (401 without or wrong), 400 on a bad entry, 409 on another K_d', async () => {
    const entry = TestLock.random().factoryEntry;
    const admin = 'admin-token-for-tests-0123456789';
    expectStatus(await t.client.call('Provision', { body: entry }), 401, 401);
    expectStatus(await t.client.call('Provision', { body: entry, token: 'wrong-admin-token-000000' }), 401, 401);
    expectStatus(await t.client.call('Provision', { body: entry, token: owner.accessToken }), 401, 401);
    assert.deepEqual(expectStatus(await t.client.call('Provision', { body: entry, token: admin }), 200), { deviceId: entry.deviceId });
    expectStatus(await t.client.call('Provision', { body: entry, token: admin }), 200);
    expectStatus(await t.client.call('Provision', { body: { ...entry, deviceKey: '00'.repeat(16) }, token: admin }), 409, 409);
    expectStatus(await t.client.call('Provision', { body: { ...entry, setupCode: '12' }, token: admin }), 400, 400);
  });

  it('Gateway: registration, reach of your own gateways only, push refused for another account’s gateway', async () => {
    const other = await newAccount(t, 'gwother');
    const gatewayId = expectStatus(await t.client.call('GatewayRegistration', { token: owner.accessToken, body: { name: 'Bridge' } }), 200).gatewayId as string;
    assert.match(gatewayId, /^[0-9a-f]{16}$/);
    expectStatus(await t.client.call('GatewayReach', { token: other.accessToken, params: { gatewayId }, body: { deviceIds: [lock.deviceId] } }), 404, 404);
    expectStatus(await t.client.call('GatewayReach', { token: owner.accessToken, params: { gatewayId }, body: { deviceIds: [lock.deviceId] } }), 200);
    expectStatus(await t.client.call('GatewayRegistration', { token: owner.accessToken, body: { name: '' } }), 400, 400);
    await assert.rejects(PushClient.connect(t.ras.url, other.accessToken, { gatewayId }), /HTTP 404/);
    await assert.rejects(PushClient.connect(t.ras.url, 'not-a-valid-token-at-all'), /HTTP 401/);
  });

  it('Event: gateways of accounts with rights report, the trail keeps provenance, state is pushed', async () => {
    const member = await newAccount(t, 'evmember');
    const stranger = await newAccount(t, 'evstranger');
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: member.identifier } }), 200);
    const push = await PushClient.connect(t.ras.url, owner.accessToken, { resume: 0 });
    const at = t.clock.seconds;
    const r = expectStatus(
      await t.client.call('EventReport', {
        token: member.accessToken,
        params: { deviceId: lock.deviceId },
        body: { events: [{ kind: 'state', at, lockState: 1, battery: 55, doorState: 0, cause: 1 }, { kind: 'operation', at, op: 'lock', result: 0, lockState: 1 }] },
      }),
      200,
    );
    assert.equal(r.stored, 2);
    expectStatus(await t.client.call('EventReport', { token: stranger.accessToken, params: { deviceId: lock.deviceId }, body: { events: [{ kind: 'state', at, lockState: 0 }] } }), 404, 404);
    const events = expectStatus(await t.client.call('EventQuery', { token: owner.accessToken, params: { deviceId: lock.deviceId }, query: { limit: 10 } }), 200).events as Record<string, unknown>[];
    assert.equal(events.length, 2);
    assert.ok(events.every((e) => e.verification === 'gateway-reported' && e.reportedBy === member.accountId));
    expectStatus(await t.client.call('EventQuery', { token: stranger.accessToken, params: { deviceId: lock.deviceId } }), 404, 404);
    const state = await push.next((m) => m.event === 'bsld.state');
    assert.equal(state.body.battery, 55);
    assert.ok(validate(Push, state).ok);
    await push.close();
  });

  it('a reused refresh token revokes the family and closes its push connections (account.revoked)', async () => {
    const a = await newAccount(t, 'revoked');
    const push = await PushClient.connect(t.ras.url, a.accessToken, { resume: 0 });
    expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: a.refreshToken } }), 200);
    expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: a.refreshToken } }), 420, 401);
    const revoked = await push.next((m) => m.event === 'account.revoked');
    assert.equal(revoked.body.reason, 'token-reuse');
    for (let i = 0; i < 20 && !push.closed; i++) await sleep(50);
    assert.equal(push.closeCode, 4401);
  });

  it('serves HTTPS when given a certificate and key', async function () {
    this.timeout(20_000);
    const cert = path.join(t.dir, 'cert.pem');
    const key = path.join(t.dir, 'key.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    } catch {
      this.skip();
    }
    const tlsRas = await startRas({ dbPath: path.join(t.dir, 'tls.sqlite'), port: 0, logger: false, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      assert.match(tlsRas.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const status = await new Promise<number>((resolve, reject) => {
        https
          .get(`${tlsRas.url}/v1/bslds?seq=1`, { ca: readFileSync(cert) }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
      assert.equal(status, 401);
    } finally {
      await tlsRas.close();
    }
  });

  it('a push client that sends no PushResume gets every unacknowledged message after a short grace', async () => {
    const a = await newAccount(t, 'grace');
    const lock2 = TestLock.random();
    await t.ras.provision([lock2.factoryEntry]);
    await register(t, a, lock2);
    const push = await PushClient.connect(t.ras.url, a.accessToken);
    const registered = await push.next((m) => m.event === 'bsld.registered', 3000);
    assert.equal(registered.deviceId, lock2.deviceId);
    await push.close();
  });

  it('warns loudly when plain HTTP listens on a non-loopback address', async () => {
    const warnings: string[] = [];
    const logger = { info() {}, debug() {}, error() {}, warn: (_o: object, m?: string) => warnings.push(m ?? ''), child: () => logger, level: 'info', fatal() {}, trace() {}, silent() {} };
    const open = await startRas({ dbPath: ':memory:', host: '0.0.0.0', port: 0, logger });
    try {
      assert.ok(warnings.some((w) => /PLAIN HTTP ON A NON-LOOPBACK ADDRESS/.test(w)));
    } finally {
      await open.close();
    }
  });
});
