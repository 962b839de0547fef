import assert from 'node:assert/strict';
import { Controller, HapType, HomebridgeProcess } from '../support/homebridge.js';

for (const major of [1, 2] as const) {
  describe(`real Homebridge ${major}.x: a misconfigured plugin`, function () {
    this.timeout(60_000);
    let hb: HomebridgeProcess | undefined;
    after(async () => {
      await hb?.stop();
    });

    it('says what is wrong, starts nothing, and Homebridge keeps serving HomeKit', async () => {
      hb = await HomebridgeProcess.start({ major, platform: { rasUrl: 'ftp://nowhere' } });
      const line = await hb.waitForLog(/Not starting/);
      assert.match(line, /rasUrl/);
      const controller = await Controller.pair(hb.port);
      try {
        const accessories = await controller.accessories();
        assert.equal(accessories.length, 1, 'only the bridge itself');
        assert.ok(!accessories.some((a) => a.services.some((s) => s.type.replace(/^0+/, '').startsWith(HapType.LockMechanism))));
      } finally {
        await controller.close();
      }
      assert.deepEqual(hb.crashes(), []);
      assert.equal(hb.exitCode, undefined, 'still running');
    });
  });
}
