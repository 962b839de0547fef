/**
 * `npm run bench`: the product end to end (Homebridge with the plugin, the reference RAS behind
 * a delaying proxy, simulated locks behind the BlueZ emulator, hap-controller as the Home app),
 * each figure next to its floor measured in the same run, interleaved, so ratios survive a noisy
 * shared machine. Writes bench/results/latest.json and prints a table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { LatencyName } from '@igrs-smartlock/sim/testing';
import { Controller, HapType, HomebridgeProcess, ROOT } from '../test/support/homebridge.js';
import { makeLocks, ownerClient, registerLocks, startStack, type Stack, type TestLock } from '../test/support/stack.js';
import { cdfChart, type Series } from './support/chart.js';
import { BusStats } from './support/dbus-stats.js';
import { BareLock, RawRas } from './support/floor.js';
import { EventWatcher, HapSerial, StatePoller } from './support/homekit.js';
import { pluginHotspots, selfTimeByOwner } from './support/profile.js';
import { censusGrowth, censusTotal, Inspector, type HeapCensus, type MemoryFigures } from './support/inspector.js';
import { startDelayProxy, type DelayProxy } from './support/proxy.js';
import { formatTable, markdownTable, percentile, row, type ResultRow } from './support/stats.js';

const HELP = `npm run bench [-- options]

Drives the real product and writes bench/results/latest.json plus a table on stdout.
Scenarios: 1 warm operation, 2 cold operation, 3 onSet answer time (each with the zero and
realistic latency profiles), 4 twenty locks at once, 5 soak (connect → operate → disconnect),
6 RAS session authorisations and logins, 7 Homebridge start-up with 20 cached locks.

Options:
  --quick                 a smoke run (few iterations, few soak cycles; CI runs this)
  --iterations N          interleaved product/floor pairs per latency profile (default 200, quick 6)
  --soak N                soak cycles (default 10000, quick 200)
  --profiles LIST         latency profiles, comma-separated: zero,realistic (default both)
  --homebridge 1|2        Homebridge major to run (default 1)
  --ras-seconds N         seconds per RAS load phase (default 10, quick 2)
  --only LIST             run only these scenarios, e.g. 1,2,3 or 5,7 (default all)
  --hb-log FILE           write Homebridge's log there at the end (diagnosis)
  --cpu-profile FILE      also write the CPU profile of Homebridge's warm operations there
  --heap-census           soak: heap snapshots of Homebridge at the first and last checkpoint,
                          and the constructors whose live objects grew (diagnosis: a snapshot
                          leaves native memory behind, so RSS is then not compared)
  --out FILE              results file (default bench/results/latest.json)
  --chart FILE            also write the cold/warm latency chart (SVG) there
  --docs                  rewrite docs/performance.md's results and chart from this run
  --help                  this text

Motor time is 0 ms for every lock, so latencies are the plugin's, the RAS's and the radio's.`;

const MOTOR_MS = 0;
const HB_LOCKS = 20;
const RAS_DELAY_MS: Record<LatencyName, number> = { zero: 0, realistic: 50 };
const LIFTED = { limit: 1_000_000_000, windowSeconds: 1 };
const RATE_LIMITS = { login: LIFTED, verification: LIFTED, registration: LIFTED, session: LIFTED, frames: LIFTED, bsldAuthentication: LIFTED, operation: LIFTED };
/** The lock ends a session after 60 s, the plugin renews at 50 s: refresh the warm ones before. */
const WARM_REFRESH_MS = 40_000;
/** Cold bare connects per node-ble connection (each adds match rules for good). */
const FLOOR_RECONNECT_ROUNDS = 50;

