/**
 * The BSLD advertisement's manufacturer data (24 bytes): version · public flags · deviceId ·
 * sealed state, where sealed state = E(K_v, lockState · battery · doorState · flags ·
 * stateCounter · bootId · tick), all zero before a bind.
 */
import { block, deviceIdFromBytes, deviceIdToBytes } from './bytes.js';
import { aesBlock } from './keys.js';
import { createDecipheriv } from 'node:crypto';
import type { DoorState, LockState } from './tables.js';

export const ADVERT_VERSION = 0x01;
export const ADVERT_LENGTH = 24;
export const DEFAULT_COMPANY_ID = 0xffff;
/** The lock re-seals its state when this tick advances. */
export const ADVERT_TICK_SECONDS = 10;

export interface AdvertPublic {
  version: number;
  registered: boolean;
  pairingMode: boolean;
  deviceId: string;
}

export interface AdvertState {
  lockState: LockState;
  battery: number;
  doorState: DoorState;
  jammed: boolean;
  lowBattery: boolean;
  stateCounter: number;
  bootId: number;
  tick: number;
}

export interface Advert extends AdvertPublic {
  /** The sealed 16 bytes as advertised; open them with `openAdvertState` and K_v. */
  sealed: Buffer;
}

export class AdvertError extends Error {
  override readonly name = 'AdvertError';
}

export function encodeAdvertState(state: AdvertState): Buffer {
  const b = Buffer.alloc(16);
  b[0] = state.lockState;
  b[1] = state.battery;
  b[2] = state.doorState;
  b[3] = (state.jammed ? 1 : 0) | (state.lowBattery ? 2 : 0);
  b.writeUInt32BE(state.stateCounter >>> 0, 4);
  b.writeUInt32BE(state.bootId >>> 0, 8);
  b.writeUInt32BE(state.tick >>> 0, 12);
  return b;
}

/** Decodes a plaintext state block; refuses values out of range, the block's only integrity check. */
export function decodeAdvertState(plain: Uint8Array): AdvertState {
  const b = Buffer.from(block(plain, 'advert state'));
  const [lockState, battery, doorState, flags] = [b[0]!, b[1]!, b[2]!, b[3]!];
  if (lockState > 3 || battery > 100 || !(doorState === 0 || doorState === 1 || doorState === 0xff) || flags > 3) {
    throw new AdvertError('sealed state out of range');
  }
  return {
    lockState: lockState as LockState,
    battery,
    doorState: doorState,
    jammed: (flags & 1) !== 0,
    lowBattery: (flags & 2) !== 0,
    stateCounter: b.readUInt32BE(4),
    bootId: b.readUInt32BE(8),
    tick: b.readUInt32BE(12),
  };
}

export function sealAdvertState(advertKey: Uint8Array, state: AdvertState): Buffer {
  return aesBlock(advertKey, encodeAdvertState(state));
}

export function openAdvertState(advertKey: Uint8Array, sealed: Uint8Array): AdvertState {
  const decipher = createDecipheriv('aes-128-ecb', block(advertKey, 'advert key'), null);
  decipher.setAutoPadding(false);
  return decodeAdvertState(Buffer.concat([decipher.update(block(sealed, 'sealed state')), decipher.final()]));
}

export function encodeAdvert(pub: Omit<AdvertPublic, 'version'>, sealed?: Uint8Array): Buffer {
  const out = Buffer.alloc(ADVERT_LENGTH);
  out[0] = ADVERT_VERSION;
  out[1] = (pub.registered ? 1 : 0) | (pub.pairingMode ? 2 : 0);
  deviceIdToBytes(pub.deviceId).copy(out, 2);
  if (sealed) block(sealed, 'sealed state').copy(out, 8);
  return out;
}

/** Parses manufacturer data; refuses anything that is not a version-1 BSLD advert. */
export function decodeAdvert(data: Uint8Array): Advert {
  if (!(data instanceof Uint8Array) || data.length !== ADVERT_LENGTH) {
    throw new AdvertError(`manufacturer data must be ${ADVERT_LENGTH} bytes`);
  }
  const b = Buffer.from(data);
  if (b[0] !== ADVERT_VERSION) throw new AdvertError(`unknown advert version ${b[0]}`);
  if (b[1]! > 3) throw new AdvertError('unknown public flags');
  return {
    version: ADVERT_VERSION,
    registered: (b[1]! & 1) !== 0,
    pairingMode: (b[1]! & 2) !== 0,
    deviceId: deviceIdFromBytes(b.subarray(2, 8)),
    sealed: b.subarray(8, 24),
  };
}

/** What a gateway last trusted of a lock's advertised state, and when (monotonic seconds). */
export interface AdvertReference {
  stateCounter: number;
  bootId: number;
  tick: number;
  atSeconds: number;
}

export type AdvertVerdict = 'newer' | 'stale' | 'reject';

/**
 * The profile's acceptance rule for a sealed state that decrypted to values in range: the boot
 * id is the last or the last + 1, and the tick is not ahead of the last tick by more than the
 * elapsed time + 1. Only a strictly newer state counter (or a new boot) may change what HomeKit shows.
 */
export function judgeAdvertState(ref: AdvertReference, state: AdvertState, nowSeconds: number): AdvertVerdict {
  const elapsedTicks = Math.max(0, nowSeconds - ref.atSeconds) / ADVERT_TICK_SECONDS;
  if (state.bootId === ref.bootId) {
    if (state.tick > ref.tick + elapsedTicks + 1) return 'reject';
    if (state.tick < ref.tick) return 'stale';
    return state.stateCounter > ref.stateCounter ? 'newer' : 'stale';
  }
  if (state.bootId === ref.bootId + 1) {
    // A reboot restarts the tick at 0 after the reference was taken.
    return state.tick <= elapsedTicks + 1 ? 'newer' : 'reject';
  }
  return 'reject';
}
