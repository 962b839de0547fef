/**
 * `npm run sim -- --bluetoothd hci1 --locks locks.json`: one lock advertising on a real adapter
 * through the real bluetoothd (the VM tier, or a spare USB dongle), with commands on stdin.
 */
import { createInterface } from 'node:readline';
import path from 'node:path';
import { FileStateStore, SimLock } from '../lock/index.js';
import type { LockSpec } from '../simulator.js';
import { BluetoothdLock } from './peripheral.js';

export const BLUETOOTHD_COMMAND_HELP = `commands (one lock):
  status                   state of the lock
  press                    press the pairing button (60 s of pairing mode)
  turn [lock|unlock]       turn by hand (toggle by default); sends a status report
  door open|closed         open or close the door (locks with a door sensor)
  jam / unjam              block / free the bolt
  battery PCT              set the battery
  drop                     the lock drops every connection now
  drop-after N             drop the link after the N-th Command write of a connection
  silent on|off            the lock never answers
  relayout                 register the GATT application again with other handles
  help`;

export function runBluetoothdCommand(front: BluetoothdLock, line: string): Promise<string> | string {
  const [cmd, ...args] = line.trim().split(/\s+/).filter(Boolean);
  const lock = front.lock;
  const status = (): string => {
    const s = lock.snapshot();
    return `${s.deviceId} "${s.name}": ${['unsecured', 'secured', 'jammed', 'unknown'][s.lockState] ?? '?'}, battery ${s.battery}%, ${s.boundAccountId ? `bound to ${s.boundAccountId}` : 'unbound'}${s.pairingMode ? ', PAIRING' : ''}, ${s.connected ? `connected (stage ${s.stage ?? '-'})` : 'advertising'} on ${front.adapter}`;
  };
  switch (cmd) {
    case undefined:
      return '';
    case 'help':
      return BLUETOOTHD_COMMAND_HELP;
    case 'status':
      return status();
    case 'press':
      lock.pressButton();
      return status();
    case 'turn':
      if (args[0] !== undefined && args[0] !== 'lock' && args[0] !== 'unlock') throw new Error('turn: lock or unlock');
      lock.turn(args[0]);
      return status();
    case 'door':
      if (args[0] !== 'open' && args[0] !== 'closed') throw new Error('door: open or closed');
      lock.setDoor(args[0] === 'open');
      return status();
    case 'jam':
      lock.jam();
      return status();
    case 'unjam':
      lock.unjam();
      return status();
    case 'battery': {
      const n = Number(args[0]);
      if (!Number.isFinite(n) || n < 0) throw new Error('battery: a number, please');
      lock.setBattery(n);
      return status();
    }
    case 'drop':
      return front.dropLink().then(status);
    case 'drop-after': {
      const n = Number(args[0]);
      if (!Number.isInteger(n) || n < 1) throw new Error('drop-after: a write count, please');
      front.faults.dropAfterWrites = n;
      return status();
    }
    case 'silent':
      front.faults.silent = args[0] !== 'off';
      return status();
    case 'relayout':
      return front.relayout({ filler: true, reverse: true }).then(status);
    default:
      throw new Error(`unknown command ${cmd} (help lists them)`);
  }
}

/** Runs until SIGINT/SIGTERM or `quit`; resolves with the exit code. */
export async function runOnBluetoothd(spec: LockSpec, adapter: string, stateDir: string, log: ((line: string) => void) | undefined): Promise<number> {
  const lock = new SimLock(spec, { store: new FileStateStore(path.join(stateDir, `${spec.deviceId}.json`)) });
  if (log) lock.on('log', log);
  let front: BluetoothdLock;
  try {
    front = await BluetoothdLock.start({ lock, adapter, ...(log ? { log } : {}) });
  } catch (err) {
    lock.stop();
    throw err;
  }
  console.log(`BLUETOOTHD ${adapter} ${spec.deviceId}`);
  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (/^\s*(quit|exit)\s*$/.test(line)) {
      process.kill(process.pid, 'SIGTERM');
      return;
    }
    Promise.resolve()
      .then(() => runBluetoothdCommand(front, line))
      .then(
        (out) => {
          if (out) console.log(out);
        },
        (err: unknown) => {
          console.log(`error: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
  });
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      rl.close();
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await front.stop();
  lock.stop();
  return 0;
}
