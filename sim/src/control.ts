/**
 * The simulator's hands: one command language, read from the CLI's stdin and from a Unix
 * control socket (so `npm run sim -- ctl …` works from a second terminal).
 */
import { createConnection, createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Simulator, SimulatedLock } from './simulator.js';
import { parseDropStep, type LatencyName, type LatencyProfile } from './bluez/faults.js';

export const COMMAND_HELP = `commands ([id] may be left out when there is one lock; it is a deviceId or a name):
  status [id]                      state of every lock, or one
  press [id]                       press the pairing button (60 s of pairing mode)
  turn [id] [lock|unlock]          turn by hand (toggle by default); sends a status report
  door [id] open|closed            open or close the door (locks with a door sensor)
  jam [id] / unjam [id]            block / free the bolt
  battery [id] PCT                 set the battery
  out-of-range [id] / back [id]    take the lock out of radio range / bring it back
  fail-connect [id] [failed|in-progress] [N]   the next N connects fail
  drop [id]                        drop the live link now
  drop-after [id] N                drop the link after the N-th Command write of a connection
  drop-at [id] STEP                drop the link of the next connection at STEP: connect, connected,
                                   services-resolved, start-notify, read-challenge, write:N,
                                   notify:N (before the N-th notification), notified:N, disconnect
  silent [id] [on|off]             the lock never answers
  lock-latency [id] CONNECT_MS GATT_MS   extra latency for this lock
  latency zero|realistic|CONNECT_MS,GATT_MS   global latency profile
  adapter-remove [hciN]            unplug an adapter (hci0 by default): links drop, objects removed
  adapter-return [hciN] [unpowered]   plug the last removed adapter back (as hciN; powered unless told)
  clear [id]                       clear injected faults and backoff
  restart [id]                     power-cycle the lock (keeps its persisted state)
  help`;

export function defaultControlPath(): string {
  const dir = process.env.XDG_RUNTIME_DIR ?? tmpdir();
  return path.join(dir, `igrs-sim-${process.getuid?.() ?? 'user'}.sock`);
}

export function parseLatency(text: string): LatencyName | LatencyProfile {
  if (text === 'zero' || text === 'realistic') return text;
  const m = /^(\d+),(\d+)$/.exec(text);
  if (!m) throw new Error(`latency must be zero, realistic or CONNECT_MS,GATT_MS (got ${text})`);
  return { connectMs: Number(m[1]), gattMs: Number(m[2]) };
}

function describeLock(l: SimulatedLock): string {
  const s = l.snapshot();
  const f = l.faults;
  const lockState = ['unsecured', 'secured', 'jammed', 'unknown'][s.lockState] ?? '?';
  const door = s.doorState === 0xff ? 'no sensor' : s.doorState === 1 ? 'open' : 'closed';
  const faults = [
    f.outOfRange && 'out-of-range',
    f.silent && 'silent',
    f.connectFailures.length > 0 && `fail-connect×${f.connectFailures.length}`,
    f.dropAt !== undefined && `drop-at ${f.dropAt}`,
    (f.extraConnectMs > 0 || f.extraGattMs > 0) && `latency +${f.extraConnectMs}/${f.extraGattMs} ms`,
    s.blocked && 'bolt blocked',
    s.backoffMs > 0 && `backoff ${Math.ceil(s.backoffMs / 1000)} s`,
  ].filter(Boolean);
  return (
    `${s.deviceId} "${s.name}": ${lockState}, door ${door}, battery ${s.battery}%, ` +
    `${s.boundAccountId ? `bound to ${s.boundAccountId}` : 'unbound'}${s.pairingMode ? ', PAIRING' : ''}, ` +
    `${s.connected ? `connected (stage ${s.stage ?? '-'})` : 'advertising'}, counter ${s.stateCounter}, ops ${s.opCounter}, boot ${s.bootId}` +
    (faults.length ? ` [${faults.join(', ')}]` : '')
  );
}

