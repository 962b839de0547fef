/**
 * The settings server script from the published layout, over the IPC channel Homebridge UI uses,
 * against the reference RAS and the simulated locks behind the BlueZ emulator.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CredentialStore, credentialsFile } from '../../src/rac/credentials.js';
import { uiCredentialsFile } from '../../src/ui/backend.js';
import { publishedLayout } from './support/published.js';
import { UiProcess, type StreamEvent } from './support/ui-process.js';
import { lockSpec, startWorld, type World } from './support/world.js';

const PASSWORD = 'correct horse battery';

interface Problem {
  message: string;
  error: { code: string; hint: string };
}

describe('settings server (homebridge-ui/server.js)', function () {
  this.timeout(30_000);
  let root: string;
  let world: World | undefined;
  let ui: UiProcess | undefined;

  before(async function () {
    this.timeout(60_000);
    root = await publishedLayout();
  });

  afterEach(async () => {
    await ui?.close();
    await world?.close();
    ui = undefined;
    world = undefined;
  });

  async function setUp(locks = [lockSpec('A4C138F0E1D2')]): Promise<{ world: World; ui: UiProcess; rasUrl: string }> {
    world = await startWorld({ locks });
    ui = await UiProcess.start({ root, storagePath: world.storage, env: { DBUS_SYSTEM_BUS_ADDRESS: world.sim.busAddress } });
    return { world, ui, rasUrl: world.ras.url };
  }

  async function problem(u: UiProcess, route: string, body: unknown): Promise<Problem> {
    const answer = await u.request(route, body);
    assert.equal(answer.success, false, `${route} should fail`);
    return answer.data as Problem;
  }

  async function signedInUser(u: UiProcess, w: World, rasUrl: string, identifier = 'owner@example.com'): Promise<void> {
    await w.ras.addUser(identifier, PASSWORD);
    await u.ok('/account/sign-in', { rasUrl, identifier, password: PASSWORD });
  }

  function events(u: UiProcess, name: string): StreamEvent['data'][] {
    const seen: unknown[] = [];
    u.on('stream', (e) => {
      if (e.event === name) seen.push(e.data);
    });
    return seen;
  }

  it('starts from the published layout, reports a signed-out account, and ends when Homebridge UI closes the settings', async () => {
    const { ui: u, rasUrl } = await setUp();
    const status = await u.ok('/status', { rasUrl });
    assert.deepEqual(status, { rasUrl, signedIn: false, plugin: { signedIn: false } });
    const code = await u.close();
    ui = undefined;
    assert.equal(code, 0);
  });

  it('creates an account with the verification code (7.1) and keeps only refresh tokens, in 0600 files', async () => {
    const { ui: u, world: w, rasUrl } = await setUp();
    const identifier = 'new@example.com';
    const sent = await u.ok<{ expiresIn: number }>('/account/code', { rasUrl, identifier });
    assert.ok(sent.expiresIn > 0);
    const wrong = await problem(u, '/account/create', { rasUrl, identifier, password: PASSWORD, verificationCode: w.codes.get(identifier) === '000000' ? '111111' : '000000' });
    assert.equal(wrong.error.code, 'wrong-verification-code');
    assert.match(wrong.message, /verification code is wrong or has expired/);
    assert.match(wrong.error.hint, /Send code/);

    const status = await u.ok<{ signedIn: boolean; identifier: string; accountId: string; plugin: { signedIn: boolean } }>('/account/create', {
      rasUrl,
      identifier,
      password: PASSWORD,
      verificationCode: w.codes.get(identifier),
      displayName: 'New User',
    });
    assert.equal(status.signedIn, true);
    assert.equal(status.identifier, identifier);
    assert.match(status.accountId, /^[0-9a-f]{18}$/);
    assert.equal(status.plugin.signedIn, true);

    const exists = await problem(u, '/account/code', { rasUrl, identifier: 'bad' });
    assert.equal(exists.error.code, 'invalid-input');

    // The running plugin reads the shared file: a refresh token and the account, nothing else.
    const pluginFile = credentialsFile(w.storage, rasUrl);
    const store = await CredentialStore.open(pluginFile, rasUrl);
    assert.ok(store.get().refreshToken);
    assert.equal(store.get().identifier, identifier);
    for (const file of [pluginFile, uiCredentialsFile(w.storage, rasUrl)]) {
      assert.equal((await stat(file)).mode & 0o777, 0o600, `${file} is 0600`);
      const text = await readFile(file, 'utf8');
      assert.ok(!text.includes(PASSWORD), 'the password is never stored');
      assert.ok(!/accessToken/.test(text), 'access tokens are not stored');
    }
    const mine = await CredentialStore.open(uiCredentialsFile(w.storage, rasUrl), rasUrl);
    assert.notEqual(mine.get().refreshToken, store.get().refreshToken, 'the page and the plugin have separate sessions');
    const files = await readdir(path.dirname(pluginFile));
    assert.equal(files.length, 2);
    assert.ok(!u.output.join('').includes(PASSWORD), 'the password is never logged');
    assert.ok(!u.output.join('').includes(store.get().refreshToken!), 'tokens are never logged');
  });

  it('signs in (7.2), names a wrong password and an existing account, and signs both sessions out', async () => {
    const { ui: u, world: w, rasUrl } = await setUp();
    await w.ras.addUser('owner@example.com', PASSWORD);
    const wrong = await problem(u, '/account/sign-in', { rasUrl, identifier: 'owner@example.com', password: 'not the password' });
    assert.equal(wrong.error.code, 'wrong-credentials');

    await u.ok('/account/code', { rasUrl, identifier: 'owner@example.com' }).catch(() => undefined);
    const exists = await problem(u, '/account/create', { rasUrl, identifier: 'owner@example.com', password: PASSWORD, verificationCode: w.codes.get('owner@example.com') ?? '123456' });
    assert.ok(['user-exists', 'wrong-verification-code'].includes(exists.error.code), exists.error.code);

    const status = await u.ok<{ signedIn: boolean; identifier: string }>('/account/sign-in', { rasUrl, identifier: 'owner@example.com', password: PASSWORD });
    assert.equal(status.signedIn, true);
    const pluginToken = (await CredentialStore.open(credentialsFile(w.storage, rasUrl), rasUrl)).get().refreshToken!;

    const out = await u.ok<{ signedIn: boolean; plugin: { signedIn: boolean } }>('/account/sign-out', { rasUrl });
    assert.equal(out.signedIn, false);
    assert.equal(out.plugin.signedIn, false);
    assert.equal((await CredentialStore.open(credentialsFile(w.storage, rasUrl), rasUrl)).get().refreshToken, undefined);
    // The plugin's old token is revoked at the RAS, not just forgotten here.
    const refresh = await fetch(`${rasUrl}/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: '1.0', msgType: 'TokenRefreshRequest', seq: 1, timestamp: Math.floor(Date.now() / 1000), body: { refreshToken: pluginToken } }),
    });
    assert.notEqual(refresh.status, 200);
    const locks = await problem(u, '/locks', { rasUrl });
    assert.equal(locks.error.code, 'signed-out');
  });

  it('scans, registers a lock in pairing mode step by step (7.4), lists it, and removes it with the lock present (7.5)', async () => {
    const { ui: u, world: w, rasUrl } = await setUp();
    await signedInUser(u, w, rasUrl);
    const scans = events(u, 'igrs-scan');
    const progress = events(u, 'igrs-progress');
    await u.ok('/scan/start', { rasUrl });
    const deadline = Date.now() + 5_000;
    let devices: { deviceId: string; rssi?: number; registered: boolean; pairingMode: boolean }[] = [];
    while (Date.now() < deadline && devices.length === 0) {
      devices = (await u.ok<{ devices: typeof devices }>('/scan/list')).devices;
      if (devices.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(devices.length, 1);
    assert.deepEqual({ ...devices[0], rssi: typeof devices[0]!.rssi }, { ...devices[0], deviceId: 'A4C138F0E1D2', registered: false, pairingMode: true, rssi: 'number' });
    while (scans.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(scans.length > 0, 'nearby locks are pushed to the page');

    const lock = w.locks[0]!;
    await u.ok('/locks/register', { rasUrl, deviceId: lock.deviceId, name: 'Front door', setupCode: lock.setupCode });
    assert.deepEqual(
      progress.map((p) => (p as { step: string }).step),
      ['checking', 'connecting', 'requesting', 'writing', 'confirming', 'done'],
    );
    assert.ok(w.sim.lock(lock.deviceId).snapshot().boundAccountId, 'the lock is bound');
    const { locks } = await u.ok<{ locks: { deviceId: string; name: string; role: string; lockState: number; battery: number }[] }>('/locks', { rasUrl });
    assert.equal(locks.length, 1);
    assert.deepEqual({ ...locks[0], registeredAt: 0, updatedAt: 0 }, { deviceId: lock.deviceId, name: 'Front door', role: 'owner', lockState: 1, battery: 100, registeredAt: 0, updatedAt: 0 });

    progress.length = 0;
    await u.ok('/locks/remove', { rasUrl, deviceId: lock.deviceId });
    assert.deepEqual(progress.map((p) => (p as { step: string }).step), ['connecting', 'requesting', 'writing', 'confirming', 'done']);
    assert.equal(w.sim.lock(lock.deviceId).snapshot().boundAccountId, null, 'the lock is released');
    assert.deepEqual((await u.ok<{ locks: unknown[] }>('/locks', { rasUrl })).locks, []);
    await u.ok('/scan/stop');
  });

  it('names each failure: wrong setup code, no pairing mode, another account\'s lock, out of range, unknown lock, RAS unreachable', async () => {
    const front = lockSpec('A4C138F0E1D2');
    const back = lockSpec('A4C138F0E1D3', { name: 'Back door', pairingMode: false });
    const { ui: u, world: w, rasUrl } = await setUp([front, back]);
    await signedInUser(u, w, rasUrl);
    await u.ok('/scan/start', { rasUrl });

    const wrongCode = await problem(u, '/locks/register', { rasUrl, deviceId: front.deviceId, name: 'Front door', setupCode: front.setupCode === '11111111' ? '22222222' : '11111111' });
    assert.equal(wrongCode.error.code, 'wrong-setup-code');
    assert.match(wrongCode.message, /setup code is wrong/);

    const noPairing = await problem(u, '/locks/register', { rasUrl, deviceId: back.deviceId, name: 'Back door', setupCode: back.setupCode });
    assert.equal(noPairing.error.code, 'lock-not-in-pairing-mode');
    assert.match(noPairing.error.hint, /Press the button on the lock/);

    // Another account registers the front door from its own Homebridge, once the lock's
    // back-off after the refused setup code is over (that Homebridge does not know about it).
    w.sim.lock(front.deviceId).clearBackoff();
    await w.ras.addUser('other@example.com', PASSWORD);
    const other = await UiProcess.start({ root, storagePath: path.join(w.storage, 'other'), env: { DBUS_SYSTEM_BUS_ADDRESS: w.sim.busAddress } });
    try {
      await other.ok('/account/sign-in', { rasUrl, identifier: 'other@example.com', password: PASSWORD });
      await other.ok('/locks/register', { rasUrl, deviceId: front.deviceId, name: 'Their door', setupCode: front.setupCode });
    } finally {
      await other.close();
    }
    w.sim.lock(front.deviceId).press();
    const elsewhere = await problem(u, '/locks/register', { rasUrl, deviceId: front.deviceId, name: 'Front door', setupCode: front.setupCode });
    assert.equal(elsewhere.error.code, 'lock-registered-elsewhere');
    assert.match(elsewhere.message, /already registered to another account/);

    w.sim.lock(back.deviceId).press();
    w.sim.lock(back.deviceId).outOfRange();
    const away = await problem(u, '/locks/register', { rasUrl, deviceId: back.deviceId, name: 'Back door', setupCode: back.setupCode });
    assert.equal(away.error.code, 'lock-out-of-range');
    assert.match(away.message, /did not answer over Bluetooth/);

    const unknown = await problem(u, '/locks/register', { rasUrl, deviceId: 'A4C138F0E1FF', name: 'Nobody', setupCode: '12345678' });
    assert.equal(unknown.error.code, 'lock-not-legitimate');

    const down = await problem(u, '/account/sign-in', { rasUrl: 'http://127.0.0.1:9', identifier: 'owner@example.com', password: PASSWORD });
    assert.equal(down.error.code, 'ras-unreachable');
    assert.match(down.message, /cannot be reached/);
    assert.match(down.message, /127\.0\.0\.1:9/);

    const plain = await problem(u, '/status', { rasUrl: 'http://ras.example.com' });
    assert.equal(plain.error.code, 'invalid-input');
    assert.match(plain.error.hint, /only allowed for a server on this machine/);
    assert.ok(!u.output.join('').includes(PASSWORD));
    assert.ok(!u.output.join('').includes(front.setupCode), 'setup codes are never logged');
  });

  it('shares a lock for a time window and stops sharing; an unknown account is named', async () => {
    const { ui: u, world: w, rasUrl } = await setUp();
    await signedInUser(u, w, rasUrl);
    const lock = w.locks[0]!;
    await u.ok('/locks/register', { rasUrl, deviceId: lock.deviceId, name: 'Front door', setupCode: lock.setupCode });
    const guest = await w.ras.addUser('guest@example.com', PASSWORD);
    const now = Math.floor(Date.now() / 1000);
    const shared = await u.ok<{ accountId: string; validUntil: number }>('/locks/share', { rasUrl, deviceId: lock.deviceId, identifier: 'guest@example.com', validFrom: now, validUntil: now + 3600 });
    assert.equal(shared.accountId, guest.accountId);
    assert.equal(shared.validUntil, now + 3600);

    const nobody = await problem(u, '/locks/share', { rasUrl, deviceId: lock.deviceId, identifier: 'nobody@example.com' });
    assert.equal(nobody.error.code, 'no-such-account');
    const past = await problem(u, '/locks/share', { rasUrl, deviceId: lock.deviceId, identifier: 'guest@example.com', validUntil: now - 10 });
    assert.equal(past.error.code, 'invalid-input');

    await u.ok('/locks/unshare', { rasUrl, deviceId: lock.deviceId, accountId: guest.accountId });
  });

  it('removes a lock that is gone, from the account only (7.5 with force)', async () => {
    const { ui: u, world: w, rasUrl } = await setUp();
    await signedInUser(u, w, rasUrl);
    const lock = w.locks[0]!;
    await u.ok('/locks/register', { rasUrl, deviceId: lock.deviceId, name: 'Front door', setupCode: lock.setupCode });
    w.sim.lock(lock.deviceId).outOfRange();
    const away = await problem(u, '/locks/remove', { rasUrl, deviceId: lock.deviceId });
    assert.equal(away.error.code, 'lock-out-of-range');
    assert.match(away.error.hint, /Remove without the lock/);
    await u.ok('/locks/remove', { rasUrl, deviceId: lock.deviceId, withoutLock: true });
    assert.deepEqual((await u.ok<{ locks: unknown[] }>('/locks', { rasUrl })).locks, []);
  });

  it('answers every route, whatever the body, with data or a clear error, and keeps running', async () => {
    const { ui: u, rasUrl } = await setUp();
    const routes = ['/status', '/account/code', '/account/create', '/account/sign-in', '/account/sign-out', '/locks', '/scan/list', '/locks/register', '/locks/remove', '/locks/share', '/locks/unshare'];
    for (const route of routes) {
      for (const body of [null, [], 'text', 42, {}, { rasUrl }, { rasUrl: { toString: 1 } }, { rasUrl, deviceId: '../../x', identifier: 7, password: {}, setupCode: [] }]) {
        const answer = await u.request(route, body);
        if (answer.success) continue;
        const error = answer.data as Problem;
        assert.ok(error.message.length > 10, `${route} ${JSON.stringify(body)}: a message`);
        assert.ok(error.error.code && error.error.hint, `${route} ${JSON.stringify(body)}: a code and a hint`);
        assert.notEqual(error.error.code, 'internal', `${route} ${JSON.stringify(body)}: ${error.message}`);
      }
    }
    const unknown = await u.request('/nope', {});
    assert.equal(unknown.success, false);
    assert.deepEqual(await u.ok('/status', { rasUrl }), { rasUrl, signedIn: false, plugin: { signedIn: false } }, 'still serving');
    assert.ok(!/unhandled|uncaught/i.test(u.output.join('')));
  });

  it('says when Bluetooth is not available on this Homebridge', async () => {
    const w = await startWorld();
    world = w;
    ui = await UiProcess.start({ root, storagePath: w.storage, env: { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(w.storage, 'no-bus')}` } });
    const answer = await problem(ui, '/scan/start', {});
    assert.equal(answer.error.code, 'bluetooth-unavailable');
    assert.match(answer.message, /Bluetooth is not available on this Homebridge/);
    const again = await problem(ui, '/scan/start', { adapter: 'nonsense' });
    assert.equal(again.error.code, 'invalid-input');
  });
});
