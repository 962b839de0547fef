/**
 * What the settings page can ask of this Homebridge, as plain async methods: the account (7.1,
 * 7.2), the account's locks (7.3), registration and removal through the Bluetooth adapter (7.4,
 * 7.5) and sharing (Members). It reuses the plugin's RAC client and BGW stage-a code; Bluetooth
 * is injectable so that the page can be tested without BlueZ.
 *
 * Two sessions with the RAS, on purpose: the plugin's (the shared credentials file it reads) and
 * this page's own (a second file). Refresh tokens rotate and the RAS revokes a whole family when
 * a spent one is reused, so two processes sharing one family would sign each other out.
 */
import path from 'node:path';
import type { Observable } from 'rxjs';
import { registerBsld, removeBsld, type StageAAuthority, type StageAStep } from '../bgw/registration.js';
import type { LockLink } from '../bgw/session.js';
import type { Sighting } from '../bgw/bluez.js';
import { BgwError } from '../bgw/errors.js';
import type { Logger } from '../logger.js';
import { RasClient } from '../rac/client.js';
import { CredentialStore, credentialsFile } from '../rac/credentials.js';
import { RasError } from '../rac/errors.js';
import { DEVICE_ID_PATTERN, Status, type BsldInfo } from '../protocol/index.js';
import { UiError } from './explain.js';

/** The part of the BGW's BlueZ gateway the page needs; `BluezGateway` provides it. */
export interface UiBluetooth {
  readonly sightings$: Observable<Sighting>;
  startScanning(): Promise<void>;
  stopScanning(): Promise<void>;
  link(deviceId: string): LockLink;
  close(): Promise<void>;
}

export interface BluetoothOptions {
  adapterAddress?: string;
  companyId?: number;
}

export interface UiBackendOptions {
  /** Homebridge's storage directory, where the plugin keeps its credentials. */
  storagePath: string;
  log: Logger;
  openBluetooth: (options: BluetoothOptions & { log: Logger }) => Promise<UiBluetooth>;
  /** How long to listen for a lock's advert before calling it out of range. */
  discoveryTimeoutMs?: number;
  /** Per-request time limit towards the RAS. */
  rasTimeoutMs?: number;
  /** Progress of a registration or removal, for the page. */
  onProgress?: (progress: JobProgress) => void;
  /** The nearby locks changed. */
  onScan?: (devices: NearbyLock[]) => void;
}

export interface AccountStatus {
  rasUrl: string;
  /** This page has its own session with the RAS. */
  signedIn: boolean;
  identifier?: string;
  accountId?: string;
  /** What the running plugin will use (the shared credentials file). */
  plugin: { signedIn: boolean; identifier?: string };
}

export interface LockSummary {
  deviceId: string;
  name: string;
  role: 'owner' | 'member';
  registeredAt: number;
  lockState: number;
  battery?: number;
  doorState?: number;
  updatedAt: number;
}

export interface NearbyLock {
  deviceId: string;
  name?: string;
  rssi?: number;
  registered: boolean;
  pairingMode: boolean;
  /** Unix ms of the last advert. */
  seenAt: number;
}

export interface JobProgress {
  job: 'register' | 'remove';
  deviceId: string;
  step: StageAStep;
}

