/**
 * The real parts a plugin test meets: the reference RAS (HTTP + WebSocket on loopback, a real
 * SQLite file) and simulated locks behind the BlueZ emulator on a private dbus-daemon.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startRas, type RasHandle, type RasOptions } from '@igrs-smartlock/ras';
import { startSimulator, type LatencyName, type Simulator } from '@igrs-smartlock/sim/testing';
import { BluezGateway } from '../../src/bgw/bluez.js';
import { registerBsld } from '../../src/bgw/registration.js';
import { silentLogger } from '../../src/logger.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';

export interface TestLock {
  deviceId: string;
  deviceKey: string;
  setupCode: string;
  name: string;
  doorSensor?: boolean;
  pairingMode?: boolean;
}

export function makeLocks(n: number, options: Partial<TestLock> = {}): TestLock[] {
  return Array.from({ length: n }, (_, i) => ({
    deviceId: `A4C138F0${(0xe100 + i).toString(16).toUpperCase()}`,
    deviceKey: randomBytes(16).toString('hex'),
    setupCode: String(10_000_000 + Math.floor(Math.random() * 89_999_999)),
    name: `Door ${i + 1}`,
    pairingMode: true,
    ...options,
  }));
}

export interface Stack {
  ras: RasHandle;
  sim: Simulator;
  dir: string;
  user: { identifier: string; password: string; accountId: string };
  locks: TestLock[];
  stop(): Promise<void>;
}

export async function startStack(options: {
  locks: TestLock[];
  latency?: LatencyName;
  motorMs?: number;
  masterKey?: Buffer;
  rateLimits?: RasOptions['rateLimits'];
}): Promise<Stack> {
  const dir = await mkdtemp(path.join(tmpdir(), 'igrs-stack-'));
  const ras = await startRas({
    dbPath: path.join(dir, 'ras.sqlite'),
    port: 0,
    masterKey: options.masterKey ?? randomBytes(32),
    logger: false,
    ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
  });
  await ras.provision(options.locks.map((l) => ({ deviceId: l.deviceId, deviceKey: l.deviceKey, setupCode: l.setupCode, model: 'SIM-1' })));
  const identifier = `owner-${randomBytes(3).toString('hex')}@example.com`;
  const password = 'correct horse battery staple';
  const { accountId } = await ras.addUser(identifier, password);
  const sim = await startSimulator({
    locks: options.locks.map((l) => ({ ...l, motorMs: options.motorMs ?? 50 })),
    latency: options.latency ?? 'zero',
    stateDir: path.join(dir, 'locks'),
  });
  return {
    ras,
    sim,
    dir,
    user: { identifier, password, accountId },
    locks: options.locks,
    async stop() {
      await sim.stop().catch(() => undefined);
      await ras.close().catch(() => undefined);
    },
  };
}

/** A signed-in RAC of the stack's user, or of another (what a phone app or the set-up page is). */
export async function ownerClient(
  stack: { dir: string; ras: { url: string }; user: { identifier: string; password: string } },
  file = 'owner-cred.json',
  user: { identifier: string; password: string } = stack.user,
): Promise<RasClient> {
  const store = await CredentialStore.open(path.join(stack.dir, file), stack.ras.url);
  const client = new RasClient({ baseUrl: stack.ras.url, store, login: { identifier: user.identifier, password: user.password }, log: silentLogger });
  await client.login();
  return client;
}

/** Registers locks to the stack's user through the real stage-a exchange, as the set-up page does. */
export async function registerLocks(stack: { sim: Pick<Simulator, 'busAddress'> }, client: RasClient, locks: TestLock[]): Promise<void> {
  process.env.DBUS_SYSTEM_BUS_ADDRESS = stack.sim.busAddress;
  const bluez = await BluezGateway.open({ log: silentLogger });
  try {
    const seen = new Set<string>();
    const sub = bluez.sightings$.subscribe((s) => seen.add(s.deviceId));
    await bluez.startScanning();
    const deadline = Date.now() + 10_000;
    while (!locks.every((l) => seen.has(l.deviceId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    sub.unsubscribe();
    for (const lock of locks) await registerBsld(bluez.link(lock.deviceId), client, { name: lock.name, setupCode: lock.setupCode });
  } finally {
    await bluez.close();
  }
}
