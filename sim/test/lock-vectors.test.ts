/** The lock core against the shared Clause 8 vectors: byte-exact answers and the reject cases. */
import { strict as assert } from 'node:assert';
import { DoorState, LockState, decodeAdvert, openAdvertState, deriveAdvertKey } from 'homebridge-igrs-smartlock/protocol';
import { hex, vectors } from '../../test/support/vectors.js';
import { ACCOUNT, DEVICE_KEY, Harness } from './support/harness.js';

describe('lock core: shared vectors', () => {
  it('answers the registration bind with the vector Table 4, then closes and is bound', () => {
    const reg = vectors.registration;
    const h = new Harness({ config: { pairingMode: true, battery: 87, stageAAnswerMs: 1000 }, challenges: [hex(reg.challenge)] });
    const c = h.connect();
    assert.equal(c.challenge.toString('hex'), reg.challenge);
    c.raw(hex(reg.request.ciphertext));
    assert.equal(c.sent.length, 0, 'the answer waits for the binding to be written');
    h.clock.advance(1000);
    assert.deepEqual(
      c.sent.map((b) => b.toString('hex')),
      [reg.response.ciphertext],
    );
    assert.deepEqual(c.closed, ['stage-a-done']);
    assert.equal(h.lock.boundAccountId, ACCOUNT);
    assert.equal(h.lock.pairingMode, false, 'a bind ends pairing mode');
  });

  it('answers the owner session exchange byte for byte (Tables 5–8)', () => {
    const s = vectors.session;
    const h = new Harness({
      config: { doorSensor: true, motorMs: 1000 },
      state: { boundAccountId: ACCOUNT, battery: 87, lockState: 1, doorState: 0, opCounter: 41 },
      challenges: [hex(s.challenge)],
    });
    const c = h.connect();
    const [t5, t6, t7, t8] = s.exchange;
    c.raw(hex(t5!.ciphertext));
    assert.deepEqual(c.sent.map((b) => b.toString('hex')), [t6!.ciphertext]);
    h.clock.advance(1000);
    c.raw(hex(t7!.ciphertext));
    assert.equal(c.sent.length, 1, 'the motor is still running');
    h.clock.advance(1000);
    assert.deepEqual(c.sent.map((b) => b.toString('hex')), [t6!.ciphertext, t8!.ciphertext]);
    assert.equal(h.lock.snapshot().lockState, LockState.Unsecured);
    assert.equal(h.lock.snapshot().opCounter, 42);
    assert.deepEqual(c.closed, []);
  });

  it('answers the unbind vector and forgets its owner', () => {
    const u = vectors.unbind;
    const h = new Harness({ state: { boundAccountId: ACCOUNT, battery: 80 }, challenges: [hex(u.challenge)] });
    const c = h.connect();
    c.raw(hex(u.request.ciphertext));
    assert.deepEqual(c.sent.map((b) => b.toString('hex')), [u.response.ciphertext]);
    assert.deepEqual(c.closed, ['stage-a-done']);
    assert.equal(h.lock.boundAccountId, null);
  });

  it('sends the member session vector, with the status report of a manual turn', () => {
    const m = vectors.memberSession;
    const h = new Harness({
      config: { doorSensor: true },
      state: { boundAccountId: ACCOUNT, battery: 80, lockState: 1, doorState: 0, opCounter: 42, stateCounter: 8 },
      challenges: [hex(m.challenge)],
    });
    const c = h.connect();
    const [t5, t6, report] = m.exchange;
    c.raw(hex(t5!.ciphertext));
    h.clock.advance(5000);
    h.lock.manualChange({ lockState: LockState.Unsecured, doorState: DoorState.Open });
    assert.deepEqual(c.sent.map((b) => b.toString('hex')), [t6!.ciphertext, report!.ciphertext]);
  });

  describe('reject cases: the lock closes without an answer', () => {
    it('a Table 7 with one bit flipped, mid-session', () => {
      const s = vectors.session;
      const h = new Harness({ state: { boundAccountId: ACCOUNT }, challenges: [hex(s.challenge)] });
      const c = h.connect();
      c.raw(hex(s.exchange[0]!.ciphertext));
      assert.equal(c.sent.length, 1);
      const flipped = vectors.reject.find((r) => r.why.includes('bit flipped'))!;
      c.raw(hex(flipped.ciphertext));
      assert.equal(c.sent.length, 1);
      assert.deepEqual(c.closed, ['bad-frame']);
    });

    for (const r of vectors.reject) {
      it(`as a first frame: ${r.why}`, () => {
        // Every reject ciphertext offered to a fresh connection whose challenge is the vector's
        // IV (or, for lock→gateway frames, the registration challenge): no stage accepts it.
        const iv = hex(r.iv);
        const challenge = [vectors.registration.challenge, vectors.session.challenge, vectors.unbind.challenge, vectors.memberSession.challenge]
          .map(hex)
          .find((ch) => ch.equals(iv)) ?? hex(vectors.registration.challenge);
        const h = new Harness({ config: { pairingMode: true }, state: { boundAccountId: ACCOUNT }, challenges: [challenge] });
        const c = h.connect();
        c.raw(hex(r.ciphertext));
        assert.deepEqual(c.sent, []);
        assert.deepEqual(c.closed, ['bad-frame']);
        assert.equal(h.lock.boundAccountId, ACCOUNT, 'nothing changed');
      });
    }
  });

  it('seals the advertised state as the advertisement vector does', () => {
    const a = vectors.advertisement;
    const h = new Harness({
      state: { boundAccountId: ACCOUNT, battery: a.state.battery, lockState: a.state.lockState, stateCounter: a.state.stateCounter, bootId: a.state.bootId - 1 },
      config: { doorSensor: true },
    });
    h.clock.advance(a.state.tick * 10_000);
    const data = h.lock.manufacturerData();
    assert.equal(data.toString('hex'), a.manufacturerData);
    const adv = decodeAdvert(data);
    assert.deepEqual(openAdvertState(deriveAdvertKey(DEVICE_KEY, ACCOUNT), adv.sealed).tick, a.state.tick);
  });

  it('advertises the unbound vector in pairing mode', () => {
    const h = new Harness({ config: { pairingMode: true } });
    assert.equal(h.lock.manufacturerData().toString('hex'), vectors.advertisementUnbound.manufacturerData);
  });
});
