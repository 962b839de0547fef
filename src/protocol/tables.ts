/**
 * The messages of Clause 8, Tables 3–8 and the profile's status report, as typed objects,
 * and their 16-byte plaintext frames. Parsers are strict: out-of-range fields and non-zero
 * padding are refused, because every refused forgery costs an attacker a connection.
 */
import { accountIdFromBytes, accountIdToBytes, bytesToHex } from './bytes.js';
import { Cmd, FrameError, VALUE_LENGTH, isUint32, type Frame } from './frame.js';

/** HomeKit's own numbers, so LockCurrentState takes them unchanged. */
export const LockState = { Unsecured: 0, Secured: 1, Jammed: 2, Unknown: 3 } as const;
export type LockState = (typeof LockState)[keyof typeof LockState];

export const DoorState = { Closed: 0, Open: 1, NoSensor: 0xff } as const;
export type DoorState = (typeof DoorState)[keyof typeof DoorState];

/** The result byte (TYPE) of Tables 4, 6 and 8. */
export const Result = {
  Ok: 0x00,
  Reserved: 0x02,
  AccountMismatch: 0x03,
  Busy: 0x04,
  Jammed: 0x05,
  Unsupported: 0x06,
  BatteryTooLow: 0x07,
  NotBound: 0x08,
  PairingModeRequired: 0x09,
} as const;
export type Result = (typeof Result)[keyof typeof Result];

const RESULT_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(Result).map(([k, v]) => [v, k]));

/** A person-readable name for a lock's result byte, e.g. `Jammed (0x05)`. */
export function describeResult(result: number): string {
  return `${RESULT_NAMES.get(result) ?? 'Unknown'} (0x${result.toString(16).padStart(2, '0')})`;
}

/** Table 3 TYPE. */
export const BindType = { Bind: 0x00, Unbind: 0x01 } as const;
export type BindType = (typeof BindType)[keyof typeof BindType];

/** Table 5 TYPE; the lock only logs it. */
export const SessionRole = { Owner: 0x01, Member: 0x02 } as const;
export type SessionRole = (typeof SessionRole)[keyof typeof SessionRole];

/** Table 7 TYPE. */
export const OperationType = { Unlock: 0x01, Lock: 0x02, Query: 0x03 } as const;
export type OperationType = (typeof OperationType)[keyof typeof OperationType];

export const StatusCause = { Manual: 1, AutoLock: 2, Keypad: 3 } as const;
export type StatusCause = (typeof StatusCause)[keyof typeof StatusCause];

/** Table 3, gateway → lock. */
export interface WriteAccountIdRequest {
  kind: 'writeAccountId';
  type: BindType;
  accountId: string;
  ts: number;
}

/** Table 4, lock → gateway. `accountIdPrefix` echoes bytes 0–3 of the bound account (8 hex). */
export interface WriteAccountIdResponse {
  kind: 'writeAccountIdResponse';
  result: number;
  fwMajor: number;
  fwMinor: number;
  battery: number;
  lockState: LockState;
  requestType: BindType;
  accountIdPrefix: string;
  ts: number;
}

/** Table 5, gateway → lock. */
export interface AuthenticateRequest {
  kind: 'authenticate';
  role: SessionRole;
  accountId: string;
  ts: number;
}

/** Table 6, lock → gateway. */
export interface AuthenticateResponse {
  kind: 'authenticateResponse';
  result: number;
  lockState: LockState;
  battery: number;
  doorState: DoorState;
  opCounter: number;
  ts: number;
}

/** Table 7, gateway → lock. */
export interface LockOperationRequest {
  kind: 'operation';
  op: OperationType;
  operationId: number;
  ts: number;
}

/** Table 8, lock → gateway. */
export interface LockOperationResponse {
  kind: 'operationResponse';
  result: number;
  operationId: number;
  lockState: LockState;
  battery: number;
  doorState: DoorState;
  ts: number;
}

/** Profile extension, lock-initiated: a manual turn, auto-lock or keypad changed the state. */
export interface StatusReport {
  kind: 'statusReport';
  lockState: LockState;
  battery: number;
  doorState: DoorState;
  cause: StatusCause;
  counter: number;
  ts: number;
}

export type GatewayMessage = WriteAccountIdRequest | AuthenticateRequest | LockOperationRequest;
export type LockMessage = WriteAccountIdResponse | AuthenticateResponse | LockOperationResponse | StatusReport;
export type Message = GatewayMessage | LockMessage;

function fail(what: string): never {
  throw new FrameError('field', what);
}

