/**
 * A command-line RAC: signs in to a RAS and asks for a remote operation (the RAS pushes it to a
 * gateway, such as a running Homebridge with this plugin), lists the account's locks, or shows
 * a lock's audit trail.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.js';
import { RasClient } from '../src/rac/client.js';
import { CredentialStore } from '../src/rac/credentials.js';
import { RasError } from '../src/rac/errors.js';

const HELP = `npm run rac -- --ras URL --identifier ID --password PW <command>

commands:
  list                      the account's locks with their last state
  unlock DEVICE_ID          remote unlock through the RAS; waits for the result
  lock DEVICE_ID            remote lock
  status DEVICE_ID          ask the lock for its state through a gateway
  events DEVICE_ID          the lock's audit trail on the RAS

The password may also come from RAC_PASSWORD. Exit codes: 0 done, 1 failed, 2 usage.`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { ras: { type: 'string' }, identifier: { type: 'string' }, password: { type: 'string' }, help: { type: 'boolean' } },
  });
  const password = values.password ?? process.env.RAC_PASSWORD;
  const [command, deviceId] = positionals;
  if (values.help || !command) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  if (!values.ras || !values.identifier || !password) {
    console.error('rac: --ras, --identifier and --password are required (see --help)');
    return 2;
  }
  const store = await CredentialStore.open(path.join(await mkdtemp(path.join(tmpdir(), 'igrs-rac-')), 'cred.json'), values.ras);
  const client = new RasClient({ baseUrl: values.ras, store, login: { identifier: values.identifier, password }, log: silentLogger, timeoutMs: 35_000 });
  switch (command) {
    case 'list': {
      const { bslds } = await client.call('BsldDiscovery');
      for (const b of bslds) {
        console.log(`${b.deviceId}  ${b.name.padEnd(20)} ${b.role.padEnd(6)} ${['unlocked', 'locked', 'jammed', 'unknown'][b.lastState.lockState] ?? '?'}${b.lastState.battery !== undefined ? `, battery ${b.lastState.battery} %` : ''}`);
      }
      return 0;
    }
    case 'unlock':
    case 'lock':
    case 'status': {
      if (!deviceId) {
        console.error(`rac: ${command} needs a deviceId`);
        return 2;
      }
      const started = Date.now();
      const { operationId } = await client.call('Operation', { params: { deviceId }, body: { op: command } });
      console.log(`operation ${operationId}: ${command} of ${deviceId} sent to the RAS`);
      for (;;) {
        const answer = await client.call('OperationQuery', { params: { operationId }, query: { wait: 30 } });
        if (answer.state === 'pending') continue;
        const lockState = answer.lockState !== undefined ? `, the lock is ${['unlocked', 'locked', 'jammed', 'unknown'][answer.lockState] ?? '?'}` : '';
        console.log(`operation ${operationId}: ${answer.state}${answer.result !== undefined ? ` (result ${answer.result})` : ''}${lockState} after ${Date.now() - started} ms`);
        return answer.state === 'done' ? 0 : 1;
      }
    }
    case 'events': {
      if (!deviceId) {
        console.error('rac: events needs a deviceId');
        return 2;
      }
      const { events } = await client.call('EventQuery', { params: { deviceId } });
      for (const e of events) console.log(`${new Date(e.event.at * 1000).toISOString()}  ${e.verification.padEnd(16)} ${JSON.stringify(e.event)}`);
      return 0;
    }
    default:
      console.error(`rac: unknown command ${command} (see --help)`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`rac: ${err instanceof RasError || err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
