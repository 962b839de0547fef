/**
 * What the BlueZ tier's suites share inside the VM: the lock on hci1 behind the real bluetoothd,
 * the gateway on hci0, the reference RAS with a signed-in user, and small waiting helpers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { firstValueFrom, filter, timeout, type Observable } from 'rxjs';
import dbus from 'dbus-next';
import { BluetoothdLock, SimLock, type Clock, type LockConfig } from '@igrs-smartlock/sim';
import { CallbackSender, DEFAULT_RATE_LIMITS, startRas, type RasHandle } from '@igrs-smartlock/ras';
import { BluezGateway } from '../../src/bgw/bluez.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import type { BgwAuthority } from '../../src/bgw/session.js';
import type { StageAAuthority } from '../../src/bgw/registration.js';
import type { Logger } from '../../src/logger.js';

export const GATEWAY_ADAPTER = 'hci0';
export const LOCK_ADAPTER = 'hci1';
export const SETUP_CODE = '20261124';

/** Collects the plugin's log lines; a failing test prints them (the run's logs keep the rest). */
export function testLogger(prefix: string): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => {
    lines.push(`${new Date().toISOString()} ${prefix} ${level} ${msg}`);
    if (process.env.BLUEZ_VM_VERBOSE) console.log(lines.at(-1));
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), success: at('info') } as unknown as Logger & { lines: string[] };
}

/** The address of an adapter as a deviceId, read from bluetoothd. */
export async function adapterDeviceId(adapter: string): Promise<string> {
  return BluetoothdLock.adapterDeviceId(adapter);
}

export function addressOf(deviceId: string): string {
  return deviceId.match(/../g)!.join(':');
}

export interface LockRig {
  lock: SimLock;
  front: BluetoothdLock;
  deviceKey: Buffer;
  lines: string[];
  stop(): Promise<void>;
}

/**
 * The lock's time, slowed by BLUEZ_VM_LOCK_TIME_SCALE (default 4). Under TCG an LE connect and
 * GATT discovery take seconds, so the profile's 5 s first-frame rule would end connections the
 * gateway is still setting up; scaled, every rule keeps its proportions.
 */
export function scaledClock(scale = Number(process.env.BLUEZ_VM_LOCK_TIME_SCALE ?? 4)): Clock {
  const start = performance.now();
  return {
    now: () => start + (performance.now() - start) / scale,
    wallNow: () => Date.now(),
    setTimer(fn, ms) {
      const t = setTimeout(fn, Math.max(0, ms) * scale);
      t.unref();
      return { cancel: () => { clearTimeout(t); } };
    },
  };
}

/** A simulated lock advertising on hci1 through the real bluetoothd. */
export async function startLockOnHci1(config: Partial<LockConfig> = {}): Promise<LockRig> {
  const deviceId = await adapterDeviceId(LOCK_ADAPTER);
  const deviceKey = randomBytes(16);
  const lock = new SimLock({
    deviceId,
    deviceKey,
    setupCode: SETUP_CODE,
    name: 'Front door',
    pairingMode: true,
    motorMs: 30,
    ...config,
  }, { clock: scaledClock() });
  const lines: string[] = [];
  const log = (line: string): void => {
    lines.push(`${new Date().toISOString()} ${line}`);
    if (process.env.BLUEZ_VM_VERBOSE) console.log(line);
  };
  lock.on('log', log);
  const front = await BluetoothdLock.start({ lock, adapter: LOCK_ADAPTER, log });
  return {
    lock,
    front,
    deviceKey,
    lines,
    stop: async () => {
      await front.stop();
      lock.stop();
    },
  };
}

/**
 * Under TCG the guest runs some 50 times slower than the host: a connect that takes 100 ms on a
 * Raspberry Pi can take seconds here. The gateway gets time limits to match; the protocol's own
 * rules on the lock side stay as they are.
 */
export const VM_LINK_TIMEOUTS = { connectMs: 60_000, servicesMs: 30_000, gattMs: 15_000 };
export const VM_SESSION_TIMEOUTS = { answerTimeoutMs: 15_000, motorTimeoutMs: 20_000 };

