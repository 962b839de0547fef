import { strict as assert } from 'node:assert';
import { bytesToHex, encodeFrame, openSession } from 'homebridge-igrs-smartlock/protocol';
import { hashSecret } from '../src/crypto/secrets.js';
import { vectors, hex } from '../../test/support/vectors.js';
import { expectStatus, startTestRas, type TestRas } from './support/harness.js';
import { PushClient } from './support/push-client.js';

/**
 * The frames and keys the RAS hands out, checked byte for byte against the shared Clause 8
 * vectors: the vectors' account, device, challenges and timestamps, driven through HTTP.
 */
describe('Clause 8 frames the RAS builds match the shared vectors', () => {
  let t: TestRas;
  let token: string;
  let gw: PushClient;
  const deviceId = vectors.deviceId;

  before(async () => {
    t = await startTestRas();
    t.clock.ms = vectors.frames[0]!.ts * 1000;
    await t.ras.storage.createUser({
      accountId: vectors.accountId,
      identifier: 'vectors@example.com',
      displayName: null,
      passwordHash: await hashSecret('vectors passphrase'),
      createdAt: t.clock.seconds,
    });
    token = expectStatus(await t.client.call('UserAuthentication', { body: { identifier: 'vectors@example.com', password: 'vectors passphrase' } }), 200).accessToken as string;
    await t.ras.provision([{ deviceId, deviceKey: vectors.deviceKey, setupCode: '24681357', model: 'Vectors' }]);
  });
  after(async () => {
    await gw.close();
    await t.stop();
  });

  it('BsldRegistration builds the vectors Table 3 bind; their Table 4 confirms it; the advert key is K_v', async () => {
    const reg = expectStatus(
      await t.client.call('BsldRegistration', { token, body: { deviceId, challenge: vectors.registration.challenge, name: 'Vectors', setupCode: '24681357' } }),
      200,
    );
    assert.equal(reg.registrationFrame, vectors.registration.request.ciphertext);
    const ok = expectStatus(
      await t.client.call('BsldConfirm', { token, params: { deviceId }, body: { challenge: vectors.registration.challenge, response: vectors.registration.response.ciphertext } }),
      200,
    );
    assert.equal(ok.result, 0);
    assert.equal((ok.bsld as Record<string, unknown>).advertKey, vectors.keys.advertKey);
  });

  it('OperationFrames builds the vectors Table 5 and Table 7; their Tables 6 and 8 complete the operation', async () => {
    const gatewayId = expectStatus(await t.client.call('GatewayRegistration', { token, body: { name: 'gw' } }), 200).gatewayId as string;
    expectStatus(await t.client.call('GatewayReach', { token, params: { gatewayId }, body: { deviceIds: [deviceId] } }), 200);
    gw = await PushClient.connect(t.ras.url, token, { gatewayId, resume: 0 });
    // The vectors' operationId is 7: six earlier operations, each replaced by the next.
    let operationId = 0;
    for (let i = 0; i < 7; i++) {
      operationId = expectStatus(await t.client.call('Operation', { token, params: { deviceId }, body: { op: i < 6 ? 'status' : 'unlock' } }), 200).operationId as number;
    }
    assert.equal(operationId, 7);
    const { challenge, exchange } = vectors.session;
    const frames = expectStatus(await t.client.call('OperationFrames', { token, params: { operationId }, body: { challenge } }), 200).frames as string[];
    assert.equal(frames[0], exchange[0]!.ciphertext);
    // Table 7 carries the first frame's TS (the vectors' own Table 7 is one second later).
    const channel = openSession(hex(vectors.session.sessionKey), hex(challenge)).toLock;
    channel.open(hex(frames[0]));
    assert.equal(bytesToHex(encodeFrame(channel.open(hex(frames[1]!)))), vectors.frames.find((f) => f.name === 'unlock op 7')!.plaintext);
    const done = expectStatus(
      await t.client.call('OperationResult', { token, params: { operationId }, body: { challenge, frames: [exchange[1]!.ciphertext, exchange[3]!.ciphertext] } }),
      200,
    );
    assert.deepEqual(done, { state: 'done', result: 0, lockState: 0 });
  });

  it('BsldSession hands out the vectors K_s (owner and member alike: K_s is bound to the lock’s account)', async () => {
    const s = expectStatus(await t.client.call('BsldSession', { token, params: { deviceId }, body: { challenge: vectors.memberSession.challenge } }), 200);
    assert.equal(s.sessionKey, vectors.memberSession.sessionKey);
    assert.equal(s.ownerAccountId, vectors.accountId);
  });

  it('BsldRemoval builds the vectors Table 3 unbind; their Table 4 confirms the removal', async () => {
    t.clock.ms = (vectors.frames[0]!.ts + 10) * 1000;
    const rm = expectStatus(await t.client.call('BsldRemoval', { token, params: { deviceId }, body: { challenge: vectors.unbind.challenge } }), 200);
    assert.equal(rm.removalFrame, vectors.unbind.request.ciphertext);
    const ok = expectStatus(
      await t.client.call('BsldConfirm', { token, params: { deviceId }, body: { challenge: vectors.unbind.challenge, response: vectors.unbind.response.ciphertext } }),
      200,
    );
    assert.deepEqual(ok, { result: 0 });
  });
});
