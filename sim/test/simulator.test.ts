/** The simulator as a whole: two adapters, ObjectManager signals, a restart that keeps the owner. */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dbus from 'dbus-next';
import {
  BindType,
  Result,
  SessionRole,
  decodeAdvert,
  deriveSessionKey,
  deriveAdvertKey,
  deriveStageAKeys,
  expectMessage,
  openAdvertState,
  openConnection,
  openSession,
} from 'homebridge-igrs-smartlock/protocol';
import { ManualClock, startSimulator, type Simulator } from '../src/testing.js';
import { Gateway, Link, sleep } from './support/gateway.js';

const KEY = '00112233445566778899aabbccddeeff';
const ACCOUNT = '123456789abcdef012';
const ID = 'C0FFEE000001';

describe('simulator', function () {
  this.timeout(10_000);
  let dir: string;
  let sim: Simulator;
  let g: Gateway;
  let raw: dbus.MessageBus;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'igrs-sim-state-'));
    sim = await startSimulator({
      locks: [{ deviceId: ID, deviceKey: KEY, setupCode: '11223344', name: 'Garage', pairingMode: true, motorMs: 50 }],
      adapters: [{ address: '00:1A:7D:DA:71:01' }, { address: '00:1A:7D:DA:71:02' }],
      stateDir: dir,
      unreachableConnectMs: 100,
    });
    process.env.DBUS_SYSTEM_BUS_ADDRESS = sim.busAddress;
    g = await Gateway.open();
    raw = dbus.systemBus();
    raw.on('error', () => undefined);
  });
  after(async () => {
    await g.close();
    raw.disconnect();
    await sim.stop();
    delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    rmSync(dir, { recursive: true, force: true });
  });

  it('announces devices with InterfacesAdded on each adapter that scans; a connected lock refuses the other', async () => {
    const om = (await raw.getProxyObject('org.bluez', '/')).getInterface('org.freedesktop.DBus.ObjectManager');
    const added: string[] = [];
    om.on('InterfacesAdded', (p: string) => added.push(p));
    const hci1 = (await raw.getProxyObject('org.bluez', '/org/bluez/hci1')).getInterface('org.bluez.Adapter1');
    const start = hci1.StartDiscovery as () => Promise<void>;
    await start();
    const dev1 = `/org/bluez/hci1/dev_C0_FF_EE_00_00_01`;
    for (let i = 0; i < 50 && !added.includes(dev1); i++) await sleep(10);
    assert.ok(added.includes(dev1));

    const link = await Link.open(await g.device(ID));
    const connect1 = (await raw.getProxyObject('org.bluez', dev1)).getInterface('org.bluez.Device1').Connect as () => Promise<void>;
    await assert.rejects(connect1(), (e: { type: string; text: string }) => e.type === 'org.bluez.Error.Failed' && e.text === 'le-connection-abort-by-local');
    await link.device.disconnect();
    await sleep(50);
    sim.lock(ID).clearBackoff();
  });

  it('a restarted lock keeps its owner (state file) and boots with the next boot id', async () => {
    const link = await Link.open(await g.device(ID));
    const challenge = await link.readChallenge();
    const ch = openConnection(deriveStageAKeys(Buffer.from(KEY, 'hex'), challenge), challenge);
    await link.write(ch.toLock.sealMessage({ kind: 'writeAccountId', type: BindType.Bind, accountId: ACCOUNT, ts: Math.floor(Date.now() / 1000) }));
    assert.equal(expectMessage(ch.fromLock.openMessage(await link.next()), 'writeAccountIdResponse').result, Result.Ok);
    await sleep(50);
    const boot = sim.lock(ID).snapshot().bootId;
    const fresh = sim.lock(ID).restart();
    assert.equal(fresh.boundAccountId, ACCOUNT);
    assert.equal(fresh.snapshot().bootId, boot + 1);
    assert.equal(sim.lock(ID).core, fresh);
    const adv = decodeAdvert(fresh.manufacturerData());
    assert.equal(adv.registered, true);
    const sealed = openAdvertState(deriveAdvertKey(Buffer.from(KEY, 'hex'), ACCOUNT), adv.sealed);
    assert.equal(sealed.bootId, boot + 1);
    // The emulator serves the rebooted core.
    const link2 = await Link.open(link.device);
    assert.equal((await link2.readChallenge()).length, 16);
    await link2.device.disconnect();
  });
});

