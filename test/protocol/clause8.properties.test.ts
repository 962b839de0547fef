import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AdvertError,
  ChannelError,
  Cmd,
  FrameChannel,
  FrameError,
  IdentifierError,
  TS_WINDOW_SECONDS,
  decodeAdvert,
  decodeAdvertState,
  decodeFrame,
  encodeFrame,
  encodeMessage,
  judgeAdvertState,
  openAdvertState,
  openSession,
  parseMessage,
  type Message,
} from 'homebridge-igrs-smartlock/protocol';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ts = fc.integer({ min: 1_600_000_000, max: 2_000_000_000 });
const accountId = bytes(9).map((b) => b.toString('hex'));
const lockState = fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3);
const doorState = fc.constantFrom<0 | 1 | 255>(0, 1, 0xff);
const battery = fc.integer({ min: 0, max: 100 });
const byte = fc.integer({ min: 0, max: 255 });

/** Every message the profile defines, with every field drawn from its whole range. */
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ kind: fc.constant('writeAccountId' as const), type: fc.constantFrom<0 | 1>(0, 1), accountId, ts }),
  fc.record({
    kind: fc.constant('writeAccountIdResponse' as const),
    result: byte,
    fwMajor: byte,
    fwMinor: byte,
    battery,
    lockState,
    requestType: fc.constantFrom<0 | 1>(0, 1),
    accountIdPrefix: bytes(4).map((b) => b.toString('hex')),
    ts,
  }),
  fc.record({ kind: fc.constant('authenticate' as const), role: fc.constantFrom<1 | 2>(1, 2), accountId, ts }),
  fc.record({
    kind: fc.constant('authenticateResponse' as const),
    result: byte,
    lockState,
    battery,
    doorState,
    opCounter: u32,
    ts,
  }),
  fc.record({ kind: fc.constant('operation' as const), op: fc.constantFrom<1 | 2 | 3>(1, 2, 3), operationId: u32, ts }),
  fc.record({
    kind: fc.constant('operationResponse' as const),
    result: byte,
    operationId: u32,
    lockState,
    battery,
    doorState,
    ts,
  }),
  fc.record({
    kind: fc.constant('statusReport' as const),
    lockState,
    battery,
    doorState,
    cause: fc.constantFrom<1 | 2 | 3>(1, 2, 3),
    counter: u32,
    ts,
  }),
);

const typed = (e: unknown): boolean =>
  e instanceof FrameError || e instanceof ChannelError || e instanceof AdvertError || e instanceof IdentifierError;

