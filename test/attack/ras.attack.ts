/**
 * Attacks on the RAS's authorisation: foreign, revoked and out-of-window accounts, stolen tokens,
 * chosen and reused challenges, forged receipts, binds without the code or outside pairing mode.
 * "Accepted" means the RAS answered 200 (or the lock took the RAS's frame) where it must refuse.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { openSession } from 'homebridge-igrs-smartlock/protocol';
import { DEFAULT_RATE_LIMITS } from '../../ras/src/index.js';
import { expectStatus, newAccount, startTestRas, type Account, type CallResult, type TestRas } from '../../ras/test/support/harness.js';
import { TestLock } from '../../ras/test/support/lock.js';
import { PushClient } from '../../ras/test/support/push-client.js';
import { tally, type Figure } from './support/report.js';

const hex = (b: Buffer): string => b.toString('hex');
const invertHex = (h: string): string => hex(Buffer.from(h, 'hex').map((x) => x ^ 0xff) as Buffer);

/** Counts one attempt; refuses 200 and any status outside the expected ones. */
function refused(fig: Figure, r: CallResult, statuses: number[]): void {
  fig.attempts++;
  if (r.env.status === 200) fig.accepted++;
  if (!statuses.includes(r.env.status)) console.error(`${fig.name}: expected ${statuses.join('/')}, got ${r.env.status} ${r.env.message}`);
  assert.ok(statuses.includes(r.env.status), `${fig.name}: expected ${statuses.join('/')}, got ${r.env.status} ${r.env.message}`);
}

async function register(t: TestRas, owner: Account, lock: TestLock): Promise<void> {
  const challenge = lock.connect();
  const reg = expectStatus(
    await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'Door', setupCode: lock.setupCode } }),
    200,
  );
  const response = lock.writeAccountId(reg.registrationFrame as string);
  expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response } }), 200);
}

