/** Byte helpers and the identifier formats of the profile ("Identifiers and keys"). */

export const DEVICE_ID_PATTERN = /^[0-9A-F]{12}$/;
export const ACCOUNT_ID_PATTERN = /^[0-9a-f]{18}$/;
export const BLOCK_HEX_PATTERN = /^[0-9a-f]{32}$/;

export const BLOCK_LENGTH = 16;
export const ACCOUNT_ID_LENGTH = 9;
export const DEVICE_ID_LENGTH = 6;

export class IdentifierError extends Error {
  override readonly name = 'IdentifierError';
}

/** Parses lower- or upper-case hex of an exact byte length; anything else is an IdentifierError. */
export function hexToBytes(hex: string, length: number, what = 'value'): Buffer {
  if (typeof hex !== 'string' || hex.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new IdentifierError(`${what}: must be ${length * 2} hex digits`);
  }
  return Buffer.from(hex, 'hex');
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** `A4C138F0E1D2` → its six bytes. */
export function deviceIdToBytes(deviceId: string): Buffer {
  if (!DEVICE_ID_PATTERN.test(deviceId)) {
    throw new IdentifierError('deviceId: must be 12 upper-case hex digits');
  }
  return Buffer.from(deviceId, 'hex');
}

export function deviceIdFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== DEVICE_ID_LENGTH) throw new IdentifierError('deviceId: must be 6 bytes');
  return bytesToHex(bytes).toUpperCase();
}

/** A BlueZ address `A4:C1:38:F0:E1:D2` → the profile's deviceId `A4C138F0E1D2`. */
export function deviceIdFromAddress(address: string): string {
  const id = address.replaceAll(':', '').toUpperCase();
  if (!DEVICE_ID_PATTERN.test(id)) throw new IdentifierError(`not a BLE address: ${address}`);
  return id;
}

export function deviceIdToAddress(deviceId: string): string {
  deviceIdToBytes(deviceId);
  return deviceId.match(/../g)!.join(':');
}

export function accountIdToBytes(accountId: string): Buffer {
  if (!ACCOUNT_ID_PATTERN.test(accountId)) {
    throw new IdentifierError('accountId: must be 18 lower-case hex digits');
  }
  return Buffer.from(accountId, 'hex');
}

export function accountIdFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== ACCOUNT_ID_LENGTH) throw new IdentifierError('accountId: must be 9 bytes');
  return bytesToHex(bytes);
}

/** Exactly 16 bytes (a key, a challenge, a frame), copied so callers cannot alias it. */
export function block(bytes: Uint8Array, what = 'block'): Buffer {
  if (bytes.length !== BLOCK_LENGTH) throw new IdentifierError(`${what}: must be 16 bytes`);
  return Buffer.from(bytes);
}

/** ~C: the IV of the first lock→gateway frame. */
export function invert(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = ~bytes[i]! & 0xff;
  return out;
}
