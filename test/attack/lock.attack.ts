/**
 * An attacker in BLE range against the lock core: replays, bit flips, brute force, reflection,
 * a session held past its minute. Driven on a ManualClock, so a million frames cost seconds.
 * "Accepted" means the lock answered the frame or changed state because of it.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import {
  BindType,
  ChannelError,
  FrameChannel,
  FrameError,
  OperationType,
  SessionRole,
  decodeFrame,
  deriveSessionKey,
  deriveStageAKeys,
  type Message,
} from 'homebridge-igrs-smartlock/protocol';
import { ACCOUNT, DEVICE_KEY, Harness, OTHER_ACCOUNT, T0, type Conn } from '../../sim/test/support/harness.js';
import { count, tally } from './support/report.js';

const auth = (ts = T0): Message => ({ kind: 'authenticate', role: SessionRole.Owner, accountId: ACCOUNT, ts });
const op = (o: OperationType, operationId: number, ts = T0): Message => ({ kind: 'operation', op: o, operationId, ts });
const bind = (accountId = ACCOUNT, ts = T0): Message => ({ kind: 'writeAccountId', type: BindType.Bind, accountId, ts });

function boundHarness(): Harness {
  return new Harness({ state: { boundAccountId: ACCOUNT } });
}

/** What the lock shows to the world: anything here moving is a state change. */
function fingerprint(h: Harness): string {
  const s = h.lock.snapshot();
  return JSON.stringify([s.boundAccountId, s.lockState, s.pairingMode, s.opCounter]);
}

/** Writes frames on a fresh connection; true if the lock answered any of them or changed state. */
function offer(h: Harness, frames: Buffer[], prefix: Buffer[] = []): boolean {
  h.lock.clearBackoff();
  const c = h.connect();
  for (const f of prefix) c.raw(f);
  const answeredBefore = c.sent.length;
  const before = fingerprint(h);
  for (const f of frames) c.raw(f);
  // Let the motor finish so a run it started would show in the fingerprint.
  h.clock.advance(1_000);
  const accepted = c.sent.length > answeredBefore || fingerprint(h) !== before;
  if (c.conn.open) c.conn.end();
  return accepted;
}

/** One legitimate owner connection, captured: Table 5, Table 7 unlock, and the lock's answers. */
function capture(h: Harness, ts = T0): { challenge: Buffer; toLock: Buffer[]; fromLock: Buffer[] } {
  h.lock.clearBackoff();
  const c: Conn = h.connect().stageB();
  const toLock = [c.send(auth(ts)), c.send(op(OperationType.Unlock, 7, ts))];
  h.clock.advance(1_000);
  const fromLock = [...c.sent];
  assert.equal(fromLock.length, 2, 'the genuine exchange works');
  const challenge = c.challenge;
  c.conn.end();
  return { challenge, toLock, fromLock };
}

