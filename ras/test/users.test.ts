import { strict as assert } from 'node:assert';
import { DEFAULT_RATE_LIMITS } from '../src/index.js';
import { expectStatus, newAccount, startTestRas, type TestRas } from './support/harness.js';

describe('7.1 and 7.2: users, login, tokens', () => {
  let t: TestRas;
  before(async () => {
    t = await startTestRas({ rateLimits: { ...DEFAULT_RATE_LIMITS, login: { limit: 4, windowSeconds: 60 }, verification: { limit: 3, windowSeconds: 600 } } });
  });
  after(async () => {
    await t.stop();
  });

  it('registers a user through a verification code sent by the TPSP', async () => {
    const identifier = 'alice@example.com';
    const v = expectStatus(await t.client.call('VerificationCode', { body: { identifier } }), 200);
    assert.equal(v.expiresIn, 600);
    const code = t.codes.at(-1)!;
    assert.equal(code.identifier, identifier);
    assert.match(code.code, /^[0-9]{6}$/);
    const r = expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: 'a long passphrase', verificationCode: code.code, displayName: 'Alice' } }), 200);
    assert.match(r.accountId as string, /^[0-9a-f]{18}$/);
    // 421: the same identifier again.
    expectStatus(await t.client.call('VerificationCode', { body: { identifier } }), 200);
    expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: 'a long passphrase', verificationCode: t.codes.at(-1)!.code } }), 421, 409);
  });

  it('refuses a wrong, missing or expired verification code with 423, and a weak password with 422', async () => {
    const identifier = '+4915112345678';
    expectStatus(await t.client.call('VerificationCode', { body: { identifier } }), 200);
    const good = t.codes.at(-1)!.code;
    const wrong = good === '000000' ? '000001' : '000000';
    expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: 'a long passphrase', verificationCode: wrong } }), 423, 400);
    expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: 'a long passphrase' } }), 423, 400);
    expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: '', verificationCode: good } }), 422, 400);
    expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: 'short', verificationCode: good } }), 422, 400);
    t.clock.advance(601);
    expectStatus(await t.client.call('UserRegistration', { body: { identifier, password: 'a long passphrase', verificationCode: good } }), 423, 400);
  });

  it('rate-limits verification codes per identifier (429 + Retry-After)', async () => {
    const identifier = 'spam@example.com';
    for (let i = 0; i < 3; i++) expectStatus(await t.client.call('VerificationCode', { body: { identifier } }), 200);
    const r = await t.client.call('VerificationCode', { body: { identifier } });
    expectStatus(r, 429, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.ok((r.env.body.retryAfter as number) > 0);
  });

  it('logs in, refuses wrong credentials with 401 and rate-limits logins', async () => {
    const a = await newAccount(t, 'login');
    assert.match(a.accessToken, /^[A-Za-z0-9_-]{43}$/);
    expectStatus(await t.client.call('UserAuthentication', { body: { identifier: a.identifier, password: 'wrong password' } }), 401, 401);
    expectStatus(await t.client.call('UserAuthentication', { body: { identifier: 'nobody@example.com', password: 'wrong password' } }), 401, 401);
    expectStatus(await t.client.call('UserAuthentication', { body: { identifier: a.identifier, password: a.password } }), 200);
    expectStatus(await t.client.call('UserAuthentication', { body: { identifier: a.identifier, password: a.password } }), 200);
    // The fifth attempt for this identifier within a minute.
    expectStatus(await t.client.call('UserAuthentication', { body: { identifier: a.identifier, password: a.password } }), 429, 429);
  });

  it('rotates refresh tokens; reuse of a spent one revokes the whole family (420)', async () => {
    const a = await newAccount(t, 'rotate');
    const r1 = expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: a.refreshToken } }), 200) as { accessToken: string; refreshToken: string };
    assert.notEqual(r1.refreshToken, a.refreshToken);
    expectStatus(await t.client.call('BsldDiscovery', { token: r1.accessToken }), 200);
    // The old refresh token again: theft assumed, family revoked.
    expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: a.refreshToken } }), 420, 401);
    expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: r1.refreshToken } }), 420, 401);
    expectStatus(await t.client.call('BsldDiscovery', { token: r1.accessToken }), 420, 401);
  });

  it('expires access tokens (420) and needs a bearer token at all (401)', async () => {
    const a = await newAccount(t, 'expiry');
    expectStatus(await t.client.call('BsldDiscovery', { token: a.accessToken }), 200);
    expectStatus(await t.client.call('BsldDiscovery', {}), 401, 401);
    expectStatus(await t.client.call('BsldDiscovery', { token: 'not-a-real-token-at-all' }), 420, 401);
    t.clock.advance(15 * 60 + 1);
    expectStatus(await t.client.call('BsldDiscovery', { token: a.accessToken }), 420, 401);
    const r = expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: a.refreshToken } }), 200) as { accessToken: string };
    expectStatus(await t.client.call('BsldDiscovery', { token: r.accessToken }), 200);
  });

  it('logs out: the refresh token and its access tokens die', async () => {
    const a = await newAccount(t, 'logout');
    expectStatus(await t.client.call('Logout', { body: { refreshToken: a.refreshToken } }), 200);
    expectStatus(await t.client.call('BsldDiscovery', { token: a.accessToken }), 420, 401);
    expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: a.refreshToken } }), 420, 401);
    expectStatus(await t.client.call('Logout', { body: { refreshToken: a.refreshToken } }), 420, 401);
  });
});
