import { strict as assert } from 'node:assert';
import { DEFAULT_RATE_LIMITS } from '../src/index.js';
import { expectStatus, newAccount, startTestRas, type TestRas } from './support/harness.js';
import { TestLock } from './support/lock.js';
import { register } from './bslds.test.js';

describe('Rate limits per account and per device: sessions, BSLD authentication', () => {
  let t: TestRas;
  before(async () => {
    t = await startTestRas({ rateLimits: { ...DEFAULT_RATE_LIMITS, session: { limit: 3, windowSeconds: 60 }, bsldAuthentication: { limit: 2, windowSeconds: 60 } } });
  });
  after(async () => {
    await t.stop();
  });

  it('limits sessions per device across accounts, and lets them through again after the window', async () => {
    const owner = await newAccount(t, 'rlowner');
    const member = await newAccount(t, 'rlmember');
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: member.identifier } }), 200);
    const session = async (token: string): Promise<number> =>
      (await t.client.call('BsldSession', { token, params: { deviceId: lock.deviceId }, body: { challenge: lock.connect() } })).env.status;
    assert.equal(await session(owner.accessToken), 200);
    assert.equal(await session(member.accessToken), 200);
    assert.equal(await session(owner.accessToken), 200);
    const r = await t.client.call('BsldSession', { token: member.accessToken, params: { deviceId: lock.deviceId }, body: { challenge: lock.connect() } });
    expectStatus(r, 429, 429);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    t.clock.advance(61);
    assert.equal(await session(member.accessToken), 200);
  });

  it('limits BSLD authentication per account', async () => {
    const a = await newAccount(t, 'rlauth');
    const lock = TestLock.random();
    const auth = async (): Promise<number> => (await t.client.call('BsldAuthentication', { token: a.accessToken, params: { deviceId: lock.deviceId }, body: {} })).env.status;
    assert.equal(await auth(), 200);
    assert.equal(await auth(), 200);
    assert.equal(await auth(), 429);
  });
});