describe('attack: the lock in BLE range', () => {
  it('replays every captured frame within the connection and across connections', () => {
    const h = boundHarness();
    const fig = tally('replay: captured frames (within and across connections)');
    const { toLock, fromLock } = capture(h);
    const all = [...toLock, ...fromLock];
    // Across connections: each captured frame as a first frame, and the whole capture in order.
    for (let round = 0; round < 20; round++) {
      for (const f of all) {
        fig.attempts++;
        if (offer(h, [f])) fig.accepted++;
      }
      fig.attempts++;
      if (offer(h, toLock)) fig.accepted++;
    }
    // Within the connection: a genuine Table 5, then each captured frame again.
    for (const f of all) {
      h.lock.clearBackoff();
      const c = h.connect().stageB();
      c.send(auth());
      c.received();
      const before = fingerprint(h);
      c.raw(f);
      h.clock.advance(1_000);
      fig.attempts++;
      if (c.sent.length > 0 || fingerprint(h) !== before) fig.accepted++;
      assert.equal(c.conn.open, false, 'a replayed frame ends the connection');
    }
    assert.equal(fig.accepted, 0);
  });

  it('reflects the lock\'s own frames back at it and at the gateway', () => {
    const h = boundHarness();
    const fig = tally('reflection: lock frames sent back, gateway frames as lock answers');
    const { challenge, toLock, fromLock } = capture(h);
    for (const f of fromLock) {
      fig.attempts++;
      if (offer(h, [f])) fig.accepted++;
    }
    // The gateway side: a gateway frame offered as the lock's answer never decodes.
    const key = deriveSessionKey(DEVICE_KEY, ACCOUNT, challenge);
    for (const f of toLock) {
      fig.attempts++;
      const gw = new FrameChannel({ key, challenge, direction: 'fromLock' });
      try {
        gw.openMessage(f);
        fig.accepted++;
      } catch (err) {
        assert.ok(err instanceof ChannelError);
      }
    }
    assert.equal(fig.accepted, 0);
  });

  it('flips every bit of every frame type, at its position in a genuine connection', () => {
    const fig = tally('bit flips: every bit of Tables 3, 5, 7 (lock) and 4, 6, 8 (gateway)');
    const h = boundHarness();
    const flip = (f: Buffer, bit: number): Buffer => {
      const g = Buffer.from(f);
      g[bit >> 3]! ^= 1 << (bit & 7);
      return g;
    };
    // Table 5 as the first frame.
    const { toLock, fromLock, challenge } = capture(h);
    for (let bit = 0; bit < 128; bit++) {
      fig.attempts++;
      if (offer(h, [flip(toLock[0]!, bit)])) fig.accepted++;
    }
    // Table 7 after a genuine Table 5 of a fresh connection: re-seal per connection so only the flip differs.
    for (const o of [OperationType.Unlock, OperationType.Lock, OperationType.Query]) {
      for (let bit = 0; bit < 128; bit++) {
        h.lock.clearBackoff();
        const c = h.connect().stageB();
        const t5 = c.send(auth());
        c.received();
        const key = deriveSessionKey(DEVICE_KEY, ACCOUNT, c.challenge);
        // The chain's next IV is the Table 5 ciphertext just sent.
        const t7 = new FrameChannel({ key, challenge: t5, direction: 'toLock' }).sealMessage(op(o, 9, T0));
        const before = fingerprint(h);
        c.raw(flip(t7, bit));
        h.clock.advance(1_000);
        fig.attempts++;
        if (c.sent.length > 0 || fingerprint(h) !== before) fig.accepted++;
        if (c.conn.open) c.conn.end();
      }
    }
    // Table 3 (bind and unbind) as the first frame, on a lock in pairing mode.
    const p = new Harness();
    for (const type of [BindType.Bind, BindType.Unbind]) {
      for (let bit = 0; bit < 128; bit++) {
        p.lock.clearBackoff();
        if (!p.lock.pairingMode) p.lock.pressButton();
        const c = p.connect();
        const genuine = new FrameChannel({ key: deriveStageAKeys(DEVICE_KEY, c.challenge).toLock, challenge: c.challenge, direction: 'toLock' });
        const t3 = genuine.sealMessage({ kind: 'writeAccountId', type, accountId: OTHER_ACCOUNT, ts: T0 });
        const before = fingerprint(p);
        c.raw(flip(t3, bit));
        fig.attempts++;
        if (c.sent.length > 0 || fingerprint(p) !== before) fig.accepted++;
        if (c.conn.open) c.conn.end();
      }
    }
    // The gateway's side: flipped Tables 6 and 8 never decode for it.
    const key = deriveSessionKey(DEVICE_KEY, ACCOUNT, challenge);
    for (let i = 0; i < fromLock.length; i++) {
      for (let bit = 0; bit < 128; bit++) {
        const gw = new FrameChannel({ key, challenge, direction: 'fromLock' });
        fig.attempts++;
        try {
          for (let j = 0; j < i; j++) gw.openMessage(fromLock[j]!);
          gw.openMessage(flip(fromLock[i]!, bit));
          fig.accepted++;
        } catch (err) {
          assert.ok(err instanceof ChannelError, String(err));
        }
      }
    }
    assert.equal(fig.accepted, 0);
  });

  it('brute force: random first frames and random frames after a genuine Table 5', function () {
    const n = count(20_000, 1_000_000);
    this.timeout(Math.max(60_000, n * 2));
    const fig = tally('brute force: random frames into a bound lock', `${n} first frames + ${n / 10} in-session`);
    const h = boundHarness();
    for (let i = 0; i < n; i++) {
      h.lock.clearBackoff();
      const c = h.connect();
      const before = h.lock.boundAccountId;
      c.raw(randomBytes(16));
      fig.attempts++;
      // A random first frame may decrypt as a Table 3 bind (2^-24); outside pairing mode that
      // earns 0x09 and changes nothing, so only a state change or a session counts as accepted.
      if (h.lock.boundAccountId !== before || c.conn.currentStage === 'b') fig.accepted++;
      if (c.conn.open) c.conn.end();
      if ((i & 0xfff) === 0) h.clock.advance(0);
    }
    for (let i = 0; i < n / 10; i++) {
      h.lock.clearBackoff();
      const c = h.connect().stageB();
      c.send(auth());
      c.received();
      const before = fingerprint(h);
      c.raw(randomBytes(16));
      fig.attempts++;
      if (c.sent.length > 0 || fingerprint(h) !== before) fig.accepted++;
      if (c.conn.open) c.conn.end();
      if ((i & 0xfff) === 0) h.clock.advance(0);
    }
    assert.equal(fig.accepted, 0);
  });

  it('a bind outside pairing mode changes nothing (0x09), with the right K_a', () => {
    const fig = tally('bind outside pairing mode (lock)');
    const h = boundHarness();
    for (let i = 0; i < 10; i++) {
      h.lock.clearBackoff();
      const c = h.connect().stageA();
      c.send(bind(OTHER_ACCOUNT));
      fig.attempts++;
      const [t4] = c.received();
      if (t4?.kind !== 'writeAccountIdResponse' || t4.result === 0 || h.lock.boundAccountId !== ACCOUNT) fig.accepted++;
    }
    assert.equal(fig.accepted, 0);
  });

  it('a session held open past its minute is ended by the lock within 60 s', () => {
    const fig = tally('member connection held past the window (lock ends it)');
    const h = boundHarness();
    let worst = 0;
    for (let i = 0; i < 5; i++) {
      h.lock.clearBackoff();
      const c = h.connect().stageB();
      c.send(auth());
      c.received();
      const start = h.clock.now();
      // The gateway keeps the link busy with queries every 5 s, as a member holding it open would.
      let k = 0;
      while (c.conn.open && h.clock.now() - start < 120_000) {
        c.send(op(OperationType.Query, 100 + k++));
        h.clock.advance(5_000);
      }
      fig.attempts++;
      const held = h.clock.now() - start;
      worst = Math.max(worst, held);
      if (c.conn.open || held > 60_000) fig.accepted++;
    }
    fig.recoveredMs = worst;
    fig.note = 'recovered-in-ms: longest the link stayed open after Table 5 (lock clock)';
    assert.equal(fig.accepted, 0);
  });
});

describe('fuzz: frame decoder and channel', () => {
  it('decodeFrame and FrameChannel.open throw only their typed errors on random input', function () {
    const n = count(20_000, 1_000_000);
    this.timeout(Math.max(60_000, n));
    const fig = tally('fuzz: random bytes into decodeFrame / FrameChannel', `${n} each; accepted = untyped error`);
    const key = randomBytes(16);
    for (let i = 0; i < n; i++) {
      const len = i % 10 === 0 ? (i / 10) % 33 : 16;
      const bytes = randomBytes(len);
      fig.attempts += 2;
      try {
        decodeFrame(bytes);
      } catch (err) {
        if (!(err instanceof FrameError)) fig.accepted++;
      }
      try {
        new FrameChannel({ key, challenge: randomBytes(16), direction: i & 1 ? 'toLock' : 'fromLock' }).openMessage(bytes);
      } catch (err) {
        if (!(err instanceof ChannelError)) fig.accepted++;
      }
    }
    assert.equal(fig.accepted, 0);
  });
});
