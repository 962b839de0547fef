/** Unmodified node-ble 1.13.0 against the BlueZ emulator and the simulated locks. */
import { strict as assert } from 'node:assert';
import {
  BindType,
  BSLD_SERVICE_UUID,
  LockState,
  OperationType,
  Result,
  SessionRole,
  StatusCause,
  decodeAdvert,
  deriveSessionKey,
  deriveStageAKeys,
  expectMessage,
  openConnection,
  openSession,
  table4Confirms,
  type WriteAccountIdRequest,
} from 'homebridge-igrs-smartlock/protocol';
import { useSimulator } from '../src/testing.js';
import { Gateway, Link, sleep } from './support/gateway.js';

const KEY = '000102030405060708090a0b0c0d0e0f';
const ACCOUNT = '0a1b2c3d4e5f607182';
const FRONT = 'A4C138F0E1D2';
const BACK = 'A4C138F0E1D3';
const now = (): number => Math.floor(Date.now() / 1000);

interface DBusErrorLike {
  type: string;
  text: string;
}
const bluezError = (type: string, text?: string) => (err: unknown) => {
  const e = err as DBusErrorLike;
  assert.equal(e.type, type);
  if (text !== undefined) assert.equal(e.text, text);
  return true;
};

/** A stage-b link past Table 5, with the gateway's channels. */
async function openSessionLink(g: Gateway, deviceId: string): Promise<{ link: Link; ch: ReturnType<typeof openSession> }> {
  const link = await Link.open(await g.device(deviceId));
  const challenge = await link.readChallenge();
  const ch = openSession(deriveSessionKey(Buffer.from(KEY, 'hex'), ACCOUNT, challenge), challenge);
  await link.write(ch.toLock.sealMessage({ kind: 'authenticate', role: SessionRole.Owner, accountId: ACCOUNT, ts: now() }));
  const t6 = expectMessage(ch.fromLock.openMessage(await link.next()), 'authenticateResponse');
  assert.equal(t6.result, Result.Ok);
  return { link, ch };
}

