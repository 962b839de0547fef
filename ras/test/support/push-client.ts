/** A Table 2 push client for tests: collects messages, acknowledges, resumes. */
import WebSocket from 'ws';

export interface PushMsg {
  version: string;
  msgType: string;
  seq: number;
  timestamp: number;
  event: string;
  deviceId?: string;
  body: Record<string, unknown>;
}

export class PushClient {
  readonly messages: PushMsg[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  closeCode: number | undefined;
  /** The socket's last error; a cut socket ends in 'close' after it, which wakes the waiters. */
  error: Error | undefined;

  private constructor(readonly ws: WebSocket) {
    // Without a listener an 'error' (a RAS killed, a socket cut) would be thrown by the emitter.
    ws.on('error', (err) => {
      this.error = err;
    });
    ws.on('message', (data: Buffer) => {
      this.messages.push(JSON.parse(data.toString('utf8')) as PushMsg);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(baseUrl: string, token: string, options: { gatewayId?: string; resume?: number } = {}): Promise<PushClient> {
    const url = new URL('/v1/push', baseUrl.replace(/^http/, 'ws'));
    if (options.gatewayId) url.searchParams.set('gatewayId', options.gatewayId);
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const client = new PushClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`push refused: HTTP ${res.statusCode}`));
      });
      ws.once('error', reject);
    });
    if (options.resume !== undefined) client.resume(options.resume);
    return client;
  }

  resume(lastSeq: number): void {
    this.ws.send(JSON.stringify({ msgType: 'PushResume', lastSeq }));
  }

  ack(seq: number): void {
    this.ws.send(JSON.stringify({ msgType: 'PushAck', seq }));
  }

  /** The first message (from `from` on) that matches, waiting up to `ms`. */
  async next(match: (m: PushMsg) => boolean, ms = 3000, from = 0): Promise<PushMsg> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error(`no matching push within ${ms} ms; got ${JSON.stringify(this.messages.map((m) => m.event))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => {
        resolve();
      });
      this.ws.close();
    });
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
