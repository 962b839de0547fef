/**
 * The RAS command line: `npm run ras -- <command>`. Exit codes a script can rely on:
 * 0 success, 1 failure (message on stderr), 2 usage error, 3 conflict (the user or device already
 * exists differently). Machine-readable output with --json.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RasError } from './errors.js';
import { factoryEntryProblem, type FactoryEntry } from './service/ddms.js';
import { DEFAULT_DB_PATH, DEFAULT_HOST, DEFAULT_PORT, createServices, openRasStorage, readTlsFiles, startRas } from './server.js';
import type { Logger } from './service/context.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, conflict: 3 } as const;

const HELP = `Usage: npm run ras -- <command> [options]

Commands:
  serve                     Run the RAS (the default command)
      --host <addr>           listen address (default ${DEFAULT_HOST})
      --port <n>              TCP port (default ${DEFAULT_PORT}; 0 picks one)
      --tls-cert <file>       PEM certificate; with --tls-key serves HTTPS
      --tls-key <file>        PEM private key
      --log-level <level>     fatal|error|warn|info|debug|trace (default info)
  provision --file <json>   Load a factory list: [{deviceId, deviceKey, setupCode, model}, ...]
  users add --identifier <e-mail or +E.164> --password <p> [--display-name <n>]
                            Create a verified user (no verification code)
  bslds list                List provisioned BSLDs and their owners
  backup --out <file>       Write a consistent copy of the database (safe while serving)

Options for every command:
  --db <file>               SQLite database (default ${DEFAULT_DB_PATH})
  --json                    Machine-readable output
  -h, --help                This help

Environment:
  RAS_MASTER_KEY            32-byte key (64 hex digits) sealing every K_d; else master.key beside the database (0600, created on first start)
  RAS_ADMIN_TOKEN           enables POST /v1/admin/bslds (provisioning over HTTP)
  RAS_TPSP                  log (default) | smtp | webhook: where verification codes go
  RAS_SMTP_URL, RAS_SMTP_FROM          for smtp: smtp[s]://user:pass@host:port and the sender address
  RAS_WEBHOOK_URL, RAS_WEBHOOK_AUTHORIZATION   for webhook

Exit codes: 0 success, 1 failure, 2 usage error, 3 conflict.
`;

class UsageError extends Error {}

const consoleLogger: Logger = {
  info() {},
  debug() {},
  warn: (o, m) => {
    process.stderr.write(`warning: ${m ?? ''} ${JSON.stringify(o)}\n`);
  },
  error: (o, m) => {
    process.stderr.write(`error: ${m ?? ''} ${JSON.stringify(o)}\n`);
  },
};

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(value) + '\n' : text + '\n');
}

async function withServices<T>(db: string, fn: (services: ReturnType<typeof createServices>) => Promise<T>): Promise<T> {
  const { storage, masterKey } = await openRasStorage(db);
  try {
    return await fn(createServices(storage, masterKey, { logger: consoleLogger }));
  } finally {
    await storage.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'log-level': { type: 'string' },
      file: { type: 'string' },
      identifier: { type: 'string' },
      password: { type: 'string' },
      'display-name': { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const db = values.db ?? DEFAULT_DB_PATH;
  const json = values.json ?? false;
  const [command = 'serve', sub] = positionals;

  switch (command) {
    case 'serve': {
      const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0 to 65535');
      if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) throw new UsageError('--tls-cert and --tls-key go together');
      const tls = values['tls-cert'] && values['tls-key'] ? readTlsFiles(values['tls-cert'], values['tls-key']) : undefined;
      const ras = await startRas({ dbPath: db, host: values.host ?? DEFAULT_HOST, port, ...(tls ? { tls } : {}), logLevel: values['log-level'] ?? 'info' });
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          ras.services.ctx.logger.info({ signal }, 'shutting down');
          ras.close().then(resolve, (err: unknown) => {
            process.stderr.write(`error during shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      return EXIT.ok;
    }
    case 'provision': {
      if (!values.file) throw new UsageError('provision needs --file <factory.json>');
      let entries: unknown;
      try {
        entries = JSON.parse(readFileSync(values.file, 'utf8'));
      } catch (err) {
        throw new UsageError(`${values.file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!Array.isArray(entries)) throw new UsageError(`${values.file}: must be a JSON array of {deviceId, deviceKey, setupCode, model}`);
      entries.forEach((e, i) => {
        const problem = factoryEntryProblem(e);
        if (problem) throw new UsageError(`${values.file}[${i}]: ${problem}`);
      });
      const results = await withServices(db, async (services) => {
        const out: { deviceId: string; outcome: string }[] = [];
        for (const e of entries as FactoryEntry[]) out.push({ deviceId: e.deviceId, outcome: await services.ddms.provision(e) });
        return out;
      });
      const conflicts = results.filter((r) => r.outcome === 'key-conflict');
      const created = results.filter((r) => r.outcome === 'created').length;
      print(json, { results }, `provisioned ${results.length} BSLD(s): ${created} new, ${results.length - created - conflicts.length} updated, ${conflicts.length} refused`);
      for (const c of conflicts) process.stderr.write(`${c.deviceId}: already provisioned with another device key; left unchanged\n`);
      return conflicts.length > 0 ? EXIT.conflict : EXIT.ok;
    }
    case 'users': {
      if (sub !== 'add') throw new UsageError('users: the subcommand is add');
      if (!values.identifier || values.password === undefined) throw new UsageError('users add needs --identifier and --password');
      const { accountId } = await withServices(db, (services) => services.accounts.createUser(values.identifier!, values.password!, values['display-name']));
      print(json, { accountId, identifier: values.identifier }, `created ${values.identifier} with accountId ${accountId}`);
      return EXIT.ok;
    }
    case 'bslds': {
      if (sub !== 'list') throw new UsageError('bslds: the subcommand is list');
      const rows = await withServices(db, async (services) => {
        const { storage } = services.ctx;
        const bindings = new Map((await storage.listBindings()).map((b) => [b.deviceId, b]));
        return (await storage.listDevices()).map((d) => {
          const b = bindings.get(d.deviceId);
          return { deviceId: d.deviceId, model: d.model, provisionedAt: d.provisionedAt, ownerAccountId: b?.ownerAccountId ?? null, name: b?.name ?? null };
        });
      });
      const text = rows.length === 0 ? 'no BSLDs provisioned' : rows.map((r) => `${r.deviceId}  ${r.model}  ${r.ownerAccountId ? `owner ${r.ownerAccountId} (${r.name ?? ''})` : 'unregistered'}`).join('\n');
      print(json, { bslds: rows }, text);
      return EXIT.ok;
    }
    case 'backup': {
      if (!values.out) throw new UsageError('backup needs --out <file>');
      const { storage } = await openRasStorage(db);
      try {
        await storage.backup(values.out);
      } finally {
        await storage.close();
      }
      print(json, { out: values.out }, `backed up ${db} to ${values.out}`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown command ${command}; see --help`);
  }
}

async function run(): Promise<void> {
  let code: number;
  try {
    code = await main(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`usage error: ${err.message}\n(see npm run ras -- --help)\n`);
      code = EXIT.usage;
    } else if (err instanceof RasError && (err.status === 421 || err.status === 409)) {
      process.stderr.write(`conflict: ${err.message}\n`);
      code = EXIT.conflict;
    } else if (err instanceof RasError && err.status === 422) {
      process.stderr.write(`usage error: ${err.message}\n`);
      code = EXIT.usage;
    } else {
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      code = EXIT.failure;
    }
  }
  process.exitCode = code;
}

await run();
