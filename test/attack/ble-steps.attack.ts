/**
 * The link lost at every step the BGW goes through, for unlock, lock and registration (Tables
 * 3/4), through the real BGW (BluezGateway, LockSession, registerBsld) on the BlueZ emulator,
 * the real RAS and the plugin's RAC client. For each step: the operation fails typed or the
 * session's one retry on a fresh connection succeeds; what the BGW shows is the lock's real
 * state (or unknown, never a stale one); the motor ran at most once (the lock's opCounter); no
 * unhandled rejection; and the next operation once the fault clears succeeds, timed.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { DEFAULT_RATE_LIMITS } from '@igrs-smartlock/ras';
import type { DropStep, SimulatedLock } from '@igrs-smartlock/sim/testing';
import { BluezGateway } from '../../src/bgw/bluez.js';
import { BgwError } from '../../src/bgw/errors.js';
import { registerBsld, removeBsld } from '../../src/bgw/registration.js';
import { LockSession, type LockOp } from '../../src/bgw/session.js';
import { silentLogger } from '../../src/logger.js';
import { LockState } from '../../src/protocol/index.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import { RasError } from '../../src/rac/errors.js';
import { makeLocks, registerLocks, startStack, type Stack } from '../support/stack.js';
import { tally } from './support/report.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const IDLE_MS = 800;

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Where the link is lost, in the order the BGW meets the steps; `warm` ones hit a kept connection. */
interface StepCase {
  step: DropStep;
  label: string;
  /** The step on a connection kept from an earlier operation (the session may retry once). */
  warm?: boolean;
  /** Also injected during registration (Tables 3/4), where the count means the same thing. */
  registration?: string;
}

const STEPS: StepCase[] = [
  { step: 'connect', label: 'during Connect (the lock saw the link)', registration: 'during Connect' },
  { step: 'connected', label: 'after the Connect reply, before ServicesResolved', registration: 'after Connect' },
  { step: 'services-resolved', label: 'right after ServicesResolved', registration: 'after ServicesResolved' },
  { step: 'start-notify', label: 'right after StartNotify', registration: 'after StartNotify' },
  { step: 'read-challenge', label: 'right after reading C', registration: 'after reading C' },
  { step: 'write:1', label: 'the lock took Table 5, no answer', registration: 'the lock took Table 3, no answer' },
  { step: 'notify:1', label: 'Table 6 lost', registration: 'Table 4 lost' },
  { step: 'notified:1', label: 'right after Table 6', registration: 'right after Table 4' },
  { step: 'write:2', label: 'the lock took Table 7, no answer' },
  { step: 'notify:2', label: 'Table 8 lost' },
  { step: 'notified:2', label: 'right after Table 8' },
  { step: 'write:3', label: 'kept connection: the lock took Table 7, no answer', warm: true },
  { step: 'notify:3', label: 'kept connection: Table 8 lost', warm: true },
  { step: 'notified:3', label: 'kept connection: right after Table 8', warm: true },
  { step: 'disconnect', label: 'during the idle Disconnect' },
];