/** An advert older than this no longer counts as "nearby". */
const NEARBY_MS = 30_000;
const SCAN_PUSH_INTERVAL_MS = 400;
const SCAN_REFRESH_MS = 5_000;
/** A little over the profile's first back-off step (1 s). */
const RECONNECT_AFTER_MS = 1_200;
const SETUP_CODE = /^[0-9]{8}$/;
const VERIFICATION_CODE = /^[0-9]{6}$/;
const IDENTIFIER = /^(\+[1-9][0-9]{6,14}|[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+)$/;
// eslint-disable-next-line no-control-regex -- the point is to refuse control characters
const PRINTABLE = /^[^\u0000-\u001f\u007f]{1,64}$/;

interface Session {
  rasUrl: string;
  client: RasClient;
  store: CredentialStore;
}

export class UiBackend {
  private readonly sessions = new Map<string, Session>();
  private bluetooth: { options: string; gateway: Promise<UiBluetooth> } | undefined;
  private readonly nearby = new Map<string, NearbyLock>();
  private scanSubscribed = false;
  private scanTimer: NodeJS.Timeout | undefined;
  private scanTicker: NodeJS.Timeout | undefined;
  private job: string | undefined;
  /** When a registration or removal through each lock last failed. */
  private readonly failedAt = new Map<string, number>();

  constructor(private readonly options: UiBackendOptions) {}

  // 7.1 and 7.2: the account.

  async status(rawUrl: unknown): Promise<AccountStatus> {
    const session = await this.session(rawUrl);
    await session.store.reload();
    const mine = session.store.get();
    const plugin = (await this.pluginStore(session.rasUrl)).get();
    return {
      rasUrl: session.rasUrl,
      signedIn: Boolean(mine.refreshToken),
      ...(mine.refreshToken && mine.identifier ? { identifier: mine.identifier } : {}),
      ...(mine.refreshToken && mine.accountId ? { accountId: mine.accountId } : {}),
      plugin: { signedIn: Boolean(plugin.refreshToken), ...(plugin.refreshToken && plugin.identifier ? { identifier: plugin.identifier } : {}) },
    };
  }

  async sendVerificationCode(rawUrl: unknown, input: { identifier?: unknown }): Promise<{ expiresIn: number }> {
    const identifier = checkIdentifier(input.identifier);
    const { client } = await this.session(rawUrl);
    return client.call('VerificationCode', { body: { identifier } });
  }

  /** 7.1 (Fig. 8), then signs in with the new account. */
  async createAccount(
    rawUrl: unknown,
    input: { identifier?: unknown; password?: unknown; verificationCode?: unknown; displayName?: unknown },
  ): Promise<AccountStatus> {
    const identifier = checkIdentifier(input.identifier);
    const password = checkPassword(input.password);
    const verificationCode = checkText(input.verificationCode, VERIFICATION_CODE, 'The verification code must be the 6 digits from the message you received.');
    const displayName = input.displayName === undefined || input.displayName === '' ? undefined : checkName(input.displayName, 'display name');
    const { client } = await this.session(rawUrl);
    await client.call('UserRegistration', { body: { identifier, password, verificationCode, ...(displayName ? { displayName } : {}) } });
    return this.signIn(rawUrl, { identifier, password });
  }

  /** 7.2 for this page and for the plugin; only the refresh tokens are kept. */
  async signIn(rawUrl: unknown, input: { identifier?: unknown; password?: unknown }): Promise<AccountStatus> {
    const identifier = checkIdentifier(input.identifier);
    const password = typeof input.password === 'string' && input.password.length > 0 ? input.password : fail('invalid-input', 'Type your password.', 'The password of your RAS account.');
    const session = await this.session(rawUrl);
    // A previous sign-in of this page (perhaps another account) is ended, not left to expire.
    await session.store.reload();
    if (session.store.get().refreshToken) await session.client.logout();
    const answer = await session.client.login({ identifier, password });
    const pluginStore = await this.pluginStore(session.rasUrl);
    const before = pluginStore.get().accountId;
    await new RasClient(this.clientOptions(session.rasUrl, pluginStore)).login({ identifier, password });
    if (before !== undefined && before !== answer.accountId) {
      // The gateway and the push position belong to the account that registered them.
      await pluginStore.update({ gatewayId: undefined, pushLastSeq: 0 });
    }
    return this.status(session.rasUrl);
  }

  /** 7.2 Logout of both sessions: the plugin stops using the account too. */
  async signOut(rawUrl: unknown): Promise<AccountStatus> {
    const session = await this.session(rawUrl);
    await session.client.logout();
    const pluginStore = await this.pluginStore(session.rasUrl);
    if (pluginStore.get().refreshToken) await new RasClient(this.clientOptions(session.rasUrl, pluginStore)).logout();
    await Promise.all([session.store.update({ identifier: undefined, accountId: undefined }), pluginStore.update({ identifier: undefined })]);
    return this.status(session.rasUrl);
  }

  // 7.3: the account's locks.

  async locks(rawUrl: unknown): Promise<{ locks: LockSummary[] }> {
    const session = await this.signedIn(rawUrl);
    const { bslds } = await session.client.call('BsldDiscovery');
    return { locks: bslds.map(summary).sort((a, b) => a.name.localeCompare(b.name)) };
  }

  // Nearby locks.

  async startScan(input: { adapter?: unknown; companyId?: unknown }): Promise<{ devices: NearbyLock[] }> {
    await this.scanning(bluetoothOptions(input));
    // Adverts only report what changed; the page also needs to see a silent lock go away.
    this.scanTicker ??= setInterval(() => this.options.onScan?.(this.nearbyLocks()), SCAN_REFRESH_MS);
    return { devices: this.nearbyLocks() };
  }

  nearbyLocks(): NearbyLock[] {
    const cutoff = Date.now() - NEARBY_MS;
    return [...this.nearby.values()].filter((d) => d.seenAt >= cutoff).sort((a, b) => (b.rssi ?? -999) - (a.rssi ?? -999));
  }

  async stopScan(): Promise<{ scanning: false }> {
    clearInterval(this.scanTicker);
    this.scanTicker = undefined;
    const current = this.bluetooth;
    if (current) await (await current.gateway).stopScanning();
    return { scanning: false };
  }

  // 7.4 and 7.5 through the lock.

  /** 7.4: the whole registration, relayed through this Homebridge's adapter. */
  async registerLock(rawUrl: unknown, input: { deviceId?: unknown; name?: unknown; setupCode?: unknown; adapter?: unknown; companyId?: unknown }): Promise<{ deviceId: string; name: string }> {
    const deviceId = checkDeviceId(input.deviceId);
    const name = checkName(input.name, 'lock name');
    const setupCode = checkText(input.setupCode, SETUP_CODE, 'The setup code is the 8 digits printed on the lock and its box.');
    const session = await this.signedIn(rawUrl);
    return this.exclusive(deviceId, async () => {
      const gateway = await this.scanning(bluetoothOptions(input));
      await registerBsld(this.heardLink(gateway, deviceId), earlyRefusal(session.client), { name, setupCode }, {
        progress: (step) => { this.options.onProgress?.({ job: 'register', deviceId, step }); },
      });
      this.options.log.info(`Registered lock ${deviceId} ("${name}") to the account`);
      return { deviceId, name };
    });
  }

  /** 7.5: with the lock present (Table 3 unbind), or from the account only (`force`). */
  async removeLock(rawUrl: unknown, input: { deviceId?: unknown; withoutLock?: unknown; adapter?: unknown; companyId?: unknown }): Promise<{ deviceId: string; removed: true }> {
    const deviceId = checkDeviceId(input.deviceId);
    const session = await this.signedIn(rawUrl);
    return this.exclusive(deviceId, async () => {
      if (input.withoutLock === true) {
        this.options.onProgress?.({ job: 'remove', deviceId, step: 'requesting' });
        await session.client.call('BsldRemoval', { params: { deviceId }, body: { force: true } });
        this.options.onProgress?.({ job: 'remove', deviceId, step: 'done' });
      } else {
        const gateway = await this.scanning(bluetoothOptions(input));
        await removeBsld(this.heardLink(gateway, deviceId), session.client, {
          progress: (step) => { this.options.onProgress?.({ job: 'remove', deviceId, step }); },
        });
      }
      this.options.log.info(`Removed lock ${deviceId} from the account${input.withoutLock === true ? ' (without the lock)' : ''}`);
      return { deviceId, removed: true as const };
    });
  }

  // Sharing (Members).

  async shareLock(rawUrl: unknown, input: { deviceId?: unknown; identifier?: unknown; validFrom?: unknown; validUntil?: unknown }): Promise<{ deviceId: string; identifier: string; accountId: string; validFrom?: number; validUntil?: number }> {
    const deviceId = checkDeviceId(input.deviceId);
    const identifier = checkIdentifier(input.identifier);
    const validFrom = checkTime(input.validFrom, 'start');
    const validUntil = checkTime(input.validUntil, 'end');
    if (validUntil !== undefined && validUntil <= Math.max(validFrom ?? 0, Math.floor(Date.now() / 1000))) {
      fail('invalid-input', 'The end of the sharing window must be in the future and after its start.', 'Pick a later end time, or leave it empty to share without an end.');
    }
    const session = await this.signedIn(rawUrl);
    const answer = await session.client.call('MemberAddition', {
      params: { deviceId },
      body: { identifier, ...(validFrom !== undefined ? { validFrom } : {}), ...(validUntil !== undefined ? { validUntil } : {}) },
    });
    return { deviceId, identifier, ...answer };
  }

  async unshareLock(rawUrl: unknown, input: { deviceId?: unknown; accountId?: unknown }): Promise<{ deviceId: string; accountId: string }> {
    const deviceId = checkDeviceId(input.deviceId);
    const accountId = typeof input.accountId === 'string' && /^[0-9a-f]{18}$/.test(input.accountId) ? input.accountId : fail('invalid-input', 'No such member.', 'Reload the page.');
    const session = await this.signedIn(rawUrl);
    await session.client.call('MemberRemoval', { params: { deviceId, accountId } });
    return { deviceId, accountId };
  }

  async close(): Promise<void> {
    clearTimeout(this.scanTimer);
    clearInterval(this.scanTicker);
    const current = this.bluetooth;
    this.bluetooth = undefined;
    if (current) await (await current.gateway.catch(() => undefined))?.close().catch(() => undefined);
  }

  // Internals.

  private async session(rawUrl: unknown): Promise<Session> {
    const rasUrl = checkRasUrl(rawUrl);
    let session = this.sessions.get(rasUrl);
    if (!session) {
      const store = await CredentialStore.open(uiCredentialsFile(this.options.storagePath, rasUrl), rasUrl);
      session = { rasUrl, store, client: new RasClient(this.clientOptions(rasUrl, store)) };
      this.sessions.set(rasUrl, session);
    }
    return session;
  }

  private async signedIn(rawUrl: unknown): Promise<Session> {
    const session = await this.session(rawUrl);
    if (!session.store.get().refreshToken) await session.store.reload();
    if (!session.client.canSignIn()) {
      throw new RasError('signed-out', 'not signed in');
    }
    return session;
  }

  private clientOptions(rasUrl: string, store: CredentialStore) {
    return { baseUrl: rasUrl, store, log: this.options.log, timeoutMs: this.options.rasTimeoutMs ?? 8_000, retries: 1 };
  }

  /** The plugin's file, read fresh each time: the running plugin rotates its token in it. */
  private pluginStore(rasUrl: string): Promise<CredentialStore> {
    return CredentialStore.open(credentialsFile(this.options.storagePath, rasUrl), rasUrl);
  }

  /** Discovery on, adverts feeding `nearby`: BlueZ can only connect to a device it has seen. */
  private async scanning(options: BluetoothOptions): Promise<UiBluetooth> {
    const gateway = await this.gateway(options);
    if (!this.scanSubscribed) {
      this.scanSubscribed = true;
      gateway.sightings$.subscribe({ next: (s) => { this.onSighting(s); }, error: () => undefined });
    }
    await gateway.startScanning();
    return gateway;
  }

  /**
   * The lock's link, connecting only once the lock has advertised recently: BlueZ cannot connect
   * to a device it has not seen, and a lock that stays silent is out of range. The wait happens
   * at the "connecting" step, after the RAS has had its say about the lock.
   */
  private heardLink(gateway: UiBluetooth, deviceId: string): LockLink {
    const link = gateway.link(deviceId);
    const heard = async () => {
      const deadline = Date.now() + (this.options.discoveryTimeoutMs ?? 10_000);
      while (!this.isNearby(deviceId)) {
        if (Date.now() >= deadline) throw new BgwError('unreachable', `${deviceId} was not heard advertising`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    return {
      deviceId,
      get isConnected() {
        return link.isConnected;
      },
      connect: async () => {
        await heard();
        // A lock backs off for a second after a connection that ended without a valid frame,
        // which is what a refused setup code leaves behind; a retry at once would be refused.
        const wait = (this.failedAt.get(deviceId) ?? 0) + RECONNECT_AFTER_MS - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await link.connect();
      },
      disconnect: () => link.disconnect(),
      readChallenge: () => link.readChallenge(),
      writeFrame: (frame) => link.writeFrame(frame),
      onFrame: (listener) => link.onFrame(listener),
      onDisconnect: (listener) => link.onDisconnect(listener),
    };
  }

  private isNearby(deviceId: string): boolean {
    const seen = this.nearby.get(deviceId);
    return seen !== undefined && seen.seenAt >= Date.now() - NEARBY_MS;
  }

  private gateway(options: BluetoothOptions): Promise<UiBluetooth> {
    const key = JSON.stringify(options);
    if (this.bluetooth?.options !== key) {
      const previous = this.bluetooth;
      this.scanSubscribed = false;
      this.nearby.clear();
      const opening = (async () => {
        if (previous) await (await previous.gateway.catch(() => undefined))?.close().catch(() => undefined);
        try {
          return await this.options.openBluetooth({ ...options, log: this.options.log });
        } catch (err) {
          // Whatever went wrong (no bus, no BlueZ, no adapter, a time-out), no lock is to blame.
          throw new BgwError('bus', err instanceof Error ? err.message : String(err), { cause: err });
        }
      })();
      this.bluetooth = { options: key, gateway: opening };
      // A failed open is not cached: the next request tries again (the adapter may be back).
      opening.catch(() => {
        if (this.bluetooth?.gateway === opening) this.bluetooth = undefined;
      });
    }
    return this.bluetooth.gateway;
  }

  private onSighting(s: Sighting): void {
    if (!s.advert) return;
    this.nearby.set(s.deviceId, {
      deviceId: s.deviceId,
      ...(s.name ? { name: s.name } : {}),
      ...(s.rssi !== undefined ? { rssi: s.rssi } : this.nearby.get(s.deviceId)?.rssi !== undefined ? { rssi: this.nearby.get(s.deviceId)!.rssi! } : {}),
      registered: s.advert.registered,
      pairingMode: s.advert.pairingMode,
      seenAt: Date.now(),
    });
    // Adverts arrive many times a second; the page needs a steady picture, not every one.
    this.scanTimer ??= setTimeout(() => {
      this.scanTimer = undefined;
      this.options.onScan?.(this.nearbyLocks());
    }, SCAN_PUSH_INTERVAL_MS);
  }

  /** One stage-a exchange at a time: a lock answers one connection, and so does the page. */
  private async exclusive<T>(deviceId: string, run: () => Promise<T>): Promise<T> {
    if (this.job) fail('busy', `Another registration or removal (${this.job}) is still running.`, 'Wait for it to finish, then try again.');
    this.job = deviceId;
    try {
      return await run();
    } catch (err) {
      this.failedAt.set(deviceId, Date.now());
      throw err;
    } finally {
      this.job = undefined;
    }
  }
}

/** The page's own credentials, beside the plugin's file. */
export function uiCredentialsFile(storagePath: string, rasUrl: string): string {
  const file = credentialsFile(storagePath, rasUrl);
  return path.join(path.dirname(file), `settings-ui-${path.basename(file)}`);
}

/**
 * Stops a registration at the "checking" step when the RAS already says the lock is someone
 * else's, before any Bluetooth connection (the RAS would refuse BsldRegistration with 424 anyway).
 */
function earlyRefusal(client: RasClient): StageAAuthority {
  return {
    bsldAuthentication: async (deviceId) => {
      const answer = await client.bsldAuthentication(deviceId);
      if (answer.legitimate && answer.registered && !answer.registeredToYou) {
        throw new RasError('status', 'BsldAuthentication: registered to another account', { status: Status.BsldRegisteredElsewhere });
      }
      return answer;
    },
    bsldRegistration: (request) => client.bsldRegistration(request),
    bsldRemovalFrame: (deviceId, challenge) => client.bsldRemovalFrame(deviceId, challenge),
    bsldConfirm: (deviceId, challenge, response) => client.bsldConfirm(deviceId, challenge, response),
  };
}

function summary(b: BsldInfo): LockSummary {
  return {
    deviceId: b.deviceId,
    name: b.name,
    role: b.role,
    registeredAt: b.registeredAt,
    lockState: b.lastState.lockState,
    ...(b.lastState.battery !== undefined ? { battery: b.lastState.battery } : {}),
    ...(b.lastState.doorState !== undefined ? { doorState: b.lastState.doorState } : {}),
    updatedAt: b.lastState.updatedAt,
  };
}

function fail(code: 'invalid-input' | 'busy', message: string, hint: string): never {
  throw new UiError(code, message, hint);
}

/** The plugin's rule for the RAS URL (config.schema.json and RasClient), reduced to its origin. */
export function checkRasUrl(raw: unknown): string {
  const hint = 'Type the address of your remote access server in the settings, like https://ras.example.com:8480.';
  if (typeof raw !== 'string' || raw.trim() === '') fail('invalid-input', 'The RAS address is missing.', hint);
  if (!/^https?:\/\/[^\s/]+\/?$/.test(raw.trim())) fail('invalid-input', `"${raw.slice(0, 100)}" is not a RAS address.`, hint);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return fail('invalid-input', `"${raw.slice(0, 100)}" is not a RAS address.`, hint);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== 'https:' && !loopback) {
    fail('invalid-input', 'The RAS address must start with https://.', 'Plain http:// is only allowed for a server on this machine (127.0.0.1 or localhost).');
  }
  return url.origin;
}

function checkIdentifier(raw: unknown): string {
  if (typeof raw !== 'string' || !IDENTIFIER.test(raw.trim())) {
    fail('invalid-input', 'Type an e-mail address, or a phone number in international form (like +4915112345678).', 'The account is an e-mail address or a phone number.');
  }
  return raw.trim();
}

function checkPassword(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length < 8) fail('invalid-input', 'The password must have at least 8 characters.', 'Choose a longer password.');
  if (raw.length > 1024) fail('invalid-input', 'The password is too long (at most 1024 characters).', 'Choose a shorter password.');
  return raw;
}

function checkDeviceId(raw: unknown): string {
  const id = typeof raw === 'string' ? raw.replaceAll(':', '').toUpperCase() : '';
  if (!DEVICE_ID_PATTERN.test(id)) fail('invalid-input', 'The device ID must be 12 hex digits (the lock\'s Bluetooth address).', 'Pick the lock from the list of nearby locks.');
  return id;
}

function checkName(raw: unknown, what: string): string {
  const name = typeof raw === 'string' ? raw.trim() : '';
  if (!PRINTABLE.test(name)) fail('invalid-input', `The ${what} must be 1 to 64 characters, without line breaks.`, `Type a short ${what}, like "Front door".`);
  return name;
}

function checkText(raw: unknown, pattern: RegExp, message: string): string {
  const text = typeof raw === 'string' ? raw.replace(/[\s-]/g, '') : '';
  if (!pattern.test(text)) fail('invalid-input', message, 'Check what you typed and try again.');
  return text;
}

function checkTime(raw: unknown, what: string): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0 || raw > 0xffff_ffff) {
    fail('invalid-input', `The ${what} of the sharing window is not a valid time.`, 'Pick a date and time, or leave it empty.');
  }
  return raw;
}

function bluetoothOptions(input: { adapter?: unknown; companyId?: unknown }): BluetoothOptions {
  const options: BluetoothOptions = {};
  if (typeof input.adapter === 'string' && input.adapter !== '') {
    if (!/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(input.adapter)) fail('invalid-input', 'The Bluetooth adapter address in the settings is not valid.', 'Use the form 00:1A:7D:DA:71:13, or leave it empty.');
    options.adapterAddress = input.adapter.toUpperCase();
  }
  if (input.companyId !== undefined && input.companyId !== null && input.companyId !== '') {
    if (typeof input.companyId !== 'number' || !Number.isInteger(input.companyId) || input.companyId < 0 || input.companyId > 0xffff) {
      fail('invalid-input', 'The advertisement company ID in the settings is not valid.', 'Use a number from 0 to 65535 (65535 unless the maker says otherwise).');
    }
    options.companyId = input.companyId;
  }
  return options;
}