const isByte = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xff;
/** Whether a number is a Table 4/6/8 lock state (0–3). */
export const isLockState = (n: number): n is LockState => Number.isInteger(n) && n >= 0 && n <= 3;
const isDoorState = (n: number): n is DoorState => n === 0 || n === 1 || n === 0xff;
const isBattery = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 100;
const isBindType = (n: number): n is BindType => n === 0 || n === 1;
const isRole = (n: number): n is SessionRole => n === 1 || n === 2;
const isOp = (n: number): n is OperationType => n >= 1 && n <= 3 && Number.isInteger(n);
const isCause = (n: number): n is StatusCause => n >= 1 && n <= 3 && Number.isInteger(n);

function accountValue(accountId: string): Buffer {
  try {
    return accountIdToBytes(accountId);
  } catch {
    throw new FrameError('field', 'accountId must be 18 lower-case hex digits');
  }
}

/** Builds the plaintext frame of any Clause 8 message. */
export function encodeMessage(msg: Message): Frame {
  const value = Buffer.alloc(VALUE_LENGTH);
  let cmd: Cmd;
  let type: number;
  switch (msg.kind) {
    case 'writeAccountId':
      if (!(isBindType(msg.type))) fail('Table 3 TYPE must be bind (0) or unbind (1)');
      cmd = Cmd.WriteAccountId;
      type = msg.type;
      accountValue(msg.accountId).copy(value);
      break;
    case 'writeAccountIdResponse': {
      if (!(isByte(msg.result) && isByte(msg.fwMajor) && isByte(msg.fwMinor))) fail('Table 4 bytes out of range');
      if (!(isBattery(msg.battery) && isLockState(msg.lockState) && isBindType(msg.requestType))) fail('Table 4 state out of range');
      if (!(/^[0-9a-f]{8}$/.test(msg.accountIdPrefix))) fail('Table 4 account echo must be 8 lower-case hex digits');
      cmd = Cmd.WriteAccountIdResponse;
      type = msg.result;
      value.set([msg.fwMajor, msg.fwMinor, msg.battery, msg.lockState, msg.requestType]);
      Buffer.from(msg.accountIdPrefix, 'hex').copy(value, 5);
      break;
    }
    case 'authenticate':
      if (!(isRole(msg.role))) fail('Table 5 TYPE must be owner (1) or member (2)');
      cmd = Cmd.AuthenticateAccountId;
      type = msg.role;
      accountValue(msg.accountId).copy(value);
      break;
    case 'authenticateResponse':
      if (!(isByte(msg.result) && isLockState(msg.lockState) && isBattery(msg.battery))) fail('Table 6 state out of range');
      if (!(isDoorState(msg.doorState) && isUint32(msg.opCounter))) fail('Table 6 door or counter out of range');
      cmd = Cmd.AuthenticateAccountIdResponse;
      type = msg.result;
      value.set([msg.lockState, msg.battery, msg.doorState]);
      value.writeUInt32BE(msg.opCounter, 3);
      break;
    case 'operation':
      if (!(isOp(msg.op))) fail('Table 7 TYPE must be unlock (1), lock (2) or query (3)');
      if (!(isUint32(msg.operationId))) fail('operationId must be a u32');
      cmd = Cmd.Operation;
      type = msg.op;
      value.writeUInt32BE(msg.operationId, 0);
      break;
    case 'operationResponse':
      if (!(isByte(msg.result) && isUint32(msg.operationId))) fail('Table 8 result or operationId out of range');
      if (!(isLockState(msg.lockState) && isBattery(msg.battery) && isDoorState(msg.doorState))) fail('Table 8 state out of range');
      cmd = Cmd.OperationResponse;
      type = msg.result;
      value.writeUInt32BE(msg.operationId, 0);
      value.set([msg.lockState, msg.battery, msg.doorState], 4);
      break;
    case 'statusReport':
      if (!(isLockState(msg.lockState) && isBattery(msg.battery) && isDoorState(msg.doorState))) fail('status report state out of range');
      if (!(isCause(msg.cause) && isUint32(msg.counter))) fail('status report cause or counter out of range');
      cmd = Cmd.StatusReport;
      type = 0;
      value.set([msg.lockState, msg.battery, msg.doorState, msg.cause]);
      value.writeUInt32BE(msg.counter, 4);
      break;
    default:
      throw new FrameError('cmd', 'unknown message kind');
  }
  return { cmd, type, value, ts: msg.ts };
}

