/**
 * Soak against the real bluetoothd: connect → operate → disconnect, over and over, and nothing
 * the gateway holds may grow: the bus's own count of the match rules of the gateway's
 * connection (dbus-next never removes one, so any per-connection proxy would leak them), the
 * BluezBus's listeners, and the EventEmitter listeners on the raw connection.
 */
import assert from 'node:assert/strict';
import { LockState } from 'homebridge-igrs-smartlock/protocol';
import type { BluezGateway } from '../../src/bgw/bluez.js';
import { LockSession } from '../../src/bgw/session.js';
import { registerBsld } from '../../src/bgw/registration.js';
import { SETUP_CODE, VM_SESSION_TIMEOUTS, matchRulesOf, countingAuthority, openGateway, startRealRas, startLockOnHci1, testLogger, until, waitFor, type LockRig, type RealRas } from './support.js';

/**
 * Each cycle costs seconds under TCG (an LE connect and bluetoothd's own 2 s wait before it
 * disconnects), so the tier's default keeps well inside its time budget; BLUEZ_SOAK_CYCLES=500
 * runs the long soak.
 */
const CYCLES = Number(process.env.BLUEZ_SOAK_CYCLES ?? 12);
const WARMUP = Math.min(3, CYCLES);

interface Gauges {
  matchRules: number;
  bluezBusListeners: number;
  rawListeners: number;
}

describe(`soak: ${CYCLES} connect → operate → disconnect cycles against bluetoothd`, function () {
  this.timeout(0);
  const log = testLogger('soak');
  let rig: LockRig;
  let gw: BluezGateway;
  let session: LockSession;
  let ras: ReturnType<typeof countingAuthority>;
  let real: RealRas;

  async function gauges(): Promise<Gauges> {
    const raw = gw.bus.bus as unknown as NodeJS.EventEmitter & { name: string };
    return {
      matchRules: await matchRulesOf(raw.name),
      bluezBusListeners: gw.bus.listenerCount,
      rawListeners: raw.eventNames().reduce((n, e) => n + raw.listenerCount(e), 0),
    };
  }

  async function cycle(i: number): Promise<void> {
    const snapshot = await session.operate(i % 2 === 0 ? 'unlock' : 'lock');
    assert.equal(snapshot.lockState, i % 2 === 0 ? LockState.Unsecured : LockState.Secured, `cycle ${i}`);
    await gw.link(rig.lock.deviceId).disconnect();
    await until(() => rig.front.connectedCentrals.length === 0, 20_000, `the lock to see cycle ${i}'s link go`);
  }

  before(async () => {
    rig = await startLockOnHci1();
    real = await startRealRas(rig, log);
    ras = countingAuthority(real.client);
    gw = await openGateway(log);
    const seen = waitFor(gw.sightings$, (s) => s.deviceId === rig.lock.deviceId && s.advert !== undefined, 60_000, 'the lock');
    await gw.startScanning();
    await seen;
    await registerBsld(gw.link(rig.lock.deviceId), ras, { name: 'Soak', setupCode: SETUP_CODE });
    session = new LockSession(gw.link(rig.lock.deviceId), ras, { log, ...VM_SESSION_TIMEOUTS });
  });

  after(async () => {
    await session.close();
    await gw.close();
    await rig.stop();
    await real.stop();
  });

  it('keeps match rules and listeners flat', async () => {
    for (let i = 0; i < WARMUP; i++) await cycle(i);
    const start = await gauges();
    const began = Date.now();
    for (let i = WARMUP; i < CYCLES; i++) {
      try {
        await cycle(i);
      } catch (err) {
        console.log([...log.lines.slice(-30), ...rig.lines.slice(-30)].join('\n'));
        throw err;
      }
    }
    const end = await gauges();
    const per = CYCLES > WARMUP ? Math.round((Date.now() - began) / (CYCLES - WARMUP)) : 0;
    console.log(`      ${CYCLES} cycles, ${per} ms each after warm-up; gauges before ${JSON.stringify(start)}, after ${JSON.stringify(end)}`);
    assert.deepEqual(end, start);
    assert.equal(ras.sessions, CYCLES);
    // The lock saw every operation: nothing was skipped or answered from a stale connection.
    assert.equal(rig.lock.snapshot().opCounter, CYCLES);
  });
});
