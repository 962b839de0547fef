/**
 * A minimal in-memory BSLD behind the BGW's LockLink interface, for unit tests of the session
 * logic. The real lock is the simulator in sim/; this fake only follows the happy path rules.
 */
import { randomBytes } from 'node:crypto';
import {
  deriveSessionKey,
  openSession,
  type ChannelPair,
  type DoorState,
  type LockState,
} from 'homebridge-igrs-smartlock/protocol';
import type { BgwAuthority, LockLink, SessionGrant } from '../../src/bgw/session.js';

export class FakeLock implements LockLink {
  readonly deviceId = 'A4C138F0E1D2';
  readonly deviceKey = randomBytes(16);
  readonly accountId = '0a1b2c3d4e5f607182';
  isConnected = false;
  lockState: LockState = 1;
  battery = 90;
  doorState: DoorState = 0;
  motorMs = 5;
  connects = 0;
  written: Buffer[] = [];
  private challenge = Buffer.alloc(16);
  private channels: ChannelPair | undefined;
  private readonly frameListeners = new Set<(f: Buffer) => void>();
  private readonly disconnectListeners = new Set<() => void>();
  opCounter = 0;

  connect(): Promise<void> {
    this.isConnected = true;
    this.connects++;
    this.challenge = randomBytes(16);
    this.channels = undefined;
    return Promise.resolve();
  }
  disconnect(): Promise<void> {
    if (this.isConnected) {
      this.isConnected = false;
      for (const l of this.disconnectListeners) l();
    }
    return Promise.resolve();
  }
  readChallenge(): Promise<Buffer> {
    return Promise.resolve(this.challenge);
  }
  onFrame(l: (f: Buffer) => void): () => void {
    this.frameListeners.add(l);
    return () => this.frameListeners.delete(l);
  }
  onDisconnect(l: () => void): () => void {
    this.disconnectListeners.add(l);
    return () => this.disconnectListeners.delete(l);
  }
  writeFrame(frame: Buffer): Promise<void> {
    this.written.push(frame);
    this.channels ??= openSession(deriveSessionKey(this.deviceKey, this.accountId, this.challenge), this.challenge);
    const ch = this.channels;
    const msg = ch.toLock.openMessage(frame);
    const ts = msg.ts;
    if (msg.kind === 'authenticate') {
      this.notify(ch.fromLock.sealMessage({ kind: 'authenticateResponse', result: msg.accountId === this.accountId ? 0 : 3, lockState: this.lockState, battery: this.battery, doorState: this.doorState, opCounter: this.opCounter, ts }));
    } else if (msg.kind === 'operation') {
      setTimeout(() => {
        if (msg.op !== 3) this.lockState = msg.op === 1 ? 0 : 1;
        this.opCounter++;
        this.notify(ch.fromLock.sealMessage({ kind: 'operationResponse', result: 0, operationId: msg.operationId, lockState: this.lockState, battery: this.battery, doorState: this.doorState, ts }));
      }, this.motorMs);
    }
    return Promise.resolve();
  }
  /** A manual turn while connected: a status report on the open session. */
  turn(to: LockState): void {
    this.lockState = to;
    if (this.channels) this.notify(this.channels.fromLock.sealMessage({ kind: 'statusReport', lockState: to, battery: this.battery, doorState: this.doorState, cause: 1, counter: ++this.opCounter, ts: Math.floor(Date.now() / 1000) }));
  }
  notify(frame: Buffer): void {
    setImmediate(() => {
      for (const l of this.frameListeners) l(frame);
    });
  }

  /** The RAS's part, as far as the BGW sees it. */
  authority(overrides: Partial<BgwAuthority> = {}): BgwAuthority & { sessions: number } {
    const { deviceKey, accountId } = this;
    const a = {
      sessions: 0,
      openSession(_deviceId: string, challenge: Buffer): Promise<SessionGrant> {
        a.sessions++;
        return Promise.resolve({ sessionKey: deriveSessionKey(deviceKey, accountId, challenge), ownerAccountId: accountId, role: 'owner' });
      },
      operationFrames: () => Promise.reject(new Error('not used')),
      operationResult: () => Promise.reject(new Error('not used')),
      ...overrides,
    };
    return a;
  }
}
