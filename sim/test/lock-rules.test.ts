/** Every lock rule of the profile, on a ManualClock so the 5 s / 60 s / 30 s timers cost nothing. */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BindType,
  DoorState,
  LockState,
  LockTiming,
  OperationType,
  Result,
  SessionRole,
  StatusCause,
  decodeAdvert,
  deriveAdvertKey,
  openAdvertState,
  type Message,
} from 'homebridge-igrs-smartlock/protocol';
import { ConnectionRefused, FileStateStore } from '../src/lock/index.js';
import { ACCOUNT, DEVICE_KEY, Harness, OTHER_ACCOUNT, T0, type Conn } from './support/harness.js';
import { vectors } from '../../test/support/vectors.js';

const bind = (accountId = ACCOUNT, ts = T0): Message => ({ kind: 'writeAccountId', type: BindType.Bind, accountId, ts });
const unbind = (accountId = ACCOUNT, ts = T0): Message => ({ kind: 'writeAccountId', type: BindType.Unbind, accountId, ts });
const auth = (accountId = ACCOUNT, ts = T0): Message => ({ kind: 'authenticate', role: SessionRole.Owner, accountId, ts });
const op = (o: OperationType, operationId = 1, ts = T0): Message => ({ kind: 'operation', op: o, operationId, ts });

function bound(config: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  return new Harness({ ...config, state: { boundAccountId: ACCOUNT, ...config.state } });
}

/** A stage-b connection that has passed Table 5. */
function session(h: Harness, ts = T0): Conn {
  const c = h.connect().stageB();
  c.send(auth(ACCOUNT, ts));
  const [t6] = c.received();
  assert.equal(t6?.kind, 'authenticateResponse');
  return c;
}

function only<K extends Message['kind']>(c: Conn, kind: K): Extract<Message, { kind: K }> {
  const msgs = c.received();
  assert.equal(msgs.length, 1, `expected one ${kind}, got ${msgs.map((m) => m.kind).join(',') || 'nothing'}`);
  assert.equal(msgs[0]!.kind, kind);
  return msgs[0] as Extract<Message, { kind: K }>;
}

