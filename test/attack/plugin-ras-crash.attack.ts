/**
 * The RAS SIGKILLed again and again under the plugin itself: the reference RAS as an operator runs
 * it (a child process on a SQLite file, on a fixed port so the plugin finds it again) while
 *  - the whole plugin, in Homebridge 2.x, is the account's gateway and runs the remote operations
 *    the RAS pushes to it on a simulated lock, and
 *  - the plugin's RAC push stream (`pushStream` over `RasClient`, what the plugin and a phone app
 *    run) is the account's RAC stream, consuming the member changes made meanwhile.
 * Each kill lands at a random moment among member changes and remote operations. Then: no push
 * lost or handled twice; every operation run on the lock at most once (its own log and opCounter)
 * and never after its expiresAt; both streams resumed from the last seq they handled; no
 * unhandled rejection in Homebridge; `PRAGMA integrity_check` ok.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Durations } from '@igrs-smartlock/ras';
import { startSimulator, type Simulator } from '@igrs-smartlock/sim/testing';
import type { Subscription } from 'rxjs';
import { silentLogger, type Logger } from '../../src/logger.js';
import type { Push } from '../../src/protocol/index.js';
import { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import { RasError } from '../../src/rac/errors.js';
import { pushStream } from '../../src/rac/push.js';
import { HomebridgeProcess, freePort } from '../support/homebridge.js';
import { makeLocks, ownerClient, registerLocks } from '../support/stack.js';
import { KillableRas } from './support/killable-ras.js';
import { FULL, count, tally } from './support/report.js';

const SECURED = 1;
const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support/crash-recorder.cjs');
const GATEWAY_CONNECTED = /Push channel to the RAS connected \(gateway\); resuming after seq (\d+)/;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** How often each operationId occurs in lines matching `pattern` (its group 1). */
function perOperation(lines: string[], pattern: RegExp): Map<number, number> {
  const seen = new Map<number, number>();
  for (const l of lines) {
    const m = pattern.exec(l);
    if (m) seen.set(Number(m[1]), (seen.get(Number(m[1])) ?? 0) + 1);
  }
  return seen;
}