describe('BlueZ emulator with unmodified node-ble', function () {
  this.timeout(10_000);
  const ctx = useSimulator({
    locks: [
      { deviceId: FRONT, deviceKey: KEY, setupCode: '12345678', name: 'Front door', pairingMode: true, doorSensor: true, motorMs: 100 },
      { deviceId: BACK, deviceKey: KEY, setupCode: '87654321', name: 'Back door', motorMs: 100 },
    ],
    unreachableConnectMs: 200,
  });
  let g: Gateway;

  before(async () => {
    g = await Gateway.open();
  });
  after(async () => {
    await g.close();
  });
  afterEach(async () => {
    for (const l of ctx.sim.locks) l.clearFaults();
    ctx.sim.setLatency('zero');
    // Leave no link behind for the next test.
    for (const id of [FRONT, BACK]) {
      const path = g.devicePath(id);
      const props = await g.properties(path, 'org.bluez.Device1').catch(() => undefined);
      if (props?.Connected) {
        const w = await g.watchConnected(id);
        await g.call(path, 'org.bluez.Device1', 'Disconnect');
        await w.waitFor(false);
        w.stop();
      }
    }
    // A link that ended without a valid frame makes the lock back off; tests start afresh.
    for (const l of ctx.sim.locks) l.clearBackoff();
  });

  it('discovers the locks with their advertisement in Device1 properties', async () => {
    assert.equal(await g.adapter.getAddress(), '00:1A:7D:DA:71:01');
    await g.device(FRONT);
    const props = await g.properties(g.devicePath(FRONT), 'org.bluez.Device1');
    assert.equal(props.Address, 'A4:C1:38:F0:E1:D2');
    assert.equal(props.Name, 'Front door');
    assert.equal(props.RSSI, -60);
    assert.deepEqual(props.UUIDs, [BSLD_SERVICE_UUID]);
    const mfr = props.ManufacturerData as Record<number, { value: Buffer }>;
    const adv = decodeAdvert(mfr[0xffff]!.value);
    assert.deepEqual([adv.deviceId, adv.registered, adv.pairingMode], [FRONT, false, true]);
    const managed = (await g.call('/', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')) as Record<string, unknown>;
    assert.ok(g.devicePath(FRONT) in managed);
  });

  it('connects, resolves the GATT service and reads the challenge and info', async () => {
    const link = await Link.open(await g.device(BACK));
    const c1 = await link.readChallenge();
    assert.equal(c1.length, 16);
    assert.ok(c1.equals(await link.readChallenge()), 'one challenge per connection');
    assert.equal((await link.info.readValue()).toString(), 'IGRS-SIM-1;1.2');
    assert.deepEqual(await link.command.getFlags(), ['write']);
    const w = await g.watchConnected(BACK);
    await link.device.disconnect();
    await w.waitFor(false);
    // That link had no valid frame: the lock backs off (the profile's rule) unless told not to.
    ctx.sim.lock(BACK).clearBackoff();
    const link2 = await Link.open(link.device);
    assert.notEqual(link2.servicePath, link.servicePath, 'service paths change per connection');
    assert.ok(!(await link2.readChallenge()).equals(c1), 'a new challenge per connection');
    await link2.device.disconnect();
  });

  it('registers: a stage-a bind built from K_d, answered by Table 4, then the lock closes', async () => {
    const device = await g.device(FRONT);
    const w = await g.watchConnected(FRONT);
    const link = await Link.open(device);
    const challenge = await link.readChallenge();
    const ch = openConnection(deriveStageAKeys(Buffer.from(KEY, 'hex'), challenge), challenge);
    const request: WriteAccountIdRequest = { kind: 'writeAccountId', type: BindType.Bind, accountId: ACCOUNT, ts: now() };
    await link.write(ch.toLock.sealMessage(request));
    const t4 = expectMessage(ch.fromLock.openMessage(await link.next()), 'writeAccountIdResponse');
    assert.equal(t4.result, Result.Ok);
    assert.ok(table4Confirms(t4, request));
    await w.waitFor(false);
    w.stop();
    assert.equal(ctx.sim.lock(FRONT).snapshot().boundAccountId, ACCOUNT);
    const props = await g.properties(g.devicePath(FRONT), 'org.bluez.Device1');
    const adv = decodeAdvert((props.ManufacturerData as Record<number, { value: Buffer }>)[0xffff]!.value);
    assert.deepEqual([adv.registered, adv.pairingMode], [true, false]);
  });

  it('runs a session: unlock and lock with Table 7/8, and a status report after a manual turn', async () => {
    const { link, ch } = await openSessionLink(g, FRONT);
    await link.write(ch.toLock.sealMessage({ kind: 'operation', op: OperationType.Unlock, operationId: 1, ts: now() }));
    const t8 = expectMessage(ch.fromLock.openMessage(await link.next()), 'operationResponse');
    assert.deepEqual([t8.result, t8.operationId, t8.lockState], [Result.Ok, 1, LockState.Unsecured]);
    await link.write(ch.toLock.sealMessage({ kind: 'operation', op: OperationType.Lock, operationId: 2, ts: now() }));
    const t8b = expectMessage(ch.fromLock.openMessage(await link.next()), 'operationResponse');
    assert.equal(t8b.lockState, LockState.Secured);
    ctx.sim.lock(FRONT).turn();
    const report = expectMessage(ch.fromLock.openMessage(await link.next()), 'statusReport');
    assert.deepEqual([report.cause, report.lockState], [StatusCause.Manual, LockState.Unsecured]);
  });

  it('answers Disconnect before it signals Connected=false', async () => {
    const link = await Link.open(await g.device(BACK));
    const w = await g.watchConnected(BACK);
    await g.call(g.devicePath(BACK), 'org.bluez.Device1', 'Disconnect');
    assert.deepEqual(w.events, [], 'no Connected=false before the reply');
    await w.waitFor(false);
    w.stop();
    assert.equal(await link.device.isConnected(), false);
  });

  it('orders Connect and Disconnect as bluetoothd 5.66 does (docs/bluez.md)', async () => {
    await g.device(BACK);
    const path = g.devicePath(BACK);
    const props = (await g.raw.getProxyObject('org.bluez', path)).getInterface('org.freedesktop.DBus.Properties');
    const events: string[] = [];
    const onChange = (iface: string, changed: Record<string, { value: unknown }>): void => {
      if (iface !== 'org.bluez.Device1') return;
      for (const key of ['Connected', 'ServicesResolved']) if (key in changed) events.push(`${key}=${String(changed[key]!.value)}`);
    };
    props.on('PropertiesChanged', onChange);
    try {
      await g.call(path, 'org.bluez.Device1', 'Connect');
      events.push('Connect reply');
      for (let i = 0; i < 100 && !events.includes('ServicesResolved=true'); i++) await sleep(10);
      await g.call(path, 'org.bluez.Device1', 'Disconnect');
      events.push('Disconnect reply');
      for (let i = 0; i < 100 && !events.includes('Connected=false'); i++) await sleep(10);
      assert.deepEqual(events, ['Connect reply', 'ServicesResolved=true', 'ServicesResolved=false', 'Disconnect reply', 'Connected=false']);
    } finally {
      props.off('PropertiesChanged', onChange);
    }
  });

  it('a Connect right after the Disconnect reply waits for the old link, then connects', async () => {
    const { link } = await openSessionLink(g, FRONT);
    await link.device.disconnect();
    await link.device.connect();
    assert.equal(await link.device.isConnected(), true);
    assert.equal(ctx.sim.lock(FRONT).snapshot().connected, true);
  });

  it('a Disconnect during a pending Connect aborts it (le-connection-abort-by-local)', async () => {
    ctx.sim.setLatency({ connectMs: 150, gattMs: 0 });
    const device = await g.device(BACK);
    const pending = device.connect();
    await sleep(30);
    await g.call(g.devicePath(BACK), 'org.bluez.Device1', 'Disconnect');
    await assert.rejects(pending, bluezError('org.bluez.Error.Failed', 'le-connection-abort-by-local'));
    assert.equal(await device.isConnected(), false);
  });

  it('refuses a reliable write (node-ble default type) with NotSupported', async () => {
    const link = await Link.open(await g.device(BACK));
    await assert.rejects(link.command.writeValue(Buffer.alloc(16)), bluezError('org.bluez.Error.NotSupported'));
  });

  describe('faults, as BlueZ reports them', () => {
    it('connect failure: org.bluez.Error.Failed le-connection-abort-by-local, then a retry succeeds', async () => {
      ctx.sim.lock(BACK).failConnect('failed');
      const device = await g.device(BACK);
      await assert.rejects(device.connect(), bluezError('org.bluez.Error.Failed', 'le-connection-abort-by-local'));
      await device.connect();
      assert.equal(await device.isConnected(), true);
    });

    it('connect InProgress: org.bluez.Error.InProgress', async () => {
      ctx.sim.lock(BACK).failConnect('in-progress');
      const device = await g.device(BACK);
      await assert.rejects(device.connect(), bluezError('org.bluez.Error.InProgress'));
    });

    it('a second Connect while one is pending gets InProgress', async () => {
      ctx.sim.setLatency({ connectMs: 200, gattMs: 0 });
      const device = await g.device(BACK);
      const first = device.connect();
      await sleep(50);
      await assert.rejects(g.call(g.devicePath(BACK), 'org.bluez.Device1', 'Connect'), bluezError('org.bluez.Error.InProgress'));
      await first;
    });

    it('out of range: Connect fails, a live link drops, and back again it connects', async () => {
      const lock = ctx.sim.lock(BACK);
      const device = await g.device(BACK);
      await device.connect();
      const w = await g.watchConnected(BACK);
      lock.outOfRange();
      await w.waitFor(false);
      w.stop();
      const t = Date.now();
      await assert.rejects(device.connect(), bluezError('org.bluez.Error.Failed', 'le-connection-abort-by-local'));
      assert.ok(Date.now() - t >= 180, 'an absent lock takes the connect timeout to fail');
      lock.back();
      // The dropped link carried no valid frame, so the lock backs off first.
      lock.clearBackoff();
      await device.connect();
    });

    it('disconnect in the middle of an exchange: the lock acts on Table 7 but Table 8 never arrives', async () => {
      ctx.sim.lock(FRONT).dropAfterWrites(2);
      const w = await g.watchConnected(FRONT);
      const { link, ch } = await openSessionLink(g, FRONT);
      await link.write(ch.toLock.sealMessage({ kind: 'operation', op: OperationType.Lock, operationId: 3, ts: now() }));
      await w.waitFor(false);
      w.stop();
      await assert.rejects(link.next(300));
      await sleep(150);
      assert.equal(ctx.sim.lock(FRONT).snapshot().lockState, LockState.Secured);
    });

    it('latency: the realistic profile and per-lock extra latency', async () => {
      ctx.sim.setLatency('realistic');
      const device = await g.device(BACK);
      let t = Date.now();
      await device.connect();
      assert.ok(Date.now() - t >= 145, `connect took ${Date.now() - t} ms`);
      const link = await Link.open(device);
      t = Date.now();
      await link.readChallenge();
      assert.ok(Date.now() - t >= 28);
      ctx.sim.setLatency('zero');
      ctx.sim.lock(BACK).latency({ gattMs: 100 });
      t = Date.now();
      await link.readChallenge();
      assert.ok(Date.now() - t >= 95);
    });

    it('a lock that never answers: writes succeed, nothing comes back, the link stays', async () => {
      ctx.sim.lock(BACK).silent();
      const link = await Link.open(await g.device(BACK));
      await link.readChallenge();
      await link.write(Buffer.alloc(16, 1));
      await assert.rejects(link.next(300));
      assert.equal(await link.device.isConnected(), true);
    });

    it('a bad frame closes the link and the lock backs off until its button is pressed', async () => {
      const link = await Link.open(await g.device(BACK));
      const w = await g.watchConnected(BACK);
      await link.write(Buffer.alloc(16, 7));
      await w.waitFor(false);
      w.stop();
      await assert.rejects(link.device.connect(), bluezError('org.bluez.Error.Failed', 'le-connection-abort-by-local'));
      ctx.sim.lock(BACK).press();
      await link.device.connect();
    });
  });
});
