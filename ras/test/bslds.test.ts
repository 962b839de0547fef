import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { bytesToHex, deriveAdvertKey, deriveSessionKey } from 'homebridge-igrs-smartlock/protocol';
import { DEFAULT_RATE_LIMITS } from '../src/index.js';
import { expectStatus, newAccount, startTestRas, type Account, type TestRas } from './support/harness.js';
import { TestLock } from './support/lock.js';

const hex16 = (): string => randomBytes(16).toString('hex');

/** Registration (Fig. 11) then confirmation with the lock's Table 4. */
export async function register(t: TestRas, owner: Account, lock: TestLock, name = 'Front door'): Promise<void> {
  const challenge = lock.connect();
  const reg = expectStatus(
    await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name, setupCode: lock.setupCode } }),
    200,
  );
  const response = lock.writeAccountId(reg.registrationFrame as string);
  expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 200);
}

describe('7.3–7.5: BSLD discovery, authentication, registration, removal; sessions', () => {
  let t: TestRas;
  let owner: Account;
  let other: Account;
  before(async () => {
    t = await startTestRas({ rateLimits: { ...DEFAULT_RATE_LIMITS, registration: { limit: 6, windowSeconds: 600 } } });
    owner = await newAccount(t, 'owner');
    other = await newAccount(t, 'other');
  });
  after(async () => {
    await t.stop();
  });

  it('BsldAuthentication tells legitimate, registered and registeredToYou', async () => {
    const lock = TestLock.random();
    const unknown = expectStatus(await t.client.call('BsldAuthentication', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 200);
    assert.deepEqual(unknown, { legitimate: false, registered: false, registeredToYou: false });
    await t.ras.provision([lock.factoryEntry]);
    const fresh = expectStatus(await t.client.call('BsldAuthentication', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 200);
    assert.deepEqual(fresh, { legitimate: true, registered: false, registeredToYou: false });
    await register(t, owner, lock);
    const mine = expectStatus(await t.client.call('BsldAuthentication', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 200);
    assert.deepEqual(mine, { legitimate: true, registered: true, registeredToYou: true });
    const theirs = expectStatus(await t.client.call('BsldAuthentication', { token: other.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 200);
    assert.deepEqual(theirs, { legitimate: true, registered: true, registeredToYou: false });
  });

  it('registers a lock: Table 3 bind for the setup code, activated only by a genuine Table 4', async () => {
    const lock = TestLock.random('87654321');
    await t.ras.provision([lock.factoryEntry]);
    const challenge = lock.connect();
    const reg = expectStatus(
      await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'Back door', setupCode: '87654321' } }),
      200,
    );
    // A forged answer: 428, and the registration stays pending.
    expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response: hex16() } }), 428, 400);
    // Someone else cannot confirm it.
    const response = lock.writeAccountId(reg.registrationFrame as string);
    expectStatus(await t.client.call('BsldConfirm', { token: other.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 404, 404);
    const ok = expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 200);
    assert.equal(ok.result, 0);
    const bsld = ok.bsld as Record<string, unknown>;
    assert.equal(bsld.role, 'owner');
    assert.equal(bsld.ownerAccountId, owner.accountId);
    assert.equal(bsld.advertKey, bytesToHex(deriveAdvertKey(lock.deviceKey, owner.accountId)));
    assert.equal((bsld.lastState as Record<string, unknown>).battery, 87);
    assert.equal(lock.boundAccount, owner.accountId);
    const list = expectStatus(await t.client.call('BsldDiscovery', { token: owner.accessToken }), 200);
    assert.ok((list.bslds as { deviceId: string }[]).some((b) => b.deviceId === lock.deviceId));
  });

  it('refuses registration: 425 unknown, 423 wrong or missing setup code, 424 another owner, 430 reused challenge', async () => {
    const stranger = TestLock.random();
    expectStatus(
      await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: stranger.deviceId, challenge: hex16(), name: 'x', setupCode: '12345678' } }),
      425,
      404,
    );
    const lock = TestLock.random('11112222');
    await t.ras.provision([lock.factoryEntry]);
    const challenge = lock.connect();
    expectStatus(await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'x', setupCode: '99998888' } }), 423, 400);
    expectStatus(await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'x' } }), 423, 400);
    // The refused calls consumed nothing: the same challenge still serves.
    const first = expectStatus(await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'x', setupCode: '11112222' } }), 200);
    // The same caller retrying the same call gets the same answer.
    const again = expectStatus(await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'x', setupCode: '11112222' } }), 200);
    assert.equal(again.registrationFrame, first.registrationFrame);
    // Another call with the same challenge: 430.
    expectStatus(await t.client.call('BsldSession', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 404, 404);
    expectStatus(await t.client.call('BsldRegistration', { token: other.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'x', setupCode: '11112222' } }), 430, 409);
    const response = lock.writeAccountId(first.registrationFrame as string);
    expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 200);
    expectStatus(
      await t.client.call('BsldRegistration', { token: other.accessToken, body: { deviceId: lock.deviceId, challenge: lock.connect(), name: 'x', setupCode: '11112222' } }),
      424,
      409,
    );
  });

  it('gives 431 with the result when the lock refuses the bind, and leaves the registration pending', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    lock.pairingMode = false;
    lock.boundAccount = other.accountId;
    const challenge = lock.connect();
    const reg = expectStatus(
      await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'x', setupCode: lock.setupCode } }),
      200,
    );
    const response = lock.writeAccountId(reg.registrationFrame as string);
    const r = await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } });
    expectStatus(r, 431, 409);
    assert.equal(r.env.body.result, 0x09);
    // Still pending: the same genuine refusal again gets 431 again, not 404.
    expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 431, 409);
  });

  it('issues K_s at the authorisation point: owner yes, stranger 404, challenge once (430)', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    const challenge = lock.connect();
    const s = expectStatus(await t.client.call('BsldSession', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 200);
    assert.deepEqual(s, {
      sessionKey: bytesToHex(deriveSessionKey(lock.deviceKey, owner.accountId, Buffer.from(challenge, 'hex'))),
      ownerAccountId: owner.accountId,
      role: 'owner',
      expiresIn: 60,
    });
    const again = expectStatus(await t.client.call('BsldSession', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 200);
    assert.equal(again.sessionKey, s.sessionKey);
    expectStatus(await t.client.call('BsldSession', { token: other.accessToken, params: { deviceId: lock.deviceId }, body: { challenge: lock.connect() } }), 404, 404);
    const member = await newAccount(t, 'member');
    expectStatus(
      await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: member.identifier } }),
      200,
    );
    expectStatus(await t.client.call('BsldSession', { token: member.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 430, 409);
    const m = expectStatus(await t.client.call('BsldSession', { token: member.accessToken, params: { deviceId: lock.deviceId }, body: { challenge: lock.connect() } }), 200);
    assert.equal(m.role, 'member');
    assert.equal(m.ownerAccountId, owner.accountId);
    // The member's discovery entry never carries K_v.
    const list = expectStatus(await t.client.call('BsldDiscovery', { token: member.accessToken }), 200);
    const entry = (list.bslds as Record<string, unknown>[]).find((b) => b.deviceId === lock.deviceId)!;
    assert.equal(entry.role, 'member');
    assert.equal(entry.advertKey, undefined);
  });

  it('refuses a member outside its window (403) and one whose window ends within 60 s', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    const member = await newAccount(t, 'window');
    const now = t.clock.seconds;
    expectStatus(
      await t.client.call('MemberAddition', {
        token: owner.accessToken,
        params: { deviceId: lock.deviceId },
        body: { identifier: member.identifier, validFrom: now + 100, validUntil: now + 400 },
      }),
      200,
    );
    const session = async (): Promise<number> =>
      (await t.client.call('BsldSession', { token: member.accessToken, params: { deviceId: lock.deviceId }, body: { challenge: lock.connect() } })).env.status;
    assert.equal(await session(), 403);
    t.clock.advance(100);
    assert.equal(await session(), 200);
    t.clock.advance(241);
    // 59 s left: a session would outlive the right.
    assert.equal(await session(), 403);
    t.clock.advance(100);
    assert.equal(await session(), 403);
  });

  it('removes a lock with the lock (Table 3 unbind and Table 4) or by force; owner only', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    const member = await newAccount(t, 'rm');
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: member.identifier } }), 200);
    expectStatus(await t.client.call('BsldRemoval', { token: member.accessToken, params: { deviceId: lock.deviceId }, body: { force: true } }), 403, 403);
    expectStatus(await t.client.call('BsldRemoval', { token: other.accessToken, params: { deviceId: lock.deviceId }, body: { force: true } }), 404, 404);
    expectStatus(await t.client.call('BsldRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 400, 400);
    const challenge = lock.connect();
    const rm = expectStatus(await t.client.call('BsldRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 200);
    const response = lock.writeAccountId(rm.removalFrame as string);
    assert.equal(lock.boundAccount, undefined);
    const done = expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 200);
    assert.deepEqual(done, { result: 0 });
    const list = expectStatus(await t.client.call('BsldDiscovery', { token: member.accessToken }), 200);
    assert.equal((list.bslds as unknown[]).length, 0);
    // Forced removal: no lock involved.
    lock.pairingMode = true;
    await register(t, owner, lock);
    expectStatus(await t.client.call('BsldRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { force: true } }), 200);
    expectStatus(await t.client.call('BsldAuthentication', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 200);
  });

  it('rate-limits registration attempts per account (setup-code guessing)', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    const guesser = await newAccount(t, 'guess');
    let last = 0;
    for (let i = 0; i < 8; i++) {
      last = (await t.client.call('BsldRegistration', { token: guesser.accessToken, body: { deviceId: lock.deviceId, challenge: hex16(), name: 'x', setupCode: String(10000000 + i) } })).env.status;
    }
    assert.equal(last, 429);
  });

  it('members: add with a window, 404 for an unknown user, 403 for non-owners, remove, 404 after', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    const member = await newAccount(t, 'share');
    const p = { deviceId: lock.deviceId };
    const added = expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: member.identifier, validUntil: t.clock.seconds + 3600 } }), 200);
    assert.equal(added.accountId, member.accountId);
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: 'ghost@example.com' } }), 404, 404);
    expectStatus(await t.client.call('MemberAddition', { token: member.accessToken, params: p, body: { identifier: other.identifier } }), 403, 403);
    expectStatus(await t.client.call('MemberAddition', { token: other.accessToken, params: p, body: { identifier: other.identifier } }), 404, 404);
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: member.identifier, validFrom: 200, validUntil: 100 } }), 400, 400);
    expectStatus(await t.client.call('MemberRemoval', { token: member.accessToken, params: { ...p, accountId: member.accountId } }), 403, 403);
    expectStatus(await t.client.call('MemberRemoval', { token: owner.accessToken, params: { ...p, accountId: member.accountId } }), 200);
    expectStatus(await t.client.call('MemberRemoval', { token: owner.accessToken, params: { ...p, accountId: member.accountId } }), 404, 404);
    expectStatus(await t.client.call('BsldSession', { token: member.accessToken, params: p, body: { challenge: lock.connect() } }), 404, 404);
  });

  it('an unbind answered 0x08 (the lock was reset) counts as removed', async () => {
    const lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    lock.boundAccount = undefined;
    const challenge = lock.connect();
    const rm = expectStatus(await t.client.call('BsldRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 200);
    const response = lock.writeAccountId(rm.removalFrame as string);
    assert.deepEqual(expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 200), { result: 8 });
    const auth = expectStatus(await t.client.call('BsldAuthentication', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: {} }), 200);
    assert.equal(auth.registered, false);
  });
});
