/**
 * The profile's key schedule. K_d only ever encrypts three constants; every per-connection
 * key is a further encryption of the lock's challenge C, so a chosen C buys keys for that C only.
 */
import { createCipheriv } from 'node:crypto';
import { accountIdToBytes, block } from './bytes.js';

/** E(key, block): one AES-128-ECB block, the profile's only primitive besides CBC. */
export function aesBlock(key: Uint8Array, plain: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-128-ecb', block(key, 'key'), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block(plain, 'block')), cipher.final()]);
}

function constant(n: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = n;
  return b;
}

export interface RootKeys {
  /** K_r = E(K_d, 01 00…00): stage a, gateway → lock. */
  registrationKey: Buffer;
  /** K_b = E(K_d, 02 00…00): base of the account-bound keys. */
  sessionBaseKey: Buffer;
  /** K_q = E(K_d, 03 00…00): stage a, lock → gateway. */
  answerKey: Buffer;
}

export function deriveRootKeys(deviceKey: Uint8Array): RootKeys {
  return {
    registrationKey: aesBlock(deviceKey, constant(1)),
    sessionBaseKey: aesBlock(deviceKey, constant(2)),
    answerKey: aesBlock(deviceKey, constant(3)),
  };
}

export interface DirectionKeys {
  /** Encrypts gateway → lock frames. */
  toLock: Buffer;
  /** Encrypts lock → gateway frames. */
  fromLock: Buffer;
}

/** Stage a (Tables 3–4): K_a↓ = E(K_r, C), K_a↑ = E(K_q, C). */
export function deriveStageAKeys(deviceKey: Uint8Array, challenge: Uint8Array): DirectionKeys {
  const { registrationKey, answerKey } = deriveRootKeys(deviceKey);
  return { toLock: aesBlock(registrationKey, challenge), fromLock: aesBlock(answerKey, challenge) };
}

function accountBlock(accountId: string, purpose: 0 | 1): Buffer {
  const b = Buffer.alloc(16);
  accountIdToBytes(accountId).copy(b);
  b[9] = purpose;
  return b;
}

/** K_u = E(K_b, accountId ‖ 00 ‖ 00×6): bound to the account the lock is bound to. */
export function deriveAccountKey(deviceKey: Uint8Array, accountId: string): Buffer {
  return aesBlock(deriveRootKeys(deviceKey).sessionBaseKey, accountBlock(accountId, 0));
}

/** K_s = E(K_u, C): one stage-b connection, both directions (the IVs keep them apart). */
export function deriveSessionKey(deviceKey: Uint8Array, accountId: string, challenge: Uint8Array): Buffer {
  return aesBlock(deriveAccountKey(deviceKey, accountId), challenge);
}

/** K_v = E(K_b, accountId ‖ 01 ‖ 00×6): seals the advertised state; owners' RACs and gateways only. */
export function deriveAdvertKey(deviceKey: Uint8Array, accountId: string): Buffer {
  return aesBlock(deriveRootKeys(deviceKey).sessionBaseKey, accountBlock(accountId, 1));
}
