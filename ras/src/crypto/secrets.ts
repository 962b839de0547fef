/**
 * Secrets at rest: the master key that wraps every K_d (AES-256-GCM), scrypt password and
 * setup-code hashes, and random tokens kept only as their SHA-256.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const MASTER_KEY_LENGTH = 32;

function scrypt(secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(secret, salt, keylen, options, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

/** Parses a master key given as 64 hex digits or base64 of 32 bytes. */
export function parseMasterKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== MASTER_KEY_LENGTH) throw new MasterKeyError('master key: must be 32 bytes, as 64 hex digits or base64');
  return key;
}

/**
 * The master key from RAS_MASTER_KEY, else from `master.key` beside the database, created with
 * mode 0600 on first start. An in-memory database with neither gets a throwaway key.
 */
export function loadMasterKey(options: { dbPath: string; masterKey?: string | Buffer | undefined; env?: NodeJS.ProcessEnv }): { key: Buffer; source: string } {
  if (Buffer.isBuffer(options.masterKey)) {
    if (options.masterKey.length !== MASTER_KEY_LENGTH) throw new MasterKeyError('master key: must be 32 bytes');
    return { key: Buffer.from(options.masterKey), source: 'option' };
  }
  if (typeof options.masterKey === 'string') return { key: parseMasterKey(options.masterKey), source: 'option' };
  const fromEnv = (options.env ?? process.env).RAS_MASTER_KEY;
  if (fromEnv) return { key: parseMasterKey(fromEnv), source: 'RAS_MASTER_KEY' };
  if (options.dbPath === ':memory:') return { key: randomBytes(MASTER_KEY_LENGTH), source: 'ephemeral' };
  const file = path.join(path.dirname(path.resolve(options.dbPath)), 'master.key');
  if (existsSync(file)) {
    // A key file others can read would make encryption at rest decoration.
    if ((statSync(file).mode & 0o077) !== 0) throw new MasterKeyError(`${file}: must not be readable by group or others (chmod 600)`);
    return { key: parseMasterKey(readFileSync(file, 'utf8')), source: file };
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, randomBytes(MASTER_KEY_LENGTH).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key: parseMasterKey(readFileSync(file, 'utf8')), source: file };
}

/** AES-256-GCM: iv (12) ‖ tag (16) ‖ ciphertext. The AAD ties a sealed value to its row. */
export function sealSecret(masterKey: Buffer, plain: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

export function openSecret(masterKey: Buffer, sealed: Uint8Array, aad: string): Buffer {
  const buf = Buffer.from(sealed);
  if (buf.length < 28) throw new MasterKeyError('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, buf.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(buf.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]);
  } catch {
    throw new MasterKeyError('a sealed value does not open under this master key (wrong RAS_MASTER_KEY or master.key?)');
  }
}

/** scrypt parameters: N = 2^15 costs ~50 ms here, for passwords and the 10^8 setup codes alike. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret.normalize('NFC'), salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, 'base64');
  const want = Buffer.from(parts[5]!, 'base64');
  const key = await scrypt(secret.normalize('NFC'), salt, want.length, { N, r, p, maxmem: SCRYPT.maxmem });
  return timingSafeEqual(key, want);
}

/** A bearer token: 32 random bytes, base64url. Only its hash is stored. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Verification codes are short and live minutes; keyed hashing keeps a DB dump from listing them. */
export function codeHash(masterKey: Buffer, identifier: string, code: string): string {
  return createHash('sha256').update(masterKey).update('\0verification\0').update(identifier).update('\0').update(code).digest('hex');
}

export function randomDigits(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n)) {
      // Rejection sampling keeps every digit uniform.
      if (b < 250 && out.length < n) out += String(b % 10);
    }
  }
  return out;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}
