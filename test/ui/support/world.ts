/**
 * One test's world: the reference RAS (in memory, on a free port, verification codes caught
 * instead of sent), the simulated locks behind the BlueZ emulator, and a fresh Homebridge
 * storage directory. Everything is torn down by `close()`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CallbackSender, startRas, type RasHandle } from '@igrs-smartlock/ras';
import { startSimulator, type LockSpec, type Simulator } from '@igrs-smartlock/sim/testing';

/** A simulated lock with its factory data as the RAS is provisioned with it (hex key). */
export type UiTestLock = LockSpec & { deviceKey: string; setupCode: string };

export interface World {
  ras: RasHandle;
  sim: Simulator;
  locks: UiTestLock[];
  /** Homebridge's storage directory for this test. */
  storage: string;
  /** The last verification code the RAS sent to each identifier. */
  codes: Map<string, string>;
  close(): Promise<void>;
}

export function lockSpec(deviceId: string, overrides: Partial<LockSpec> = {}): UiTestLock {
  return {
    deviceId,
    deviceKey: randomBytes(16).toString('hex'),
    setupCode: String(10_000_000 + (randomBytes(4).readUInt32BE() % 89_999_999)),
    name: 'Front door',
    pairingMode: true,
    ...overrides,
  } as UiTestLock;
}

export async function startWorld(options: { locks?: UiTestLock[] } = {}): Promise<World> {
  const locks = options.locks ?? [lockSpec('A4C138F0E1D2')];
  const codes = new Map<string, string>();
  const storage = await mkdtemp(path.join(tmpdir(), 'igrs-ui-hb-'));
  const ras = await startRas({
    dbPath: ':memory:',
    port: 0,
    logger: false,
    masterKey: randomBytes(32),
    sender: new CallbackSender((m) => {
      codes.set(m.identifier, m.code);
    }),
  });
  await ras.provision(locks.map((l) => ({ deviceId: l.deviceId, deviceKey: l.deviceKey, setupCode: l.setupCode, model: 'SIM-1' })));
  let sim: Simulator;
  try {
    sim = await startSimulator({ locks, unreachableConnectMs: 300 });
  } catch (err) {
    await ras.close();
    throw err;
  }
  return {
    ras,
    sim,
    locks,
    storage,
    codes,
    close: async () => {
      await sim.stop();
      await ras.close();
      await rm(storage, { recursive: true, force: true });
    },
  };
}
