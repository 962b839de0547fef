/**
 * The settings server script as Homebridge UI runs it: forked with `silent: true` and the
 * HOMEBRIDGE_* environment, spoken to over the IPC channel in plugin-ui-utils' message format
 * ({action:'request', requestId, path, body} → {action:'response', payload:{requestId, success,
 * data}}; pushEvent arrives as {action:'stream', payload:{event, data}}).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';

export interface UiAnswer {
  success: boolean;
  data: unknown;
}

export interface StreamEvent {
  event: string;
  data: unknown;
}

interface Message {
  action?: string;
  payload?: { requestId?: string; success?: boolean; data?: unknown; event?: string };
}

export class UiProcess extends EventEmitter<{ stream: [StreamEvent] }> {
  /** Everything the script printed: Homebridge UI puts it in the Homebridge log. */
  readonly output: string[] = [];
  private readonly pending = new Map<string, (answer: UiAnswer) => void>();
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    super();
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.output.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.output.push(chunk));
    child.on('message', (raw: Message) => {
      const payload = raw.payload;
      if (raw.action === 'response' && payload?.requestId) {
        this.pending.get(payload.requestId)?.({ success: payload.success === true, data: payload.data });
        this.pending.delete(payload.requestId);
      } else if (raw.action === 'stream' && payload?.event) {
        this.emit('stream', { event: payload.event, data: payload.data });
      }
    });
  }

  static async start(options: { root: string; storagePath: string; env?: NodeJS.ProcessEnv }): Promise<UiProcess> {
    const child = fork(path.join(options.root, 'homebridge-ui/server.js'), [], {
      silent: true,
      cwd: options.root,
      env: {
        ...process.env,
        HOMEBRIDGE_STORAGE_PATH: options.storagePath,
        HOMEBRIDGE_CONFIG_PATH: path.join(options.storagePath, 'config.json'),
        HOMEBRIDGE_UI_VERSION: '5.0.0-test',
        // The test runner's own loader and conditions are not what Homebridge UI passes on.
        NODE_OPTIONS: '',
        ...options.env,
      },
      execArgv: [],
    });
    const ui = new UiProcess(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the settings server did not get ready: ${ui.output.join('')}`));
      }, 15_000);
      child.on('message', (m: Message) => {
        if (m.action === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the settings server exited with ${code}: ${ui.output.join('')}`));
      });
    });
    return ui;
  }

  request(requestPath: string, body: unknown = {}): Promise<UiAnswer> {
    const requestId = randomUUID();
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, resolve);
      this.child.send({ action: 'request', requestId, path: requestPath, body }, (err) => {
        if (err) {
          this.pending.delete(requestId);
          reject(err);
        }
      });
    });
  }

  /** Resolves with the data of a successful answer; rejects with the error payload otherwise. */
  async ok<T = Record<string, unknown>>(requestPath: string, body: unknown = {}): Promise<T> {
    const answer = await this.request(requestPath, body);
    if (!answer.success) throw new Error(`${requestPath} failed: ${JSON.stringify(answer.data)}`);
    return answer.data as T;
  }

  /** As Homebridge UI closes the settings: it drops the IPC channel and the script ends itself. */
  async close(): Promise<number | null> {
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
