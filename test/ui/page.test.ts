/**
 * The settings page in headless Chromium, through every flow a person follows, with the real
 * server script (published layout, over IPC) behind it, the reference RAS and simulated locks.
 * Screenshots of each state go to test-artifacts/ui/ (described in docs/setup.md).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { CredentialStore, credentialsFile } from '../../src/rac/credentials.js';
import { launchBrowser, screenshot, type Browser } from './support/browser.js';
import { UiBridge, type PluginConfig } from './support/bridge.js';
import { publishedLayout } from './support/published.js';
import { renderForm, type PluginSchema } from './support/schema-form.js';
import { UiProcess } from './support/ui-process.js';
import { lockSpec, startWorld, type UiTestLock, type World } from './support/world.js';

const PASSWORD = 'correct horse battery';
const OWNER = 'owner@example.com';

describe('settings page (homebridge-ui/public) in Chromium', function () {
  this.timeout(40_000);
  let root: string;
  let browser: Browser;
  let world: World | undefined;
  let ui: UiProcess | undefined;
  let bridge: UiBridge | undefined;
  let errors: string[] = [];

  before(async function () {
    this.timeout(60_000);
    root = await publishedLayout();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser.close();
  });

  afterEach(async () => {
    await bridge?.close();
    await ui?.close();
    await world?.close();
    bridge = undefined;
    ui = undefined;
    world = undefined;
  });

  interface Opened {
    page: Page;
    world: World;
    ui: UiProcess;
    bridge: UiBridge;
  }

  async function open(options: { locks?: UiTestLock[]; config?: (w: World) => PluginConfig[]; prepare?: (u: UiProcess, w: World) => Promise<void> } = {}): Promise<Opened> {
    world = await startWorld(options.locks ? { locks: options.locks } : {});
    ui = await UiProcess.start({ root, storagePath: world.storage, env: { DBUS_SYSTEM_BUS_ADDRESS: world.sim.busAddress } });
    await options.prepare?.(ui, world);
    const config = options.config ? options.config(world) : [{ platform: 'IgrsSmartLock', name: 'IGRS Smart Lock', rasUrl: world.ras.url }];
    bridge = await UiBridge.start({ ui, publicDir: path.join(root, 'homebridge-ui/public'), schemaFile: path.join(root, 'config.schema.json'), config });
    const tab = await browser.page();
    errors = tab.errors;
    await tab.page.goto(bridge.url);
    await tab.page.locator('body[data-ready="true"]').waitFor();
    return { page: tab.page, world, ui, bridge };
  }

  async function signIn(u: UiProcess, w: World, identifier = OWNER): Promise<void> {
    await w.ras.addUser(identifier, PASSWORD);
    await u.ok('/account/sign-in', { rasUrl: w.ras.url, identifier, password: PASSWORD });
  }

  async function problemText(page: Page): Promise<string> {
    await page.locator('#problem').waitFor({ state: 'visible' });
    return ((await page.locator('#problem').textContent()) ?? '').replace(/\s+/g, ' ').trim();
  }

  /** Runs an expression in the page (as text: the tests are type-checked without the DOM library). */
  function inPage<T>(page: Page, expression: string): Promise<T> {
    return page.evaluate<T>(expression);
  }

  const activeId = (page: Page) => inPage<string | undefined>(page, 'document.activeElement?.id');

  function unlabelled(page: Page): Promise<string[]> {
    return inPage(page, "[...document.querySelectorAll('input')].filter((i) => i.labels.length === 0 && !i.getAttribute('aria-label')).map((i) => i.id || i.name)");
  }

  it('first visit: takes the RAS address, creates an account with the verification code (7.1), shows who is signed in, signs out', async () => {
    const { page, world: w, bridge: b } = await open({ config: () => [] });
    assert.equal(await page.locator('#account').isVisible(), false, 'no account section before a server is chosen');
    await page.getByLabel('RAS address').fill(w.ras.url);
    await page.getByRole('button', { name: 'Use this server' }).click();
    await page.locator('#signed-out').waitFor();
    assert.equal(b.current[0]?.rasUrl, w.ras.url, 'the address goes into the plugin config');
    await screenshot(page, '01-sign-in-or-create');

    // Keyboard: the tabs follow the arrow keys, as tabs do.
    await page.getByRole('tab', { name: 'I already have an account' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getByRole('tab', { name: 'Create an account' }).getAttribute('aria-selected'), 'true');
    assert.equal(await activeId(page), 'tab-create');

    const create = page.getByRole('tabpanel', { name: 'Create an account' });
    await create.getByLabel('E-mail address or phone number').fill('new@example.com');
    await create.getByLabel('E-mail address or phone number').press('Enter'); // = Send code
    await page.locator('#create-rest').waitFor();
    assert.match((await page.locator('#create-code-help').textContent()) ?? '', /sent a 6-digit code to new@example.com/);
    assert.equal(await activeId(page), 'create-code', 'focus moves to the code');
    const code = w.codes.get('new@example.com')!;
    await create.getByLabel('Verification code').fill(code === '000000' ? '111111' : '000000');
    await create.getByLabel('Choose a password').fill(PASSWORD);
    await create.getByRole('button', { name: 'Create account' }).click();
    assert.match(await problemText(page), /The verification code is wrong or has expired\..*Send code/);
    assert.equal(await activeId(page), 'problem', 'the message takes the focus');
    await screenshot(page, '02-wrong-verification-code');

    await create.getByLabel('Verification code').fill(code);
    await create.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#signed-in').waitFor();
    assert.equal(await page.locator('#who').textContent(), 'new@example.com');
    assert.match((await page.locator('#plugin-who').textContent()) ?? '', /Homebridge uses this account/);
    assert.equal(await page.locator('#problem').isVisible(), false);
    assert.deepEqual(b.saved, [{ platform: 'IgrsSmartLock', name: 'IGRS Smart Lock', rasUrl: w.ras.url }], 'saved: the address, never the password');
    assert.ok(b.toasts.some((t) => t.type === 'success' && /signed in as new@example.com/.test(t.message)));
    const stored = await readFile(credentialsFile(w.storage, w.ras.url), 'utf8');
    assert.ok(!stored.includes(PASSWORD));
    await page.locator('#locks-empty').waitFor();
    await screenshot(page, '03-signed-in');
    assert.deepEqual(await unlabelled(page), [], 'every field has a label');

    await page.getByRole('button', { name: 'Show all settings' }).click();
    await page.getByRole('button', { name: 'Hide all settings' }).waitFor();
    assert.equal(b.schemaFormShown, true);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signed-out').waitFor();
    assert.equal((await CredentialStore.open(credentialsFile(w.storage, w.ras.url), w.ras.url)).get().refreshToken, undefined);
    assert.equal(await page.locator('#locks').isVisible(), false);
    assert.deepEqual(errors, []);
  });

  it('signs in (7.2), scans, shows signal, registration and pairing mode, and registers a lock step by step (7.4)', async () => {
    const { page, world: w, bridge: b } = await open({ prepare: (_u, wd) => wd.ras.addUser(OWNER, PASSWORD).then(() => undefined) });
    const form = page.getByRole('tabpanel', { name: 'I already have an account' });
    await form.getByLabel('E-mail address or phone number').fill(OWNER);
    await form.getByLabel('Password').fill('wrong password');
    await form.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await problemText(page), /do not match an account/);
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signed-in').waitFor();
    assert.equal(await page.getByLabel('Password').inputValue().catch(() => ''), '', 'the password field is cleared');
    assert.equal(b.saved[0]?.rasUrl, w.ras.url);

    await page.getByRole('button', { name: 'Scan for locks' }).click();
    const lock = w.locks[0]!;
    const nearby = page.locator(`#nearby-list li[data-device-id="${lock.deviceId}"]`);
    await nearby.waitFor();
    const text = (await nearby.textContent()) ?? '';
    assert.match(text, /-60 dBm/);
    assert.match(text, /Not registered/);
    assert.match(text, /Pairing mode/);
    assert.equal(await nearby.getByLabel(/signal strong/).count(), 1, 'the signal is described in words too');
    await screenshot(page, '04-nearby-locks');

    await page.getByRole('button', { name: `Register ${lock.deviceId}` }).click();
    assert.equal(await activeId(page), 'register-name');
    await page.getByLabel('Name', { exact: true }).fill('Front door');
    await page.getByLabel('Setup code').fill(lock.setupCode === '11111111' ? '22222222' : '11111111');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    assert.match(await problemText(page), /The setup code is wrong\..*printed on the lock/);
    assert.equal(await page.locator('#progress-steps li[data-state="failed"]').count(), 1);
    await screenshot(page, '05-wrong-setup-code');

    await page.getByLabel('Setup code').fill(lock.setupCode);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.locator('#progress-steps li[data-step="done"][data-state="done"]').waitFor();
    assert.deepEqual(await inPage(page, "[...document.querySelectorAll('#progress-steps li')].map((li) => li.dataset.state)"), ['done', 'done', 'done', 'done', 'done', 'done']);
    assert.equal(await activeId(page), 'progress-title', 'the focus stays with the outcome, not on a hidden form');
    await screenshot(page, '06-registered-progress');
    const row = page.locator(`#lock-list li[data-device-id="${lock.deviceId}"]`);
    await row.waitFor();
    const rowText = (await row.textContent()) ?? '';
    for (const part of ['Front door', 'Locked', 'Battery 100 %', 'Yours']) assert.ok(rowText.includes(part), `${part} in "${rowText}"`);
    await page.locator(`#nearby-list li[data-device-id="${lock.deviceId}"]`, { hasText: 'On your account' }).waitFor();
    assert.ok(w.sim.lock(lock.deviceId).snapshot().boundAccountId);
    assert.ok(b.toasts.some((t) => t.type === 'success' && /Front door/.test(t.message)));
    await screenshot(page, '07-your-locks');
    assert.deepEqual(await unlabelled(page), []);
    assert.deepEqual(errors, []);
  });

  it('says when a lock belongs to another account, and when it is out of range', async () => {
    const front = lockSpec('A4C138F0E1D2');
    const back = lockSpec('A4C138F0E1D3', { name: 'Back door' });
    const { page, world: w } = await open({
      locks: [front, back],
      prepare: async (u, wd) => {
        await signIn(u, wd);
        // Someone else registered the front door from their own Homebridge.
        const other = await UiProcess.start({ root, storagePath: path.join(wd.storage, 'other'), env: { DBUS_SYSTEM_BUS_ADDRESS: wd.sim.busAddress } });
        try {
          await signIn(other, wd, 'other@example.com');
          await other.ok('/locks/register', { rasUrl: wd.ras.url, deviceId: front.deviceId, name: 'Their door', setupCode: front.setupCode });
        } finally {
          await other.close();
        }
        wd.sim.lock(front.deviceId).press();
      },
    });
    await page.getByRole('button', { name: 'Scan for locks' }).click();
    const frontRow = page.locator(`#nearby-list li[data-device-id="${front.deviceId}"]`);
    await frontRow.waitFor();
    assert.match((await frontRow.textContent()) ?? '', /Registered/);
    await page.getByRole('button', { name: `Register ${front.deviceId}` }).click();
    await page.getByLabel('Name', { exact: true }).fill('Front door');
    await page.getByLabel('Setup code').fill(front.setupCode);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    assert.match(await problemText(page), /already registered to another account\..*owner must remove it first/);
    assert.equal(await page.locator('#progress-steps li[data-step="checking"]').getAttribute('data-state'), 'failed', 'stopped before any Bluetooth connection');
    await screenshot(page, '08-error-registered-elsewhere');

    await page.locator(`#nearby-list li[data-device-id="${back.deviceId}"]`).waitFor();
    w.sim.lock(back.deviceId).outOfRange();
    await page.getByRole('button', { name: `Register ${back.deviceId}` }).click();
    await page.getByLabel('Name', { exact: true }).fill('Back door');
    await page.getByLabel('Setup code').fill(back.setupCode);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    assert.match(await problemText(page), /did not answer over Bluetooth.*closer/);
    await screenshot(page, '09-error-out-of-range');
    assert.deepEqual(errors, []);
  });

  it('says when the RAS cannot be reached', async () => {
    const { page } = await open({ config: () => [{ platform: 'IgrsSmartLock', name: 'IGRS Smart Lock', rasUrl: 'http://127.0.0.1:9' }] });
    const form = page.getByRole('tabpanel', { name: 'I already have an account' });
    await form.getByLabel('E-mail address or phone number').fill(OWNER);
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await problemText(page), /server at http:\/\/127\.0\.0\.1:9 cannot be reached.*Check the RAS address/);
    await screenshot(page, '10-error-ras-unreachable');
    assert.deepEqual(errors, []);
  });

  it('renames a lock (plugin config), shares it for a time window, and removes it with and without the lock (7.5)', async () => {
    const lock = lockSpec('A4C138F0E1D2');
    const { page, world: w, ui: u, bridge: b } = await open({
      locks: [lock],
      prepare: async (pu, wd) => {
        await signIn(pu, wd);
        await wd.ras.addUser('guest@example.com', PASSWORD);
        await pu.ok('/locks/register', { rasUrl: wd.ras.url, deviceId: lock.deviceId, name: 'Front door', setupCode: lock.setupCode });
      },
    });
    const row = page.locator(`#lock-list li[data-device-id="${lock.deviceId}"]`);
    await row.waitFor();

    await page.getByRole('button', { name: 'Rename Front door' }).click();
    await page.getByLabel('New name').fill('Garden gate');
    await page.getByRole('button', { name: 'Save name' }).click();
    await row.getByText('Garden gate').waitFor();
    assert.deepEqual(b.saved[0]?.locks, [{ deviceId: lock.deviceId, name: 'Garden gate' }]);

    await page.getByRole('button', { name: 'Share Garden gate' }).click();
    await page.getByLabel(/Share with/).fill('nobody@example.com');
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    assert.match(await problemText(page), /no account with that e-mail address or phone number/);
    const until = new Date(Date.now() + 24 * 3600_000);
    const local = new Date(until.getTime() - until.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.getByLabel(/Share with/).fill('guest@example.com');
    await page.getByLabel('Until (optional)').fill(local);
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const shared = row.getByRole('list', { name: 'Shared with' });
    await shared.waitFor();
    assert.match((await shared.textContent()) ?? '', /guest@example\.com until/);
    await screenshot(page, '11-shared');
    await page.getByRole('button', { name: 'Stop sharing with guest@example.com' }).click();
    await shared.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Remove Garden gate' }).click();
    await page.getByRole('button', { name: 'Remove (lock nearby)' }).click();
    await page.locator('#locks-empty').waitFor();
    assert.equal(await page.locator('#progress-steps li[data-step="done"]').getAttribute('data-state'), 'done');
    assert.equal(w.sim.lock(lock.deviceId).snapshot().boundAccountId, null, 'the lock itself is released');
    await screenshot(page, '12-removed');

    // A lock that is gone: removal through it fails, and the page offers the way out.
    w.sim.lock(lock.deviceId).press();
    await u.ok('/locks/register', { rasUrl: w.ras.url, deviceId: lock.deviceId, name: 'Front door', setupCode: lock.setupCode });
    await page.getByRole('button', { name: 'Reload' }).click();
    await row.waitFor();
    w.sim.lock(lock.deviceId).outOfRange();
    await page.getByRole('button', { name: 'Remove Garden gate' }).click();
    await page.getByRole('button', { name: 'Remove (lock nearby)' }).click();
    assert.match(await problemText(page), /did not answer over Bluetooth.*Remove without the lock/);
    await screenshot(page, '13-remove-out-of-range');
    await page.getByRole('button', { name: 'Remove without the lock' }).click();
    await page.locator('#locks-empty').waitFor();
    assert.deepEqual(errors, []);
  });

  it('renders the settings form from config.schema.json with a label for every field and no errors', async () => {
    const schema = JSON.parse(await readFile(path.join(root, 'config.schema.json'), 'utf8')) as PluginSchema;
    const html = renderForm(schema, { rasUrl: 'https://ras.example.com:8480', locks: [{ deviceId: 'A4C138F0E1D2', name: 'Front door' }] });
    const tab = await browser.page();
    try {
      await tab.page.setContent(html);
      assert.deepEqual(await unlabelled(tab.page), []);
      // Every pattern is usable as the browser's pattern attribute, and the sample values pass.
      const invalid = await inPage<string[]>(tab.page, "[...document.querySelectorAll('input')].filter((i) => !i.checkValidity()).map((i) => i.name)");
      assert.deepEqual(invalid, []);
      const fields = await tab.page.locator('input').count();
      assert.equal(fields, 13, `${fields} fields`);
      await screenshot(tab.page, '00-settings-form');
      assert.deepEqual(tab.errors, []);
    } finally {
      await tab.page.close();
    }
  });
});
