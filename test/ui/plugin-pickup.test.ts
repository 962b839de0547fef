/**
 * What the settings page does reaches a running Homebridge without a restart: a sign-in
 * through the shared credentials file, a registration and a removal through the RAS's push.
 * Real Homebridge with the plugin, a paired HomeKit controller, the settings server script on
 * the same storage directory, the reference RAS and a simulated lock.
 */
import assert from 'node:assert/strict';
import { Controller, HapType, HomebridgeProcess } from '../support/homebridge.js';
import { publishedLayout } from './support/published.js';
import { UiProcess } from './support/ui-process.js';
import { startWorld, type World } from './support/world.js';

const PASSWORD = 'correct horse battery';

describe('settings page → running plugin (no restart)', function () {
  this.timeout(90_000);
  let world: World | undefined;
  let hb: HomebridgeProcess | undefined;
  let ui: UiProcess | undefined;
  let controller: Controller | undefined;

  after(async () => {
    await controller?.close();
    await ui?.close();
    await hb?.stop();
    await world?.close();
  });

  it('picks up a sign-in, then adds and removes the lock the page registers and removes', async () => {
    const root = await publishedLayout();
    world = await startWorld();
    const w = world;
    const lock = w.locks[0]!;
    await w.ras.addUser('owner@example.com', PASSWORD);
    hb = await HomebridgeProcess.start({
      major: 1,
      storage: w.storage,
      platform: { rasUrl: w.ras.url },
      env: { DBUS_SYSTEM_BUS_ADDRESS: w.sim.busAddress },
    });
    await hb.waitForLog(/not signed in/i);
    controller = await Controller.pair(hb.port);

    ui = await UiProcess.start({ root, storagePath: w.storage, env: { DBUS_SYSTEM_BUS_ADDRESS: w.sim.busAddress } });
    await ui.ok('/account/sign-in', { rasUrl: w.ras.url, identifier: 'owner@example.com', password: PASSWORD });
    await hb.waitForLog(/Registered this Homebridge as a Bluetooth gateway/, 30_000);

    const from = hb.logs.length;
    await ui.ok('/locks/register', { rasUrl: w.ras.url, deviceId: lock.deviceId, name: 'Front door', setupCode: lock.setupCode });
    await hb.waitForLog(/Adding lock "Front door"/, 20_000, from);
    const state = await controller.find(lock.deviceId, HapType.LockMechanism, HapType.LockCurrentState);
    assert.ok(state, 'the lock is in HomeKit');

    const before = hb.logs.length;
    await ui.ok('/locks/remove', { rasUrl: w.ras.url, deviceId: lock.deviceId });
    await hb.waitForLog(/Removing lock "Front door"|no longer on the account/, 20_000, before);
    const deadline = Date.now() + 10_000;
    while ((await controller.find(lock.deviceId, HapType.LockMechanism, HapType.LockCurrentState)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await controller.find(lock.deviceId, HapType.LockMechanism, HapType.LockCurrentState), undefined, 'the lock left HomeKit');
    assert.deepEqual(hb.crashes(), []);
    assert.equal(hb.exitCode, undefined, 'Homebridge never restarted');
  });
});
