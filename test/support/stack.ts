/**
 * The real parts a plugin test meets: the reference RAS (HTTP + WebSocket on loopback, a real
 * SQLite file) and simulated locks behind the BlueZ emulator on a private dbus-daemon.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startRas, type RasHandle } from '@igrs-smartlock/ras';
import { startSimulator, type LatencyName, type Simulator } from '@igrs-smartlock/sim/testing';

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

export async function startStack(options: { locks: TestLock[]; latency?: LatencyName; motorMs?: number; masterKey?: Buffer }): Promise<Stack> {
  const dir = await mkdtemp(path.join(tmpdir(), 'igrs-stack-'));
  const ras = await startRas({ dbPath: path.join(dir, 'ras.sqlite'), port: 0, masterKey: options.masterKey ?? randomBytes(32), logger: false });
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
