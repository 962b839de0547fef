/** locks.json (what the simulator runs) and the factory list (what the RAS's `provision` takes). */
import { readFileSync, writeFileSync } from 'node:fs';
import { DEVICE_ID_PATTERN } from 'homebridge-igrs-smartlock/protocol';
import { LOCK_DEFAULTS } from './lock/index.js';
import type { LockSpec } from './simulator.js';

export interface FactoryEntry {
  deviceId: string;
  deviceKey: string;
  setupCode: string;
  model: string;
}

const OPTIONAL_NUMBERS = ['motorMs', 'autoLockMs', 'battery', 'batteryDrainPerOp', 'rssi', 'companyId', 'stageAAnswerMs'] as const;

/** Parses and checks a locks.json array, naming the first bad field. */
export function parseLocks(text: string, source = 'locks'): LockSpec[] {
  const data = JSON.parse(text) as unknown;
  if (!Array.isArray(data)) throw new Error(`${source}: must be a JSON array of locks`);
  return data.map((raw: unknown, i): LockSpec => {
    const at = `${source}[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw new Error(`${at}: must be an object`);
    const r = raw as Record<string, unknown>;
    const str = (k: string): string => {
      const v = r[k];
      if (typeof v !== 'string') throw new Error(`${at}.${k}: must be a string`);
      return v;
    };
    const deviceId = str('deviceId');
    if (!DEVICE_ID_PATTERN.test(deviceId)) throw new Error(`${at}.deviceId: 12 upper-case hex digits`);
    const deviceKey = str('deviceKey');
    if (!/^[0-9a-fA-F]{32}$/.test(deviceKey)) throw new Error(`${at}.deviceKey: 32 hex digits`);
    const setupCode = str('setupCode');
    if (!/^\d{8}$/.test(setupCode)) throw new Error(`${at}.setupCode: 8 digits`);
    const spec: LockSpec = { deviceId, deviceKey: deviceKey.toLowerCase(), setupCode, name: str('name') };
    if (r.model !== undefined) spec.model = str('model');
    for (const k of ['doorSensor', 'pairingMode'] as const) {
      if (r[k] === undefined) continue;
      if (typeof r[k] !== 'boolean') throw new Error(`${at}.${k}: must be true or false`);
      spec[k] = r[k];
    }
    for (const k of OPTIONAL_NUMBERS) {
      if (r[k] === undefined) continue;
      if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`${at}.${k}: must be a number`);
      spec[k] = r[k];
    }
    return spec;
  });
}

export function readLocks(file: string): LockSpec[] {
  return parseLocks(readFileSync(file, 'utf8'), file);
}

export function factoryList(locks: LockSpec[]): FactoryEntry[] {
  return locks.map((l) => ({
    deviceId: l.deviceId,
    deviceKey: typeof l.deviceKey === 'string' ? l.deviceKey : Buffer.from(l.deviceKey).toString('hex'),
    setupCode: l.setupCode,
    model: l.model ?? LOCK_DEFAULTS.model,
  }));
}

export function writeFactoryList(file: string, locks: LockSpec[]): void {
  writeFileSync(file, JSON.stringify(factoryList(locks), null, 2) + '\n', { mode: 0o600 });
}