describe('faults: the RAS SIGKILLed under the plugin (Homebridge 2.x gateway, the plugin\'s RAC push stream)', function () {
  this.timeout(900_000);
  const dir = mkdtempSync(path.join(tmpdir(), 'igrs-attack-plugin-ras-'));
  const [lock] = makeLocks(1) as [ReturnType<typeof makeLocks>[0]];
  const user = { identifier: 'owner@example.com', password: 'correct horse battery staple' };
  const member = { identifier: 'member@example.com', password: 'correct horse battery staple' };
  const crashFile = path.join(dir, 'crashes.jsonl');
  /** The lock's own log, timed: "unlocking (operation N)" is the bolt starting to move for N. */
  const lockLog: { at: number; line: string }[] = [];
  let ras: KillableRas;
  let sim: Simulator;
  let hb: HomebridgeProcess;
  let owner: RasClient;
  let racSub: Subscription | undefined;

  // What the plugin's RAC push stream handled, and where it said it resumed.
  const received: Push[] = [];
  const resumes: { from: number; lastHandled: number }[] = [];
  const racLog: Logger = {
    ...silentLogger,
    info: (m) => {
      const r = /resuming after seq (\d+)/.exec(m);
      if (r) resumes.push({ from: Number(r[1]), lastHandled: received.at(-1)?.seq ?? 0 });
    },
  };

  before(async function () {
    this.timeout(120_000);
    sim = await startSimulator({
      locks: [{ ...lock, motorMs: 50 }],
      latency: 'zero',
      stateDir: path.join(dir, 'locks'),
      log: (line) => lockLog.push({ at: Date.now(), line }),
    });
    ras = new KillableRas(dir, { adminToken: 'admin-token-attack-suite-0123456789', port: await freePort(), logLevel: 'info' });
    const factory = path.join(dir, 'factory.json');
    writeFileSync(factory, JSON.stringify([{ deviceId: lock.deviceId, deviceKey: lock.deviceKey, setupCode: lock.setupCode, model: 'SIM-1' }]));
    assert.equal(ras.cli(['provision', '--db', ras.db, '--file', factory]).status, 0);
    for (const u of [user, member]) assert.equal(ras.cli(['users', 'add', '--db', ras.db, '--identifier', u.identifier, '--password', u.password]).status, 0);
    const { url } = await ras.start();
    owner = await ownerClient({ dir, ras: { url }, user });
    await registerLocks({ sim }, owner, [lock]);
    hb = await HomebridgeProcess.start({
      major: 2,
      platform: { rasUrl: url, identifier: user.identifier, password: user.password, idleSeconds: 20 },
      env: { DBUS_SYSTEM_BUS_ADDRESS: sim.busAddress, NODE_OPTIONS: `--require=${PRELOAD}`, IGRS_CRASH_FILE: crashFile },
    });
    await hb.waitForLog(/Adding lock "Door 1"/, 20_000);
    await hb.waitForLog(GATEWAY_CONNECTED, 30_000);
    const store = await CredentialStore.open(path.join(dir, 'rac-cred.json'), url);
    const rac = new RasClient({ baseUrl: url, store, login: user, log: silentLogger });
    racSub = pushStream({ client: rac, store, log: racLog }).subscribe((p) => received.push(p));
    await until('the RAC push stream connects', () => resumes.length > 0, 30_000);
  });

  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- a failed before() leaves these unset */
  HomebridgeProcess.printLogOnFailure(() => hb);
  after(async () => {
    racSub?.unsubscribe();
    await hb?.stop();
    await ras?.stop();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  /** Starts the RAS; resolves once the plugin's gateway stream and the RAC stream are back. */
  async function restart(): Promise<number> {
    const from = hb.logs.length;
    const racFrom = resumes.length;
    await ras.start();
    const up = performance.now();
    await hb.waitForLog(GATEWAY_CONNECTED, 120_000, from);
    await until('the RAC push stream reconnects', () => resumes.length > racFrom, 120_000);
    return performance.now() - up;
  }

  it('SIGKILL during remote operations and pushes: nothing lost, nothing run twice or late, resumed, integrity_check ok', async () => {
    const rounds = count(8, 100);
    const kills = tally('RAS SIGKILLed under the plugin (Homebridge 2.x gateway + pushStream RAC)', `${rounds} kills`);
    const racFig = tally('  RAC push stream (pushStream): member changes lost / handled twice');
    const opFig = tally('  gateway: pushed operations lost / run twice / run after expiresAt');
    const resumeFig = tally('  push streams resumed from other than their last handled seq');
    const opCounterFrom = sim.lock(lock.deviceId).snapshot().opCounter;
    /** Every operation whose id the test got back, with the latest its expiresAt can be. */
    const operations = new Map<number, { expiresBy: number }>();
    const committed = new Set<number>();
    let marker = 2_000_000_000;
    const recoveries: number[] = [];
    /** After the long outage: by then the plugin's reconnect backoff has grown (1 s doubling). */
    let afterOutage: number | undefined;
    const outageRound = FULL ? rounds >> 1 : -1;
    /** An operation created and not yet final: a kill now cuts it somewhere on its way. */
    const operation = { inFlight: false };
    let cutOperations = 0;

    /** Remote operations one after another, each flipping the bolt, until the kill. */
    const runOperations = async (killed: () => boolean): Promise<void> => {
      operation.inFlight = false;
      while (!killed()) {
        const op = sim.lock(lock.deviceId).snapshot().lockState === SECURED ? 'unlock' : 'lock';
        let operationId: number;
        try {
          ({ operationId } = await owner.call('Operation', { params: { deviceId: lock.deviceId }, body: { op } }));
        } catch (err) {
          // 426: the gateway's stream is not attached yet; 429: the account's operation budget.
          if (err instanceof RasError && (err.status === 426 || err.status === 429)) {
            await sleep(200);
            continue;
          }
          return; // the RAS died mid-call: the operation may exist; the lock's log still counts it
        }
        operations.set(operationId, { expiresBy: (Math.floor(Date.now() / 1000) + Durations.operationSeconds) * 1000 });
        operation.inFlight = true;
        try {
          await owner.call('OperationQuery', { params: { operationId }, query: { wait: 25 } }, { timeoutMs: 30_000 });
          operation.inFlight = false;
        } catch {
          return;
        }
      }
    };
    /** Member changes as fast as the RAS answers (paced a little: the plugin rediscovers on each). */
    const changeMembers = async (killed: () => boolean): Promise<void> => {
      while (!killed()) {
        const m = marker++;
        try {
          await owner.call('MemberAddition', { params: { deviceId: lock.deviceId }, body: { identifier: member.identifier, validUntil: m } });
          committed.add(m);
        } catch {
          return; // the RAS died mid-call: that change may or may not have been committed
        }
        await sleep(25);
      }
    };

    for (let round = 0; round < rounds; round++) {
      if (round > 0) {
        const ms = await restart();
        if (round === outageRound + 1) afterOutage = ms;
        else recoveries.push(ms);
      }
      let killed = false;
      const traffic = Promise.all([runOperations(() => killed), changeMembers(() => killed)]);
      await sleep(150 + Math.random() * 1_500);
      killed = true;
      kills.attempts++;
      if (operation.inFlight) cutOperations++;
      await ras.kill();
      await traffic;
      // Once in the full run the RAS stays down past every expiresAt: what was pending goes stale.
      if (round === outageRound) await sleep((Durations.operationSeconds + 2) * 1000);
    }
    recoveries.push(await restart());

    // One last operation replaces any left pending by a kill (the RAS keeps one per lock), so
    // every earlier one is final; then the RAC stream gets whatever the outbox still holds.
    const op = sim.lock(lock.deviceId).snapshot().lockState === SECURED ? 'unlock' : 'lock';
    let last: number | undefined;
    for (let tries = 0; last === undefined; tries++) {
      try {
        ({ operationId: last } = await owner.call('Operation', { params: { deviceId: lock.deviceId }, body: { op } }));
      } catch (err) {
        if (tries > 50 || !(err instanceof RasError) || (err.status !== 426 && err.status !== 429)) throw err;
        await sleep(err.status === 429 ? (err.details.retryAfter ?? 1) * 1000 : 200);
      }
    }
    operations.set(last, { expiresBy: (Math.floor(Date.now() / 1000) + Durations.operationSeconds) * 1000 });
    const closing = await owner.call('OperationQuery', { params: { operationId: last }, query: { wait: 25 } }, { timeoutMs: 30_000 });
    assert.equal(closing.state, 'done', 'an operation after the kills runs');
    const markerOf = (p: Push): number | undefined => (p.event === 'member.changed' && typeof p.body.validUntil === 'number' ? p.body.validUntil : undefined);
    await until('every committed member change reaches the RAC stream', () => [...committed].every((m) => received.some((p) => markerOf(p) === m)), 30_000).catch(() => undefined);

    const finalState = new Map<number, string>();
    const readFinalStates = async () => {
      for (const id of operations.keys()) {
        try {
          finalState.set(id, (await owner.call('OperationQuery', { params: { operationId: id } })).state);
        } catch (err) {
          if (!(err instanceof RasError) || err.status !== 409) throw err;
          finalState.set(id, 'replaced');
        }
      }
    };
    // A kill can cut the report of a bolt that moved; the plugin keeps the lock's frames and sends
    // them again (its result outbox, at most a minute apart), and the RAS records them late.
    const movedBolt = () => perOperation(lockLog.map((l) => l.line), /\b(?:un)?locking \(operation (\d+)\)/);
    const unlearned = () => [...movedBolt().keys()].filter((id) => finalState.has(id) && finalState.get(id) !== 'done' && finalState.get(id) !== 'replaced');
    const learnDeadline = Date.now() + 90_000;
    await readFinalStates();
    while (unlearned().length && Date.now() < learnDeadline) {
      await sleep(1_000);
      await readFinalStates();
    }
    const states = new Map<string, number>();
    for (const s of finalState.values()) states.set(s, (states.get(s) ?? 0) + 1);

    // The RAC stream: every committed change once, seqs strictly rising, resumed where it was.
    const seqs = received.map((p) => p.seq);
    const seqRepeats = seqs.filter((s, i) => i > 0 && s <= seqs[i - 1]!).length;
    const markers = new Map<number, number>();
    for (const m of received.map(markerOf)) if (m !== undefined) markers.set(m, (markers.get(m) ?? 0) + 1);
    const lost = [...committed].filter((m) => !markers.has(m));
    const twice = [...markers.values()].filter((n) => n > 1).length + seqRepeats;
    racFig.attempts = committed.size;
    racFig.accepted = lost.length + twice;
    racFig.note = `sent ${committed.size} member changes; received ${received.length} pushes (${markers.size} member changes); duplicates ${twice}; lost ${lost.length}`;

    // The gateway: its commands as Homebridge logged them, the bolt as the lock logged it.
    const requested = perOperation(hb.logs, /requested through the RAS \(operation (\d+)\)/);
    const ran = perOperation(lockLog.map((l) => l.line), /\b(?:un)?locking \(operation (\d+)\)/);
    const late = lockLog.filter((l) => {
      const m = /\b(?:un)?locking \(operation (\d+)\)/.exec(l.line);
      const known = m ? operations.get(Number(m[1])) : undefined;
      // The gateway checks expiresAt right before Table 7; the lock logs on its arrival.
      return known !== undefined && l.at >= known.expiresBy + 1_000;
    }).length;
    const ranTwice = [...ran.values()].filter((n) => n > 1).length;
    const requestedTwice = [...requested.values()].filter((n) => n > 1).length;
    // A command whose operation was not replaced by a newer one must have reached the gateway.
    const commandsLost = [...operations.keys()].filter((id) => !requested.has(id) && finalState.get(id) !== 'replaced');
    const opCounterDelta = sim.lock(lock.deviceId).snapshot().opCounter - opCounterFrom;
    const bolts = [...ran.values()].reduce((a, b) => a + b, 0);
    // The bolt moved but the RAS does not record the operation as done: only a newer operation
    // replacing it (its report is then refused with 409) may leave it so.
    const unconfirmed = [...ran.keys()].filter((id) => finalState.has(id) && finalState.get(id) !== 'done').length;
    const lateReports = hb.logs.filter((l) => /the RAS took the lock's result late/.test(l)).length;
    opFig.attempts = operations.size;
    opFig.accepted = commandsLost.length + ranTwice + requestedTwice + late + (opCounterDelta === bolts ? 0 : 1) + unlearned().length;
    opFig.note =
      `${[...states].map(([s, n]) => `${n} ${s}`).join(', ')}; commands received ${requested.size}, twice ${requestedTwice}; ` +
      `bolt moved ${bolts}× (opCounter +${opCounterDelta}; ${unconfirmed} of them for operations the RAS did not record as done, ${unlearned().length} not replaced; ${lateReports} results the RAS took late), twice for one operation ${ranTwice}, late ${late}`;

    // Both streams resume where they stopped: the RAC stream at exactly its last handled seq,
    // the gateway's (seen only through Homebridge's log) never behind where it resumed before.
    const gatewayResumes = hb.logs.map((l) => GATEWAY_CONNECTED.exec(l)).filter((m) => m !== null).map((m) => Number(m[1]));
    const backwards = gatewayResumes.filter((s, i) => i > 0 && s < gatewayResumes[i - 1]!).length;
    const wrongResumes = resumes.filter((r) => r.from !== r.lastHandled).length;
    resumeFig.attempts = resumes.length + gatewayResumes.length;
    resumeFig.accepted = wrongResumes + backwards;
    resumeFig.note = `${resumes.length} RAC resumes, ${gatewayResumes.length} gateway resumes (seq ${gatewayResumes[0]} → ${gatewayResumes.at(-1)})`;

    const crashes = existsSync(crashFile) ? readFileSync(crashFile, 'utf8').trim().split('\n').filter(Boolean) : [];
    kills.accepted = crashes.length + hb.crashes().length;
    const sorted = [...recoveries].sort((a, b) => a - b);
    kills.recoveredMs = sorted.at(-1) ?? 0;
    kills.note = `${rounds} kills, ${cutOperations} of them with an operation in flight; recovered-in-ms: worst RAS-listening-to-both-push-streams-back (median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0)})${afterOutage === undefined ? '' : `, after the one outage past expiresAt ${Math.round(afterOutage)}`}; accepted = Homebridge crashes`;

    assert.deepEqual(crashes, [], 'no unhandled rejection or uncaught exception in Homebridge');
    assert.deepEqual(hb.crashes(), []);
    assert.deepEqual(lost, [], 'every committed member change reached the RAC stream');
    assert.equal(twice, 0, 'no push handled twice by the RAC stream');
    assert.equal(wrongResumes, 0, 'the RAC stream resumed after its last handled seq');
    assert.equal(backwards, 0, 'the gateway never resumed behind where it was');
    assert.equal(requestedTwice, 0, 'no command handled twice by the plugin');
    assert.equal(ranTwice, 0, 'no operation moved the bolt twice');
    assert.equal(late, 0, 'no operation ran after its expiresAt');
    assert.deepEqual(unlearned(), [], 'the RAS learned the result of every operation that moved the bolt and was not replaced');
    assert.equal(opCounterDelta, bolts, 'every movement of the bolt was one of the logged operations');
    assert.deepEqual(commandsLost, [], 'the command of every operation not replaced reached the gateway');
    assert.ok(committed.size > rounds && cutOperations >= rounds / 2, 'the kills landed among real traffic');

    // Integrity after the kills: the RAS stops so the check sees the file alone.
    await ras.kill();
    const integ = tally('SQLite PRAGMA integrity_check after the kills under the plugin');
    const integrity = ras.integrity();
    integ.attempts = 1;
    integ.accepted = integrity === 'ok' ? 0 : 1;
    assert.equal(integrity, 'ok');
  });
});
