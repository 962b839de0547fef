/**
 * The BGW against the real bluetoothd: the gateway on hci0, the simulated lock's GATT
 * application and advertisement on hci1, the two linked only by btvirt's virtual radio.
 * Runs inside the VM (test/bluez-vm/run.sh); the steps build on each other, like a user's day.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LockState } from 'homebridge-igrs-smartlock/protocol';
import { BgwError } from '../../src/bgw/errors.js';
import type { BluezGateway } from '../../src/bgw/bluez.js';
import { LockSession } from '../../src/bgw/session.js';
import { registerBsld, removeBsld } from '../../src/bgw/registration.js';
import { GATEWAY_ADAPTER, SETUP_CODE, VM_SESSION_TIMEOUTS, countingAuthority, openGateway, startRealRas, startLockOnHci1, testLogger, until, waitFor, type LockRig, type RealRas } from './support.js';

/** The GATT paths the link resolved on its current connection (private; read for the test). */
function gattPaths(gw: BluezGateway, deviceId: string): { challenge: string; command: string; response: string } | undefined {
  return (gw.link(deviceId) as unknown as { gattPaths?: { challenge: string; command: string; response: string } }).gattPaths;
}

describe('BGW against the real bluetoothd (hci0 ↔ hci1)', function () {
  this.timeout(120_000);
  const log = testLogger('bgw');
  let rig: LockRig;
  let gw: BluezGateway;
  let ras: ReturnType<typeof countingAuthority>;
  let real: RealRas;
  let session: LockSession;
  let deviceId: string;

  before(async () => {
    rig = await startLockOnHci1();
    deviceId = rig.lock.deviceId;
    real = await startRealRas(rig, log);
    ras = countingAuthority(real.client);
    gw = await openGateway(log);
  });

  after(async () => {
    await session.close();
    await gw.close();
    await rig.stop();
    await real.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log([...log.lines.slice(-40), ...rig.lines.slice(-40)].join('\n'));
    }
  });

  it('discovers the lock from its real advert, manufacturer data parsed', async () => {
    const seen = waitFor(gw.sightings$, (s) => s.deviceId === deviceId && s.advert !== undefined, 30_000, 'an advert from the lock');
    await gw.startScanning();
    const sighting = await seen;
    assert.equal(sighting.advert!.deviceId, deviceId);
    assert.equal(sighting.advert!.pairingMode, true);
    assert.equal(sighting.advert!.registered, false);
    assert.equal(typeof sighting.rssi, 'number');
    assert.ok((await gw.knownDeviceIds()).includes(deviceId));
  });

  it('registers the lock (Tables 3/4, stage a)', async () => {
    await registerBsld(gw.link(deviceId), ras, { name: 'Front door', setupCode: SETUP_CODE });
    assert.equal(rig.lock.boundAccountId, real.accountId);
    assert.equal(rig.lock.pairingMode, false);
    assert.equal(gw.link(deviceId).isConnected, false);
  });

  it('sees the registered flag in later adverts (bluetoothd re-reads changed manufacturer data)', async () => {
    await waitFor(gw.sightings$, (s) => s.deviceId === deviceId && s.advert?.registered === true && !s.advert.pairingMode, 30_000, 'a registered advert');
  });

  it('unlocks and locks (Tables 5–8, stage b)', async () => {
    session = new LockSession(gw.link(deviceId), ras, { log, ...VM_SESSION_TIMEOUTS });
    const unlocked = await session.operate('unlock');
    assert.equal(unlocked.lockState, LockState.Unsecured);
    assert.equal(rig.lock.snapshot().lockState, LockState.Unsecured);
    const locked = await session.operate('lock');
    assert.equal(locked.lockState, LockState.Secured);
    assert.equal(rig.lock.snapshot().lockState, LockState.Secured);
    // One connection, one RAS session for both operations: the warm link was reused.
    assert.equal(ras.sessions, 1);
  });

  it('reports a manual turn on the open session (status report)', async () => {
    assert.equal(session.isWarm, true);
    const report = waitFor(session.events$, (e) => e.kind === 'statusReport', 10_000, 'a status report');
    rig.lock.turn('unlock');
    const event = await report;
    assert.ok(event.kind === 'statusReport');
    assert.equal(event.cause, 1);
    assert.equal(event.snapshot.lockState, LockState.Unsecured);
    assert.equal(session.state$.value?.lockState, LockState.Unsecured);
  });

  it('fails cleanly when the lock drops the connection mid-exchange, then works again', async () => {
    await gw.link(deviceId).disconnect();
    await until(() => rig.front.connectedCentrals.length === 0, 10_000, 'the lock to see the gateway go');
    // Write 1 is Table 5; the lock takes write 2 (Table 7, lock) and drops the link before Table 8.
    rig.front.faults.dropAfterWrites = 2;
    await assert.rejects(session.operate('lock'), (err: unknown) => err instanceof BgwError && ['disconnected', 'timeout'].includes(err.code));
    assert.equal(gw.link(deviceId).isConnected, false);
    // The bolt moved anyway: the lock acted on the frame it took.
    await until(() => rig.lock.snapshot().lockState === LockState.Secured, 5_000, 'the motor');
    const status = await session.operate('status');
    assert.equal(status.lockState, LockState.Secured);
  });

  it('reconnects with new object paths after the lock’s GATT database changed', async () => {
    const before = gattPaths(gw, deviceId);
    assert.ok(before, 'the link has resolved paths');
    await gw.link(deviceId).disconnect();
    await until(() => rig.front.connectedCentrals.length === 0, 10_000, 'the lock to see the gateway go');
    // A firmware update, as the gateway sees it: another service first, characteristics reordered.
    await rig.front.relayout({ filler: true, reverse: true });
    const unlocked = await session.operate('unlock');
    assert.equal(unlocked.lockState, LockState.Unsecured);
    const after = gattPaths(gw, deviceId);
    assert.ok(after);
    assert.notEqual(after.command, before.command);
    assert.notEqual(after.challenge, before.challenge);
  });

  it('follows its adapter powered off and on (btmgmt): fails at once, then works again without a restart', async () => {
    const btmgmt = (...args: string[]) => promisify(execFile)('btmgmt', ['--index', GATEWAY_ADAPTER.replace('hci', ''), ...args]);
    await session.operate('lock');
    const off = waitFor(gw.adapter$, (s) => s === 'off', 30_000, 'the BGW to see the adapter off');
    await btmgmt('power', 'off');
    await off;
    assert.equal(gw.link(deviceId).isConnected, false, 'the kept link went with the power');
    const started = Date.now();
    await assert.rejects(session.operate('unlock'), (err: unknown) => err instanceof BgwError && err.code === 'unreachable');
    log.info(`refused in ${Date.now() - started} ms while the adapter was off`);
    assert.notEqual(rig.lock.snapshot().lockState, LockState.Unsecured, 'nothing ran');
    const ready = waitFor(gw.adapter$, (s) => s === 'ready', 60_000, 'the BGW to see the adapter back');
    await btmgmt('power', 'on');
    await ready;
    const back = Date.now();
    const unlocked = await session.operate('unlock');
    assert.equal(unlocked.lockState, LockState.Unsecured);
    assert.equal(rig.lock.snapshot().lockState, LockState.Unsecured);
    console.log(`      adapter back: the first operation confirmed in ${Date.now() - back} ms (TCG)`);
  });

  it('removes the lock (Table 3 unbind)', async () => {
    await session.close();
    await removeBsld(gw.link(deviceId), ras);
    assert.equal(rig.lock.boundAccountId, null);
  });
});
