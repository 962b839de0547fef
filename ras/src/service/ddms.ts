/** DDMS: the factory list. K_d is sealed under the master key the moment it arrives and opened only to derive keys. */
import { DEVICE_ID_PATTERN } from 'homebridge-igrs-smartlock/protocol';
import { hashSecret, openSecret, sealSecret, verifySecret } from '../crypto/secrets.js';
import { RasError } from '../errors.js';
import { nowOf, type Context } from './context.js';

export interface FactoryEntry {
  deviceId: string;
  /** 32 hex digits. */
  deviceKey: string;
  /** 8 digits. */
  setupCode: string;
  model: string;
}

export type ProvisionOutcome = 'created' | 'updated' | 'key-conflict';

/** Checks one factory-list entry; returns the field at fault or undefined. */
export function factoryEntryProblem(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'entry must be an object';
  const o = e as Record<string, unknown>;
  if (typeof o.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(o.deviceId)) return 'deviceId: must be 12 upper-case hex digits';
  if (typeof o.deviceKey !== 'string' || !/^[0-9a-fA-F]{32}$/.test(o.deviceKey)) return 'deviceKey: must be 32 hex digits';
  if (typeof o.setupCode !== 'string' || !/^[0-9]{8}$/.test(o.setupCode)) return 'setupCode: must be 8 digits';
  if (typeof o.model !== 'string' || o.model.length < 1 || o.model.length > 64) return 'model: must be text of 1 to 64 characters';
  return undefined;
}

export class Ddms {
  constructor(private readonly ctx: Context) {}

  async provision(entry: FactoryEntry): Promise<ProvisionOutcome> {
    const problem = factoryEntryProblem(entry);
    if (problem) throw new RasError(400, problem);
    const key = Buffer.from(entry.deviceKey, 'hex');
    const { masterKey } = this.ctx;
    return this.ctx.storage.putDevice(
      {
        deviceId: entry.deviceId,
        sealedKey: sealSecret(masterKey, key, entry.deviceId),
        setupCodeHash: await hashSecret(entry.setupCode),
        model: entry.model,
        provisionedAt: nowOf(this.ctx),
      },
      // K_d is burnt into the lock at manufacture: a list that changes it is a mistake, not an update.
      (existing) => openSecret(masterKey, existing.sealedKey, existing.deviceId).equals(key),
    );
  }

  async exists(deviceId: string): Promise<boolean> {
    return (await this.ctx.storage.getDevice(deviceId)) !== undefined;
  }

  /** K_d of a provisioned device; 425 if the DDMS does not know it. */
  async deviceKey(deviceId: string): Promise<Buffer> {
    const row = await this.ctx.storage.getDevice(deviceId);
    if (!row) throw new RasError(425, 'BSLD not legitimate (unknown to the DDMS)');
    return openSecret(this.ctx.masterKey, row.sealedKey, row.deviceId);
  }

  async setupCodeMatches(deviceId: string, setupCode: string): Promise<boolean> {
    const row = await this.ctx.storage.getDevice(deviceId);
    return row !== undefined && (await verifySecret(setupCode, row.setupCodeHash));
  }
}
