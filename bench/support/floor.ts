/**
 * The floors: the same Clause 8 / Clause 7 steps the product takes, done bare with unmodified
 * node-ble on the same emulated BlueZ and plain node:http on the same (delayed) RAS, with no
 * Homebridge, no HAP, no retries and no bookkeeping. Whatever the product adds is its own cost.
 */
import { randomInt } from 'node:crypto';
import { Agent, request } from 'node:http';
import NodeBle from 'node-ble';
import {
  BSLD_SERVICE_UUID,
  CHALLENGE_CHAR_UUID,
  COMMAND_CHAR_UUID,
  RESPONSE_CHAR_UUID,
  OperationType,
  SessionRole,
  deviceIdToAddress,
  makeRequest,
  openSession,
  pathFor,
  type ChannelPair,
  type LockMessage,
} from '../../src/protocol/index.js';
import { servicesResolved } from '@igrs-smartlock/sim/testing';

/** Clause 7 over one keep-alive connection, nothing else. */
export class RawRas {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private seq = 0;
  token = '';

  constructor(readonly baseUrl: string) {}

  async post(path: string, stem: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const payload = JSON.stringify(makeRequest(stem, ++this.seq, body));
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { status: number; body: Record<string, unknown> };
              resolve(json);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async login(identifier: string, password: string): Promise<void> {
    const answer = await this.post(pathFor('UserAuthentication', {}), 'UserAuthentication', { identifier, password });
    if (answer.status !== 200 || typeof answer.body.accessToken !== 'string') throw new Error(`login: status ${answer.status}`);
    this.token = answer.body.accessToken;
  }

  async session(deviceId: string, challenge: Buffer): Promise<{ sessionKey: Buffer; ownerAccountId: string; status: number }> {
    const answer = await this.post(pathFor('BsldSession', { deviceId }), 'BsldSession', { challenge: challenge.toString('hex') });
    const { sessionKey, ownerAccountId } = answer.body;
    return {
      sessionKey: Buffer.from(typeof sessionKey === 'string' ? sessionKey : '', 'hex'),
      ownerAccountId: typeof ownerAccountId === 'string' ? ownerAccountId : '',
      status: answer.status,
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

type Ble = ReturnType<typeof NodeBle.createBluetooth>;
type Characteristic = Awaited<ReturnType<Awaited<ReturnType<Awaited<ReturnType<NodeBle.Device['gatt']>>['getPrimaryService']>>['getCharacteristic']>>;

/** One lock driven bare: node-ble for BLE, RawRas for K_s. */
export class BareLock {
  private device: NodeBle.Device | undefined;
  private chars: { challenge: Characteristic; command: Characteristic; response: Characteristic } | undefined;
  private channels: ChannelPair | undefined;
  private pending: ((m: LockMessage) => void) | undefined;
  openedAt = 0;

  private constructor(
    private readonly ble: Ble,
    private readonly adapter: NodeBle.Adapter,
    readonly deviceId: string,
    private readonly ras: RawRas,
  ) {}

  static async open(deviceId: string, ras: RawRas): Promise<BareLock> {
    const ble = NodeBle.createBluetooth();
    const adapter = await ble.bluetooth.defaultAdapter();
    return new BareLock(ble, adapter, deviceId, ras);
  }

  get connected(): boolean {
    return this.chars !== undefined;
  }

  /** connect → gatt → StartNotify → read C → BsldSession → Table 5 → Table 6. */
  async connect(): Promise<void> {
    this.device ??= await this.adapter.getDevice(deviceIdToAddress(this.deviceId));
    await this.device.connect();
    await servicesResolved(this.device);
    const gatt = await this.device.gatt();
    const service = await gatt.getPrimaryService(BSLD_SERVICE_UUID);
    const [challenge, command, response] = await Promise.all([
      service.getCharacteristic(CHALLENGE_CHAR_UUID),
      service.getCharacteristic(COMMAND_CHAR_UUID),
      service.getCharacteristic(RESPONSE_CHAR_UUID),
    ]);
    response.on('valuechanged', (frame: Buffer) => {
      const channels = this.channels;
      if (!channels) return;
      const msg = channels.fromLock.openMessage(frame) as LockMessage;
      this.pending?.(msg);
    });
    await response.startNotifications();
    this.chars = { challenge, command, response };
    const c = await challenge.readValue();
    const grant = await this.ras.session(this.deviceId, c);
    if (grant.status !== 200) throw new Error(`BsldSession: status ${grant.status}`);
    this.channels = openSession(grant.sessionKey, c);
    this.openedAt = Date.now();
    const answer = await this.exchange({ kind: 'authenticate', role: SessionRole.Owner, accountId: grant.ownerAccountId, ts: Math.floor(Date.now() / 1000) });
    if (answer.kind !== 'authenticateResponse' || answer.result !== 0) throw new Error('Table 6 refused the bare session');
  }

  /** Table 7 → Table 8: the write → notify round trip. */
  async operate(op: 'lock' | 'unlock'): Promise<void> {
    const answer = await this.exchange({
      kind: 'operation',
      op: op === 'unlock' ? OperationType.Unlock : OperationType.Lock,
      operationId: randomInt(0, 0xffffffff),
      ts: Math.floor(Date.now() / 1000),
    });
    if (answer.kind !== 'operationResponse' || answer.result !== 0) throw new Error(`Table 8 refused the bare ${op}`);
  }

  async disconnect(): Promise<void> {
    const chars = this.chars;
    this.chars = undefined;
    this.channels = undefined;
    chars?.response.removeAllListeners('valuechanged');
    await this.device?.disconnect().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.disconnect();
    this.ble.destroy();
  }

  private async exchange(msg: Parameters<ChannelPair['toLock']['sealMessage']>[0]): Promise<LockMessage> {
    const { channels, chars } = this;
    if (!channels || !chars) throw new Error('not connected');
    const answered = new Promise<LockMessage>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('the lock did not answer the bare frame')); }, 5_000);
      this.pending = (m) => {
        if (m.kind === 'statusReport') return;
        clearTimeout(timer);
        this.pending = undefined;
        resolve(m);
      };
    });
    await chars.command.writeValue(channels.toLock.sealMessage(msg), { type: 'request' });
    return answered;
  }
}