describe('simulator on a manual clock', function () {
  this.timeout(10_000);
  const clock = new ManualClock(Date.now());
  let sim: Simulator;
  let g: Gateway;

  before(async () => {
    sim = await startSimulator({ locks: [{ deviceId: ID, deviceKey: KEY, setupCode: '11223344', name: 'Garage', pairingMode: true }], clock });
    process.env.DBUS_SYSTEM_BUS_ADDRESS = sim.busAddress;
    g = await Gateway.open();
  });
  after(async () => {
    await g.close();
    await sim.stop();
    delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
  });

  it('the lock ends a link without a valid frame after 5 s of lock time, seen as Connected=false', async () => {
    const device = await g.device(ID);
    const w = await g.watchConnected(ID);
    await Link.open(device);
    clock.advance(4_999);
    await sleep(30);
    // bluetoothd signals no Connected=true for a Connect it made (docs/bluez.md): only the drop.
    assert.deepEqual(w.events, []);
    clock.advance(1);
    await w.waitFor(false);
    w.stop();
    assert.ok(sim.lock(ID).snapshot().backoffMs > 0);
    clock.advance(1_000);
  });

  it('a stage-b link ends 60 s after Table 5', async () => {
    const device = await g.device(ID);
    const reg = await Link.open(device);
    const c = await reg.readChallenge();
    const ch = openConnection(deriveStageAKeys(Buffer.from(KEY, 'hex'), c), c);
    await reg.write(ch.toLock.sealMessage({ kind: 'writeAccountId', type: BindType.Bind, accountId: ACCOUNT, ts: Math.floor(Date.now() / 1000) }));
    await reg.next();
    await sleep(30);

    const w = await g.watchConnected(ID);
    const link = await Link.open(device);
    const challenge = await link.readChallenge();
    const s = openSession(deriveSessionKey(Buffer.from(KEY, 'hex'), ACCOUNT, challenge), challenge);
    await link.write(s.toLock.sealMessage({ kind: 'authenticate', role: SessionRole.Owner, accountId: ACCOUNT, ts: Math.floor(Date.now() / 1000) }));
    assert.equal(expectMessage(s.fromLock.openMessage(await link.next()), 'authenticateResponse').result, Result.Ok);
    clock.advance(59_999);
    await sleep(30);
    // bluetoothd signals no Connected=true for a Connect it made (docs/bluez.md): only the drop.
    assert.deepEqual(w.events, []);
    clock.advance(1);
    await w.waitFor(false);
    w.stop();
  });
});

describe('emulator resources', function () {
  this.timeout(20_000);
  it('leaves no objects or listeners behind after many connections', async () => {
    const sim = await startSimulator({ locks: [{ deviceId: ID, deviceKey: KEY, setupCode: '11223344', name: 'Garage' }] });
    const bus = dbus.sessionBus({ busAddress: sim.busAddress });
    bus.on('error', () => undefined);
    try {
      const call = async (path: string, iface: string, method: string): Promise<unknown> => {
        const obj = await bus.getProxyObject('org.bluez', path);
        return (obj.getInterface(iface)[method] as () => Promise<unknown>)();
      };
      const count = async (): Promise<number> =>
        Object.keys((await call('/', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')) as object).length;
      await call('/org/bluez/hci0', 'org.bluez.Adapter1', 'StartDiscovery');
      await sleep(20);
      const baseline = await count();
      const listeners = sim.lock(ID).core.listenerCount('closed');
      const dev = '/org/bluez/hci0/dev_C0_FF_EE_00_00_01';
      const device = (await bus.getProxyObject('org.bluez', dev)).getInterface('org.bluez.Device1');
      for (let i = 0; i < 60; i++) {
        await (device.Connect as () => Promise<void>)();
        await (device.Disconnect as () => Promise<void>)();
        await sleep(25);
        sim.lock(ID).clearBackoff();
      }
      assert.equal(await count(), baseline);
      assert.equal(sim.lock(ID).core.listenerCount('closed'), listeners);
      assert.equal(sim.lock(ID).snapshot().connected, false);
    } finally {
      bus.disconnect();
      await sim.stop();
    }
  });
});
