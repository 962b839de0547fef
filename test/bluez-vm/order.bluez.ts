/**
 * How the real bluetoothd orders Device1 signals against its method replies around Connect
 * and Disconnect: the facts the emulator (sim/src/bluez/device.ts) must reproduce, checked
 * here on the real stack and in sim/test on the emulator.
 */
import assert from 'node:assert/strict';
import type { BluezGateway } from '../../src/bgw/bluez.js';
import { openGateway, startLockOnHci1, testLogger, until, waitFor, type LockRig } from './support.js';

const DEVICE = 'org.bluez.Device1';

describe('Device1 ordering on the real bluetoothd', function () {
  this.timeout(120_000);
  const log = testLogger('order');
  let rig: LockRig;
  let gw: BluezGateway;
  let path: string;

  before(async () => {
    rig = await startLockOnHci1();
    gw = await openGateway(log);
    const seen = waitFor(gw.sightings$, (s) => s.deviceId === rig.lock.deviceId, 60_000, 'the lock');
    await gw.startScanning();
    await seen;
    path = gw.link(rig.lock.deviceId).path;
  });

  after(async () => {
    await gw.close();
    await rig.stop();
  });

  for (const round of [1, 2]) {
    it(`round ${round}: Connect replies before ServicesResolved=true; Disconnect replies before Connected=false`, async () => {
      await until(async () => (await gw.bus.getProperty(path, DEVICE, 'Connected')) === false && rig.front.connectedCentrals.length === 0, 20_000, 'a settled link');
      // Connections without a valid frame put the lock into backoff; this test sends none.
      rig.lock.clearBackoff();
      const events: string[] = [];
      const stop = gw.bus.onProperties(path, (iface, changed) => {
        if (iface !== DEVICE) return;
        for (const key of ['Connected', 'ServicesResolved']) if (key in changed) events.push(`${key}=${String(changed[key])}`);
      });
      try {
        await gw.bus.call(path, DEVICE, 'Connect', '', [], 60_000);
        events.push('Connect reply');
        await until(() => events.includes('ServicesResolved=true'), 20_000, 'ServicesResolved=true');
        await gw.bus.call(path, DEVICE, 'Disconnect', '', [], 60_000);
        events.push('Disconnect reply');
        await until(() => events.includes('Connected=false'), 20_000, 'Connected=false');
        console.log(`      ${events.join(' → ')}`);
        assert.ok(events.indexOf('Connect reply') < events.indexOf('ServicesResolved=true'), 'ServicesResolved=true after the Connect reply');
        assert.ok(events.indexOf('Disconnect reply') < events.indexOf('Connected=false'), 'Connected=false after the Disconnect reply');
      } finally {
        stop();
      }
    });
  }
});