describe('lock core: rules', () => {
  describe('stage a', () => {
    it('refuses a bind outside pairing mode (0x09) and stays unbound', () => {
      const h = new Harness();
      const c = h.connect().stageA();
      c.send(bind());
      assert.equal(only(c, 'writeAccountIdResponse').result, Result.PairingModeRequired);
      assert.deepEqual(c.closed, ['stage-a-done']);
      assert.equal(h.lock.boundAccountId, null);
    });

    it('binds in pairing mode, replacing an owner, and ends pairing mode', () => {
      const h = bound();
      h.lock.pressButton();
      const c = h.connect().stageA();
      c.send(bind(OTHER_ACCOUNT));
      const t4 = only(c, 'writeAccountIdResponse');
      assert.equal(t4.result, Result.Ok);
      assert.equal(t4.accountIdPrefix, OTHER_ACCOUNT.slice(0, 8));
      assert.equal(h.lock.boundAccountId, OTHER_ACCOUNT);
      assert.equal(h.lock.pairingMode, false);
    });

    it('accepts a repeated bind of the bound account outside pairing mode', () => {
      const h = bound();
      const c = h.connect().stageA();
      c.send(bind());
      assert.equal(only(c, 'writeAccountIdResponse').result, Result.Ok);
    });

    it('pairing mode lasts 60 s after the button', () => {
      const h = new Harness();
      h.lock.pressButton();
      assert.equal(decodeAdvert(h.lock.manufacturerData()).pairingMode, true);
      h.clock.advance(LockTiming.pairingMs - 1);
      assert.equal(h.lock.pairingMode, true);
      h.clock.advance(1);
      assert.equal(h.lock.pairingMode, false);
      assert.equal(decodeAdvert(h.lock.manufacturerData()).pairingMode, false);
    });

    it('answers an unbind of an unbound lock with 0x08 and of another account with 0x03', () => {
      const h = new Harness();
      const c = h.connect().stageA();
      c.send(unbind());
      assert.equal(only(c, 'writeAccountIdResponse').result, Result.NotBound);
      const h2 = bound();
      const c2 = h2.connect().stageA();
      c2.send(unbind(OTHER_ACCOUNT));
      assert.equal(only(c2, 'writeAccountIdResponse').result, Result.AccountMismatch);
      assert.equal(h2.lock.boundAccountId, ACCOUNT);
    });
  });

  describe('the first frame fixes the stage', () => {
    it('a Table 7 as the first frame ends the connection without an answer', () => {
      const h = bound();
      const c = h.connect().stageB();
      c.send(op(OperationType.Unlock));
      assert.deepEqual(c.sent, []);
      assert.deepEqual(c.closed, ['bad-frame']);
    });

    it('a Table 5 on an unbound lock cannot be decrypted', () => {
      const h = new Harness();
      const c = h.connect().stageB();
      c.send(auth());
      assert.deepEqual(c.sent, []);
      assert.deepEqual(c.closed, ['bad-frame']);
    });

    it('a Table 5 naming another account gets 0x03 and the lock closes', () => {
      const h = bound();
      const c = h.connect().stageB();
      c.send(auth(OTHER_ACCOUNT));
      assert.equal(only(c, 'authenticateResponse').result, Result.AccountMismatch);
      assert.deepEqual(c.closed, ['account-mismatch']);
    });

    it('stage a is one Table 3/4 pair', () => {
      const h = bound();
      const c = h.connect().stageA();
      c.send(bind());
      assert.deepEqual(c.closed, ['stage-a-done']);
      assert.equal(c.conn.open, false);
      c.send(bind());
      assert.equal(c.sent.length, 1);
    });
  });

  describe('stage b', () => {
    it('after Table 5 only Table 7 is valid: a second Table 5 closes', () => {
      const h = bound();
      const c = session(h);
      c.send(auth());
      assert.deepEqual(c.received(), []);
      assert.deepEqual(c.closed, ['unexpected-frame']);
    });

    it('drops the connection on the first bad frame', () => {
      const h = bound();
      const c = session(h);
      c.raw(Buffer.alloc(16, 0x5a));
      assert.deepEqual(c.closed, ['bad-frame']);
    });

    it('keeps every frame within ±300 s of the first frame', () => {
      const h = bound();
      const c = session(h);
      c.send(op(OperationType.Query, 1, T0 + 300));
      assert.equal(only(c, 'operationResponse').result, Result.Ok);
      c.send(op(OperationType.Query, 2, T0 + 301));
      assert.deepEqual(c.closed, ['bad-frame']);
    });

    it('ends 60 s after Table 5', () => {
      const h = bound();
      h.clock.advance(3000);
      const c = session(h);
      h.clock.advance(LockTiming.sessionMs - 1);
      assert.equal(c.conn.open, true);
      h.clock.advance(1);
      assert.deepEqual(c.closed, ['session-expired']);
    });

    it('unlocks with the motor: no Table 8 until it stops, then state, counters and battery move', () => {
      const h = bound({ config: { motorMs: 800, batteryDrainPerOp: 1 }, state: { battery: 50 } });
      const before = h.lock.snapshot();
      const c = session(h);
      c.send(op(OperationType.Unlock, 77));
      h.clock.advance(799);
      assert.deepEqual(c.received(), []);
      assert.equal(h.lock.snapshot().motorRunning, true);
      h.clock.advance(1);
      const t8 = only(c, 'operationResponse');
      assert.deepEqual([t8.result, t8.operationId, t8.lockState, t8.battery], [Result.Ok, 77, LockState.Unsecured, 49]);
      const after = h.lock.snapshot();
      assert.equal(after.opCounter, before.opCounter + 1);
      assert.ok(after.stateCounter > before.stateCounter);
    });

    it('answers busy (0x04) while the motor runs, and query at once', () => {
      const h = bound();
      const c = session(h);
      c.send(op(OperationType.Unlock, 1));
      c.send(op(OperationType.Lock, 2));
      assert.equal(only(c, 'operationResponse').result, Result.Busy);
      c.send(op(OperationType.Query, 3));
      const q = only(c, 'operationResponse');
      assert.deepEqual([q.result, q.operationId, q.lockState], [Result.Ok, 3, LockState.Secured]);
    });

    it('an injected jam ends the motor run jammed (0x05) until a hand frees it', () => {
      const h = bound();
      const c = session(h);
      h.lock.jam();
      c.send(op(OperationType.Unlock, 1));
      h.clock.advance(1000);
      const t8 = only(c, 'operationResponse');
      assert.deepEqual([t8.result, t8.lockState], [Result.Jammed, LockState.Jammed]);
      h.clock.advance(10_000);
      const sealed = openAdvertState(deriveAdvertKey(DEVICE_KEY, ACCOUNT), decodeAdvert(h.lock.manufacturerData()).sealed);
      assert.equal(sealed.jammed, true);
      h.lock.turn('lock');
      assert.equal(h.lock.snapshot().blocked, false);
      assert.equal(h.lock.snapshot().lockState, LockState.Secured);
    });

    it('refuses the motor on a flat battery (0x07)', () => {
      const h = bound({ state: { battery: 3 } });
      const c = session(h);
      c.send(op(OperationType.Unlock));
      assert.equal(only(c, 'operationResponse').result, Result.BatteryTooLow);
    });

    it('reports a manual turn on the live session (cause 1) with the bumped counter', () => {
      const h = bound();
      const c = session(h);
      const counter = h.lock.snapshot().stateCounter;
      h.lock.turn();
      const r = only(c, 'statusReport');
      assert.deepEqual([r.lockState, r.cause, r.counter], [LockState.Unsecured, StatusCause.Manual, counter + 1]);
    });

    it('auto-locks after an unlock (cause 2), waiting for the door to close', () => {
      const h = bound({ config: { autoLockMs: 5000, doorSensor: true, motorMs: 500 } });
      const c = session(h);
      c.send(op(OperationType.Unlock));
      h.clock.advance(500);
      only(c, 'operationResponse');
      h.lock.setDoor(true);
      assert.equal(only(c, 'statusReport').doorState, DoorState.Open);
      h.clock.advance(6000);
      assert.deepEqual(c.received(), [], 'the door is open: no auto-lock yet');
      h.lock.setDoor(false);
      only(c, 'statusReport');
      h.clock.advance(500);
      const r = only(c, 'statusReport');
      assert.deepEqual([r.cause, r.lockState, r.doorState], [StatusCause.AutoLock, LockState.Secured, DoorState.Closed]);
    });
  });

  describe('connections and backoff', () => {
    it('ends a connection with no valid first frame within 5 s', () => {
      const h = bound();
      const c = h.connect();
      h.clock.advance(LockTiming.firstFrameMs - 1);
      assert.equal(c.conn.open, true);
      h.clock.advance(1);
      assert.deepEqual(c.closed, ['first-frame-timeout']);
    });

    it('backs off exponentially up to 30 s after connections without a valid frame', () => {
      const h = bound();
      const waits: number[] = [];
      for (let i = 0; i < 7; i++) {
        h.connect().raw(Buffer.alloc(16));
        try {
          h.connect();
          assert.fail('connected during backoff');
        } catch (err) {
          assert.ok(err instanceof ConnectionRefused);
          assert.equal(err.reason, 'backoff');
          waits.push(Math.round(err.retryInMs));
        }
        h.clock.advance(waits.at(-1)!);
      }
      assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
      // A valid frame resets the backoff.
      session(h).conn.end();
      h.connect().conn.end();
      h.clock.advance(1);
      assert.throws(() => h.connect(), ConnectionRefused);
    });

    it('the pairing button is exempt: pressing it lifts the backoff', () => {
      const h = new Harness();
      h.connect().raw(Buffer.alloc(16));
      assert.throws(() => h.connect(), ConnectionRefused);
      h.lock.pressButton();
      const c = h.connect().stageA();
      c.send(bind());
      assert.equal(only(c, 'writeAccountIdResponse').result, Result.Ok);
    });

    it('takes one connection at a time', () => {
      const h = bound();
      h.connect();
      assert.throws(() => h.connect(), (e) => e instanceof ConnectionRefused && e.reason === 'busy');
    });
  });

  describe('clock, adverts and persistence', () => {
    it('the clock follows the first frame of each accepted connection', () => {
      const h = bound();
      const c = session(h, T0 + 5000);
      assert.equal(h.lock.rtc, T0 + 5000);
      h.clock.advance(10_000);
      assert.equal(h.lock.rtc, T0 + 5010);
      c.send(op(OperationType.Query, 1, T0 + 5010));
      assert.equal(only(c, 'operationResponse').ts, T0 + 5010);
    });

    it('re-seals the advert only when the 10 s tick advances', () => {
      const h = new Harness({ config: { pairingMode: true } });
      const c = h.connect().stageA();
      c.send(bind());
      const adv = decodeAdvert(h.lock.manufacturerData());
      assert.deepEqual([adv.registered, adv.pairingMode], [true, false]);
      assert.ok(adv.sealed.equals(Buffer.alloc(16)), 'still the unbound seal until the tick');
      h.clock.advance(10_000);
      const key = deriveAdvertKey(DEVICE_KEY, ACCOUNT);
      const s1 = openAdvertState(key, decodeAdvert(h.lock.manufacturerData()).sealed);
      assert.equal(s1.tick, 1);
      h.lock.turn();
      const s1b = openAdvertState(key, decodeAdvert(h.lock.manufacturerData()).sealed);
      assert.deepEqual(s1b, s1, 'a change shows only at the next tick');
      h.clock.advance(10_000);
      const s2 = openAdvertState(key, decodeAdvert(h.lock.manufacturerData()).sealed);
      assert.deepEqual([s2.tick, s2.stateCounter, s2.lockState], [2, s1.stateCounter + 1, LockState.Unsecured]);
    });

    it('a restarted lock keeps its owner, counters and clock, with the next boot id', () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'igrs-sim-state-'));
      try {
        const store = new FileStateStore(path.join(dir, `${vectors.deviceId}.json`));
        const h1 = new Harness({ config: { pairingMode: true }, store });
        const c = h1.connect().stageA();
        c.send(bind(ACCOUNT, T0 + 100));
        const s1 = h1.lock.snapshot();
        h1.lock.stop();
        const h2 = new Harness({ store });
        const s2 = h2.lock.snapshot();
        assert.equal(s2.boundAccountId, ACCOUNT);
        assert.equal(s2.bootId, s1.bootId + 1);
        assert.equal(s2.stateCounter, s1.stateCounter);
        assert.ok(s2.rtc >= T0 + 100);
        session(h2, T0 + 200);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
