/**
 * The product end to end, with real parts at every boundary a user meets: the reference RAS
 * (HTTP, WebSocket, SQLite), simulated locks behind the BlueZ emulator on a private dbus-daemon,
 * real Homebridge (1.x and 2.x) with this plugin, and hap-controller as the Home app.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRas } from '@igrs-smartlock/ras';
import type { RasClient } from '../../src/rac/client.js';
import { Controller, HapType, HomebridgeProcess } from '../support/homebridge.js';
import { makeLocks, registerLocks, startStack, type Stack } from '../support/stack.js';

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
    const locks = makeLocks(2);
    locks[0]!.doorSensor = true;
    const [front, back] = locks as [(typeof locks)[0], (typeof locks)[0]];
    const ids: Record<string, string> = {};

    before(async function () {
      this.timeout(90_000);
      stack = await startStack({ locks, masterKey });
      const setup = await registerLocks(stack, locks);
      remote = setup;
      hb = await HomebridgeProcess.start({
        major,
        platform: { rasUrl: stack.ras.url, identifier: stack.user.identifier, password: stack.user.password, idleSeconds: 20 },
        env: { DBUS_SYSTEM_BUS_ADDRESS: stack.sim.busAddress },
      });
      await hb.waitForLog(/Adding lock "Door 2"/, 20_000);
      home = await Controller.pair(hb.port);
      for (const lock of locks) {
        ids[`${lock.deviceId}.current`] = (await home.find(lock.deviceId, HapType.LockMechanism, HapType.LockCurrentState))!;
        ids[`${lock.deviceId}.target`] = (await home.find(lock.deviceId, HapType.LockMechanism, HapType.LockTargetState))!;
      }
    });

    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a failed before() leaves these unset */
    afterEach(function () {
      if (this.currentTest?.state === 'failed') console.log(`--- Homebridge log (last lines) ---\n${hb?.tail(60) ?? ''}`);
    });

    after(async () => {
      await home?.close().catch(() => undefined);
      await hb?.stop();
      await stack?.stop();
      assert.deepEqual(hb?.crashes() ?? [], [], 'no unhandled rejection or exception in Homebridge');
    });
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */

    const current = (lock: { deviceId: string }) => ids[`${lock.deviceId}.current`]!;
    const target = (lock: { deviceId: string }) => ids[`${lock.deviceId}.target`]!;

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

    it('shows a manual turn in HomeKit, target included', async () => {
      stack.sim.lock(front.deviceId).turn('unlock');
      await home.waitFor(current(front), UNSECURED);
      await home.waitFor(target(front), UNSECURED);
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
  });
}
