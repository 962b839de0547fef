/**
 * The product end to end on the real stack: the reference RAS on loopback, real Homebridge 1.x
 * with this plugin (built on the host, run from dist/) whose BGW uses hci0 through bluetoothd,
 * hap-controller as the Home app, and the simulated lock advertising on hci1. The emulator
 * tier's harness (test/support/homebridge.ts) drives Homebridge and the controller.
 */
import assert from 'node:assert/strict';
import { registerBsld } from '../../src/bgw/registration.js';
import { Controller, HapType, HomebridgeProcess } from '../support/homebridge.js';
import { GATEWAY_ADAPTER, SETUP_CODE, adapterDeviceId, addressOf, openGateway, startLockOnHci1, startRealRas, testLogger, waitFor, type LockRig, type RealRas } from './support.js';

const UNSECURED = 0;
const SECURED = 1;
/** Everything in the guest runs far slower than on a Raspberry Pi (see docs/bluez.md). */
const SLOW = 180_000;

describe('end to end on the real stack: RAS + Homebridge 1.x + hap-controller, lock on hci1', function () {
  this.timeout(SLOW * 2);
  const log = testLogger('e2e');
  let rig: LockRig;
  let real: RealRas;
  let hb: HomebridgeProcess | undefined;
  let home: Controller | undefined;
  let current: string;
  let target: string;

  before(async () => {
    rig = await startLockOnHci1();
    real = await startRealRas(rig, log);
    // The owner registers the lock once, as the plugin's set-up page would, then leaves the
    // adapter to Homebridge.
    const setup = await openGateway(log);
    try {
      const seen = waitFor(setup.sightings$, (s) => s.deviceId === rig.lock.deviceId && s.advert !== undefined, 60_000, 'the lock');
      await setup.startScanning();
      await seen;
      await registerBsld(setup.link(rig.lock.deviceId), real.client, { name: 'Front door', setupCode: SETUP_CODE });
    } finally {
      await setup.close();
    }
    hb = await HomebridgeProcess.start({
      major: 1,
      platform: {
        rasUrl: real.ras.url,
        identifier: real.user.identifier,
        password: real.user.password,
        adapter: addressOf(await adapterDeviceId(GATEWAY_ADAPTER)),
        idleSeconds: 20,
        operationTimeoutSeconds: 30,
      },
    });
    await hb.waitForLog(/Adding lock "Front door"/, SLOW);
    home = await Controller.pair(hb.port);
    current = (await home.find(rig.lock.deviceId, HapType.LockMechanism, HapType.LockCurrentState))!;
    target = (await home.find(rig.lock.deviceId, HapType.LockMechanism, HapType.LockTargetState))!;
    assert.ok(current && target, 'the lock is a HomeKit lock');
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- Homebridge log (last lines) ---\n${hb?.tail(60) ?? ''}\n${rig.lines.slice(-30).join('\n')}`);
  });

  after(async () => {
    await home?.close().catch(() => undefined);
    await hb?.stop();
    await real.stop();
    await rig.stop();
    assert.deepEqual(hb?.crashes() ?? [], [], 'no unhandled rejection or exception in Homebridge');
  });

  it('unlocks and locks from HomeKit; LockCurrentState follows the lock', async () => {
    // bluetoothd starts knowing no device: the plugin's first look at the lock follows its first
    // advert, which under TCG can come later than the plugin's own wait for it.
    await home!.waitFor(current, rig.lock.snapshot().lockState, SLOW);
    await home!.set(target, UNSECURED);
    await home!.waitFor(current, UNSECURED, SLOW);
    assert.equal(rig.lock.snapshot().lockState, UNSECURED);
    await home!.set(target, SECURED);
    await home!.waitFor(current, SECURED, SLOW);
    assert.equal(rig.lock.snapshot().lockState, SECURED);
  });

  it('shows a manual turn in HomeKit, target included', async () => {
    rig.lock.turn('unlock');
    await home!.waitFor(current, UNSECURED, SLOW);
    await home!.waitFor(target, UNSECURED, SLOW);
  });
});
