/**
 * Real Homebridge (1.x or 2.x) as a child process with this plugin, and a real HomeKit
 * controller (hap-controller) paired to it, for end-to-end tests.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpClient } from 'hap-controller';

/** IGRS_ROOT: the BlueZ VM tier runs this harness from a bundle outside the source tree. */
export const ROOT = process.env.IGRS_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PIN = '031-45-154';

const BINARIES = {
  1: path.join(ROOT, 'node_modules/homebridge/bin/homebridge'),
  2: path.join(ROOT, 'node_modules/homebridge2/bin/homebridge.js'),
} as const;

let built = false;
/** The plugin runs from dist/, as it does when installed; build it once per test run. */
export function ensureBuilt(): void {
  // IGRS_PREBUILT: dist/ was built before (the VM tier's guest sees the tree read-only).
  if (built || process.env.IGRS_PREBUILT === '1') return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  built = true;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

export interface HomebridgeOptions {
  major: 1 | 2;
  platform: Record<string, unknown>;
  storage?: string;
  port?: number;
  env?: Record<string, string>;
  /** Options for the node running Homebridge, e.g. `--inspect=127.0.0.1:0` (the bench). */
  nodeArgs?: string[];
}

export class HomebridgeProcess {
  readonly logs: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  exitCode: number | null | undefined;

  private constructor(
    readonly options: HomebridgeOptions & { storage: string; port: number; pluginPath: string },
  ) {}

  static async start(options: HomebridgeOptions): Promise<HomebridgeProcess> {
    ensureBuilt();
    const storage = options.storage ?? (await mkdtemp(path.join(tmpdir(), 'igrs-hb-')));
    const pluginPath = path.join(storage, 'plugins');
    await mkdir(pluginPath, { recursive: true });
    if (!existsSync(path.join(pluginPath, 'homebridge-igrs-smartlock'))) await symlink(ROOT, path.join(pluginPath, 'homebridge-igrs-smartlock'));
    const port = options.port ?? (await freePort());
    const hb = new HomebridgeProcess({ ...options, storage, port, pluginPath });
    await hb.writeConfig(options.platform);
    await hb.launch();
    return hb;
  }

  get port(): number {
    return this.options.port;
  }

  /** The Homebridge process itself (the plugin runs in it), while it runs. */
  get pid(): number | undefined {
    return this.exitCode === undefined ? this.child?.pid : undefined;
  }

  get storage(): string {
    return this.options.storage;
  }

  async writeConfig(platform: Record<string, unknown>): Promise<void> {
    const config = {
      bridge: { name: 'IGRS Test Bridge', username: '0E:49:47:52:53:01', port: this.options.port, pin: PIN, advertiser: 'ciao' },
      platforms: [{ platform: 'IgrsSmartLock', name: 'Locks', ...platform }],
      accessories: [],
    };
    await writeFile(path.join(this.options.storage, 'config.json'), JSON.stringify(config, null, 2));
  }

  async launch(): Promise<void> {
    const args = [...(this.options.nodeArgs ?? []), BINARIES[this.options.major], '-U', this.options.storage, '-P', this.options.pluginPath, '--strict-plugin-resolution', '-I', '-D', '-Q', '-T'];
    const child = spawn(process.execPath, args, { env: { ...process.env, ...this.options.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exitCode = undefined;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
    });
    const from = this.logs.length;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.logs.push(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    await this.waitForLog(/is running on port/, Number(process.env.IGRS_HOMEBRIDGE_START_MS ?? 30_000), from);
  }

  /** Resolves with the first log line (from `from` on) that matches; rejects on timeout or exit. */
  async waitForLog(pattern: RegExp, timeoutMs = 15_000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.slice(from).find((l) => pattern.test(l));
      if (hit) return hit;
      if (this.exitCode !== undefined) throw new Error(`Homebridge exited (${this.exitCode}) before logging ${pattern}:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`Homebridge did not log ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Lines showing that the process met an unhandled rejection or exception. */
  crashes(): string[] {
    return this.logs.filter((l) => /unhandled ?rejection|uncaught ?exception|UnhandledPromiseRejection|ERR_UNHANDLED/i.test(l));
  }

  tail(n = 40): string {
    return this.logs.slice(-n).join('\n');
  }

  /**
   * Mocha hook, called inside `describe`: a failed test prints the tail of Homebridge's log, where
   * the plugin says why. Takes a getter because the process starts in a before() hook.
   */
  static printLogOnFailure(hb: () => HomebridgeProcess | undefined): void {
    afterEach(function () {
      if (this.currentTest?.state === 'failed') console.log(`--- Homebridge log (last lines) ---\n${hb()?.tail(60) ?? ''}`);
    });
  }

  async stop(): Promise<void> {
    if (!this.child || this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }
}

export interface HapCharacteristic {
  iid: number;
  type: string;
  value?: unknown;
  perms?: string[];
}
export interface HapAccessory {
  aid: number;
  services: { iid: number; type: string; characteristics: HapCharacteristic[] }[];
}

/** HAP short UUIDs of what the tests look at. */
export const HapType = {
  AccessoryInformation: '3E',
  Identify: '14',
  SerialNumber: '30',
  FirmwareRevision: '52',
  Name: '23',
  LockMechanism: '45',
  LockCurrentState: '1D',
  LockTargetState: '1E',
  Battery: '96',
  BatteryLevel: '68',
  StatusLowBattery: '79',
  ContactSensor: '80',
  ContactSensorState: '6A',
} as const;

function shortType(t: string): string {
  return t.replace(/^0+/, '').replace(/-0000-1000-8000-0026BB765291$/i, '').toUpperCase();
}

/** A paired HomeKit controller, as the Home app is. */
export class Controller {
  private constructor(readonly client: HttpClient) {}

  static async pair(port: number, pairingData?: ReturnType<HttpClient['getLongTermData']>): Promise<Controller> {
    let data = pairingData ?? null;
    if (!data) {
      const setup = new HttpClient('igrs-test-controller', '127.0.0.1', port);
      await setup.pairSetup(PIN);
      data = setup.getLongTermData();
      await setup.close();
    }
    return new Controller(new HttpClient('igrs-test-controller', '127.0.0.1', port, data ?? undefined, { usePersistentConnections: true }));
  }

  get pairingData(): ReturnType<HttpClient['getLongTermData']> {
    return this.client.getLongTermData();
  }

  async accessories(): Promise<HapAccessory[]> {
    const { accessories } = await this.client.getAccessories();
    // hap-controller types iid as optional; HAP always sends it for an accessory database.
    return accessories.map((a) => ({
      aid: a.aid,
      services: a.services.map((s) => ({
        iid: s.iid,
        type: s.type,
        characteristics: s.characteristics.map((c) => ({ iid: c.iid ?? 0, type: c.type ?? '', value: c.value, ...(c.perms ? { perms: c.perms } : {}) })),
      })),
    }));
  }

  /** The aid.iid of a characteristic on the accessory whose serial number is `serial`. */
  async find(serial: string, service: string, characteristic: string): Promise<string | undefined> {
    for (const acc of await this.accessories()) {
      const info = acc.services.find((s) => shortType(s.type) === HapType.AccessoryInformation);
      const sn = info?.characteristics.find((c) => shortType(c.type) === HapType.SerialNumber)?.value;
      if (sn !== serial) continue;
      for (const s of acc.services) {
        if (shortType(s.type) !== service) continue;
        const c = s.characteristics.find((ch) => shortType(ch.type) === characteristic);
        if (c) return `${acc.aid}.${c.iid}`;
      }
    }
    return undefined;
  }

  /** The LockCurrentState and LockTargetState aid.iids of the lock whose serial number is `serial`. */
  async lockMechanism(serial: string): Promise<{ current: string; target: string }> {
    const current = await this.find(serial, HapType.LockMechanism, HapType.LockCurrentState);
    const target = await this.find(serial, HapType.LockMechanism, HapType.LockTargetState);
    if (!current || !target) throw new Error(`no lock mechanism on the accessory ${serial}`);
    return { current, target };
  }

  async get(id: string): Promise<unknown> {
    const [aid, iid] = id.split('.');
    const { characteristics } = await this.client.getCharacteristics([id]);
    const c = characteristics.find((x) => String(x.aid) === aid && String(x.iid) === iid);
    if (c && 'status' in c && typeof c.status === 'number' && c.status !== 0) throw Object.assign(new Error(`HAP status ${c.status}`), { hapStatus: c.status });
    return c?.value;
  }

  async set(id: string, value: unknown): Promise<void> {
    await this.client.setCharacteristics({ [id]: value });
  }

  /** Polls a characteristic until it has the value (events are coalesced by HAP for 250 ms). */
  async waitFor(id: string, value: unknown, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      last = await this.get(id).catch((e: unknown) => e);
      if (last === value) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${id} stayed ${String(last)}, expected ${String(value)}`);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
