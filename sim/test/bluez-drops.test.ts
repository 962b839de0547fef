/**
 * The emulator's named-step link drops and the adapter unplugged and returned, as a D-Bus client
 * sees them: which signals, in which order against the method replies.
 */
import { strict as assert } from 'node:assert';
import dbus from 'dbus-next';
import {
  BindType,
  LockState,
  OperationType,
  Result,
  SessionRole,
  deriveSessionKey,
  deriveStageAKeys,
  expectMessage,
  openConnection,
  openSession,
} from 'homebridge-igrs-smartlock/protocol';
import { useSimulator, type DropStep } from '../src/testing.js';
import { Gateway, Link, sleep } from './support/gateway.js';

const KEY = '000102030405060708090a0b0c0d0e0f';
const ACCOUNT = '0a1b2c3d4e5f607182';
const FRONT = 'A4C138F0E1E2';
const now = (): number => Math.floor(Date.now() / 1000);

/** Every org.bluez signal on the bus, as `member path key=value…`, in arrival order. */
async function recordSignals(raw: dbus.MessageBus): Promise<{ log: string[]; stop(): void }> {
  const log: string[] = [];
  const onMessage = (msg: dbus.Message): void => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.sender === (raw as unknown as { name?: string }).name) return;
    if (msg.member === 'PropertiesChanged') {
      const changed = msg.body[1] as Record<string, dbus.Variant>;
      for (const [k, v] of Object.entries(changed)) if (['Connected', 'ServicesResolved', 'Powered', 'Discovering'].includes(k)) log.push(`${k}=${String(v.value)} ${msg.path}`);
    } else if (msg.member === 'InterfacesAdded' || msg.member === 'InterfacesRemoved') {
      const path = msg.body[0] as string;
      const ifaces = msg.member === 'InterfacesAdded' ? Object.keys(msg.body[1] as object) : (msg.body[1] as string[]);
      if (ifaces.some((i) => i === 'org.bluez.Adapter1' || i === 'org.bluez.Device1')) {
        const powered = msg.member === 'InterfacesAdded' ? (msg.body[1] as Record<string, Record<string, dbus.Variant>>)['org.bluez.Adapter1']?.Powered : undefined;
        log.push(`${msg.member} ${path}${powered ? ` Powered=${String(powered.value)}` : ''}`);
      }
    }
  };
  await raw.call(
    new dbus.Message({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'AddMatch',
      signature: 's',
      body: ["type='signal',sender='org.bluez'"],
    }),
  );
  raw.on('message', onMessage);
  return { log, stop: () => raw.off('message', onMessage) };
}

