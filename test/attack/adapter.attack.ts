/**
 * The Bluetooth adapter removed and returned (a USB dongle unplugged and plugged back, maybe as
 * another hciN) and powered off and on (`btmgmt power off`), through the real BGW on the BlueZ
 * emulator: operations fail typed while it is away, the BGW re-acquires the adapter by its
 * address, restarts discovery, and the lock works again without a new gateway.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { BluezGateway } from '../../src/bgw/bluez.js';
import { BgwError } from '../../src/bgw/errors.js';
import { LockSession } from '../../src/bgw/session.js';
import { silentLogger } from '../../src/logger.js';
import { LockState } from '../../src/protocol/index.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import { makeLocks, registerLocks, startStack, type Stack } from '../support/stack.js';
import { tally } from './support/report.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
}

describe('faults: the Bluetooth adapter removed and returned, powered off and on (BGW, emulated BlueZ)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let bluez: BluezGateway;
  let session: LockSession;
  const warnings: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  const [door] = makeLocks(1) as [ReturnType<typeof makeLocks>[0]];

  before(async () => {
    process.on('unhandledRejection', onRejection);
    stack = await startStack({ locks: [door] });
    const store = await CredentialStore.open(path.join(stack.dir, 'cred.json'), stack.ras.url);
    const client = new RasClient({ baseUrl: stack.ras.url, store, login: { identifier: stack.user.identifier, password: stack.user.password }, log: silentLogger });
    await client.login();
    await registerLocks(stack, client, [door]);
    const log = { ...silentLogger, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
    bluez = await BluezGateway.open({ log });
    await bluez.startScanning();
    session = new LockSession(bluez.link(door.deviceId), client, { log: silentLogger });
    await session.operate('unlock');
  });

  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a failed before() leaves these unset */
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await session?.close();
    await bluez?.close();
    await stack?.stop();
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  const lock = () => stack.sim.lock(door.deviceId);
  const opposite = (): 'lock' | 'unlock' => (lock().snapshot().lockState === LockState.Secured ? 'unlock' : 'lock');

  /** An operation while the adapter is away: a typed failure, and the bolt does not move. */
  async function failsWhileAway(expected: RegExp): Promise<{ ms: number; code: string }> {
    const before = lock().snapshot();
    const t0 = performance.now();
    const err = await session.operate(opposite()).then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = performance.now() - t0;
    assert.ok(err instanceof BgwError, `typed: ${String(err)}`);
    assert.equal(err.code, 'unreachable');
    assert.match(err.message, expected);
    assert.equal(lock().snapshot().opCounter, before.opCounter, 'nothing ran');
    return { ms, code: err.code };
  }

  /** From the adapter's return until an operation the lock confirmed. */
  async function recovers(returned: number): Promise<number> {
    await until('the adapter in use again', () => bluez.adapterStatus === 'ready');
    const op = opposite();
    const snapshot = await session.operate(op);
    assert.equal(snapshot.lockState, op === 'unlock' ? LockState.Unsecured : LockState.Secured);
    assert.equal(lock().snapshot().lockState, snapshot.lockState);
    return performance.now() - returned;
  }

  it('unplugged with a kept connection: the link is lost, operations fail at once; back under hci0, locks work', async () => {
    const fig = tally('BLE adapter unplugged and plugged back (same hciN)');
    assert.ok(session.isWarm, 'a kept connection to lose');
    stack.sim.removeAdapter('hci0');
    await until('the BGW notices', () => bluez.adapterStatus === 'gone');
    assert.equal(session.isWarm, false, 'the kept connection is gone with the adapter');
    fig.attempts++;
    const away = await failsWhileAway(/adapter .* is gone/);
    const returned = performance.now();
    stack.sim.returnAdapter();
    fig.recoveredMs = await recovers(returned);
    assert.equal(bluez.adapterPath, '/org/bluez/hci0');
    fig.note = `during: ${away.code} in ${Math.round(away.ms)} ms; recovered-in-ms: return to a confirmed operation`;
  });

  it('plugged back as another hciN: the BGW finds it by its address', async () => {
    const fig = tally('BLE adapter unplugged, back as hci1');
    stack.sim.removeAdapter('hci0');
    await until('the BGW notices', () => bluez.adapterStatus === 'gone');
    fig.attempts++;
    const away = await failsWhileAway(/adapter .* is gone/);
    const returned = performance.now();
    stack.sim.returnAdapter({ id: 'hci1' });
    fig.recoveredMs = await recovers(returned);
    assert.equal(bluez.adapterPath, '/org/bluez/hci1');
    fig.note = `during: ${away.code} in ${Math.round(away.ms)} ms`;
  });

  it('back without AutoEnable (powered off): the BGW powers it', async () => {
    const fig = tally('BLE adapter unplugged, back powered off');
    stack.sim.removeAdapter('hci1');
    await until('the BGW notices', () => bluez.adapterStatus === 'gone');
    fig.attempts++;
    await failsWhileAway(/adapter .* is gone/);
    const returned = performance.now();
    stack.sim.returnAdapter({ id: 'hci0', powered: false });
    fig.recoveredMs = await recovers(returned);
    assert.ok(warnings.some((w) => /came back powered off; powering it on/.test(w)));
    fig.note = 'the BGW sets Powered after 2 s without AutoEnable';
  });

  it('powered off and on (btmgmt power off): operations fail at once, then discovery restarts and locks work', async () => {
    const fig = tally('BLE adapter powered off, then on');
    await session.operate('status');
    const adapter = stack.sim.emulator.adapters.find((a) => a.path === bluez.adapterPath)!;
    adapter.Powered = false;
    await until('the BGW notices', () => bluez.adapterStatus === 'off');
    assert.equal(session.isWarm, false);
    fig.attempts++;
    const away = await failsWhileAway(/powered off/);
    const returned = performance.now();
    adapter.Powered = true;
    fig.recoveredMs = await recovers(returned);
    assert.equal(adapter.Discovering, true, 'discovery restarted');
    fig.note = `during: ${away.code} in ${Math.round(away.ms)} ms`;
  });

  it('no unhandled rejection; no error left in the log but the expected ones', () => {
    const fig = tally('BGW: unhandled rejections while the adapter came and went');
    fig.attempts = 1;
    fig.accepted = rejections.length;
    assert.deepEqual(rejections.map(String), []);
    assert.deepEqual(
      warnings.filter((w) => !/is gone|powered off/.test(w)),
      [],
    );
  });
});
