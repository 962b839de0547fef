/**
 * A BSLD emulated with the protocol module's own channels: it knows K_d, answers Table 3 with
 * Table 4 in stage a, and Tables 5/7 with 6/8 in stage b, as profile.md's lock rules say.
 */
import { randomBytes } from 'node:crypto';
import {
  BindType,
  Result,
  bytesToHex,
  deriveSessionKey,
  deriveStageAKeys,
  expectMessage,
  openConnection,
  openSession,
  type ChannelPair,
} from 'homebridge-igrs-smartlock/protocol';

export class TestLock {
  boundAccount: string | undefined;
  pairingMode = true;
  lockState: 0 | 1 = 1;
  battery = 87;
  opCounter = 0;
  /** The result byte of the next Table 8 (then back to ok). */
  nextOperationResult: number = Result.Ok;
  private challenge: Buffer = randomBytes(16);
  private session: ChannelPair | undefined;

  constructor(
    readonly deviceId: string,
    readonly deviceKey: Buffer,
    readonly setupCode: string,
  ) {}

  static random(setupCode = '12345678'): TestLock {
    const id = randomBytes(6).toString('hex').toUpperCase();
    return new TestLock(id, randomBytes(16), setupCode);
  }

  get factoryEntry(): { deviceId: string; deviceKey: string; setupCode: string; model: string } {
    return { deviceId: this.deviceId, deviceKey: bytesToHex(this.deviceKey), setupCode: this.setupCode, model: 'TestLock 1' };
  }

  /** A new connection: a fresh challenge, as the Challenge characteristic gives. */
  connect(): string {
    this.challenge = randomBytes(16);
    this.session = undefined;
    return bytesToHex(this.challenge);
  }

  /** Stage a: one Table 3 in, one Table 4 out. */
  writeAccountId(frameHex: string): string {
    const pair = openConnection(deriveStageAKeys(this.deviceKey, this.challenge), this.challenge);
    const req = expectMessage(pair.toLock.openMessage(Buffer.from(frameHex, 'hex')), 'writeAccountId');
    let result: number = Result.Ok;
    let echo = req.accountId;
    if (req.type === BindType.Bind) {
      if (!this.pairingMode && this.boundAccount !== req.accountId) result = Result.PairingModeRequired;
      else {
        this.boundAccount = req.accountId;
        this.pairingMode = false;
      }
    } else if (this.boundAccount === undefined) result = Result.NotBound;
    else if (this.boundAccount !== req.accountId) {
      result = Result.AccountMismatch;
      echo = this.boundAccount;
    } else this.boundAccount = undefined;
    return bytesToHex(
      pair.fromLock.sealMessage({
        kind: 'writeAccountIdResponse',
        result,
        fwMajor: 1,
        fwMinor: 2,
        battery: this.battery,
        lockState: this.lockState,
        requestType: req.type,
        accountIdPrefix: echo.slice(0, 8),
        ts: req.ts + 1,
      }),
    );
  }

  /** Stage b: the lock's answer to one gateway frame. */
  stageB(frameHex: string): string {
    const frame = Buffer.from(frameHex, 'hex');
    if (!this.session) {
      if (!this.boundAccount) throw new Error('unbound lock cannot run stage b');
      this.session = openSession(deriveSessionKey(this.deviceKey, this.boundAccount, this.challenge), this.challenge);
      const req = expectMessage(this.session.toLock.openMessage(frame), 'authenticate');
      const ok = req.accountId === this.boundAccount;
      return bytesToHex(
        this.session.fromLock.sealMessage({
          kind: 'authenticateResponse',
          result: ok ? Result.Ok : Result.AccountMismatch,
          lockState: this.lockState,
          battery: this.battery,
          doorState: 0,
          opCounter: this.opCounter,
          ts: req.ts,
        }),
      );
    }
    const op = expectMessage(this.session.toLock.openMessage(frame), 'operation');
    const result = this.nextOperationResult;
    this.nextOperationResult = Result.Ok;
    if (result === Result.Ok && op.op === 1) this.lockState = 0;
    if (result === Result.Ok && op.op === 2) this.lockState = 1;
    this.opCounter++;
    return bytesToHex(
      this.session.fromLock.sealMessage({
        kind: 'operationResponse',
        result,
        operationId: op.operationId,
        lockState: this.lockState,
        battery: this.battery,
        doorState: 0,
        ts: op.ts,
      }),
    );
  }
}
