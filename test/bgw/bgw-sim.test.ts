import assert from 'node:assert/strict';
import path from 'node:path';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { BluezGateway } from '../../src/bgw/bluez.js';
import { registerBsld } from '../../src/bgw/registration.js';
import { LockSession } from '../../src/bgw/session.js';
import { BgwError } from '../../src/bgw/errors.js';
import { silentLogger } from '../../src/logger.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import { makeLocks, startStack, type Stack } from '../support/stack.js';

describe('BGW + RAC against the real RAS and a simulated lock (emulated BlueZ, unmodified node-ble)', function () {
  this.timeout(30_000);
  let stack: Stack;
  let bluez: BluezGateway;
  let client: RasClient;
  let session: LockSession;
  const [lock] = makeLocks(1, { doorSensor: true });

  before(async () => {
    stack = await startStack({ locks: [lock!] });
    process.env.DBUS_SYSTEM_BUS_ADDRESS = stack.sim.busAddress;
    const store = await CredentialStore.open(path.join(stack.dir, 'cred.json'), stack.ras.url);
    client = new RasClient({ baseUrl: stack.ras.url, store, login: { identifier: stack.user.identifier, password: stack.user.password }, log: silentLogger });
    bluez = await BluezGateway.open({ log: silentLogger });
  });
  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a failed before() leaves these unset */
  after(async () => {
    await session?.close();
    await bluez?.close();
    await stack?.stop();
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  it('sees the lock advertising in pairing mode', async () => {
    const seen = firstValueFrom(bluez.sightings$.pipe(filter((s) => s.deviceId === lock!.deviceId && s.advert !== undefined), timeout(10_000)));
    await bluez.startScanning();
    const s = await seen;
    assert.equal(s.advert?.pairingMode, true);
    assert.equal(s.advert.registered, false);
  });

  it('registers the lock with its setup code (7.4, Tables 3/4)', async () => {
    const steps: string[] = [];
    await client.login();
    await registerBsld(bluez.link(lock!.deviceId), client, { name: 'Front door', setupCode: lock!.setupCode }, { progress: (s) => steps.push(s) });
    assert.deepEqual(steps, ['checking', 'connecting', 'requesting', 'writing', 'confirming', 'done']);
    const { bslds } = await client.call('BsldDiscovery');
    assert.equal(bslds[0]?.deviceId, lock!.deviceId);
    assert.equal(bslds[0].role, 'owner');
  });

  it('unlocks cold and locks warm through a RAS session (Tables 5–8)', async () => {
    session = new LockSession(bluez.link(lock!.deviceId), client, { log: silentLogger });
    const unlocked = await session.operate('unlock');
    assert.equal(unlocked.lockState, 0);
    assert.equal(stack.sim.lock(lock!.deviceId).snapshot().lockState, 0);
    const locked = await session.operate('lock');
    assert.equal(locked.lockState, 1);
    assert.ok(session.isWarm);
  });

  it('hears a manual turn as a status report on the open session', async () => {
    const report = firstValueFrom(session.events$.pipe(filter((e) => e.kind === 'statusReport'), timeout(5_000)));
    stack.sim.lock(lock!.deviceId).turn('unlock');
    const e = await report;
    assert.equal(e.snapshot.lockState, 0);
  });

  it('reconnects with a fresh session after the lock drops the link', async () => {
    stack.sim.lock(lock!.deviceId).dropLink();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(session.isWarm, false);
    const locked = await session.operate('lock');
    assert.equal(locked.lockState, 1);
  });

  it('retries a connect that BlueZ answers InProgress once, and succeeds', async () => {
    await session!.close();
    session = new LockSession(bluez!.link(lock!.deviceId), client, { log: silentLogger });
    stack!.sim.lock(lock!.deviceId).clearBackoff();
    stack!.sim.lock(lock!.deviceId).failConnect('in-progress', 1);
    const snap = await session.operate('status');
    assert.equal(snap.verified, true);
  });

  it('fails with a typed error when the lock is out of range, and recovers when it is back', async () => {
    await session.close();
    session = new LockSession(bluez.link(lock!.deviceId), client, { log: silentLogger });
    stack.sim.lock(lock!.deviceId).outOfRange();
    await assert.rejects(session.operate('unlock'), (e) => e instanceof BgwError && ['unreachable', 'timeout'].includes(e.code));
    stack.sim.lock(lock!.deviceId).back();
    const unlocked = await session.operate('unlock');
    assert.equal(unlocked.lockState, 0);
  });
});