/** Runs one command line against the simulator; returns what to print, throws on a bad command. */
export function runCommand(sim: Simulator, line: string): string {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const cmd = words.shift()?.toLowerCase();
  if (!cmd) return '';
  const pick = (): SimulatedLock => {
    // Names may hold spaces: take the longest run of words that names a lock.
    for (let k = words.length; k >= 1; k--) {
      const want = words.slice(0, k).join(' ').toLowerCase();
      const found = sim.locks.find((l) => l.deviceId.toLowerCase() === want || l.core.name.toLowerCase() === want);
      if (found) {
        words.splice(0, k);
        return found;
      }
    }
    if (sim.locks.length === 1) return sim.locks[0]!;
    throw new Error(`which lock? one of ${sim.locks.map((l) => l.deviceId).join(', ')}`);
  };
  const num = (what: string): number => {
    const w = words.shift();
    const n = Number(w);
    if (w === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${what}: a number, please`);
    return n;
  };
  switch (cmd) {
    case 'help':
      return COMMAND_HELP;
    case 'status':
      if (words.length === 0) return sim.locks.map(describeLock).join('\n');
      return describeLock(pick());
    case 'press': {
      const l = pick();
      l.press();
      return `${l.deviceId}: pairing mode for 60 s`;
    }
    case 'turn': {
      const l = pick();
      const to = words.shift();
      if (to !== undefined && to !== 'lock' && to !== 'unlock') throw new Error('turn: lock or unlock');
      l.turn(to);
      return describeLock(l);
    }
    case 'door': {
      const l = pick();
      const state = words.shift();
      if (state !== 'open' && state !== 'closed') throw new Error('door: open or closed');
      if (!l.core.doorSensor) throw new Error(`${l.deviceId} has no door sensor`);
      l.door(state === 'open');
      return describeLock(l);
    }
    case 'jam':
    case 'unjam': {
      const l = pick();
      if (cmd === 'jam') l.jam();
      else l.unjam();
      return describeLock(l);
    }
    case 'battery': {
      const l = pick();
      l.setBattery(num('battery'));
      return describeLock(l);
    }
    case 'out-of-range':
    case 'back': {
      const l = pick();
      if (cmd === 'back') l.back();
      else l.outOfRange();
      return describeLock(l);
    }
    case 'fail-connect': {
      const l = pick();
      const kind = words[0] === 'failed' || words[0] === 'in-progress' ? words.shift() : 'failed';
      const times = words.length ? num('N') : 1;
      l.failConnect(kind as 'failed' | 'in-progress', times);
      return describeLock(l);
    }
    case 'drop': {
      const l = pick();
      l.dropLink();
      return describeLock(l);
    }
    case 'drop-after': {
      const l = pick();
      l.dropAfterWrites(num('N'));
      return describeLock(l);
    }
    case 'drop-at': {
      const l = pick();
      const step = words.shift();
      if (!step) throw new Error('drop-at: a step, please');
      l.dropAt(parseDropStep(step));
      return describeLock(l);
    }
    case 'adapter-remove': {
      const id = words.shift() ?? 'hci0';
      sim.removeAdapter(id);
      return `${id} removed`;
    }
    case 'adapter-return': {
      const id = words[0] && words[0] !== 'unpowered' ? words.shift() : undefined;
      const powered = words.shift() !== 'unpowered';
      sim.returnAdapter({ ...(id ? { id } : {}), powered });
      return `adapter back${id ? ` as ${id}` : ''}${powered ? '' : ' (powered off)'}`;
    }
    case 'silent': {
      const l = pick();
      const on = words.shift() ?? 'on';
      l.silent(on !== 'off');
      return describeLock(l);
    }
    case 'lock-latency': {
      const l = pick();
      l.latency({ connectMs: num('CONNECT_MS'), gattMs: num('GATT_MS') });
      return describeLock(l);
    }
    case 'latency': {
      const spec = words.shift();
      if (!spec) throw new Error('latency: zero, realistic or CONNECT_MS,GATT_MS');
      sim.setLatency(parseLatency(spec));
      return `latency ${spec}`;
    }
    case 'clear': {
      const l = pick();
      l.clearFaults();
      l.clearBackoff();
      return describeLock(l);
    }
    case 'restart': {
      const l = pick();
      l.restart();
      return describeLock(l);
    }
    default:
      throw new Error(`unknown command ${cmd} (try help)`);
  }
}

/** Serves one command per connection: a line in, the answer out. */
export async function serveControl(sim: Simulator, socketPath: string): Promise<Server> {
  // A stale socket from a killed run would make listen fail; a live one is refused below.
  if (await controlAlive(socketPath)) throw new Error(`another simulator is listening on ${socketPath}`);
  rmSync(socketPath, { force: true });
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let out: string;
      try {
        out = runCommand(sim, buf.slice(0, nl)) + '\n';
      } catch (err) {
        out = `error: ${err instanceof Error ? err.message : String(err)}\n`;
      }
      sock.end(out);
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function controlAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
  });
}

/** Sends one command to a running simulator and returns its answer. */
export function sendControl(socketPath: string, line: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socketPath);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${socketPath}`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(line + '\n'));
    s.on('data', (chunk: string) => (out += chunk));
    s.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`no simulator at ${socketPath}: ${err.message}`));
    });
  });
}
