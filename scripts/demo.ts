/**
 * `npm start`: the whole product on this machine in one command. A reference RAS with an
 * embedded database, two simulated locks behind the BlueZ emulator (provisioned and registered
 * to a demo account), and Homebridge with this plugin, ready to add to the Home app.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { startRas } from '@igrs-smartlock/ras';
import { COMMAND_HELP, defaultControlPath, runCommand, serveControl, startSimulator } from '@igrs-smartlock/sim';
import { BluezGateway } from '../src/bgw/bluez.js';
import { registerBsld } from '../src/bgw/registration.js';
import { silentLogger } from '../src/logger.js';
import { RasClient } from '../src/rac/client.js';
import { CredentialStore } from '../src/rac/credentials.js';

const HELP = `npm start [-- options]: run the RAS, two simulated locks and Homebridge with this plugin.

  --port N        Homebridge's HAP port (default 51826)
  --ras-port N    the RAS's port (default 8480)
  --storage DIR   where the demo keeps its state (default ./.demo); delete it to start over
  --help          this text

Then add the bridge in the Home app (same network) with the setup code printed below.
While it runs, type simulator commands here (e.g. "turn Front door", "jam Back door"),
or from another terminal: npm run sim -- ctl <command>. Remote operations through the RAS:
  npm run rac -- --ras http://127.0.0.1:8480 --identifier demo@example.com --password <printed> unlock <deviceId>`;

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const PIN = '031-45-154';

interface DemoState {
  password: string;
  masterKey: string;
  locks: { deviceId: string; deviceKey: string; setupCode: string; name: string; doorSensor: boolean }[];
}

async function loadState(storage: string): Promise<DemoState> {
  const file = path.join(storage, 'demo.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as DemoState;
  const state: DemoState = {
    password: `demo-${randomBytes(6).toString('hex')}`,
    masterKey: randomBytes(32).toString('hex'),
    locks: [
      { deviceId: 'A4C138F0E1D2', deviceKey: randomBytes(16).toString('hex'), setupCode: '20240611', name: 'Front door', doorSensor: true },
      { deviceId: 'A4C138F0E1D3', deviceKey: randomBytes(16).toString('hex'), setupCode: '20240612', name: 'Back door', doorSensor: false },
    ],
  };
  await writeFile(file, JSON.stringify(state, null, 2), { mode: 0o600 });
  return state;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '51826' }, 'ras-port': { type: 'string', default: '8480' }, storage: { type: 'string', default: '.demo' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const storage = path.resolve(values.storage);
  await mkdir(storage, { recursive: true, mode: 0o700 });
  const state = await loadState(storage);
  const identifier = 'demo@example.com';

  const ras = await startRas({ dbPath: path.join(storage, 'ras.sqlite'), port: Number(values['ras-port']), masterKey: state.masterKey, logger: false });
  console.log(`RAS listening at ${ras.url}`);
  await ras.provision(state.locks.map((l) => ({ deviceId: l.deviceId, deviceKey: l.deviceKey, setupCode: l.setupCode, model: 'SIM-1' })));
  await ras.addUser(identifier, state.password).catch(() => undefined);

  const sim = await startSimulator({ locks: state.locks.map((l) => ({ ...l, pairingMode: true })), stateDir: path.join(storage, 'locks') });
  process.env.DBUS_SYSTEM_BUS_ADDRESS = sim.busAddress;
  const control = await serveControl(sim, defaultControlPath());
  console.log(`Simulated locks on a private D-Bus bus: DBUS_SYSTEM_BUS_ADDRESS=${sim.busAddress}`);

  // Register the demo locks to the demo account once, through the real stage-a exchange.
  const store = await CredentialStore.open(path.join(storage, 'demo-rac.json'), ras.url);
  const rac = new RasClient({ baseUrl: ras.url, store, login: { identifier, password: state.password }, log: silentLogger });
  const { bslds } = await rac.call('BsldDiscovery');
  const missing = state.locks.filter((l) => !bslds.some((b) => b.deviceId === l.deviceId));
  if (missing.length) {
    const bluez = await BluezGateway.open({ log: silentLogger });
    const seen = new Set<string>();
    const sub = bluez.sightings$.subscribe((s) => seen.add(s.deviceId));
    await bluez.startScanning();
    while (!missing.every((l) => seen.has(l.deviceId))) await new Promise((r) => setTimeout(r, 100));
    sub.unsubscribe();
    for (const lock of missing) {
      await registerBsld(bluez.link(lock.deviceId), rac, { name: lock.name, setupCode: lock.setupCode });
      console.log(`Registered "${lock.name}" (${lock.deviceId}) to ${identifier}`);
    }
    await bluez.close();
  }

  const hbStorage = path.join(storage, 'homebridge');
  await mkdir(path.join(hbStorage, 'plugins'), { recursive: true });
  if (!existsSync(path.join(hbStorage, 'plugins', 'homebridge-igrs-smartlock'))) await symlink(ROOT, path.join(hbStorage, 'plugins', 'homebridge-igrs-smartlock'));
  const port = Number(values.port);
  await writeFile(
    path.join(hbStorage, 'config.json'),
    JSON.stringify(
      {
        bridge: { name: 'IGRS Demo Bridge', username: '0E:49:47:52:53:D0', port, pin: PIN },
        platforms: [{ platform: 'IgrsSmartLock', name: 'Locks', rasUrl: ras.url, identifier, password: state.password }],
        accessories: [],
      },
      null,
      2,
    ),
  );
  const hb = spawn(process.execPath, [path.join(ROOT, 'node_modules/homebridge/bin/homebridge'), '-U', hbStorage, '-P', path.join(hbStorage, 'plugins'), '--strict-plugin-resolution', '-I'], {
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: sim.busAddress },
    stdio: ['ignore', 'inherit', 'inherit'],
  });

  console.log(`\nHomebridge with the plugin: setup code ${PIN}, port ${port} (its QR code follows in its log).`);
  console.log(`Demo account: ${identifier} / ${state.password}`);
  console.log(`Type simulator commands here ("help" lists them), or Ctrl-C to stop.\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (hb.exitCode === null && hb.signalCode === null) {
      const exited = new Promise((r) => hb.once('exit', r));
      hb.kill('SIGTERM');
      await exited;
    }
    control.close();
    await sim.stop();
    await ras.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  hb.on('exit', (code) => {
    if (!stopping) {
      console.error(`Homebridge exited (${code}); stopping the demo`);
      void stop();
    }
  });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    if (line.trim() === 'help') console.log(COMMAND_HELP);
    else console.log(runCommand(sim, line));
  });
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
