import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Push, validate } from 'homebridge-igrs-smartlock/protocol';
import { expectStatus, newAccount, startTestRas, type Account, type TestRas } from './support/harness.js';
import { TestLock } from './support/lock.js';
import { PushClient, sleep } from './support/push-client.js';
import { register } from './bslds.test.js';

describe('Remote operations: Operation, push, OperationFrames, OperationResult, OperationQuery', () => {
  let t: TestRas;
  let owner: Account;
  let remote: Account;
  let lock: TestLock;
  let gatewayId: string;
  let gw: PushClient;
  let rac: PushClient;

  before(async () => {
    t = await startTestRas();
    owner = await newAccount(t, 'opowner');
    remote = await newAccount(t, 'opremote');
    lock = TestLock.random();
    await t.ras.provision([lock.factoryEntry]);
    await register(t, owner, lock);
    expectStatus(await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: remote.identifier } }), 200);
    gatewayId = expectStatus(await t.client.call('GatewayRegistration', { token: owner.accessToken, body: { name: 'Hall bridge' } }), 200).gatewayId as string;
    expectStatus(await t.client.call('GatewayReach', { token: owner.accessToken, params: { gatewayId }, body: { deviceIds: [lock.deviceId] } }), 200);
    gw = await PushClient.connect(t.ras.url, owner.accessToken, { gatewayId, resume: 0 });
    rac = await PushClient.connect(t.ras.url, remote.accessToken, { resume: 0 });
  });
  after(async () => {
    await gw.close();
    await rac.close();
    await t.stop();
  });

  /** What the BGW does with a pushed command: connect, frames, Table 5/6, Table 7/8, result. */
  async function runCommand(operationId: number): Promise<Record<string, unknown>> {
    const challenge = lock.connect();
    const frames = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 200).frames as string[];
    assert.equal(frames.length, 2);
    const t6 = lock.stageB(frames[0]!);
    const partial = expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: [t6] } }), 200);
    assert.equal(partial.state, 'pending');
    const t8 = lock.stageB(frames[1]!);
    return expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: [t6, t8] } }), 200);
  }

  it('runs a remote unlock end to end; the result is lock-verified and pushed to the RAC that asked', async () => {
    const op = expectStatus(await t.client.call('Operation', { token: remote.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 200);
    assert.equal(op.state, 'pending');
    const operationId = op.operationId as number;
    const cmd = await gw.next((m) => m.event === 'bsld.command' && m.body.operationId === operationId);
    assert.ok(validate(Push, cmd).ok, 'the push matches the shared Table 2 schema');
    assert.equal(cmd.deviceId, lock.deviceId);
    assert.equal(cmd.body.op, 'unlock');
    assert.equal(cmd.body.expiresAt, t.clock.seconds + 30);
    gw.ack(cmd.seq);
    // The RAC long-polls while the gateway works.
    const polled = t.client.call('OperationQuery', { token: remote.accessToken, params: { operationId }, query: { wait: 10 } });
    await sleep(100);
    const done = await runCommand(operationId);
    assert.deepEqual(done, { state: 'done', result: 0, lockState: 0 });
    assert.deepEqual(expectStatus(await polled, 200), { state: 'done', result: 0, lockState: 0 });
    const pushed = await rac.next((m) => m.event === 'bsld.operation' && m.body.operationId === operationId);
    assert.equal(pushed.body.state, 'done');
    assert.ok(validate(Push, pushed).ok);
    const events = expectStatus(await t.client.call('EventQuery', { token: owner.accessToken, params: { deviceId: lock.deviceId } }), 200).events as Record<string, unknown>[];
    const verified = events.find((e) => (e.event as Record<string, unknown>).operationId === operationId)!;
    assert.equal(verified.verification, 'lock-verified');
    const list = expectStatus(await t.client.call('BsldDiscovery', { token: owner.accessToken }), 200).bslds as Record<string, unknown>[];
    assert.equal((list[0]!.lastState as Record<string, unknown>).lockState, 0);
  });

  it('issues frames once per operation: the same call again gets the same frames, any other 409', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'lock' } }), 200).operationId as number;
    const challenge = lock.connect();
    const a = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 200);
    const b = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 200);
    assert.deepEqual(a, b);
    expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge: lock.connect() } }), 409, 409);
    // A stranger learns nothing about the operation.
    const stranger = await newAccount(t, 'stranger');
    expectStatus(await t.client.call('OperationFrames', { token: stranger.accessToken, params: { operationId }, body: { challenge: lock.connect() } }), 404, 404);
    expectStatus(await t.client.call('OperationQuery', { token: stranger.accessToken, params: { operationId } }), 404, 404);
    // The frames' challenge cannot serve a session too.
    expectStatus(await t.client.call('BsldSession', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 430, 409);
  });

  it('refuses forged lock frames with 428 and a foreign operationId in Table 8', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'status' } }), 200).operationId as number;
    const challenge = lock.connect();
    const frames = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 200).frames as string[];
    const forged = randomBytes(16).toString('hex');
    expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: [forged] } }), 428, 400);
    const t6 = lock.stageB(frames[0]!);
    const t8 = lock.stageB(frames[1]!);
    expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: [t6, forged] } }), 428, 400);
    // The genuine frames still count after the forgeries.
    const ok = expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: [t6, t8] } }), 200);
    assert.equal(ok.state, 'done');
    // Frames for a challenge the RAS did not build frames for: 404.
    expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge: lock.connect(), frames: [t6] } }), 404, 404);
  });

  it('a newer operation replaces a pending one (409 after)', async () => {
    const first = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 200).operationId as number;
    const second = expectStatus(await t.client.call('Operation', { token: remote.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'lock' } }), 200).operationId as number;
    assert.notEqual(first, second);
    expectStatus(await t.client.call('OperationQuery', { token: owner.accessToken, params: { operationId: first } }), 409, 409);
    expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId: first }, body: { challenge: lock.connect() } }), 409, 409);
    assert.equal(expectStatus(await t.client.call('OperationQuery', { token: remote.accessToken, params: { operationId: second } }), 200).state, 'pending');
  });

  it('expires a command nobody ran: 427 for its frames, state expired, never delivered as runnable', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 200).operationId as number;
    await gw.next((m) => m.event === 'bsld.command' && m.body.operationId === operationId);
    t.clock.advance(31);
    await t.ras.sweep();
    assert.equal(expectStatus(await t.client.call('OperationQuery', { token: owner.accessToken, params: { operationId } }), 200).state, 'expired');
    expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge: lock.connect() } }), 427, 410);
    // A second gateway that connects only now never sees the command.
    const late = expectStatus(await t.client.call('GatewayRegistration', { token: owner.accessToken, body: { name: 'Late bridge' } }), 200).gatewayId as string;
    const lateGw = await PushClient.connect(t.ras.url, owner.accessToken, { gatewayId: late, resume: 0 });
    await sleep(300);
    assert.equal(lateGw.messages.filter((m) => m.event === 'bsld.command').length, 0);
    await lateGw.close();
    // And the first gateway, reconnecting without having acknowledged it, does not get it again.
    const again = await PushClient.connect(t.ras.url, owner.accessToken, { gatewayId, resume: 0 });
    await sleep(300);
    assert.equal(again.messages.filter((m) => m.event === 'bsld.command' && m.body.operationId === operationId).length, 0);
    await again.close();
  });

  it('a command delivered after expiry is refused by expiry; a result after expiry is recorded as executed late', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'lock' } }), 200).operationId as number;
    const challenge = lock.connect();
    const frames = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 200).frames as string[];
    t.clock.advance(31);
    await t.ras.sweep();
    assert.equal(expectStatus(await t.client.call('OperationQuery', { token: owner.accessToken, params: { operationId } }), 200).state, 'expired');
    const t6 = lock.stageB(frames[0]!);
    const t8 = lock.stageB(frames[1]!);
    const r = expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: [t6, t8] } }), 200);
    assert.equal(r.state, 'done');
    const row = await t.ras.storage.getOperation(operationId);
    assert.equal(row?.late, true);
  });

  it('answers 426 when no gateway that reaches the lock is online', async () => {
    const lonely = TestLock.random();
    await t.ras.provision([lonely.factoryEntry]);
    await register(t, owner, lonely);
    expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lonely.deviceId }, body: { op: 'unlock' } }), 426, 409);
  });

  it('refuses frames while a member requester has less than 60 s of window left, and ends its operations at the window end', async () => {
    const short = await newAccount(t, 'short');
    expectStatus(
      await t.client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: short.identifier, validUntil: t.clock.seconds + 50 } }),
      200,
    );
    const operationId = expectStatus(await t.client.call('Operation', { token: short.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 200).operationId as number;
    expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge: lock.connect() } }), 403, 403);
    // Revoking the member ends its pending operation.
    expectStatus(await t.client.call('MemberRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId, accountId: short.accountId } }), 200);
    assert.equal(expectStatus(await t.client.call('OperationQuery', { token: short.accessToken, params: { operationId } }), 200).state, 'failed');
  });

  it('the gateway may report an expired command; operations unknown give 404', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'status' } }), 200).operationId as number;
    t.clock.advance(31);
    const r = expectStatus(await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { expired: true } }), 200);
    assert.equal(r.state, 'expired');
    expectStatus(await t.client.call('OperationQuery', { token: owner.accessToken, params: { operationId: 4000000000 } }), 404, 404);
  });

  it('431 with the result when the lock refuses the operation; the query then shows failed', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 200).operationId as number;
    const challenge = lock.connect();
    const frames = expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 200).frames as string[];
    lock.nextOperationResult = 0x05;
    const lockFrames = [lock.stageB(frames[0]!), lock.stageB(frames[1]!)];
    const r = await t.client.call('OperationResult', { token: owner.accessToken, params: { operationId }, body: { challenge, frames: lockFrames } });
    expectStatus(r, 431, 409);
    assert.equal(r.env.body.result, 0x05);
    assert.deepEqual(expectStatus(await t.client.call('OperationQuery', { token: owner.accessToken, params: { operationId } }), 200), { state: 'failed', result: 5, lockState: 1 });
  });

  it('OperationFrames refuses a challenge already used for a session (430); Operation refuses strangers (404)', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'status' } }), 200).operationId as number;
    const challenge = lock.connect();
    expectStatus(await t.client.call('BsldSession', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 200);
    expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge } }), 430, 409);
    // The refused call consumed nothing: a fresh challenge still gets the frames.
    expectStatus(await t.client.call('OperationFrames', { token: owner.accessToken, params: { operationId }, body: { challenge: lock.connect() } }), 200);
    const stranger = await newAccount(t, 'opstranger');
    expectStatus(await t.client.call('Operation', { token: stranger.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 404, 404);
  });

  it('pushes commands only to gateways of accounts with rights, even if another gateway says it reaches the lock', async () => {
    const stranger = await newAccount(t, 'gwstranger');
    const strangerGw = expectStatus(await t.client.call('GatewayRegistration', { token: stranger.accessToken, body: { name: 'Nosy' } }), 200).gatewayId as string;
    expectStatus(await t.client.call('GatewayReach', { token: stranger.accessToken, params: { gatewayId: strangerGw }, body: { deviceIds: [lock.deviceId] } }), 200);
    const nosy = await PushClient.connect(t.ras.url, stranger.accessToken, { gatewayId: strangerGw, resume: 0 });
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'lock' } }), 200).operationId as number;
    await gw.next((m) => m.event === 'bsld.command' && m.body.operationId === operationId);
    await sleep(200);
    assert.equal(nosy.messages.filter((m) => m.event === 'bsld.command').length, 0);
    await nosy.close();
  });

  it('a long poll on a pending operation answers pending after its wait', async () => {
    const operationId = expectStatus(await t.client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'status' } }), 200).operationId as number;
    const started = Date.now();
    const r = expectStatus(await t.client.call('OperationQuery', { token: owner.accessToken, params: { operationId }, query: { wait: 1 } }), 200);
    assert.equal(r.state, 'pending');
    assert.ok(Date.now() - started >= 900, 'it waited');
  });
});