export async function openGateway(log: Logger): Promise<BluezGateway> {
  const address = addressOf(await adapterDeviceId(GATEWAY_ADAPTER));
  return BluezGateway.open({ adapterAddress: address, log, timeouts: VM_LINK_TIMEOUTS });
}

export interface RealRas {
  ras: RasHandle;
  client: RasClient;
  accountId: string;
  user: { identifier: string; password: string };
  stop(): Promise<void>;
}

/**
 * The reference RAS on loopback inside the VM, with the lock in its DDMS and a signed-in user
 * whose RAC client (the plugin's own) is the gateway's authority. The session limit is raised
 * for the soak only: it opens a session per cycle, faster than any person would.
 */
export async function startRealRas(rig: LockRig, log: Logger): Promise<RealRas> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bluez-vm-ras-'));
  const ras = await startRas({
    dbPath: path.join(dir, 'ras.sqlite'),
    port: 0,
    logger: false,
    masterKey: randomBytes(32),
    sender: new CallbackSender(() => undefined),
    rateLimits: { session: { limit: 10_000, windowSeconds: 60 }, frames: DEFAULT_RATE_LIMITS.frames },
  });
  try {
    await ras.provision([{ deviceId: rig.lock.deviceId, deviceKey: rig.deviceKey.toString('hex'), setupCode: SETUP_CODE, model: rig.lock.model }]);
    const identifier = 'owner@example.com';
    const password = 'correct horse battery';
    const { accountId } = await ras.addUser(identifier, password);
    const store = await CredentialStore.open(path.join(dir, 'credentials.json'), ras.url);
    const client = new RasClient({ baseUrl: ras.url, store, login: { identifier, password }, log, timeoutMs: 15_000 });
    await client.login();
    return {
      ras,
      client,
      accountId,
      user: { identifier, password },
      stop: async () => {
        await ras.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await ras.close();
    throw err;
  }
}

/** The plugin's RAC client as the gateway's authority, counting the sessions it opens. */
export function countingAuthority(client: RasClient): BgwAuthority & StageAAuthority & { sessions: number } {
  const a = {
    sessions: 0,
    openSession: (deviceId: string, challenge: Buffer) => {
      a.sessions++;
      return client.openSession(deviceId, challenge);
    },
    operationFrames: (operationId: number, challenge: Buffer) => client.operationFrames(operationId, challenge),
    operationResult: (...args: Parameters<RasClient['operationResult']>) => client.operationResult(...args),
    bsldAuthentication: (deviceId: string) => client.bsldAuthentication(deviceId),
    bsldRegistration: (request: Parameters<RasClient['bsldRegistration']>[0]) => client.bsldRegistration(request),
    bsldRemovalFrame: (deviceId: string, challenge: Buffer) => client.bsldRemovalFrame(deviceId, challenge),
    bsldConfirm: (deviceId: string, challenge: Buffer, response: Buffer) => client.bsldConfirm(deviceId, challenge, response),
  };
  return a;
}

export function waitFor<T>(source: Observable<T>, accept: (v: T) => boolean, ms: number, what: string): Promise<T> {
  return firstValueFrom(
    source.pipe(
      filter(accept),
      timeout({ first: ms, with: () => { throw new Error(`timed out after ${ms} ms waiting for ${what}`); } }),
    ),
  );
}

export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** MatchRules of one connection, from the bus's own statistics (root may ask on the system bus). */
export async function matchRulesOf(uniqueName: string): Promise<number> {
  const bus = dbus.systemBus();
  try {
    const reply = await bus.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus.Debug.Stats',
        member: 'GetConnectionStats',
        signature: 's',
        body: [uniqueName],
      }),
    );
    const stats = reply?.body[0] as Record<string, dbus.Variant> | undefined;
    const rules: unknown = stats?.MatchRules?.value;
    if (typeof rules !== 'number') throw new Error(`no MatchRules in the bus's stats for ${uniqueName}`);
    return rules;
  } finally {
    bus.disconnect();
  }
}
