/**
 * Attacks the gateway meets: spoofed and replayed adverts (a rogue client on the system bus, a
 * forged or old sealed block), corrupted notifications, and a RAS whose TLS certificate the
 * plugin does not trust.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dbus from 'dbus-next';
import { startRas } from '@igrs-smartlock/ras';
import { startSimulator } from '@igrs-smartlock/sim/testing';
import { encodeAdvert, sealAdvertState, type AdvertState } from 'homebridge-igrs-smartlock/protocol';
import { AdvertTracker } from '../../src/bgw/advert-tracker.js';
import { BluezGateway } from '../../src/bgw/bluez.js';
import { BgwError } from '../../src/bgw/errors.js';
import { LockSession } from '../../src/bgw/session.js';
import { silentLogger } from '../../src/logger.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import { RasError } from '../../src/rac/errors.js';
import { FakeLock } from '../support/fake-lock.js';
import { makeLocks } from '../support/stack.js';
import { count, tally } from './support/report.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('attack: the gateway', function () {
  this.timeout(60_000);

  it('sealed adverts: forged, replayed, wrong-key and not-newer blocks change nothing', () => {
    const n = count(20_000, 1_000_000);
    const fig = tally('adverts: random / replayed / wrong-key / older sealed blocks', `${n} random + replays`);
    const key = randomBytes(16);
    let now = 1_000;
    const tracker = new AdvertTracker(key, () => now);
    const base: AdvertState = { lockState: 1, battery: 90, doorState: 0, jammed: false, lowBattery: false, stateCounter: 10, bootId: 3, tick: 100 };
    tracker.resetFromSession(1);
    assert.equal(tracker.observe(sealAdvertState(key, base)), undefined, 'the anchor itself is not news');
    const genuine = sealAdvertState(key, { ...base, lockState: 0, stateCounter: 11, tick: 101 });
    now += 10;
    assert.equal(tracker.observe(genuine)?.lockState, 0, 'control: a genuine newer advert counts');
    const offer = (sealed: Buffer): void => {
      fig.attempts++;
      if (tracker.observe(sealed) !== undefined) fig.accepted++;
    };
    // Replays of every advert seen so far, and older ones.
    for (let i = 0; i < 100; i++) {
      offer(genuine);
      offer(sealAdvertState(key, base));
    }
    // Sealed under another key (another lock or account), claiming a newer counter.
    for (let i = 0; i < 100; i++) offer(sealAdvertState(randomBytes(16), { ...base, lockState: 1, stateCounter: 12 + i, tick: 102 }));
    // The right key but a tick far ahead or a boot id that jumps: a replayed future capture.
    offer(sealAdvertState(key, { ...base, stateCounter: 50, tick: 10_000 }));
    offer(sealAdvertState(key, { ...base, stateCounter: 50, bootId: 9, tick: 0 }));
    for (let i = 0; i < n; i++) offer(randomBytes(16));
    assert.equal(fig.accepted, 0);
  });

  it('a rogue client on the system bus forging BlueZ\'s PropertiesChanged is not believed', async () => {
    const fig = tally('D-Bus: forged PropertiesChanged (ManufacturerData) from another bus client');
    const [lock] = makeLocks(1) as [ReturnType<typeof makeLocks>[0]];
    const sim = await startSimulator({ locks: [lock], latency: 'zero' });
    const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    process.env.DBUS_SYSTEM_BUS_ADDRESS = sim.busAddress;
    const bluez = await BluezGateway.open({ log: silentLogger });
    const rogue = dbus.sessionBus({ busAddress: sim.busAddress });
    try {
      const forged = encodeAdvert({ registered: true, pairingMode: true, deviceId: lock.deviceId }, randomBytes(16));
      const seenForged: unknown[] = [];
      const seen = { real: false };
      const sub = bluez.sightings$.subscribe((s) => {
        if (s.deviceId === lock.deviceId) seen.real = true;
        if (s.advert && Buffer.from(s.advert.sealed).equals(forged.subarray(8))) seenForged.push(s);
      });
      await bluez.startScanning();
      const devPath = `/org/bluez/hci0/dev_${lock.deviceId.match(/../g)!.join('_')}`;
      // Wait until the real device is known, so a forged signal would have somewhere to land.
      const deadline = Date.now() + 10_000;
      while (!seen.real && Date.now() < deadline) await sleep(50);
      assert.ok(seen.real, 'the real lock was seen');
      for (let i = 0; i < 20; i++) {
        const msg = new dbus.Message({
          type: dbus.MessageType.SIGNAL,
          path: devPath,
          interface: 'org.freedesktop.DBus.Properties',
          member: 'PropertiesChanged',
          signature: 'sa{sv}as',
          body: ['org.bluez.Device1', { Address: new dbus.Variant('s', lock.deviceId.match(/../g)!.join(':')), ManufacturerData: new dbus.Variant('a{qv}', { '65535': new dbus.Variant('ay', forged) }) }, []],
        });
        rogue.send(msg);
        fig.attempts++;
      }
      await sleep(500);
      sub.unsubscribe();
      fig.accepted = seenForged.length;
      assert.equal(seenForged.length, 0);
    } finally {
      rogue.disconnect();
      await bluez.close();
      await sim.stop();
      if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
      else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
    }
  });

  it('corrupted notifications: the operation fails typed and no corrupted state is shown', async () => {
    const n = count(100, 1_000);
    const fig = tally('BLE: corrupted notifications (one bit of Table 6 or 8)', `${n}; accepted = state taken from a corrupted frame`);
    const lock = new FakeLock();
    lock.motorMs = 0;
    const session = new LockSession(lock, lock.authority(), { log: silentLogger, answerTimeoutMs: 200, motorTimeoutMs: 200 });
    const original = lock.notify.bind(lock);
    try {
      for (let i = 0; i < n; i++) {
        let k = 0;
        const which = i % 2; // 0: Table 6, 1: Table 8
        lock.notify = (frame) => {
          const f = Buffer.from(frame);
          if (k++ === which) f[Math.floor(Math.random() * 16)]! ^= 1 << Math.floor(Math.random() * 8);
          original(f);
        };
        await lock.disconnect();
        const before = session.state$.value;
        fig.attempts++;
        try {
          await session.operate(i % 4 < 2 ? 'unlock' : 'lock');
          fig.accepted++;
        } catch (err) {
          assert.ok(err instanceof BgwError, String(err));
          const shown = session.state$.value;
          // Either unchanged, the Table 6 state of a genuine answer, or unknown: never a forged value.
          if (shown && shown !== before && shown.lockState !== 3 && shown.lockState !== lock.lockState) fig.accepted++;
        }
      }
    } finally {
      lock.notify = original;
      await session.close();
    }
    assert.equal(fig.accepted, 0);
  });

  it('a RAS with a certificate the plugin does not trust: typed failure, nothing sent', async () => {
    const fig = tally('TLS: RAS with an untrusted self-signed certificate');
    const dir = mkdtempSync(path.join(tmpdir(), 'igrs-attack-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const ras = await startRas({ dbPath: ':memory:', port: 0, masterKey: randomBytes(32), logger: false, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    try {
      await ras.addUser('tls@example.com', 'correct horse battery staple');
      const url = ras.url.replace(/^http:/, 'https:');
      const store = await CredentialStore.open(path.join(dir, 'cred.json'), url);
      const client = new RasClient({ baseUrl: url, store, login: { identifier: 'tls@example.com', password: 'correct horse battery staple' }, log: silentLogger, retries: 0 });
      for (let i = 0; i < 5; i++) {
        fig.attempts++;
        try {
          await client.login();
          fig.accepted++;
        } catch (err) {
          assert.ok(err instanceof RasError && err.kind === 'network', String(err));
        }
      }
      assert.equal(store.get().refreshToken, undefined);
    } finally {
      await ras.close();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(fig.accepted, 0);
  });
});
