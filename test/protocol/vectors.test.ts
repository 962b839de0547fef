import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import {
  BindType,
  ChannelError,
  FrameChannel,
  FrameError,
  checkHolds,
  decodeAdvert,
  decodeFrame,
  deriveAccountKey,
  deriveAdvertKey,
  deriveRootKeys,
  deriveSessionKey,
  deriveStageAKeys,
  encodeAdvert,
  encodeAdvertState,
  encodeFrame,
  encodeMessage,
  expectMessage,
  invert,
  openAdvertState,
  openConnection,
  openSession,
  parseMessage,
  sealAdvertState,
  table4Confirms,
  type Cmd,
} from 'homebridge-igrs-smartlock/protocol';
import { hex, vectors as v } from '../support/vectors.js';

describe('Clause 8 vectors (../shared/spec/vectors.json)', () => {
  describe('frames', () => {
    for (const f of v.frames) {
      it(`encodes and decodes "${f.name}"`, () => {
        const frame = { cmd: f.cmd as Cmd, type: f.type, value: hex(f.value), ts: f.ts };
        assert.equal(encodeFrame(frame).toString('hex'), f.plaintext);
        const back = decodeFrame(hex(f.plaintext));
        assert.deepEqual({ ...back, value: back.value.toString('hex') }, { ...frame, value: f.value });
        // The typed layer reproduces the same bytes.
        assert.equal(encodeFrame(encodeMessage(parseMessage(back))).toString('hex'), f.plaintext);
      });
    }
  });

  it('derives the key schedule', () => {
    const kd = hex(v.deviceKey);
    const root = deriveRootKeys(kd);
    assert.equal(root.registrationKey.toString('hex'), v.keys.registrationKey);
    assert.equal(root.answerKey.toString('hex'), v.keys.answerKey);
    assert.equal(root.sessionBaseKey.toString('hex'), v.keys.sessionBaseKey);
    assert.equal(deriveAccountKey(kd, v.accountId).toString('hex'), v.keys.accountKey);
    assert.equal(deriveAdvertKey(kd, v.accountId).toString('hex'), v.keys.advertKey);
    const stageA = deriveStageAKeys(kd, hex(v.registration.challenge));
    assert.equal(stageA.toLock.toString('hex'), v.registration.keyToLock);
    assert.equal(stageA.fromLock.toString('hex'), v.registration.keyFromLock);
    assert.equal(deriveSessionKey(kd, v.accountId, hex(v.session.challenge)).toString('hex'), v.session.sessionKey);
    assert.equal(
      deriveSessionKey(kd, v.accountId, hex(v.memberSession.challenge)).toString('hex'),
      v.memberSession.sessionKey,
    );
  });

  for (const [name, vec] of [
    ['registration (bind)', v.registration],
    ['unbind', v.unbind],
  ] as const) {
    it(`runs the stage-a ${name} exchange byte for byte, both ends`, () => {
      const keys = deriveStageAKeys(hex(v.deviceKey), hex(vec.challenge));
      const gateway = openConnection(keys, hex(vec.challenge));
      const lock = openConnection(keys, hex(vec.challenge));
      assert.equal(gateway.toLock.nextIv.toString('hex'), vec.request.iv);
      const request = parseMessage(decodeFrame(hex(vec.request.plaintext)));
      assert.equal(gateway.toLock.sealMessage(request).toString('hex'), vec.request.ciphertext);
      const atLock = expectMessage(lock.toLock.openMessage(hex(vec.request.ciphertext)), 'writeAccountId');
      assert.equal(atLock.accountId, v.accountId);

      assert.equal(lock.fromLock.nextIv.toString('hex'), vec.response.iv);
      const response = parseMessage(decodeFrame(hex(vec.response.plaintext)));
      assert.equal(lock.fromLock.sealMessage(response).toString('hex'), vec.response.ciphertext);
      const answer = expectMessage(gateway.fromLock.openMessage(hex(vec.response.ciphertext)), 'writeAccountIdResponse');
      assert.equal(answer.requestType, atLock.type);
      assert.ok(table4Confirms(answer, atLock));
    });
  }

  it('the unbind request is TYPE unbind', () => {
    assert.equal(parseMessage(decodeFrame(hex(v.unbind.request.plaintext))).kind, 'writeAccountId');
    assert.equal(decodeFrame(hex(v.unbind.request.plaintext)).type, BindType.Unbind);
  });

  for (const [name, vec] of [
    ['owner session', v.session],
    ['member session with a status report', v.memberSession],
  ] as const) {
    it(`runs the stage-b ${name} byte for byte, both ends`, () => {
      const gateway = openSession(hex(vec.sessionKey), hex(vec.challenge));
      const lock = openSession(hex(vec.sessionKey), hex(vec.challenge));
      for (const step of vec.exchange) {
        const [sender, receiver] =
          step.dir === 'gateway->lock' ? [gateway.toLock, lock.toLock] : [lock.fromLock, gateway.fromLock];
        assert.equal(sender.nextIv.toString('hex'), step.iv, `IV of table ${step.table}`);
        const msg = parseMessage(decodeFrame(hex(step.plaintext)));
        assert.equal(sender.sealMessage(msg).toString('hex'), step.ciphertext, `ciphertext of table ${step.table}`);
        assert.deepEqual(receiver.openMessage(hex(step.ciphertext)), msg);
      }
    });
  }

  describe('reject cases', () => {
    for (const r of v.reject) {
      it(`refuses: ${r.why}`, () => {
        const decipher = createDecipheriv('aes-128-cbc', hex(r.key), hex(r.iv));
        decipher.setAutoPadding(false);
        const plain = Buffer.concat([decipher.update(hex(r.ciphertext)), decipher.final()]);
        assert.equal(plain.toString('hex'), r.decrypted);
        assert.equal(checkHolds(plain), r.checkHolds);

        // Through a channel in the position the vector names: the gateway's or the lock's.
        const isAnswer = r.key === v.registration.keyFromLock;
        const channel = new FrameChannel({
          key: hex(r.key),
          challenge: isAnswer ? invert(hex(r.iv)) : hex(r.iv),
          direction: isAnswer ? 'fromLock' : 'toLock',
        });
        if (!r.checkHolds) {
          assert.throws(() => channel.open(hex(r.ciphertext)), (e) => e instanceof ChannelError && e.code === 'check');
          assert.ok(channel.closed);
          assert.throws(() => decodeFrame(plain), FrameError);
        } else {
          // CHECK holds, so only the echo can refuse it: it names another account.
          const answer = expectMessage(channel.openMessage(hex(r.ciphertext)), 'writeAccountIdResponse');
          const request = expectMessage(parseMessage(decodeFrame(hex(v.registration.request.plaintext))), 'writeAccountId');
          assert.equal(table4Confirms(answer, request), false);
        }
      });
    }
  });

  describe('advertisement', () => {
    it('parses the unbound advert in pairing mode', () => {
      const adv = decodeAdvert(hex(v.advertisementUnbound.manufacturerData));
      assert.equal(adv.registered, false);
      assert.equal(adv.pairingMode, true);
      assert.equal(adv.deviceId, v.deviceId);
      assert.ok(adv.sealed.equals(Buffer.alloc(16)));
      assert.equal(
        encodeAdvert({ registered: false, pairingMode: true, deviceId: v.deviceId }).toString('hex'),
        v.advertisementUnbound.manufacturerData,
      );
    });

    it('seals and opens the bound advert state', () => {
      const a = v.advertisement;
      const { plaintext, ...state } = a.state;
      const kv = deriveAdvertKey(hex(v.deviceKey), v.accountId);
      const typed = state as Parameters<typeof encodeAdvertState>[0];
      assert.equal(encodeAdvertState(typed).toString('hex'), plaintext);
      const data = encodeAdvert(a.public, sealAdvertState(kv, typed));
      assert.equal(data.toString('hex'), a.manufacturerData);
      const adv = decodeAdvert(hex(a.manufacturerData));
      assert.deepEqual({ version: adv.version, registered: adv.registered, pairingMode: adv.pairingMode, deviceId: adv.deviceId }, a.public);
      assert.deepEqual(openAdvertState(kv, adv.sealed), state);
    });
  });
});