interface Options {
  quick: boolean;
  iterations: number;
  soak: number;
  profiles: LatencyName[];
  homebridge: 1 | 2;
  rasSeconds: number;
  out: string;
  chart: string | undefined;
  docs: boolean;
  only: Set<number>;
  hbLog: string | undefined;
  heapCensus: boolean;
  cpuProfile: string | undefined;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      iterations: { type: 'string' },
      soak: { type: 'string' },
      profiles: { type: 'string', default: 'zero,realistic' },
      homebridge: { type: 'string', default: '1' },
      'ras-seconds': { type: 'string' },
      out: { type: 'string', default: path.join(ROOT, 'bench/results/latest.json') },
      chart: { type: 'string' },
      docs: { type: 'boolean', default: false },
      only: { type: 'string', default: '1,2,3,4,5,6,7' },
      'hb-log': { type: 'string' },
      'heap-census': { type: 'boolean', default: false },
      'cpu-profile': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const int = (v: string | undefined, fallback: number, name: string): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} takes a whole number, not ${v}`);
    return n;
  };
  const profiles = values.profiles.split(',').map((p) => p.trim());
  for (const p of profiles) if (p !== 'zero' && p !== 'realistic') throw new Error(`unknown latency profile ${p} (zero, realistic)`);
  if (values.homebridge !== '1' && values.homebridge !== '2') throw new Error('--homebridge takes 1 or 2');
  const quick = values.quick;
  return {
    quick,
    iterations: int(values.iterations, quick ? 6 : 200, 'iterations'),
    soak: int(values.soak, quick ? 200 : 10_000, 'soak'),
    profiles: profiles as LatencyName[],
    homebridge: values.homebridge === '2' ? 2 : 1,
    rasSeconds: int(values['ras-seconds'], quick ? 2 : 10, 'ras-seconds'),
    out: path.resolve(values.out),
    chart: values.chart ? path.resolve(values.chart) : undefined,
    docs: values.docs,
    only: new Set(values.only.split(',').map((v) => int(v.trim(), 0, 'only'))),
    hbLog: values['hb-log'] ? path.resolve(values['hb-log']) : undefined,
    heapCensus: values['heap-census'],
    cpuProfile: values['cpu-profile'] ? path.resolve(values['cpu-profile']) : undefined,
  };
}

/** Homebridge ignores its closed pipes: if the bench dies, kill it outright on the way out. */
let liveHb: HomebridgeProcess | undefined;
process.on('exit', () => {
  const pid = liveHb?.pid;
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => {
  process.stderr.write(`[bench] ${line}\n`);
};

/** Everything started, stopped in reverse order whatever happens. */
class Resources {
  private readonly stops: { name: string; stop: () => Promise<void> | void }[] = [];
  add(name: string, stop: () => Promise<void> | void): void {
    this.stops.push({ name, stop });
  }
  async stopAll(): Promise<void> {
    for (const { name, stop } of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log(`stopping ${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

interface Rig {
  stack: Stack;
  proxy: DelayProxy;
  hb: HomebridgeProcess;
  home: Controller;
  events: EventWatcher;
  poller: StatePoller;
  serial: HapSerial;
  hbLocks: TestLock[];
  floorLocks: TestLock[];
  floorUser: { identifier: string; password: string };
  current: Map<string, string>;
  target: Map<string, string>;
  /** Each lock accessory's Identify: a HAP write the plugin does no work for. */
  identify: Map<string, string>;
  /** What each lock's bolt is now (0 unsecured, 1 secured), so every operation moves it. */
  bolt: Map<string, number>;
  resources: Resources;
  masterKey: Buffer;
  /** The DevTools protocol of the running Homebridge (GC, memory, profiles). */
  inspector: Inspector;
}

/** Homebridge runs with the inspector on a free port: GC and profiles need no code in the plugin. */
const HB_NODE_ARGS = ['--inspect=127.0.0.1:0'];

async function inspect(hb: HomebridgeProcess, from: number, resources: Resources): Promise<Inspector> {
  const url = Inspector.urlIn(hb.logs.slice(from));
  if (!url) throw new Error('Homebridge did not print its inspector URL');
  const inspector = await Inspector.connect(url);
  resources.add('inspector', () => { inspector.close(); });
  return inspector;
}

interface OpTiming {
  onSet: number;
  byPoll: number;
  byEvent: number;
  /** GETs the poller made until one showed the new state (meaningful with one op at a time). */
  gets: number;
}

/** One HomeKit write and its confirmation, timed from just before the PUT. */
async function productOp(rig: Rig, lock: TestLock, timeoutMs = 20_000, withEvents = true): Promise<OpTiming> {
  const value = rig.bolt.get(lock.deviceId) === 1 ? 0 : 1;
  const cur = rig.current.get(lock.deviceId)!;
  const gets = rig.poller.gets;
  const t0 = performance.now();
  const byEvent = withEvents ? rig.events.waitFor(cur, value, timeoutMs) : Promise.resolve(Number.NaN);
  await rig.serial.run(() => rig.home.set(rig.target.get(lock.deviceId)!, value));
  const onSet = performance.now() - t0;
  const polled = await rig.poller.waitFor(cur, value, timeoutMs);
  const evAt = await byEvent;
  rig.bolt.set(lock.deviceId, value);
  return { onSet, byPoll: polled - t0, byEvent: evAt - t0, gets: rig.poller.gets - gets };
}

/**
 * The HomeKit floor of an operation: the same controller, connection and poller, a HAP write to
 * the same accessory that the plugin does no work for (Identify), then the GET loop until
 * LockCurrentState shows the value it already has (one GET). No Bluetooth.
 */
async function hapFloorOp(rig: Rig, lock: TestLock): Promise<number> {
  const t0 = performance.now();
  await rig.serial.run(() => rig.home.set(rig.identify.get(lock.deviceId)!, true));
  const seen = await rig.poller.waitFor(rig.current.get(lock.deviceId)!, rig.bolt.get(lock.deviceId), 20_000);
  return seen - t0;
}

/**
 * A fresh battery in every simulated lock. The simulator drains 0.1 % per motor run and refuses
 * to move the bolt below 5 % (BatteryTooLow), which the busiest lock of a full run (≈1,500
 * operations) would reach: the bench measures the plugin, not the battery model.
 */
function freshBatteries(rig: Rig): void {
  for (const l of [...rig.hbLocks, ...rig.floorLocks]) rig.stack.sim.lock(l.deviceId).setBattery(100);
}

/** Ends the plugin's link from the lock's side and waits until the plugin has seen it go. */
async function makeCold(rig: Rig, lock: TestLock): Promise<void> {
  const sim = rig.stack.sim.lock(lock.deviceId);
  if (sim.snapshot().connected) sim.dropLink();
  // Connected=false reaches the plugin 20 ms after the drop (the emulator's order); give it margin.
  await sleep(60);
}

async function setUp(options: Options, resources: Resources): Promise<Rig> {
  const locks = makeLocks(HB_LOCKS + 2);
  const hbLocks = locks.slice(0, HB_LOCKS);
  const floorLocks = locks.slice(HB_LOCKS).map((l, i) => ({ ...l, name: `Floor ${i + 1}` }));
  log(`starting the RAS and ${locks.length} simulated locks (motor ${MOTOR_MS} ms)`);
  const masterKey = randomBytes(32);
  const stack = await startStack({ locks, motorMs: MOTOR_MS, rateLimits: RATE_LIMITS, masterKey });
  resources.add('stack', () => stack.stop());
  const floorUser = { identifier: `floor-${randomBytes(3).toString('hex')}@example.com`, password: 'floor horse battery staple' };
  await stack.ras.addUser(floorUser.identifier, floorUser.password);
  log('registering the locks (Tables 3/4)');
  await registerLocks(stack, await ownerClient(stack), hbLocks);
  // The floor's locks belong to another account: the plugin never connects to them.
  await registerLocks(stack, await ownerClient(stack, 'floor-cred.json', floorUser), floorLocks);
  const proxy = await startDelayProxy({ host: '127.0.0.1', port: stack.ras.port });
  resources.add('RAS proxy', () => proxy.close());
  log(`starting Homebridge ${options.homebridge}.x with the plugin`);
  const hb = await HomebridgeProcess.start({
    major: options.homebridge,
    platform: { rasUrl: proxy.url, identifier: stack.user.identifier, password: stack.user.password, idleSeconds: 20 },
    env: { DBUS_SYSTEM_BUS_ADDRESS: stack.sim.busAddress },
    nodeArgs: HB_NODE_ARGS,
  });
  resources.add('Homebridge', () => hb.stop());
  liveHb = hb;
  const inspector = await inspect(hb, 0, resources);
  await hb.waitForLog(new RegExp(`Adding lock "Door ${HB_LOCKS}"`), 30_000);
  const home = await Controller.pair(hb.port);
  resources.add('controller', () => home.close());
  const current = new Map<string, string>();
  const target = new Map<string, string>();
  const identify = new Map<string, string>();
  for (const l of hbLocks) {
    current.set(l.deviceId, (await home.find(l.deviceId, HapType.LockMechanism, HapType.LockCurrentState))!);
    target.set(l.deviceId, (await home.find(l.deviceId, HapType.LockMechanism, HapType.LockTargetState))!);
    identify.set(l.deviceId, (await home.find(l.deviceId, HapType.AccessoryInformation, HapType.Identify))!);
  }
  const eventController = await Controller.pair(hb.port, home.pairingData);
  resources.add('event controller', () => eventController.close());
  const events = await EventWatcher.watch(eventController, [...current.values()]);
  const bolt = new Map<string, number>(hbLocks.map((l) => [l.deviceId, stack.sim.lock(l.deviceId).snapshot().lockState]));
  const serial = new HapSerial();
  return { stack, proxy, hb, home, events, serial, poller: new StatePoller(home, serial), hbLocks, floorLocks, floorUser, current, target, identify, bolt, resources, masterKey, inspector };
}

/** Waits until the plugin has opened a stage-b session on every lock after log line `from`. */
async function waitAllReady(hb: HomebridgeProcess, locks: TestLock[], from: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const want = new Set(locks.map((l) => l.deviceId));
  for (;;) {
    for (const line of hb.logs.slice(from)) {
      const m = /([0-9A-F]{12}): stage-b session open/.exec(line);
      if (m) want.delete(m[1]!);
    }
    if (want.size === 0) return performance.now();
    if (hb.exitCode !== undefined) throw new Error(`Homebridge exited during start-up:\n${hb.tail()}`);
    if (performance.now() > deadline) throw new Error(`not every lock became ready in ${timeoutMs} ms (${want.size} left)`);
    await sleep(5);
  }
}

interface LatencySamples {
  warm: OpTiming[];
  cold: OpTiming[];
  floorWarm: number[];
  floorCold: number[];
  /** PUT + GET on the same accessory with no Bluetooth work: HomeKit's own share. */
  floorHap: number[];
}

/** Scenarios 1–3 under one latency profile: product and floor alternate, op by op. */
async function latencyScenarios(rig: Rig, profile: LatencyName, iterations: number, rows: ResultRow[], cpuProfileFile?: string): Promise<LatencySamples> {
  rig.stack.sim.setLatency(profile);
  rig.proxy.delayMs = RAS_DELAY_MS[profile];
  freshBatteries(rig);
  log(`scenarios 1–3 (${profile}: ${iterations} interleaved rounds)`);
  const [warmLock, coldLock] = rig.hbLocks as [TestLock, TestLock];
  const raw = new RawRas(rig.proxy.url);
  await raw.login(rig.floorUser.identifier, rig.floorUser.password);
  const floorWarm = await BareLock.open(rig.floorLocks[0]!.deviceId, raw);
  let floorCold = await BareLock.open(rig.floorLocks[1]!.deviceId, raw);
  const s: LatencySamples = { warm: [], cold: [], floorWarm: [], floorCold: [], floorHap: [] };
  const floorBolt = { warm: 0, cold: 0 };
  try {
    // Untimed: make the warm lock warm, and let the JIT see every path once.
    await makeCold(rig, warmLock);
    await productOp(rig, warmLock);
    let warmSince = performance.now();
    await floorWarm.connect();
    for (let i = 0; i < iterations; i++) {
      if (performance.now() - warmSince > WARM_REFRESH_MS) {
        await makeCold(rig, warmLock);
        await productOp(rig, warmLock);
        warmSince = performance.now();
      }
      if (Date.now() - floorWarm.openedAt > WARM_REFRESH_MS || !floorWarm.connected) {
        await floorWarm.disconnect();
        await floorWarm.connect();
      }
      s.warm.push(await productOp(rig, warmLock));

      floorBolt.warm ^= 1;
      let t0 = performance.now();
      await floorWarm.operate(floorBolt.warm ? 'unlock' : 'lock');
      s.floorWarm.push(performance.now() - t0);

      s.floorHap.push(await hapFloorOp(rig, warmLock));

      await makeCold(rig, coldLock);
      s.cold.push(await productOp(rig, coldLock));

      // node-ble adds match rules on every connect and never removes them, and the bus refuses a
      // connection's 513th: the bare path gets a fresh D-Bus connection now and then, untimed.
      if (i > 0 && i % FLOOR_RECONNECT_ROUNDS === 0) {
        await floorCold.close();
        floorCold = await BareLock.open(rig.floorLocks[1]!.deviceId, raw);
      }

      floorBolt.cold ^= 1;
      t0 = performance.now();
      await floorCold.connect();
      await floorCold.operate(floorBolt.cold ? 'unlock' : 'lock');
      s.floorCold.push(performance.now() - t0);
      await floorCold.disconnect();
      // The lock's link goes down 20 ms after the Disconnect reply; a Connect before that waits.
      await sleep(30);
    }
  } finally {
    await floorWarm.close();
    await floorCold.close();
    raw.close();
  }
  const profileRows: ResultRow[] = [];
  if (profile === 'zero') await profileWarmOps(rig, warmLock, Math.max(20, Math.min(200, iterations)), profileRows, cpuProfileFile);
  const poll = (t: OpTiming[]) => t.map((x) => x.byPoll);
  const ev = (t: OpTiming[]) => t.map((x) => x.byEvent).filter((v) => Number.isFinite(v));
  const warmP50 = percentile(poll(s.warm), 50);
  const warmFloor = percentile(s.floorWarm, 50);
  const coldP50 = percentile(poll(s.cold), 50);
  const coldFloor = percentile(s.floorCold, 50);
  const sc1 = `1 warm op (${profile})`;
  const sc2 = `2 cold op (${profile})`;
  const sc3 = `3 onSet answer (${profile})`;
  const hapFloor = percentile(s.floorHap, 50);
  rows.push(
    row({ scenario: sc1, metric: 'p50, by polling', value: warmP50, unit: 'ms', floor: warmFloor, target: 'ratio ≤ 1.2', met: warmP50 / warmFloor <= 1.2 }),
    row({ scenario: sc1, metric: 'p99, by polling', value: percentile(poll(s.warm), 99), unit: 'ms', floor: percentile(s.floorWarm, 99) }),
    row({ scenario: sc1, metric: 'p50, by event (HAP coalesces ≤ 250 ms)', value: percentile(ev(s.warm), 50), unit: 'ms', floor: warmFloor }),
    row({ scenario: sc1, metric: 'HAP floor: PUT Identify + GET, no Bluetooth, p50', value: hapFloor, unit: 'ms' }),
    row({ scenario: sc1, metric: 'p50 against BLE floor + HAP floor', value: warmP50, unit: 'ms', floor: warmFloor + hapFloor }),
    row({ scenario: sc1, metric: 'GETs until the new state showed, mean (HAP floor: 1)', value: s.warm.reduce((a, x) => a + x.gets, 0) / Math.max(1, s.warm.length), unit: 'GETs' }),
    ...profileRows,
    row({ scenario: sc2, metric: 'p50, by polling', value: coldP50, unit: 'ms', floor: coldFloor, target: 'ratio ≤ 1.3', met: coldP50 / coldFloor <= 1.3 }),
    row({ scenario: sc2, metric: 'p99, by polling', value: percentile(poll(s.cold), 99), unit: 'ms', floor: percentile(s.floorCold, 99) }),
    row({ scenario: sc2, metric: 'p50, by event (HAP coalesces ≤ 250 ms)', value: percentile(ev(s.cold), 50), unit: 'ms', floor: coldFloor }),
  );
  if (profile === 'realistic') {
    rows.push(row({ scenario: sc2, metric: 'p50 − motor time', value: coldP50 - MOTOR_MS, unit: 'ms', target: '< 500 ms + motor', met: coldP50 - MOTOR_MS < 500 }));
  }
  const onSet = [...s.warm, ...s.cold].map((x) => x.onSet);
  rows.push(
    row({ scenario: sc3, metric: 'p50', value: percentile(onSet, 50), unit: 'ms' }),
    row({ scenario: sc3, metric: 'p99', value: percentile(onSet, 99), unit: 'ms', target: '< 100 ms', met: percentile(onSet, 99) < 100 }),
  );
  return s;
}

/** Microseconds of CLOCK_MONOTONIC: the clock of V8's profile timestamps in every process. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * A CPU profile of Homebridge over warm operations (after the timed ones, so sampling costs them
 * nothing). Two views: Homebridge's CPU while an operation is in flight (HomeKit write → the GET
 * that shows the new state: what the latency is made of), and the plugin's own code over the
 * whole run, which adds what follows an operation off its path (the event report to the RAS,
 * the push it brings back).
 */
async function profileWarmOps(rig: Rig, lock: TestLock, ops: number, rows: ResultRow[], file?: string): Promise<void> {
  log(`scenario 1: CPU profile of Homebridge over ${ops} warm operations`);
  await makeCold(rig, lock);
  await productOp(rig, lock);
  await rig.inspector.startCpuProfile(100);
  const windows: [number, number][] = [];
  try {
    for (let i = 0; i < ops; i++) {
      const start = monoUs();
      const t = await productOp(rig, lock);
      windows.push([start, start + t.byPoll * 1000]);
    }
  } finally {
    const profile = await rig.inspector.stopCpuProfile();
    if (file) {
      await writeFile(file, JSON.stringify(profile));
      // The windows beside it (profile clock, µs), for a closer look at what ran in flight.
      await writeFile(`${file}.windows.json`, JSON.stringify(windows));
    }
    const n = Math.max(1, windows.length);
    const sum = (m: Map<string, number>, skip: string[] = []) => [...m.entries()].filter(([k]) => !skip.includes(k)).reduce((a, [, v]) => a + v, 0);
    const inOp = selfTimeByOwner(profile, ROOT, windows);
    const whole = selfTimeByOwner(profile, ROOT);
    const busyInOp = sum(inOp, ['(idle)']);
    const pluginInOp = inOp.get('plugin') ?? 0;
    const breakdown = (m: Map<string, number>) => [...m.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k} ${(v / n).toFixed(3)}`).join(', ');
    log(`Homebridge CPU per warm op while it is in flight (ms): ${breakdown(inOp)}; idle ${((inOp.get('(idle)') ?? 0) / n).toFixed(3)}`);
    log(`Homebridge CPU per warm op over the whole run (ms): ${breakdown(whole)}`);
    const hot = (w?: [number, number][]) => pluginHotspots(profile, ROOT, 8, w).map((h) => `${h.fn} ${(h.ms / n).toFixed(3)}`).join('; ');
    log(`the plugin's own functions while an op is in flight, heaviest (ms per op): ${hot(windows)}`);
    log(`the plugin's own functions over the whole run, heaviest (ms per op): ${hot()}`);
    const sc = '1 warm op (zero)';
    rows.push(
      row({ scenario: sc, metric: 'Homebridge CPU while the op is in flight (profile)', value: busyInOp / n, unit: 'ms' }),
      row({ scenario: sc, metric: "of which the plugin's own code", value: pluginInOp / n, unit: 'ms' }),
      row({ scenario: sc, metric: "plugin's share of the op's latency", value: (pluginInOp / windows.reduce((t, [a, b]) => t + (b - a) / 1000, 0)) * 100, unit: '%' }),
      row({ scenario: sc, metric: "plugin's own code per op incl. after it (event report, push)", value: (whole.get('plugin') ?? 0) / n, unit: 'ms' }),
    );
  }
}

/** Scenario 4: one HAP write for all 20 locks; a single-lock op of the same kind as the floor. */
async function manyLocks(rig: Rig, profile: LatencyName, rounds: number, rows: ResultRow[]): Promise<void> {
  rig.stack.sim.setLatency(profile);
  rig.proxy.delayMs = RAS_DELAY_MS[profile];
  freshBatteries(rig);
  log(`scenario 4 (${profile}: ${rounds} rounds of ${rig.hbLocks.length} locks at once, cold and warm)`);
  const lat = { cold: [] as number[], warm: [] as number[] };
  const thr = { cold: [] as number[], warm: [] as number[] };
  const single = { cold: [] as number[], warm: [] as number[] };
  for (let r = 0; r < rounds * 2; r++) {
    const kind = r % 2 === 0 ? 'cold' : 'warm';
    if (kind === 'cold') await Promise.all(rig.hbLocks.map((l) => makeCold(rig, l)));
    const values = new Map(rig.hbLocks.map((l) => [l.deviceId, rig.bolt.get(l.deviceId) === 1 ? 0 : 1]));
    const t0 = performance.now();
    await rig.serial.run(() => rig.home.client.setCharacteristics(Object.fromEntries(rig.hbLocks.map((l) => [rig.target.get(l.deviceId)!, values.get(l.deviceId)!]))));
    const done = await Promise.all(rig.hbLocks.map((l) => rig.poller.waitFor(rig.current.get(l.deviceId)!, values.get(l.deviceId), 60_000)));
    for (const l of rig.hbLocks) rig.bolt.set(l.deviceId, values.get(l.deviceId)!);
    lat[kind].push(...done.map((t) => t - t0));
    thr[kind].push((rig.hbLocks.length / (Math.max(...done) - t0)) * 1000);
    const one = rig.hbLocks[0]!;
    if (kind === 'cold') await makeCold(rig, one);
    single[kind].push((await productOp(rig, one)).byPoll);
  }
  for (const kind of ['cold', 'warm'] as const) {
    const sc = `4 ${rig.hbLocks.length} locks at once, ${kind} (${profile})`;
    rows.push(
      row({ scenario: sc, metric: 'throughput', value: percentile(thr[kind], 50), unit: 'ops/s' }),
      row({ scenario: sc, metric: 'latency per op p50', value: percentile(lat[kind], 50), unit: 'ms', floor: percentile(single[kind], 50) }),
      row({ scenario: sc, metric: 'latency per op p99', value: percentile(lat[kind], 99), unit: 'ms', floor: percentile(single[kind], 99) }),
    );
  }
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Scenario 7, then 5 on the same restarted Homebridge (idle 0: every op connects and disconnects). */
async function startUpAndSoak(rig: Rig, cycles: number, heapCensus: boolean, rows: ResultRow[]): Promise<void> {
  rig.stack.sim.setLatency('zero');
  rig.proxy.delayMs = 0;
  log(`scenario 7 (restart Homebridge with ${rig.hbLocks.length} cached locks)`);
  rig.events.cancelAll();
  await rig.home.close();
  await rig.hb.stop();
  await rig.hb.writeConfig({ rasUrl: rig.proxy.url, identifier: rig.stack.user.identifier, password: rig.stack.user.password, idleSeconds: 0 });
  // Only the plugin's first look at each lock shows readiness: no leftover links.
  for (const l of rig.hbLocks) await makeCold(rig, l);
  const from = rig.hb.logs.length;
  const t0 = performance.now();
  await rig.hb.launch();
  const hapUp = performance.now() - t0;
  const ready = (await waitAllReady(rig.hb, rig.hbLocks, from, 60_000)) - t0;
  rows.push(
    row({ scenario: '7 start-up, 20 cached locks', metric: 'Homebridge start → HAP up', value: hapUp, unit: 'ms' }),
    row({ scenario: '7 start-up, 20 cached locks', metric: 'Homebridge start → all locks ready', value: ready, unit: 'ms', floor: hapUp }),
  );
  rig.inspector.close();
  rig.inspector = await inspect(rig.hb, from, rig.resources);
  rig.home = await Controller.pair(rig.hb.port, rig.home.pairingData);
  rig.resources.add('controller (after restart)', () => rig.home.close());
  rig.serial = new HapSerial();
  rig.poller = new StatePoller(rig.home, rig.serial);
  for (const l of rig.hbLocks) rig.bolt.set(l.deviceId, rig.stack.sim.lock(l.deviceId).snapshot().lockState);

  const pid = rig.hb.pid!;
  const stats = BusStats.open(rig.stack.sim.busAddress);
  rig.resources.add('bus stats', () => { stats.close(); });
  freshBatteries(rig);
  const warmUp = Math.min(200, Math.max(rig.hbLocks.length, Math.floor(cycles / 10)));
  log(`scenario 5 (soak: ${warmUp} warm-up + ${cycles} connect → operate → disconnect cycles over ${rig.hbLocks.length} locks)`);
  const latencies: number[] = [];
  let leftOpen = 0;
  const runCycles = async (n: number, record: boolean) => {
    let left = n;
    await Promise.all(
      rig.hbLocks.map(async (lock) => {
        while (left > 0) {
          left--;
          // The plugin drops the link after the op (idle 0); wait for the link to be down so
          // that every cycle really connects.
          const until = performance.now() + 3_000;
          while (rig.stack.sim.lock(lock.deviceId).snapshot().connected && performance.now() < until) await sleep(2);
          if (rig.stack.sim.lock(lock.deviceId).snapshot().connected) {
            leftOpen++;
            log(`soak: ${lock.name}: the plugin left the link open 3 s after an operation with idle 0`);
          }
          // Polling only: the event connection belonged to the Homebridge before the restart.
          const t = await productOp(rig, lock, 30_000, false).catch(async (err: unknown) => {
            // A failed op (e.g. the lock backing off) counts as a cycle, not a crash of the bench.
            log(`soak: ${lock.name}: ${err instanceof Error ? err.message : String(err)}`);
            await sleep(100);
            return undefined;
          });
          if (record && t) latencies.push(t.byPoll);
        }
      }),
    );
  };
  const progress = setInterval(() => {
    log(`soak: ${latencies.length} cycles measured, ${rig.poller.gets} GETs, ${rig.poller.waiting} waiting`);
  }, 10_000);
  rig.resources.add('soak progress', () => { clearInterval(progress); });
  await runCycles(warmUp, false);
  // Memory is sampled at quiet checkpoints (no operation in flight) after a full GC, so what is
  // compared is what the process keeps, not garbage V8 has not collected yet.
  const checkpoints = Math.min(10, Math.max(1, Math.floor(cycles / 100)));
  const rulesBefore = await stats.matchRulesOf(pid);
  const rawRss = [await rssOf(pid)];
  const memory: { cycles: number; m: MemoryFigures }[] = [{ cycles: 0, m: await rig.inspector.memoryAfterGc() }];
  let censusFirst: HeapCensus | undefined;
  let soakMs = 0;
  for (let k = 1; k <= checkpoints; k++) {
    const n = Math.floor((cycles * k) / checkpoints) - Math.floor((cycles * (k - 1)) / checkpoints);
    const t0soak = performance.now();
    await runCycles(n, true);
    soakMs += performance.now() - t0soak;
    // Settle: the last disconnects and the plugin's 1 s event report to the RAS.
    await sleep(1_500);
    rawRss.push(await rssOf(pid));
    const m = await rig.inspector.memoryAfterGc();
    memory.push({ cycles: latencies.length, m });
    log(`soak: ${latencies.length} cycles; after GC: RSS ${m.rssMiB.toFixed(1)} MiB, heap used ${m.heapUsedMiB.toFixed(2)} MiB, external ${m.externalMiB.toFixed(2)} MiB, array buffers ${m.arrayBuffersMiB.toFixed(2)} MiB`);
    if (heapCensus && (k === 1 || k === checkpoints) && checkpoints > 1) {
      const c = await rig.inspector.heapCensus();
      if (k === 1) censusFirst = c;
      else if (censusFirst) {
        const a = censusTotal(censusFirst);
        const b = censusTotal(c);
        log(`soak heap census, ${memory[1]!.cycles} → ${latencies.length} cycles: ${a.count} → ${b.count} objects, ${(a.bytes / 2 ** 20).toFixed(2)} → ${(b.bytes / 2 ** 20).toFixed(2)} MiB; largest growth by count:`);
        for (const g of censusGrowth(censusFirst, c)) log(`  ${g.count >= 0 ? '+' : ''}${g.count}\t${g.bytes >= 0 ? '+' : ''}${g.bytes} B\t(${g.countAfter} live)\t${g.key}`);
      }
    }
  }
  clearInterval(progress);
  const rulesAfter = await stats.matchRulesOf(pid);
  const rssBefore = rawRss[0]!;
  const rssAfter = rawRss[rawRss.length - 1]!;
  const sc = `5 soak, ${cycles} cycles`;
  const growth = ((rssAfter - rssBefore) / rssBefore) * 100;
  const first = memory[0]!.m;
  const last = memory[memory.length - 1]!.m;
  const pct = (a: number, b: number) => ((b - a) / a) * 100;
  // Growth per 1,000 cycles over the second half of the checkpoints: a leak keeps its slope,
  // a heap settling to its working size does not.
  const half = memory.slice(Math.floor(memory.length / 2));
  const slope = half.length > 1 ? ((half[half.length - 1]!.m.heapUsedMiB - half[0]!.m.heapUsedMiB) / Math.max(1, half[half.length - 1]!.cycles - half[0]!.cycles)) * 1000 * 1024 : Number.NaN;
  rows.push(
    row({ scenario: sc, metric: 'D-Bus match rules before', value: rulesBefore, unit: 'rules' }),
    row({ scenario: sc, metric: 'D-Bus match rules after', value: rulesAfter, unit: 'rules', target: 'flat', met: rulesAfter <= rulesBefore }),
    row({ scenario: sc, metric: 'RSS after GC, before', value: first.rssMiB, unit: 'MiB' }),
    row({ scenario: sc, metric: 'RSS after GC, after', value: last.rssMiB, unit: 'MiB' }),
    // A heap snapshot leaves its own native memory in the process: no RSS verdict with a census.
    heapCensus
      ? row({ scenario: sc, metric: 'RSS growth after GC (heap snapshots taken: not comparable)', value: pct(first.rssMiB, last.rssMiB), unit: '%' })
      : row({ scenario: sc, metric: 'RSS growth after GC', value: pct(first.rssMiB, last.rssMiB), unit: '%', target: '< 10 %', met: pct(first.rssMiB, last.rssMiB) < 10 }),
    row({ scenario: sc, metric: 'JS heap used after GC, before', value: first.heapUsedMiB, unit: 'MiB' }),
    row({ scenario: sc, metric: 'JS heap used after GC, after', value: last.heapUsedMiB, unit: 'MiB' }),
    row({ scenario: sc, metric: 'JS heap growth after GC', value: pct(first.heapUsedMiB, last.heapUsedMiB), unit: '%', target: '< 10 %', met: pct(first.heapUsedMiB, last.heapUsedMiB) < 10 }),
    row({ scenario: sc, metric: 'JS heap slope, second half', value: slope, unit: 'KiB/1000 cycles' }),
    row({ scenario: sc, metric: 'external (incl. array buffers) after GC, before', value: first.externalMiB, unit: 'MiB' }),
    row({ scenario: sc, metric: 'external (incl. array buffers) after GC, after', value: last.externalMiB, unit: 'MiB' }),
    row({ scenario: sc, metric: 'RSS without GC, before', value: rssBefore, unit: 'MiB' }),
    row({ scenario: sc, metric: 'RSS without GC, after', value: rssAfter, unit: 'MiB' }),
    row({ scenario: sc, metric: 'RSS growth without GC (allocator high water)', value: growth, unit: '%' }),
    row({ scenario: sc, metric: 'cycles completed', value: latencies.length, unit: 'cycles', target: `${cycles}`, met: latencies.length === cycles }),
    row({ scenario: sc, metric: 'links left open after idle 0', value: leftOpen, unit: 'links', target: '0', met: leftOpen === 0 }),
    row({ scenario: sc, metric: 'cycle rate', value: (latencies.length / soakMs) * 1000, unit: 'cycles/s' }),
    row({ scenario: sc, metric: 'cycle latency p50', value: percentile(latencies, 50), unit: 'ms' }),
    row({ scenario: sc, metric: 'cycle latency p99', value: percentile(latencies, 99), unit: 'ms' }),
  );
}

/** Scenario 6: the RAS alone in its own process on the stack's database, rate limits lifted. */
async function rasScenario(rig: Rig, seconds: number, masterKeyHex: string, rows: ResultRow[], resources: Resources): Promise<void> {
  log(`scenario 6 (RAS on one core: ${seconds} s of sessions, ${seconds} s of logins)`);
  // The in-process RAS shares this process's core with the load generator: measure a separate one.
  await rig.hb.stop();
  await rig.stack.ras.close();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=igrs-source', '--import', 'tsx', path.join(ROOT, 'bench/support/ras-child.ts'), path.join(rig.stack.dir, 'ras.sqlite')],
    { env: { ...process.env, RAS_MASTER_KEY: masterKeyHex }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  resources.add('RAS child', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { reject(new Error('the RAS child did not start in 30 s')); }, 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve((JSON.parse(out.slice(0, nl)) as { url: string }).url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the RAS child exited with ${code}`));
    });
  });
  const ras = new RawRas(url);
  await ras.login(rig.stack.user.identifier, rig.stack.user.password);
  const load = async (concurrency: number, ms: number, op: () => Promise<boolean>) => {
    const latencies: number[] = [];
    let failures = 0;
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          if (await op().catch(() => false)) latencies.push(performance.now() - t);
          else failures++;
        }
      }),
    );
    return { latencies, failures, rate: (latencies.length / ms) * 1000 };
  };
  /**
   * Open loop: requests start on a fixed schedule whatever the answers do, and each latency counts
   * from its scheduled start, so a stall cannot hide behind the requests it delayed (coordinated
   * omission). This is the latency at a given rate; the closed loop above measures the capacity,
   * where 16 requests always in flight make every one queue behind the others.
   */
  const paced = async (perSecond: number, ms: number, op: () => Promise<boolean>) => {
    const latencies: number[] = [];
    let failures = 0;
    const calls: Promise<void>[] = [];
    const start = performance.now();
    for (let k = 0; k < (perSecond * ms) / 1000; k++) {
      const due = start + (k * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(wait);
      calls.push(
        op().then(
          (ok) => {
            if (ok) latencies.push(performance.now() - due);
            else failures++;
          },
          () => {
            failures++;
          },
        ),
      );
    }
    await Promise.all(calls);
    return { latencies, failures, rate: (latencies.length / (performance.now() - start)) * 1000 };
  };
  // Warm the JIT and the SQLite page cache first.
  await load(8, 500, async () => (await ras.session(rig.hbLocks[0]!.deviceId, randomBytes(16))).status === 200);
  let i = 0;
  const authorise = async () => (await ras.session(rig.hbLocks[i++ % rig.hbLocks.length]!.deviceId, randomBytes(16))).status === 200;
  const sessions = await load(16, seconds * 1000, authorise);
  const atTarget = await paced(1000, seconds * 1000, authorise);
  const logins = await load(4, seconds * 1000, async () => {
    const answer = await ras.post('/v1/auth/login', 'UserAuthentication', { identifier: rig.stack.user.identifier, password: rig.stack.user.password });
    return answer.status === 200;
  });
  ras.close();
  const p99 = percentile(atTarget.latencies, 99);
  rows.push(
    row({ scenario: '6 RAS, BsldSession (16 keep-alive clients)', metric: 'authorisations per second (capacity)', value: sessions.rate, unit: '/s', target: '≥ 1000/s', met: sessions.rate >= 1000 }),
    row({ scenario: '6 RAS, BsldSession (16 keep-alive clients)', metric: 'p50 at capacity', value: percentile(sessions.latencies, 50), unit: 'ms' }),
    row({ scenario: '6 RAS, BsldSession (16 keep-alive clients)', metric: 'p99 at capacity (queueing)', value: percentile(sessions.latencies, 99), unit: 'ms' }),
    row({ scenario: '6 RAS, BsldSession (16 keep-alive clients)', metric: 'failed calls', value: sessions.failures, unit: 'calls', target: '0', met: sessions.failures === 0 }),
    row({ scenario: '6 RAS, BsldSession at 1000/s (open loop)', metric: 'authorisations per second', value: atTarget.rate, unit: '/s' }),
    row({ scenario: '6 RAS, BsldSession at 1000/s (open loop)', metric: 'p50', value: percentile(atTarget.latencies, 50), unit: 'ms' }),
    row({ scenario: '6 RAS, BsldSession at 1000/s (open loop)', metric: 'p99', value: p99, unit: 'ms', target: '< 20 ms', met: p99 < 20 }),
    row({ scenario: '6 RAS, BsldSession at 1000/s (open loop)', metric: 'failed calls', value: atTarget.failures, unit: 'calls', target: '0', met: atTarget.failures === 0 }),
    row({ scenario: '6 RAS, UserAuthentication (4 clients)', metric: 'logins per second (scrypt-bound)', value: logins.rate, unit: '/s' }),
    row({ scenario: '6 RAS, UserAuthentication (4 clients)', metric: 'p50', value: percentile(logins.latencies, 50), unit: 'ms' }),
  );
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  return { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` };
}

async function writeDocs(rows: ResultRow[], chartSvg: string, options: Options): Promise<void> {
  const docPath = path.join(ROOT, 'docs/performance.md');
  const svgPath = path.join(ROOT, 'docs/performance-latency.svg');
  await writeFile(svgPath, chartSvg);
  const doc = await readFile(docPath, 'utf8');
  const m = machine();
  const block = [
    '<!-- bench:begin (written by `npm run bench -- --docs`; do not edit) -->',
    `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${options.quick ? 'quick' : 'full'} (${options.iterations} rounds per profile, ${options.soak} soak cycles, Homebridge ${options.homebridge}.x), on ${String(m.cpu)}, ${String(m.cores)} cores, ${String(m.memoryGiB)} GiB, Node.js ${String(m.node)}, ${String(m.platform)}; motor time ${MOTOR_MS} ms.`,
    '',
    markdownTable(rows),
    '',
    '![Cold and warm latency distributions](performance-latency.svg)',
    '<!-- bench:end -->',
  ].join('\n');
  const next = doc.replace(/<!-- bench:begin[\s\S]*?<!-- bench:end -->/, block);
  await writeFile(docPath, next);
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    console.log(HELP);
    return 0;
  }
  const resources = new Resources();
  const stopOnSignal = () => {
    log('interrupted; stopping everything');
    void resources.stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const started = performance.now();
  const rows: ResultRow[] = [row({ scenario: 'set-up', metric: 'simulated motor time', value: MOTOR_MS, unit: 'ms' })];
  const series: Series[] = [];
  const colors: Record<LatencyName, [string, string]> = { zero: ['#1f77b4', '#ff7f0e'], realistic: ['#2ca02c', '#d62728'] };
  try {
    const rig = await setUp(options, resources);
    // The plugin's first status query of each lock; measuring before it ends would race it.
    await waitAllReady(rig.hb, rig.hbLocks, 0, 60_000);
    const has = (...n: number[]) => n.some((k) => options.only.has(k));
    for (const profile of has(1, 2, 3) ? options.profiles : []) {
      const s = await latencyScenarios(rig, profile, options.iterations, rows, options.cpuProfile);
      series.push(
        { label: `warm, ${profile}`, samples: s.warm.map((x) => x.byPoll), color: colors[profile][0] },
        { label: `cold, ${profile}`, samples: s.cold.map((x) => x.byPoll), color: colors[profile][1] },
        { label: `warm floor, ${profile}`, samples: s.floorWarm, color: colors[profile][0], dashed: true },
        { label: `cold floor, ${profile}`, samples: s.floorCold, color: colors[profile][1], dashed: true },
      );
    }
    for (const profile of has(4) ? options.profiles : []) await manyLocks(rig, profile, options.quick ? 1 : 10, rows);
    if (has(5, 7)) await startUpAndSoak(rig, options.soak, options.heapCensus, rows);
    if (has(6)) await rasScenario(rig, options.rasSeconds, rig.masterKey.toString('hex'), rows, resources);
    const crashes = rig.hb.crashes();
    rows.push(row({ scenario: 'health', metric: 'unhandled rejections/exceptions in Homebridge', value: crashes.length, unit: 'lines', target: '0', met: crashes.length === 0 }));
  } catch (err) {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await resources.stopAll();
    if (options.hbLog && liveHb) await writeFile(options.hbLog, liveHb.logs.join('\n'));
    return 1;
  }
  if (options.hbLog && liveHb) await writeFile(options.hbLog, liveHb.logs.join('\n'));
  await resources.stopAll();
  const results = rows;
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
  const svg = cdfChart('HomeKit write → lock confirmed: product (solid) vs floor (dashed)', series);
  if (options.chart) await writeFile(options.chart, svg);
  if (options.docs) await writeDocs(rows, svg, options);
  console.log(formatTable(rows));
  const missed = rows.filter((r) => r.met === false).length;
  console.log(`\n${rows.length} figures, ${rows.filter((r) => r.met === true).length} targets met, ${missed} missed; ${((performance.now() - started) / 1000).toFixed(0)} s; ${path.relative(process.cwd(), options.out)}`);
  return 0;
}

process.exitCode = await main();
