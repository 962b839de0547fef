/**
 * Clause 8 frame: one 16-byte AES block.
 * [0] CMD · [1] TYPE · [2..10] VALUE · [11] CHECK (XOR of bytes 0–10 and 12–15) · [12..15] TS (u32 BE).
 */

export const FRAME_LENGTH = 16;
export const VALUE_LENGTH = 9;
const CHECK_OFFSET = 11;
const TS_OFFSET = 12;

/** Command IDs of Tables 3–8 and the profile's lock-initiated status report. */
export const Cmd = {
  WriteAccountId: 0x01,
  AuthenticateAccountId: 0x02,
  Operation: 0x03,
  WriteAccountIdResponse: 0x81,
  AuthenticateAccountIdResponse: 0x82,
  OperationResponse: 0x83,
  StatusReport: 0x84,
} as const;
export type Cmd = (typeof Cmd)[keyof typeof Cmd];

const KNOWN_CMDS: ReadonlySet<number> = new Set(Object.values(Cmd));
export const RESPONSE_BIT = 0x80;

export interface Frame {
  cmd: Cmd;
  type: number;
  /** Nine bytes. */
  value: Buffer;
  /** Unix seconds, u32. */
  ts: number;
}

export type FrameErrorCode = 'length' | 'check' | 'cmd' | 'field';

/** Every way a frame can be malformed; nothing else is ever thrown by the frame codec. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function checkByte(bytes: Uint8Array): number {
  let x = 0;
  for (let i = 0; i < FRAME_LENGTH; i++) if (i !== CHECK_OFFSET) x ^= bytes[i]!;
  return x;
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xff;
}

export function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

export function encodeFrame(frame: Frame): Buffer {
  if (!KNOWN_CMDS.has(frame.cmd)) throw new FrameError('cmd', `unknown CMD 0x${hex2(frame.cmd)}`);
  if (!isByte(frame.type)) throw new FrameError('field', 'TYPE must be a byte');
  if (!(frame.value instanceof Uint8Array) || frame.value.length !== VALUE_LENGTH) {
    throw new FrameError('field', 'VALUE must be 9 bytes');
  }
  if (!isUint32(frame.ts)) throw new FrameError('field', 'TS must be a u32 of Unix seconds');
  const out = Buffer.alloc(FRAME_LENGTH);
  out[0] = frame.cmd;
  out[1] = frame.type;
  out.set(frame.value, 2);
  out.writeUInt32BE(frame.ts, TS_OFFSET);
  out[CHECK_OFFSET] = checkByte(out);
  return out;
}

/** Whether CHECK holds, regardless of CMD (the reject vectors ask exactly this). */
export function checkHolds(bytes: Uint8Array): boolean {
  return bytes.length === FRAME_LENGTH && bytes[CHECK_OFFSET] === checkByte(bytes);
}

export function decodeFrame(bytes: Uint8Array): Frame {
  if (!(bytes instanceof Uint8Array) || bytes.length !== FRAME_LENGTH) {
    throw new FrameError('length', `a frame is 16 bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
  if (!checkHolds(bytes)) throw new FrameError('check', 'CHECK does not match');
  const cmd = bytes[0]!;
  if (!KNOWN_CMDS.has(cmd)) throw new FrameError('cmd', `unknown CMD 0x${hex2(cmd)}`);
  const buf = Buffer.from(bytes);
  return {
    cmd: cmd as Cmd,
    type: buf[1]!,
    value: buf.subarray(2, 2 + VALUE_LENGTH),
    ts: buf.readUInt32BE(TS_OFFSET),
  };
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}