describe('attack: the RAS', () => {
  let t: TestRas;
  let owner: Account;
  let stranger: Account;
  let member: Account;
  let lock: TestLock;
  let gw: PushClient;
  let gatewayId: string;

  before(async () => {
    // Generous limits: the suite counts refusals by rule, not by rate limit.
    const big = { limit: 100_000, windowSeconds: 1 };
    const rateLimits = Object.fromEntries(Object.keys(DEFAULT_RATE_LIMITS).map((k) => [k, big])) as unknown as typeof DEFAULT_RATE_LIMITS;
    t = await startTestRas({ rateLimits });
    owner = await newAccount(t, 'owner');
    stranger = await newAccount(t, 'stranger');
    member = await newAccount(t, 'member');
    lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: member.identifier } }), 200);
    // A gateway online that reaches the lock, so operations are refused for rights, not reach.
    gatewayId = expectStatus(await t.client.call('GatewayRegistration', { token: owner.accessToken, body: { name: 'gw' } }), 200).gatewayId as string;
    expectStatus(await t.client.call('GatewayReach', { token: owner.accessToken, params: { gatewayId }, body: { deviceIds: [lock.deviceId] } }), 200);
    gw = await PushClient.connect(t.ras.url, owner.accessToken, { gatewayId, resume: 0 });
  });
  after(async () => {
    await gw.close();
    await t.stop();
  });

  it('a foreign account gets nothing for a lock it has no rights to', async () => {
    const fig = tally('foreign account: session, operation, removal, members, events, registration');
    const p = { deviceId: lock.deviceId };
    for (let i = 0; i < 5; i++) {
      refused(fig, await t.client.call('BsldSession', { token: stranger.accessToken, params: p, body: { challenge: lock.connect() } }), [404]);
      refused(fig, await t.client.call('Operation', { token: stranger.accessToken, params: p, body: { op: 'unlock' } }), [404]);
      refused(fig, await t.client.call('BsldRemoval', { token: stranger.accessToken, params: p, body: { force: true } }), [404]);
      refused(fig, await t.client.call('MemberAddition', { token: stranger.accessToken, params: p, body: { identifier: stranger.identifier } }), [404]);
      refused(fig, await t.client.call('EventQuery', { token: stranger.accessToken, params: p }), [404]);
      refused(fig, await t.client.call('EventReport', { token: stranger.accessToken, params: p, body: { event: { lockState: 0 } } as never }), [400, 404]);
      // Registering someone else's lock, even with its setup code, outside pairing mode: the
      // RAS may build the frame (it cannot see the button), but the lock refuses it.
      lock.pairingMode = false;
      const challenge = lock.connect();
      const reg = await t.client.call('BsldRegistration', { token: stranger.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'Mine', setupCode: lock.setupCode } });
      fig.attempts++;
      if (reg.env.status === 200) {
        const response = lock.writeAccountId(reg.env.body.registrationFrame as string);
        const conf = await t.client.call('BsldConfirm', { token: stranger.accessToken, params: p, body: { challenge, response } });
        if (conf.env.status === 200) fig.accepted++;
      }
      assert.equal(lock.boundAccount, owner.accountId);
    }
    assert.equal(fig.accepted, 0);
  });

  it('a revoked member, a member outside its window, a removed lock', async () => {
    const fig = tally('revoked member / outside window / removed lock');
    const p = { deviceId: lock.deviceId };
    const late = await newAccount(t, 'late');
    const early = await newAccount(t, 'early');
    const ending = await newAccount(t, 'ending');
    const now = t.clock.seconds;
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: late.identifier, validFrom: now + 3600 } }), 200);
    // A window already over may be refused at addition; either way the account has no rights.
    await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: early.identifier, validFrom: now - 100, validUntil: now - 10 } });
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: ending.identifier, validUntil: now + 30 } }), 200);
    const revoked = await newAccount(t, 'revoked');
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: p, body: { identifier: revoked.identifier } }), 200);
    expectStatus(await t.client.call('BsldSession', { token: revoked.accessToken, params: p, body: { challenge: lock.connect() } }), 200);
    expectStatus(await t.client.call('MemberRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId, accountId: revoked.accountId } }), 200);
    for (let i = 0; i < 5; i++) {
      for (const who of [late, early, ending]) {
        refused(fig, await t.client.call('BsldSession', { token: who.accessToken, params: p, body: { challenge: lock.connect() } }), [403, 404]);
        if (who !== ending) refused(fig, await t.client.call('Operation', { token: who.accessToken, params: p, body: { op: 'unlock' } }), [403, 404]);
      }
      // The profile lets a member still inside its window ask (Operation checks "now"), but the
      // command never runs: frames need the asker's rights for 60 s more.
      const op = await t.client.call('Operation', { token: ending.accessToken, params: p, body: { op: 'unlock' } });
      if (op.env.status === 200) {
        refused(fig, await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId: op.env.body.operationId as number }, body: { challenge: lock.connect() } }), [403]);
      } else refused(fig, op, [403]);
      refused(fig, await t.client.call('BsldSession', { token: revoked.accessToken, params: p, body: { challenge: lock.connect() } }), [403, 404]);
      refused(fig, await t.client.call('Operation', { token: revoked.accessToken, params: p, body: { op: 'unlock' } }), [403, 404]);
    }
    // A removed lock: forced removal, then the former owner and member ask again.
    const gone = TestLock.random();
    await t.ras.provision([gone.factoryEntry]);
    await register(t, owner, gone);
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: gone.deviceId }, body: { identifier: member.identifier } }), 200);
    expectStatus(await t.client.call('BsldRemoval', { token: owner.accessToken, params: { deviceId: gone.deviceId }, body: { force: true } }), 200);
    for (const who of [owner, member]) {
      refused(fig, await t.client.call('BsldSession', { token: who.accessToken, params: { deviceId: gone.deviceId }, body: { challenge: gone.connect() } }), [404]);
      refused(fig, await t.client.call('Operation', { token: who.accessToken, params: { deviceId: gone.deviceId }, body: { op: 'unlock' } }), [404]);
    }
    assert.equal(fig.accepted, 0);
  });

  it('refresh-token reuse revokes the whole family; an access token dies at logout', async () => {
    const fig = tally('token theft: spent refresh token reused, access token after logout');
    for (let i = 0; i < 5; i++) {
      const a = await newAccount(t, 'tok');
      const r1 = a.refreshToken;
      const pair2 = expectStatus(await t.client.call('TokenRefresh', { body: { refreshToken: r1 } }), 200) as { accessToken: string; refreshToken: string };
      // The thief replays the spent token: refused, and the family with it.
      refused(fig, await t.client.call('TokenRefresh', { body: { refreshToken: r1 } }), [420]);
      refused(fig, await t.client.call('TokenRefresh', { body: { refreshToken: pair2.refreshToken } }), [420]);
      refused(fig, await t.client.call('BsldDiscovery', { token: pair2.accessToken }), [420]);
      // Logout ends the access token of that login.
      const b = await newAccount(t, 'out');
      expectStatus(await t.client.call('Logout', { body: { refreshToken: b.refreshToken } }), 200);
      refused(fig, await t.client.call('BsldDiscovery', { token: b.accessToken }), [420]);
      refused(fig, await t.client.call('TokenRefresh', { body: { refreshToken: b.refreshToken } }), [420]);
    }
    assert.equal(fig.accepted, 0);
  });

  it('one challenge serves one call; a guest cannot reuse the owner\'s sniffed challenge', async () => {
    const fig = tally('challenge reuse: second call, guest on the owner\'s challenge');
    const p = { deviceId: lock.deviceId };
    for (let i = 0; i < 10; i++) {
      const c = lock.connect();
      expectStatus(await t.client.call('BsldSession', { token: owner.accessToken, params: p, body: { challenge: c } }), 200);
      refused(fig, await t.client.call('BsldSession', { token: member.accessToken, params: p, body: { challenge: c } }), [430]);
      refused(fig, await t.client.call('BsldSession', { token: stranger.accessToken, params: p, body: { challenge: c } }), [404, 430]);
      refused(fig, await t.client.call('BsldRemoval', { token: owner.accessToken, params: p, body: { challenge: c } }), [430]);
      refused(fig, await t.client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge: c, name: 'x', setupCode: lock.setupCode } }), [430]);
      const opId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: p, body: { op: 'status' } }), 200).operationId as number;
      refused(fig, await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId: opId }, body: { challenge: c } }), [430]);
    }
    assert.equal(fig.accepted, 0);
  });

  it('sessions for chosen challenges open nothing on the lock', async () => {
    const fig = tally('chosen challenges: session keys for C\', ~C, 0, 1s used on the real C');
    const p = { deviceId: lock.deviceId };
    for (let i = 0; i < 10; i++) {
      const real = lock.connect();
      const chosen = [invertHex(real), '00'.repeat(16), 'ff'.repeat(16), hex(randomBytes(16))];
      for (const c of chosen) {
        const r = await t.client.call('BsldSession', { token: member.accessToken, params: p, body: { challenge: c } });
        if (r.env.status !== 200) continue;
        // Build the member's Table 5 under the key for the chosen challenge, chained from C as the lock does.
        const ch = openSession(Buffer.from(r.env.body.sessionKey as string, 'hex'), Buffer.from(real, 'hex'));
        const t5 = ch.toLock.sealMessage({ kind: 'authenticate', role: 2, accountId: owner.accountId, ts: t.clock.seconds });
        fig.attempts++;
        try {
          lock.stageB(hex(t5));
          fig.accepted++;
        } catch {
          // The lock cannot decrypt it: refused.
        }
        lock.connect();
        lock.connect();
      }
    }
    assert.equal(fig.accepted, 0);
  });

  it('a RAS-built bind frame for ~C offered as the lock\'s Table 4 for C; forged and foreign confirmations', async () => {
    const fig = tally('forged Table 4: bind frame for ~C as the answer for C, random, replayed');
    const victim = TestLock.random();
    await t.ras.provision([victim.factoryEntry]);
    for (let i = 0; i < 5; i++) {
      const c = victim.connect();
      const notC = invertHex(c);
      const forNotC = expectStatus(
        await t.client.call('BsldRegistration', { token: stranger.accessToken, body: { deviceId: victim.deviceId, challenge: notC, name: 'x', setupCode: victim.setupCode } }),
        200,
      ).registrationFrame as string;
      expectStatus(await t.client.call('BsldRegistration', { token: stranger.accessToken, body: { deviceId: victim.deviceId, challenge: c, name: 'x', setupCode: victim.setupCode } }), 200);
      const conf = (response: string): Promise<CallResult> => t.client.call('BsldConfirm', { token: stranger.accessToken, params: { deviceId: victim.deviceId }, body: { challenge: c, response } });
      refused(fig, await conf(forNotC), [428, 404]);
      refused(fig, await conf(hex(randomBytes(16))), [428]);
      refused(fig, await t.client.call('BsldConfirm', { token: stranger.accessToken, params: { deviceId: victim.deviceId }, body: { challenge: notC, response: forNotC } }), [428, 404, 430]);
    }
    const auth = expectStatus(await t.client.call('BsldAuthentication', { token: stranger.accessToken, params: { deviceId: victim.deviceId }, body: {} }), 200);
    assert.equal(auth.registered, false);
    assert.equal(fig.accepted, 0);
  });

  it('a bind without the setup code; registration of an unknown device', async () => {
    const fig = tally('bind without the setup code / unknown device');
    const victim = TestLock.random('24681357');
    await t.ras.provision([victim.factoryEntry]);
    for (let i = 0; i < 20; i++) {
      const wrong = String(10_000_000 + Math.floor(Math.random() * 89_999_999));
      if (wrong === victim.setupCode) continue;
      refused(fig, await t.client.call('BsldRegistration', { token: stranger.accessToken, body: { deviceId: victim.deviceId, challenge: victim.connect(), name: 'x', setupCode: wrong } }), [423]);
      const unknown = randomBytes(6).toString('hex').toUpperCase();
      refused(fig, await t.client.call('BsldRegistration', { token: stranger.accessToken, body: { deviceId: unknown, challenge: hex(randomBytes(16)), name: 'x', setupCode: '12345678' } }), [425]);
    }
    assert.equal(fig.accepted, 0);
  });

  it('registration of a bound lock that is not in pairing mode is refused by the lock and the RAS records nothing', async () => {
    const fig = tally('registration of a bound lock not in pairing mode');
    lock.pairingMode = false;
    for (let i = 0; i < 5; i++) {
      const c = lock.connect();
      const reg = await t.client.call('BsldRegistration', { token: stranger.accessToken, body: { deviceId: lock.deviceId, challenge: c, name: 'x', setupCode: lock.setupCode } });
      fig.attempts++;
      if (reg.env.status !== 200) continue;
      const response = lock.writeAccountId(reg.env.body.registrationFrame as string);
      const conf = await t.client.call('BsldConfirm', { token: stranger.accessToken, params: { deviceId: lock.deviceId }, body: { challenge: c, response } });
      if (conf.env.status === 200) fig.accepted++;
      assert.equal(conf.env.status, 431);
    }
    const list = expectStatus(await t.client.call('BsldDiscovery', { token: owner.accessToken }), 200).bslds as { deviceId: string; role: string }[];
    assert.equal(list.find((b) => b.deviceId === lock.deviceId)?.role, 'owner');
    assert.equal(fig.accepted, 0);
  });

  it('pushed commands: frames refused after expiresAt, forged and replayed receipts refused', async () => {
    const fig = tally('expired command frames (427), forged / replayed operation receipts (428)');
    const p = { deviceId: lock.deviceId };
    {
      let previousT8: string | undefined;
      for (let i = 0; i < 5; i++) {
        // Expired: nobody ran it in time.
        const late = expectStatus(await t.client.call('Operation', { token: member.accessToken, params: p, body: { op: 'unlock' } }), 200).operationId as number;
        t.clock.advance(31);
        await t.ras.sweep();
        refused(fig, await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId: late }, body: { challenge: lock.connect() } }), [427]);
        // Forged receipts on a live operation.
        const opId = expectStatus(await t.client.call('Operation', { token: member.accessToken, params: p, body: { op: 'lock' } }), 200).operationId as number;
        const c = lock.connect();
        const frames = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId: opId }, body: { challenge: c } }), 200).frames as string[];
        const t6 = lock.stageB(frames[0]!);
        const result = (fs: string[]): Promise<CallResult> => t.client.call('OperationResult', { token: owner.accessToken, params: { operationId: opId }, body: { challenge: c, frames: fs } });
        refused(fig, await result([t6, hex(randomBytes(16))]), [428]);
        if (previousT8) refused(fig, await result([t6, previousT8]), [428]);
        refused(fig, await result([t6, t6]), [428]);
        refused(fig, await result([frames[1]!]), [428]);
        refused(fig, await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId: opId }, body: { challenge: invertHex(c), frames: [t6] } }), [404, 428]);
        previousT8 = lock.stageB(frames[1]!);
        assert.equal(expectStatus(await result([t6, previousT8]), 200).state, 'done');
      }
    }
    assert.equal(fig.accepted, 0);
  });
});