describe('Clause 8 properties', () => {
  it('every message survives encode → frame bytes → decode → parse unchanged', () => {
    fc.assert(
      fc.property(message, (msg) => {
        const wire = encodeFrame(encodeMessage(msg));
        assert.equal(wire.length, 16);
        assert.deepEqual(parseMessage(decodeFrame(wire)), { ...msg });
      }),
      { numRuns: 2000 },
    );
  });

  it('a whole connection round-trips through CBC in both directions', () => {
    fc.assert(
      fc.property(bytes(16), bytes(16), fc.array(fc.tuple(fc.boolean(), message), { maxLength: 12 }), (key, challenge, script) => {
        const a = openSession(key, challenge);
        const b = openSession(key, challenge);
        const t0 = script[0]?.[1].ts ?? 0;
        for (const [down, msg] of script) {
          const m = { ...msg, ts: t0 + ((msg.ts - t0) % TS_WINDOW_SECONDS) };
          const [tx, rx] = down ? [a.toLock, b.toLock] : [b.fromLock, a.fromLock];
          assert.deepEqual(rx.openMessage(tx.sealMessage(m)), { ...m });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('random 16-byte inputs never throw an untyped error (frame, channel, advert)', () => {
    fc.assert(
      fc.property(bytes(16), bytes(16), bytes(16), fc.uint8Array({ maxLength: 40 }), (frame, key, iv, anyLength) => {
        for (const input of [frame, Buffer.from(anyLength)]) {
          try {
            parseMessage(decodeFrame(input));
          } catch (e) {
            assert.ok(typed(e), String(e));
          }
          const channel = new FrameChannel({ key, challenge: iv, direction: 'toLock' });
          try {
            channel.openMessage(input);
          } catch (e) {
            assert.ok(typed(e), String(e));
          }
          for (const fn of [() => decodeAdvert(input), () => decodeAdvertState(input), () => openAdvertState(key, input)]) {
            try {
              fn();
            } catch (e) {
              assert.ok(typed(e), String(e));
            }
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a channel refuses everything after its first failure, even the right next frame', () => {
    fc.assert(
      fc.property(bytes(16), bytes(16), message, bytes(16), (key, challenge, msg, garbage) => {
        const tx = openSession(key, challenge).toLock;
        const rx = openSession(key, challenge).toLock;
        const good = tx.sealMessage(msg);
        let failed = false;
        try {
          rx.open(garbage);
        } catch (e) {
          failed = true;
          assert.ok(e instanceof ChannelError);
        }
        if (failed) {
          assert.throws(() => rx.open(good), (e) => e instanceof ChannelError && e.code === 'closed');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a frame whose TS is outside ±300 s of the first frame', () => {
    const key = Buffer.alloc(16, 7);
    const challenge = Buffer.alloc(16, 9);
    const tx = openSession(key, challenge).toLock;
    const rx = openSession(key, challenge).toLock;
    const msg = (t: number): Message => ({ kind: 'operation', op: 1, operationId: 1, ts: t });
    rx.openMessage(tx.sealMessage(msg(1_795_000_000)));
    rx.openMessage(tx.sealMessage(msg(1_795_000_300)));
    // The sender refuses to produce it too; craft it through a fresh sender at the same chain position.
    const forger = openSession(key, challenge).toLock;
    forger.sealMessage(msg(1_795_000_000));
    forger.sealMessage(msg(1_795_000_300));
    const forgerAnchorless = new FrameChannel({ key, challenge: forger.nextIv, direction: 'toLock' });
    const late = forgerAnchorless.sealMessage(msg(1_795_000_301 + 0));
    assert.throws(() => rx.open(late), (e) => e instanceof ChannelError && e.code === 'ts');
  });

  it('decodeFrame names what is wrong', () => {
    assert.throws(() => decodeFrame(Buffer.alloc(15)), (e) => e instanceof FrameError && e.code === 'length');
    const bad = encodeFrame({ cmd: Cmd.Operation, type: 1, value: Buffer.alloc(9), ts: 1 });
    bad[11]! ^= 1;
    assert.throws(() => decodeFrame(bad), (e) => e instanceof FrameError && e.code === 'check');
    const unknown = Buffer.alloc(16);
    unknown[0] = 0x7f;
    unknown[11] = 0x7f;
    assert.throws(() => decodeFrame(unknown), (e) => e instanceof FrameError && e.code === 'cmd');
  });

  describe('advert acceptance (judgeAdvertState)', () => {
    const ref = { stateCounter: 5, bootId: 3, tick: 100, atSeconds: 1000 };
    const state = { lockState: 1 as const, battery: 80, doorState: 0 as const, jammed: false, lowBattery: false };
    it('accepts a newer counter in the same boot within elapsed time', () => {
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 6, bootId: 3, tick: 103 }, 1030), 'newer');
    });
    it('ignores an old or equal counter (a replayed advert)', () => {
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 5, bootId: 3, tick: 101 }, 1030), 'stale');
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 9, bootId: 3, tick: 99 }, 1030), 'stale');
    });
    it('rejects a tick ahead of the elapsed time, and a boot id that jumps', () => {
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 6, bootId: 3, tick: 110 }, 1030), 'reject');
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 6, bootId: 5, tick: 0 }, 1030), 'reject');
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 0, bootId: 4, tick: 2 }, 1030), 'newer');
      assert.equal(judgeAdvertState(ref, { ...state, stateCounter: 0, bootId: 4, tick: 9 }, 1030), 'reject');
    });
  });
});