async function until(what: string, cond: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not seen`);
    await sleep(10);
  }
}

describe('BlueZ emulator: link drops at named steps, the adapter unplugged', function () {
  this.timeout(15_000);
  const ctx = useSimulator({
    locks: [{ deviceId: FRONT, deviceKey: KEY, setupCode: '12345678', name: 'Front door', pairingMode: true, motorMs: 50 }],
    unreachableConnectMs: 100,
  });
  let g: Gateway;
  let rec: { log: string[]; stop(): void };
  const dev = `/org/bluez/hci0/dev_A4_C1_38_F0_E1_E2`;

  before(async () => {
    g = await Gateway.open();
    rec = await recordSignals(g.raw);
    // Bound through stage a, so that Table 5 opens sessions.
    const link = await Link.open(await g.device(FRONT));
    const challenge = await link.readChallenge();
    const ch = openConnection(deriveStageAKeys(Buffer.from(KEY, 'hex'), challenge), challenge);
    await link.write(ch.toLock.sealMessage({ kind: 'writeAccountId', type: BindType.Bind, accountId: ACCOUNT, ts: now() }));
    assert.equal(expectMessage(ch.fromLock.openMessage(await link.next()), 'writeAccountIdResponse').result, Result.Ok);
    await until('the stage-a link closed', () => !ctx.sim.lock(FRONT).snapshot().connected);
  });
  after(async () => {
    rec.stop();
    await g.close();
  });
  afterEach(async () => {
    ctx.sim.lock(FRONT).clearFaults();
    const props = await g.properties(dev, 'org.bluez.Device1').catch(() => undefined);
    if (props?.Connected) {
      await g.call(dev, 'org.bluez.Device1', 'Disconnect');
      await until('the link down', () => !ctx.sim.lock(FRONT).snapshot().connected);
    }
    ctx.sim.lock(FRONT).clearBackoff();
    rec.log.length = 0;
  });

  /** Opens a session (Table 5/6) and sends Table 7; returns the frames that came back. */
  interface Exchanged {
    t6?: number;
    t8?: number;
    error?: string;
  }
  async function exchange(link: Link): Promise<Exchanged> {
    const out: Exchanged = {};
    try {
      const challenge = await link.readChallenge();
      const ch = openSession(deriveSessionKey(Buffer.from(KEY, 'hex'), ACCOUNT, challenge), challenge);
      await link.write(ch.toLock.sealMessage({ kind: 'authenticate', role: SessionRole.Owner, accountId: ACCOUNT, ts: now() }));
      out.t6 = expectMessage(ch.fromLock.openMessage(await link.next(500)), 'authenticateResponse').result;
      await link.write(ch.toLock.sealMessage({ kind: 'operation', op: OperationType.Query, operationId: 9, ts: now() }));
      out.t8 = expectMessage(ch.fromLock.openMessage(await link.next(500)), 'operationResponse').result;
    } catch (err) {
      out.error = `${err instanceof Error ? err.message : String(err)} [${link.frames.length} frames queued]`;
    }
    return out;
  }

  it('connect: the lock saw the link, Connect fails as an aborted LE connect', async () => {
    ctx.sim.lock(FRONT).dropAt('connect');
    const device = await g.device(FRONT);
    await assert.rejects(device.connect(), (err: { type?: string; text?: string }) => err.text === 'le-connection-abort-by-local');
    assert.equal(ctx.sim.lock(FRONT).faults.dropAt, undefined, 'used up');
    assert.equal(ctx.sim.lock(FRONT).snapshot().connected, false);
  });

  it('connected: Connect replies, then Connected=false without ServicesResolved', async () => {
    ctx.sim.lock(FRONT).dropAt('connected');
    // The reply leaves before the signal, but a client may run the signal's handler before the
    // reply's continuation (both in one read): only what was signalled is asserted.
    await g.call(dev, 'org.bluez.Device1', 'Connect');
    await until('Connected=false', () => rec.log.includes(`Connected=false ${dev}`));
    await sleep(50);
    assert.deepEqual(rec.log, [`Connected=false ${dev}`]);
  });

  it('services-resolved, start-notify, read-challenge: the step completes, then the link drops', async () => {
    for (const step of ['services-resolved', 'start-notify', 'read-challenge'] as const) {
      ctx.sim.lock(FRONT).dropAt(step);
      rec.log.length = 0;
      const out: Exchanged = await Link.open(await g.device(FRONT)).then(exchange, (err: unknown) => ({ error: String(err) }));
      await until(`${step}: Connected=false`, () => rec.log.includes(`Connected=false ${dev}`));
      assert.ok(out.error, `${step}: the exchange fails`);
      assert.equal(out.t6, undefined, step);
      if (step === 'services-resolved') assert.ok(rec.log.indexOf(`ServicesResolved=true ${dev}`) < rec.log.indexOf(`Connected=false ${dev}`));
      ctx.sim.lock(FRONT).clearBackoff();
    }
  });

  it('notify:N loses the N-th notification with the link; notified:N delivers it first', async () => {
    const cases: [DropStep, Exchanged][] = [
      ['notified:1', { t6: Result.Ok }],
      ['notify:1', {}],
      ['notify:2', { t6: Result.Ok }],
      ['notified:2', { t6: Result.Ok, t8: Result.Ok }],
      ['write:2', { t6: Result.Ok }],
    ];
    for (const [step, want] of cases) {
      ctx.sim.lock(FRONT).dropAt(step);
      rec.log.length = 0;
      const out = await exchange(await Link.open(await g.device(FRONT)));
      await until(`${step}: Connected=false`, () => rec.log.includes(`Connected=false ${dev}`));
      assert.deepEqual({ t6: out.t6, t8: out.t8 }, { t6: want.t6, t8: want.t8 }, `${step}: ${out.error ?? ''}`);
      ctx.sim.lock(FRONT).clearBackoff();
    }
  });

  it('disconnect: Connected=false comes before the Disconnect reply', async () => {
    const before = await exchange(await Link.open(await g.device(FRONT)));
    assert.equal(before.t8, Result.Ok, before.error);
    ctx.sim.lock(FRONT).dropAt('disconnect');
    rec.log.length = 0;
    await g.call(dev, 'org.bluez.Device1', 'Disconnect');
    rec.log.push('Disconnect reply');
    assert.deepEqual(rec.log.filter((l) => !l.startsWith('ServicesResolved')), [`Connected=false ${dev}`, 'Disconnect reply']);
  });

  it('the adapter unplugged: links drop, devices go, then the adapter; back, it is powered by AutoEnable', async () => {
    const link = await Link.open(await g.device(FRONT));
    await exchange(link);
    rec.log.length = 0;
    ctx.sim.removeAdapter('hci0');
    await until('the adapter removed', () => rec.log.includes('InterfacesRemoved /org/bluez/hci0'));
    assert.deepEqual(
      rec.log.filter((l) => !l.startsWith('ServicesResolved')),
      [`Connected=false ${dev}`, 'Discovering=false /org/bluez/hci0', 'Powered=false /org/bluez/hci0', `InterfacesRemoved ${dev}`, 'InterfacesRemoved /org/bluez/hci0'],
    );
    await assert.rejects(g.properties('/org/bluez/hci0', 'org.bluez.Adapter1'));
    assert.equal(ctx.sim.lock(FRONT).snapshot().connected, false);
    rec.log.length = 0;
    ctx.sim.returnAdapter();
    await until('Powered=true', () => rec.log.includes('Powered=true /org/bluez/hci0'));
    assert.deepEqual(rec.log, ['InterfacesAdded /org/bluez/hci0 Powered=false', 'Powered=true /org/bluez/hci0']);
    const props = await g.properties('/org/bluez/hci0', 'org.bluez.Adapter1');
    assert.equal(props.Address, '00:1A:7D:DA:71:01');
    // No device until it scans again.
    await assert.rejects(g.properties(dev, 'org.bluez.Device1'));
    await g.call('/org/bluez/hci0', 'org.bluez.Adapter1', 'StartDiscovery');
    await until('the lock heard again', () => rec.log.includes(`InterfacesAdded ${dev}`));
    await g.call('/org/bluez/hci0', 'org.bluez.Adapter1', 'StopDiscovery');
    assert.equal(ctx.sim.lock(FRONT).snapshot().lockState, LockState.Secured);
  });

  it('the adapter may come back as another hciN, or unpowered', async () => {
    ctx.sim.removeAdapter('hci0');
    rec.log.length = 0;
    ctx.sim.returnAdapter({ id: 'hci1', powered: false });
    await until('hci1 added', () => rec.log.includes('InterfacesAdded /org/bluez/hci1 Powered=false'));
    await sleep(100);
    assert.equal((await g.properties('/org/bluez/hci1', 'org.bluez.Adapter1')).Powered, false);
    ctx.sim.removeAdapter('hci1');
    ctx.sim.returnAdapter({ id: 'hci0' });
    await until('hci0 powered', () => rec.log.includes('Powered=true /org/bluez/hci0'));
  });
});
