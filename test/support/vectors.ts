/** The shared Clause 8 test vectors, at ../shared/spec/vectors.json beside the repository. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const VECTORS_PATH = process.env.IGRS_VECTORS ?? path.resolve(here, '../../../shared/spec/vectors.json');

export interface CipherStep {
  plaintext: string;
  iv: string;
  ciphertext: string;
}
export interface ExchangeStep extends CipherStep {
  dir: 'gateway->lock' | 'lock->gateway';
  table: number | string;
}
export interface Vectors {
  deviceId: string;
  deviceKey: string;
  accountId: string;
  frames: { name: string; cmd: number; type: number; value: string; ts: number; plaintext: string }[];
  keys: { registrationKey: string; answerKey: string; sessionBaseKey: string; accountKey: string; advertKey: string };
  registration: { challenge: string; keyToLock: string; keyFromLock: string; request: CipherStep; response: CipherStep };
  session: { challenge: string; sessionKey: string; exchange: ExchangeStep[] };
  unbind: { challenge: string; request: CipherStep; response: CipherStep };
  memberSession: { challenge: string; sessionKey: string; exchange: ExchangeStep[] };
  reject: { why: string; key: string; iv: string; ciphertext: string; decrypted: string; checkHolds: boolean }[];
  advertisementUnbound: { manufacturerData: string; note: string };
  advertisement: {
    companyId: number;
    public: { version: number; registered: boolean; pairingMode: boolean; deviceId: string };
    state: {
      lockState: number;
      battery: number;
      doorState: number;
      jammed: boolean;
      lowBattery: boolean;
      stateCounter: number;
      bootId: number;
      tick: number;
      plaintext: string;
    };
    manufacturerData: string;
  };
}

export const vectors = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as Vectors;
export const hex = (s: string): Buffer => Buffer.from(s, 'hex');
