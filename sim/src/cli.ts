/**
 * `npm run sim -- …`: runs the bus, the BlueZ emulator and the locks for development, takes
 * commands on stdin and on a control socket, and writes the RAS's factory list.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { COMMAND_HELP, defaultControlPath, parseLatency, runCommand, sendControl, serveControl } from './control.js';
import { factoryList, readLocks, writeFactoryList } from './locks-file.js';
import { Simulator } from './simulator.js';
import { BLUETOOTHD_COMMAND_HELP, runOnBluetoothd } from './bluetoothd/run.js';

const HELP = `igrs-smartlock BSLD simulator: simulated locks behind a BlueZ emulator on a private D-Bus bus

usage:
  npm run sim -- --locks locks.json [options]    run it; prints DBUS_SYSTEM_BUS_ADDRESS=… when ready
  npm run sim -- ctl <command …>                 send a command to a running simulator
  npm run sim -- factory --locks locks.json [--out FILE]
                                                 the factory list for the RAS's provision command

options:
  --locks FILE        JSON array of {deviceId, deviceKey (hex), setupCode, name, model?, doorSensor?,
                      pairingMode?} (pairingMode true = the button was just pressed); optional per lock:
                      motorMs, autoLockMs, battery, batteryDrainPerOp, rssi, companyId
  --latency L         zero (default), realistic (connect 150 ms, 30 ms per GATT call) or C,G in ms
  --state-dir DIR     where each lock keeps its state (default ./sim-data)
  --adapters A[,A]    adapter addresses, hci0 first (default 00:1A:7D:DA:71:01)
  --control PATH      control socket (default ${defaultControlPath()})
  --factory FILE      also write the factory list when starting
  --unreachable-ms N  how long a Connect to an absent or refusing lock takes to fail (default 2000)
  --bluetoothd HCI    no emulator: the one lock in --locks advertises on adapter HCI through the
                      real bluetoothd on the system bus (its deviceId must be that adapter's address);
                      prints BLUETOOTHD HCI DEVICEID when ready
  --quiet             no lock log on stderr
  -h, --help

Point node-ble (or anything on dbus-next) at the bus with the printed line:
  export DBUS_SYSTEM_BUS_ADDRESS=…

${COMMAND_HELP}

with --bluetoothd, ${BLUETOOTHD_COMMAND_HELP}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      locks: { type: 'string' },
      latency: { type: 'string' },
      'state-dir': { type: 'string' },
      adapters: { type: 'string' },
      control: { type: 'string' },
      factory: { type: 'string' },
      out: { type: 'string' },
      'unreachable-ms': { type: 'string' },
      quiet: { type: 'boolean' },
      bluetoothd: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const control = values.control ?? defaultControlPath();
  const sub = positionals[0];

  if (sub === 'ctl') {
    const line = positionals.slice(1).join(' ');
    if (!line) {
      console.error('ctl: which command? (npm run sim -- ctl help)');
      return 2;
    }
    const answer = await sendControl(control, line);
    process.stdout.write(answer);
    return answer.startsWith('error:') ? 1 : 0;
  }

  if (!values.locks) {
    console.error('--locks FILE is required (see --help)');
    return 2;
  }
  const locks = readLocks(values.locks);

  if (sub === 'factory') {
    if (values.out) writeFactoryList(values.out, locks);
    else console.log(JSON.stringify(factoryList(locks), null, 2));
    return 0;
  }
  if (sub !== undefined) {
    console.error(`unknown subcommand ${sub} (see --help)`);
    return 2;
  }

  const log = values.quiet ? undefined : (line: string): void => { console.error(line); };
  if (values.bluetoothd) {
    if (locks.length !== 1) {
      console.error(`--bluetoothd runs one lock per adapter; ${values.locks} has ${locks.length}`);
      return 2;
    }
    return runOnBluetoothd(locks[0]!, values.bluetoothd, values['state-dir'] ?? 'sim-data', log);
  }
  const sim = await Simulator.start({
    locks,
    latency: values.latency ? parseLatency(values.latency) : 'zero',
    stateDir: values['state-dir'] ?? 'sim-data',
    ...(values.adapters ? { adapters: values.adapters.split(',').map((address, i) => ({ id: `hci${i}`, address: address.trim() })) } : {}),
    ...(values['unreachable-ms'] ? { unreachableConnectMs: Number(values['unreachable-ms']) } : {}),
    ...(log ? { log } : {}),
  });
  let server: Awaited<ReturnType<typeof serveControl>> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      server?.close();
      await sim.stop();
    })());
  try {
    server = await serveControl(sim, control);
  } catch (err) {
    await stop();
    throw err;
  }
  if (values.factory) writeFactoryList(values.factory, locks);

  console.log(`DBUS_SYSTEM_BUS_ADDRESS=${sim.busAddress}`);
  if (log) {
    log(`simulator: ${locks.length} lock(s) on ${sim.emulator.adapters.map((a) => `${a.id} ${a.Address}`).join(', ')}; control socket ${control}`);
    for (const l of sim.locks) log(runCommand(sim, `status ${l.deviceId}`));
  }

  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (/^\s*(quit|exit)\s*$/.test(line)) {
      process.kill(process.pid, 'SIGTERM');
      return;
    }
    try {
      const out = runCommand(sim, line);
      if (out) console.log(out);
    } catch (err) {
      console.log(`error: ${err instanceof Error ? err.message : String(err)}`);
    }
  });

  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      log?.(`simulator: ${sig}, stopping`);
      rl.close();
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`sim: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