function zeroFrom(value: Buffer, start: number): boolean {
  for (let i = start; i < value.length; i++) if (value[i] !== 0) return false;
  return true;
}

/** Reads the typed message out of a decoded plaintext frame; refuses anything out of range. */
export function parseMessage(frame: Frame): Message {
  const { value: v, type, ts } = frame;
  switch (frame.cmd) {
    case Cmd.WriteAccountId:
      if (!(isBindType(type))) fail('Table 3 TYPE out of range');
      return { kind: 'writeAccountId', type, accountId: accountIdFromBytes(v), ts };
    case Cmd.WriteAccountIdResponse: {
      const [fwMajor, fwMinor, battery, lockState, requestType] = [v[0]!, v[1]!, v[2]!, v[3]!, v[4]!];
      if (!(isBattery(battery) && isLockState(lockState) && isBindType(requestType))) fail('Table 4 field out of range');
      return {
        kind: 'writeAccountIdResponse',
        result: type,
        fwMajor,
        fwMinor,
        battery,
        lockState,
        requestType,
        accountIdPrefix: bytesToHex(v.subarray(5, 9)),
        ts,
      };
    }
    case Cmd.AuthenticateAccountId:
      if (!(isRole(type))) fail('Table 5 TYPE out of range');
      return { kind: 'authenticate', role: type, accountId: accountIdFromBytes(v), ts };
    case Cmd.AuthenticateAccountIdResponse: {
      const [lockState, battery, doorState] = [v[0]!, v[1]!, v[2]!];
      if (!(isLockState(lockState) && isBattery(battery) && isDoorState(doorState))) fail('Table 6 field out of range');
      if (!(zeroFrom(v, 7))) fail('Table 6 padding must be zero');
      return { kind: 'authenticateResponse', result: type, lockState, battery, doorState, opCounter: v.readUInt32BE(3), ts };
    }
    case Cmd.Operation:
      if (!(isOp(type))) fail('Table 7 TYPE out of range');
      if (!(zeroFrom(v, 4))) fail('Table 7 padding must be zero');
      return { kind: 'operation', op: type, operationId: v.readUInt32BE(0), ts };
    case Cmd.OperationResponse: {
      const [lockState, battery, doorState] = [v[4]!, v[5]!, v[6]!];
      if (!(isLockState(lockState) && isBattery(battery) && isDoorState(doorState))) fail('Table 8 field out of range');
      if (!(zeroFrom(v, 7))) fail('Table 8 padding must be zero');
      return { kind: 'operationResponse', result: type, operationId: v.readUInt32BE(0), lockState, battery, doorState, ts };
    }
    case Cmd.StatusReport: {
      const [lockState, battery, doorState, cause] = [v[0]!, v[1]!, v[2]!, v[3]!];
      if (!(type === 0)) fail('status report TYPE must be 0');
      if (!(isLockState(lockState) && isBattery(battery) && isDoorState(doorState) && isCause(cause))) fail('status report field out of range');
      if (!(zeroFrom(v, 8))) fail('status report padding must be zero');
      return { kind: 'statusReport', lockState, battery, doorState, cause, counter: v.readUInt32BE(4), ts };
    }
  }
}

/** Narrows a parsed message to the kind a caller waits for, or a FrameError naming both. */
export function expectMessage<K extends Message['kind']>(msg: Message, kind: K): Extract<Message, { kind: K }> {
  if (msg.kind !== kind) throw new FrameError('cmd', `expected ${kind}, got ${msg.kind}`);
  return msg as Extract<Message, { kind: K }>;
}

/** Whether a Table 4 answer confirms the exact Table 3 request it answers (echo and TYPE). */
export function table4Confirms(answer: WriteAccountIdResponse, request: WriteAccountIdRequest): boolean {
  if (answer.requestType !== request.type || answer.accountIdPrefix !== request.accountId.slice(0, 8)) return false;
  if (answer.result === Result.Ok) return true;
  // An unbind of a lock that is already unbound leaves it as the request wanted.
  return request.type === BindType.Unbind && answer.result === Result.NotBound;
}

export const unlockRequest = (operationId: number, ts: number): LockOperationRequest => ({
  kind: 'operation',
  op: OperationType.Unlock,
  operationId,
  ts,
});
export const lockRequest = (operationId: number, ts: number): LockOperationRequest => ({
  kind: 'operation',
  op: OperationType.Lock,
  operationId,
  ts,
});
export const queryRequest = (operationId: number, ts: number): LockOperationRequest => ({
  kind: 'operation',
  op: OperationType.Query,
  operationId,
  ts,
});
