/**
 * The product end to end, with real parts at every boundary a user meets: the reference RAS
 * (HTTP, WebSocket, SQLite), simulated locks behind the BlueZ emulator on a private dbus-daemon,
 * real Homebridge (1.x and 2.x) with this plugin, and hap-controller as the Home app.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRas } from '@igrs-smartlock/ras';
import { RasClient } from '../../src/rac/client.js';
import { credentialsFile } from '../../src/rac/credentials.js';
import { Controller, HapType, HomebridgeProcess, freePort } from '../support/homebridge.js';
import { makeLocks, ownerClient, registerLocks, startStack, type Stack } from '../support/stack.js';

const UNSECURED = 0;
const SECURED = 1;
const JAMMED = 2;

for (const major of [1, 2] as const) {
  describe(`end to end on Homebridge ${major}.x: RAS + simulated locks + hap-controller`, function () {
    this.timeout(60_000);
    let stack: Stack;
    let hb: HomebridgeProcess;
    let home: Controller;
    let remote: RasClient;
    const masterKey = randomBytes(32);
    const locks = makeLocks(3);
    locks[0]!.doorSensor = true;
    const [front, back, side] = locks as [(typeof locks)[0], (typeof locks)[0], (typeof locks)[0]];
    const mechanisms = new Map<string, { current: string; target: string }>();

    before(async function () {
      this.timeout(90_000);
      stack = await startStack({ locks, masterKey });
      // The owner registers two locks once, as the set-up page would; the third comes later.
      const setup = await ownerClient(stack);
      await registerLocks(stack, setup, [front, back]);
      remote = setup;
      hb = await HomebridgeProcess.start({
        major,
        platform: { rasUrl: stack.ras.url, identifier: stack.user.identifier, password: stack.user.password, idleSeconds: 20 },
        env: { DBUS_SYSTEM_BUS_ADDRESS: stack.sim.busAddress },
      });
      await hb.waitForLog(/Adding lock "Door 2"/, 20_000);
      home = await Controller.pair(hb.port);
      for (const lock of [front, back]) mechanisms.set(lock.deviceId, await home.lockMechanism(lock.deviceId));
    });

    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a failed before() leaves these unset */
    HomebridgeProcess.printLogOnFailure(() => hb);

    after(async () => {
      await home?.close().catch(() => undefined);
      await hb?.stop();
      await stack?.stop();
      assert.deepEqual(hb?.crashes() ?? [], [], 'no unhandled rejection or exception in Homebridge');
    });
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */

    const current = (lock: { deviceId: string }) => mechanisms.get(lock.deviceId)!.current;
    const target = (lock: { deviceId: string }) => mechanisms.get(lock.deviceId)!.target;

    it('shows every lock of the account as a HomeKit lock with battery, and a door sensor where the lock has one', async () => {
      assert.ok(current(front) && target(front) && current(back) && target(back));
      assert.ok(await home.find(front.deviceId, HapType.Battery, HapType.BatteryLevel));
      // The door sensor shows once the lock itself said it has one (the first status query).
      const deadline = Date.now() + 10_000;
      while (!(await home.find(front.deviceId, HapType.ContactSensor, HapType.ContactSensorState)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(await home.find(front.deviceId, HapType.ContactSensor, HapType.ContactSensorState), 'door sensor on the front door');
      assert.equal(await home.find(back.deviceId, HapType.ContactSensor, HapType.ContactSensorState), undefined, 'no door sensor on the back door');
    });

    it('unlocks and locks from HomeKit; LockCurrentState follows the lock', async () => {
      await home.set(target(front), UNSECURED);
      await home.waitFor(current(front), UNSECURED);
      assert.equal(stack.sim.lock(front.deviceId).snapshot().lockState, UNSECURED);
      await home.set(target(front), SECURED);
      await home.waitFor(current(front), SECURED);
      assert.equal(stack.sim.lock(front.deviceId).snapshot().lockState, SECURED);
    });

    it('shows a manual turn in HomeKit, target included, and sends HAP events to a subscribed controller', async () => {
      const events: unknown[] = [];
      home.client.on('event', (e: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
        for (const c of e.characteristics ?? []) if (`${c.aid}.${c.iid}` === current(front)) events.push(c.value);
      });
      await home.client.subscribeCharacteristics([current(front)]);
      stack.sim.lock(front.deviceId).turn('unlock');
      await home.waitFor(current(front), UNSECURED);
      await home.waitFor(target(front), UNSECURED);
      const deadline = Date.now() + 3_000;
      while (!events.includes(UNSECURED) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(events.includes(UNSECURED), 'a LockCurrentState event reached the controller');
      await home.client.unsubscribeCharacteristics([current(front)]);
    });

    it('shows the model and firmware the lock reports', async () => {
      const firmware = await home.find(front.deviceId, HapType.AccessoryInformation, HapType.FirmwareRevision);
      assert.ok(firmware);
      assert.match(String(await home.get(firmware)), /^\d+\.\d+$/);
    });

    it('runs a remote unlock through the RAS on the plugin\'s gateway', async () => {
      const { operationId } = await remote.call('Operation', { params: { deviceId: back.deviceId }, body: { op: 'unlock' } });
      const answer = await remote.call('OperationQuery', { params: { operationId }, query: { wait: 15 } }, { timeoutMs: 20_000 });
      assert.equal(answer.state, 'done');
      assert.equal(stack.sim.lock(back.deviceId).snapshot().lockState, UNSECURED);
      await hb.waitForLog(/Remote unlock of Door 2: done/);
    });

    it('shows JAMMED when the lock jams', async () => {
      stack.sim.lock(back.deviceId).jam();
      await home.set(target(back), SECURED);
      await home.waitFor(current(back), JAMMED);
      stack.sim.lock(back.deviceId).unjam();
    });

    it('an operation on a lock out of range fails cleanly, and works again once it is back', async () => {
      const lock = stack.sim.lock(back.deviceId);
      lock.outOfRange();
      const from = hb.logs.length;
      await home.set(target(back), SECURED);
      await hb.waitForLog(/lock failed/, 20_000, from);
      lock.back();
      lock.clearBackoff();
      await home.set(target(back), SECURED);
      await home.waitFor(current(back), SECURED);
    });

    it('a stopped RAS fails fresh sessions cleanly; the plugin recovers once the RAS is back', async () => {
      const { port } = stack.ras;
      const dbPath = path.join(stack.dir, 'ras.sqlite');
      await stack.ras.close();
      // A fresh connection needs a RAS session: drop the warm one so the RAS is really needed.
      stack.sim.lock(front.deviceId).dropLink();
      const from = hb.logs.length;
      await home.set(target(front), SECURED);
      await hb.waitForLog(/lock failed: the RAS cannot be reached/, 20_000, from);
      stack.ras = await startRas({ dbPath, port, masterKey, logger: false });
      stack.sim.lock(front.deviceId).clearBackoff();
      await home.set(target(front), SECURED);
      await home.waitFor(current(front), SECURED, 20_000);
    });

    it('keeps the pairing and the accessories across a Homebridge restart, without signing in again', async () => {
      const pairing = home.pairingData;
      await home.close();
      await hb.restart();
      const from = hb.logs.length;
      home = await Controller.pair(hb.port, pairing);
      assert.equal(await home.find(front.deviceId, HapType.LockMechanism, HapType.LockCurrentState), current(front));
      await home.set(target(front), UNSECURED);
      await home.waitFor(current(front), UNSECURED);
      assert.ok(!hb.logs.slice(from).some((l) => /Signed in to the RAS/.test(l)), 'used the stored refresh token');
    });

    it('renames a cached accessory when the config gives the lock a name, after a restart', async () => {
      const pairing = home.pairingData;
      await home.close();
      await hb.writeConfig({ ...hb.options.platform, locks: [{ deviceId: front.deviceId, name: 'Front door' }] });
      await hb.restart();
      home = await Controller.pair(hb.port, pairing);
      await hb.waitForLog(/Renaming lock "Door 1" to "Front door"/, 15_000);
      const name = await home.find(front.deviceId, HapType.AccessoryInformation, HapType.Name);
      assert.equal(await home.get(name!), 'Front door');
      assert.equal(await home.get((await home.find(front.deviceId, HapType.LockMechanism, HapType.Name))!), 'Front door');
      assert.equal(await home.find(front.deviceId, HapType.LockMechanism, HapType.LockCurrentState), current(front), 'the same accessory, renamed');
    });

    it('after a restart where BlueZ has not heard a lock yet, an operation waits for its advert and the first look follows it', async () => {
      const pairing = home.pairingData;
      await home.close();
      await hb.stop();
      const lock = stack.sim.lock(front.deviceId);
      lock.outOfRange();
      lock.forget();
      const from = hb.logs.length;
      await hb.restart();
      home = await Controller.pair(hb.port, pairing);
      await hb.waitForLog(/first status query failed: .*will look again when the adapter hears it/, 20_000, from);
      await home.set(target(front), SECURED);
      await new Promise((r) => setTimeout(r, 1_000));
      lock.back();
      await hb.waitForLog(/heard by the adapter; looking at it now/, 10_000, from);
      await home.waitFor(current(front), SECURED);
      assert.equal(lock.snapshot().lockState, SECURED);
      assert.ok(!hb.logs.slice(from).some((l) => /lock failed/.test(l)), 'the operation waited for the advert instead of failing');
    });

    it('never writes the password, tokens or device keys to its log; keeps tokens in a 0600 file', async () => {
      const file = credentialsFile(hb.storage, stack.ras.url);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const { refreshToken } = JSON.parse(await readFile(file, 'utf8')) as { refreshToken: string };
      const log = hb.logs.join('\n');
      for (const secret of [stack.user.password, refreshToken, ...locks.map((l) => l.deviceKey)]) {
        assert.ok(!log.includes(secret), 'a secret reached the Homebridge log');
      }
    });

    it('adds the accessory of a lock registered elsewhere, without a restart', async () => {
      await registerLocks(stack, remote, [side]);
      await hb.waitForLog(/Adding lock "Door 3"/, 15_000);
      const deadline = Date.now() + 5_000;
      while (!(await home.find(side.deviceId, HapType.LockMechanism, HapType.LockCurrentState)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(await home.find(side.deviceId, HapType.LockMechanism, HapType.LockCurrentState));
    });

    it('removes the accessory of a lock removed on the RAS, without a restart', async () => {
      await remote.call('BsldRemoval', { params: { deviceId: back.deviceId }, body: { force: true } });
      await hb.waitForLog(/Removing lock "Door 2"/, 15_000);
      assert.equal(await home.find(back.deviceId, HapType.LockMechanism, HapType.LockCurrentState), undefined);
      assert.ok(await home.find(front.deviceId, HapType.LockMechanism, HapType.LockCurrentState), 'the other lock stays');
    });
  });
}

describe('end to end on Homebridge 2.x as a child bridge', function () {
  this.timeout(60_000);
  let stack: Stack | undefined;
  let hb: HomebridgeProcess | undefined;
  let home: Controller | undefined;
  after(async () => {
    await home?.close().catch(() => undefined);
    await hb?.stop();
    await stack?.stop();
    assert.deepEqual(hb?.crashes() ?? [], []);
  });

  it('serves the locks on the child bridge, where a controller pairs and unlocks', async () => {
    const [lock] = makeLocks(1);
    stack = await startStack({ locks: [lock!] });
    await registerLocks(stack, await ownerClient(stack), [lock!]);
    const childPort = await freePort();
    hb = await HomebridgeProcess.start({
      major: 2,
      platform: { rasUrl: stack.ras.url, identifier: stack.user.identifier, password: stack.user.password, _bridge: { username: '0E:49:47:52:53:02', port: childPort } },
      env: { DBUS_SYSTEM_BUS_ADDRESS: stack.sim.busAddress },
    });
    await hb.waitForLog(new RegExp(`is running on port ${childPort}`), 30_000);
    await hb.waitForLog(/Adding lock "Door 1"/, 20_000);
    home = await Controller.pair(childPort);
    const target = await home.find(lock!.deviceId, HapType.LockMechanism, HapType.LockTargetState);
    const current = await home.find(lock!.deviceId, HapType.LockMechanism, HapType.LockCurrentState);
    assert.ok(target && current);
    await home.set(target, UNSECURED);
    await home.waitFor(current, UNSECURED);
  });
});