describe('faults: the BLE link lost at every step of an exchange (BGW, emulated BlueZ, real RAS)', function () {
  this.timeout(300_000);
  let stack: Stack;
  let bluez: BluezGateway;
  let client: RasClient;
  let session: LockSession;
  const debug: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  const locks = makeLocks(2);
  const [door, fresh] = locks as [(typeof locks)[0], (typeof locks)[0]];

  before(async () => {
    process.on('unhandledRejection', onRejection);
    // Sessions and checks are rate-limited per account; this suite opens a few hundred on purpose.
    const lots = { limit: 100_000, windowSeconds: 60 };
    stack = await startStack({ locks, rateLimits: { ...DEFAULT_RATE_LIMITS, session: lots, bsldAuthentication: lots, operation: lots } });
    const store = await CredentialStore.open(path.join(stack.dir, 'cred.json'), stack.ras.url);
    client = new RasClient({ baseUrl: stack.ras.url, store, login: { identifier: stack.user.identifier, password: stack.user.password }, log: silentLogger });
    await client.login();
    await registerLocks(stack, client, [door]);
    bluez = await BluezGateway.open({ log: silentLogger });
    const seen = new Set<string>();
    const sub = bluez.sightings$.subscribe((s) => seen.add(s.deviceId));
    await bluez.startScanning();
    await until('both locks seen', () => seen.has(door.deviceId) && seen.has(fresh.deviceId));
    sub.unsubscribe();
    const log = { ...silentLogger, debug: (m: string) => debug.push(m) };
    session = new LockSession(bluez.link(door.deviceId), client, { log, idleMs: IDLE_MS });
    await session.operate('status');
  });

  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a failed before() leaves these unset */
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await session?.close();
    await bluez?.close();
    await stack?.stop();
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  const simLock = (lock: { deviceId: string }): SimulatedLock => stack.sim.lock(lock.deviceId);
  const target = (op: LockOp): LockState => (op === 'unlock' ? LockState.Unsecured : LockState.Secured);

  /** No kept connection, the motor still, no backoff: every case starts from the same place. */
  async function settle(lock: SimulatedLock): Promise<void> {
    await until('the motor stopped', () => !lock.snapshot().motorRunning);
    await until('the lock takes connections', () => lock.snapshot().backoffMs === 0, 35_000);
    await until('the idle link closed', () => !lock.snapshot().connected && !session.isWarm, IDLE_MS * 4 + 5_000);
  }

  /** Runs the operation; a typed failure is an outcome, anything else fails the test. */
  async function attempt(run: () => Promise<unknown>): Promise<string> {
    try {
      await run();
      return 'succeeded';
    } catch (err) {
      if (err instanceof BgwError) return `failed: ${err.code}`;
      if (err instanceof RasError) return `failed: RAS ${err.kind}${err.status ? ` ${err.status}` : ''}`;
      throw err;
    }
  }

  /** The next operation after the fault: it must work the first time; ms until it did. */
  async function recover(run: () => Promise<unknown>): Promise<number> {
    const t0 = performance.now();
    await run();
    return performance.now() - t0;
  }

  for (const c of STEPS) {
    it(`${c.step}, ${c.label}: unlock and lock fail typed or retry once; the state shown is the lock's; recovers`, async () => {
      const fig = tally(`BLE link lost ${c.label} (${c.step}): unlock, lock`);
      const lock = simLock(door);
      const notes: string[] = [];
      let worst = 0;
      for (const op of ['unlock', 'lock'] as const) {
        await settle(lock);
        // From the other state, so the operation has to move the bolt.
        if (lock.snapshot().lockState === target(op)) {
          await session.operate(op === 'unlock' ? 'lock' : 'unlock');
          await settle(lock);
        }
        if (c.warm) await session.operate('status');
        const before = lock.snapshot();
        const retriesBefore = debug.filter((l) => l.includes('retrying on a fresh session')).length;
        lock.dropAt(c.step);
        fig.attempts++;
        let outcome = await attempt(() => session.operate(op));
        if (c.step === 'disconnect') await until('the idle Disconnect', () => lock.faults.dropAt === undefined);
        assert.equal(lock.faults.dropAt, undefined, `${op}: the link was lost at ${c.step}`);
        if (debug.filter((l) => l.includes('retrying on a fresh session')).length > retriesBefore) outcome = `retried once, ${outcome}`;
        await until('the motor stopped', () => !lock.snapshot().motorRunning);
        await sleep(100);
        const real = lock.snapshot();
        const shown = session.state$.value?.lockState;
        const ranTwice = real.opCounter - before.opCounter > 1;
        const moved = real.lockState !== before.lockState;
        const untruthful = shown !== real.lockState && shown !== LockState.Unknown;
        const wrongSuccess = outcome.endsWith('succeeded') && (real.lockState !== target(op) || shown !== real.lockState);
        if (ranTwice || untruthful || wrongSuccess || real.opCounter - before.opCounter !== (moved ? 1 : 0)) fig.accepted++;
        assert.ok(!untruthful, `${op} at ${c.step}: the BGW shows ${String(shown)}, the lock is ${real.lockState}`);
        assert.ok(!wrongSuccess, `${op} at ${c.step}: reported done, but the lock is ${real.lockState}`);
        assert.equal(real.opCounter - before.opCounter, moved ? 1 : 0, `${op} at ${c.step}: motor runs`);
        lock.clearFaults();
        // The next operation once the fault is gone: the first try must work.
        const ms = await recover(() => session.operate(op));
        worst = Math.max(worst, ms);
        assert.equal(lock.snapshot().lockState, target(op));
        assert.equal(session.state$.value?.lockState, target(op));
        notes.push(`${op}: ${outcome}${moved ? ', bolt moved' : ''}, recovered ${Math.round(ms)} ms`);
      }
      fig.recoveredMs = worst;
      fig.note = notes.join('; ');
    });
  }

  it('a status report, then the link lost: the BGW shows the reported state; the next operation works', async () => {
    const fig = tally('BLE link lost right after a status report (manual turn on a kept connection)');
    const lock = simLock(door);
    await settle(lock);
    await session.operate('status');
    lock.dropAt('notified:3');
    const to = lock.snapshot().lockState === LockState.Secured ? 'unlock' : 'lock';
    lock.turn(to);
    fig.attempts++;
    await until('the link lost', () => lock.faults.dropAt === undefined && !lock.snapshot().connected);
    await until('the BGW told', () => !session.isWarm);
    const shown = session.state$.value?.lockState;
    if (shown !== lock.snapshot().lockState) fig.accepted++;
    assert.equal(shown, lock.snapshot().lockState, 'the status report reached the BGW before the link went');
    lock.clearFaults();
    const back = to === 'unlock' ? 'lock' : 'unlock';
    fig.recoveredMs = await recover(() => session.operate(back));
    assert.equal(lock.snapshot().lockState, target(back));
    fig.note = `turned to ${to} by hand; then ${back} from the BGW`;
  });

  for (const c of STEPS.filter((s) => s.registration !== undefined)) {
    it(`${c.step}, registration ${c.registration!}: fails typed; never registered at the RAS without the lock bound; recovers`, async () => {
      const fig = tally(`BLE link lost in registration, ${c.registration!} (${c.step})`);
      const lock = simLock(fresh);
      const link = bluez.link(fresh.deviceId);
      const register = () => registerBsld(link, client, { name: 'Fresh door', setupCode: fresh.setupCode });
      const listed = async (): Promise<boolean> => (await client.call('BsldDiscovery')).bslds.some((b) => b.deviceId === fresh.deviceId);
      await until('the lock free', () => !lock.snapshot().connected);
      lock.press();
      lock.dropAt(c.step);
      fig.attempts++;
      const outcome = await attempt(register);
      assert.equal(lock.faults.dropAt, undefined, `the link was lost at ${c.step}`);
      await until('the lock free', () => !lock.snapshot().connected);
      const bound = lock.snapshot().boundAccountId === stack.user.accountId;
      const atRas = await listed();
      // A registration the RAS holds must be one the lock holds; success must mean both.
      const wrong = (atRas && !bound) || (outcome === 'succeeded' && !(atRas && bound));
      if (wrong) fig.accepted++;
      assert.ok(!wrong, `${c.step}: ${outcome}, lock bound ${String(bound)}, RAS lists it ${String(atRas)}`);
      lock.clearFaults();
      lock.press();
      const ms = await recover(register);
      assert.equal(lock.snapshot().boundAccountId, stack.user.accountId);
      assert.ok(await listed(), 'registered at the RAS');
      fig.recoveredMs = ms;
      fig.note = `${outcome}; lock ${bound ? 'bound' : 'not bound'}, RAS ${atRas ? 'registered' : 'not registered'} during the fault`;
      // Back to unregistered (7.5 with the lock present) for the next step.
      await until('the lock free', () => !lock.snapshot().connected);
      await removeBsld(link, client);
      assert.equal(lock.snapshot().boundAccountId, null);
    });
  }

  it('no unhandled rejection through all of it', () => {
    const fig = tally('BGW: unhandled rejections during the link-loss steps');
    fig.attempts = 1;
    fig.accepted = rejections.length;
    assert.deepEqual(rejections.map(String), []);
  });
});
