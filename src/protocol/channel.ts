/**
 * One direction of one BLE connection: an AES-128-CBC chain without padding whose first IV is
 * C (gateway → lock) or ~C (lock → gateway) and whose later IVs are the previous ciphertext.
 * The first failure closes the channel for good: the lock gives one guess per connection.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { block, invert } from './bytes.js';
import { FRAME_LENGTH, FrameError, decodeFrame, encodeFrame, type Frame } from './frame.js';
import { encodeMessage, parseMessage, type Message } from './tables.js';

/** Every frame of a connection carries a TS within this many seconds of the first frame's. */
export const TS_WINDOW_SECONDS = 300;

export type Direction = 'toLock' | 'fromLock';

export type ChannelErrorCode = 'closed' | 'length' | 'check' | 'cmd' | 'field' | 'ts';

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly code: ChannelErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The TS of the connection's first frame, shared by both directions of that connection. */
export class TsAnchor {
  private first: number | undefined;

  get ts(): number | undefined {
    return this.first;
  }

  /** Fixes the anchor on first use; refuses a TS outside the window. */
  admit(ts: number): void {
    this.first ??= ts;
    if (Math.abs(ts - this.first) > TS_WINDOW_SECONDS) {
      throw new ChannelError('ts', `TS ${ts} is more than ${TS_WINDOW_SECONDS} s from the connection's first frame`);
    }
  }
}

export interface FrameChannelOptions {
  key: Uint8Array;
  challenge: Uint8Array;
  direction: Direction;
  /** Share one anchor between the two directions of a connection. */
  anchor?: TsAnchor;
}

export class FrameChannel {
  readonly direction: Direction;
  readonly anchor: TsAnchor;
  private readonly key: Buffer;
  private iv: Buffer;
  private failed: ChannelError | undefined;

  constructor(options: FrameChannelOptions) {
    this.key = block(options.key, 'key');
    const challenge = block(options.challenge, 'challenge');
    this.direction = options.direction;
    this.iv = options.direction === 'toLock' ? challenge : invert(challenge);
    this.anchor = options.anchor ?? new TsAnchor();
  }

  get closed(): boolean {
    return this.failed !== undefined;
  }

  /** The IV the next frame of this direction uses (for tests and the RAS's decoders). */
  get nextIv(): Buffer {
    return Buffer.from(this.iv);
  }

  /** Encrypts the next frame of this direction. */
  seal(frame: Frame): Buffer {
    this.assertOpen();
    const plain = encodeFrame(frame);
    this.guard(() => {
      this.anchor.admit(frame.ts);
    });
    const cipher = createCipheriv('aes-128-cbc', this.key, this.iv);
    cipher.setAutoPadding(false);
    const out = Buffer.concat([cipher.update(plain), cipher.final()]);
    this.iv = out;
    return out;
  }

  sealMessage(msg: Message): Buffer {
    return this.seal(encodeMessage(msg));
  }

  /** Decrypts and checks the next frame of this direction; any failure closes the channel. */
  open(ciphertext: Uint8Array): Frame {
    this.assertOpen();
    return this.guard(() => {
      if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== FRAME_LENGTH) {
        throw new ChannelError('length', 'a frame is 16 bytes');
      }
      const decipher = createDecipheriv('aes-128-cbc', this.key, this.iv);
      decipher.setAutoPadding(false);
      const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      const frame = decodeFrame(plain);
      this.anchor.admit(frame.ts);
      this.iv = Buffer.from(ciphertext);
      return frame;
    });
  }

  /** `open` plus the typed message of the frame. */
  openMessage(ciphertext: Uint8Array): Message {
    this.assertOpen();
    const frame = this.open(ciphertext);
    return this.guard(() => parseMessage(frame));
  }

  private assertOpen(): void {
    if (this.failed) throw new ChannelError('closed', `channel closed after: ${this.failed.message}`);
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      this.failed =
        err instanceof ChannelError
          ? err
          : err instanceof FrameError
            ? new ChannelError(err.code, err.message)
            : new ChannelError('field', err instanceof Error ? err.message : String(err));
      throw this.failed;
    }
  }
}

export interface ChannelPair {
  toLock: FrameChannel;
  fromLock: FrameChannel;
}

/** Both directions of one connection, with one TS anchor. */
export function openConnection(keys: { toLock: Uint8Array; fromLock: Uint8Array }, challenge: Uint8Array): ChannelPair {
  const anchor = new TsAnchor();
  return {
    toLock: new FrameChannel({ key: keys.toLock, challenge, direction: 'toLock', anchor }),
    fromLock: new FrameChannel({ key: keys.fromLock, challenge, direction: 'fromLock', anchor }),
  };
}

/** Stage b uses K_s in both directions; the IVs C and ~C and the 0x80 bit keep them apart. */
export function openSession(sessionKey: Uint8Array, challenge: Uint8Array): ChannelPair {
  return openConnection({ toLock: sessionKey, fromLock: sessionKey }, challenge);
}
