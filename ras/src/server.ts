/**
 * The RAS as a process: storage, master key, services, the fastify app with one plugin per
 * area, TLS or loopback HTTP, graceful shutdown. `startRas` is the programmatic entry point.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { MAX_BODY_BYTES } from 'homebridge-igrs-smartlock/protocol';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_RATE_LIMITS, type RateLimits } from './config.js';
import { loadMasterKey, openSecret, sealSecret } from './crypto/secrets.js';
import { installErrorHandlers, sharedValidatorCompiler } from './http/route.js';
import { adminPlugin } from './http/plugins/admin.js';
import { bsldsPlugin } from './http/plugins/bslds.js';
import { eventsPlugin } from './http/plugins/events.js';
import { gatewaysPlugin } from './http/plugins/gateways.js';
import { membersPlugin } from './http/plugins/members.js';
import { operationsPlugin } from './http/plugins/operations.js';
import { pushPlugin } from './http/plugins/push.js';
import { usersPlugin } from './http/plugins/users.js';
import { RateLimiter } from './ratelimit.js';
import type { Context, Logger } from './service/context.js';
import type { FactoryEntry, ProvisionOutcome } from './service/ddms.js';
import { RasServices } from './services.js';
import { SqliteStorage } from './storage/sqlite.js';
import type { Storage } from './storage/storage.js';
import { LogSender, senderFromEnv, type CodeSender } from './tpsp.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8480;
export const DEFAULT_DB_PATH = './ras-data/ras.sqlite';

export interface RasOptions {
  /** SQLite file; created with its directory if missing. `:memory:` for a throwaway RAS. */
  dbPath?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** 32 bytes (hex or base64 text, or a Buffer); else RAS_MASTER_KEY, else `master.key` beside the database. */
  masterKey?: string | Buffer;
  /** Milliseconds since the epoch; inject to test expiry. */
  clock?: Clock;
  /** `true` (default for the CLI): JSON logs on stdout; `false`: silent; or a pino-compatible logger. */
  logger?: boolean | Logger;
  /** Log level when `logger` is true. */
  logLevel?: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Where verification codes go; default from RAS_TPSP (log). */
  sender?: CodeSender;
  /** Enables the DDMS admin call; default RAS_ADMIN_TOKEN. */
  adminToken?: string;
  rateLimits?: Partial<RateLimits>;
  /** How often expiry and window ends are checked (ms). */
  sweepIntervalMs?: number;
  /** Extra environment to read RAS_* settings from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface RasHandle {
  /** `http://127.0.0.1:8480` or `https://…`. */
  url: string;
  host: string;
  port: number;
  app: FastifyInstance;
  services: RasServices;
  storage: SqliteStorage;
  /** Graceful: stops accepting, ends long polls and push sockets, closes the database. Idempotent. */
  close(): Promise<void>;
  provision(entries: FactoryEntry[]): Promise<ProvisionOutcome[]>;
  /** A verified user, without the TPSP. */
  addUser(identifier: string, password: string, displayName?: string): Promise<{ accountId: string }>;
  /** Runs one expiry sweep now (tests with an injected clock). */
  sweep(): Promise<void>;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** Opens storage with the master key checked against what the database was created with. */
export async function openRasStorage(dbPath: string, masterKeyOption?: string | Buffer, env?: NodeJS.ProcessEnv): Promise<{ storage: SqliteStorage; masterKey: Buffer }> {
  const { key } = loadMasterKey({ dbPath, masterKey: masterKeyOption, env: env ?? process.env });
  const storage = new SqliteStorage(dbPath);
  try {
    const check = await storage.getMeta('masterKeyCheck');
    if (check === undefined) await storage.setMeta('masterKeyCheck', sealSecret(key, Buffer.from('igrs-ras'), 'masterKeyCheck').toString('base64'));
    // A wrong key would only show when a K_d is needed; fail at start instead.
    else openSecret(key, Buffer.from(check, 'base64'), 'masterKeyCheck');
  } catch (err) {
    await storage.close();
    throw err;
  }
  return { storage, masterKey: key };
}

/** Assembles the services over an open storage (also used by the CLI without a server). */
export function createServices(storage: Storage, masterKey: Buffer, options: Pick<RasOptions, 'clock' | 'rateLimits' | 'sender' | 'adminToken' | 'env'> & { logger: Logger }): RasServices {
  const clock = options.clock ?? systemClock;
  const env = options.env ?? process.env;
  const ctx: Context = {
    storage,
    clock,
    masterKey,
    logger: options.logger,
    limiter: new RateLimiter(clock),
    limits: { ...DEFAULT_RATE_LIMITS, ...options.rateLimits },
    sender: options.sender ?? (env.RAS_TPSP ? senderFromEnv(env) : new LogSender()),
  };
  return new RasServices(ctx, options.adminToken ?? env.RAS_ADMIN_TOKEN);
}

function loggerOption(options: RasOptions): Record<string, unknown> {
  if (options.logger === false) return { logger: false };
  if (options.logger === undefined || options.logger === true) {
    return {
      logger: {
        level: options.logLevel ?? 'info',
        // Belt and braces: the default serialisers carry no headers, and nothing secret is logged on purpose.
        redact: ['req.headers.authorization', 'headers.authorization', '*.password', '*.accessToken', '*.refreshToken', '*.sessionKey', '*.deviceKey', '*.setupCode'],
      },
    };
  }
  return { loggerInstance: options.logger };
}

export async function startRas(options: RasOptions = {}): Promise<RasHandle> {
  const dbPath = options.dbPath ?? DEFAULT_DB_PATH;
  const host = options.host ?? DEFAULT_HOST;
  const { storage, masterKey } = await openRasStorage(dbPath, options.masterKey, options.env);
  let app: FastifyInstance;
  try {
    app = Fastify({
      ...loggerOption(options),
      bodyLimit: MAX_BODY_BYTES,
      // Proxies and load balancers are the operator's business; the RAS trusts only the socket.
      trustProxy: false,
      ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
      return503OnClosing: true,
      forceCloseConnections: 'idle',
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
  const logger: Logger = options.logger === false ? silentLogger() : app.log;
  const services = createServices(storage, masterKey, { ...options, logger });
  installErrorHandlers(app, services);
  app.setValidatorCompiler(sharedValidatorCompiler);
  await app.register(websocket, { options: { maxPayload: MAX_BODY_BYTES } });
  for (const plugin of [usersPlugin, bsldsPlugin, operationsPlugin, membersPlugin, gatewaysPlugin, eventsPlugin, adminPlugin, pushPlugin]) {
    await app.withTypeProvider<TypeBoxTypeProvider>().register(plugin, { services });
  }
  app.addHook('preClose', async () => {
    services.stop();
    services.push.closeAll();
    await services.push.drain();
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      services.stop();
      await app.close();
      await storage.close();
    })());
  try {
    await app.listen({ host, port: options.port ?? DEFAULT_PORT });
  } catch (err) {
    await close();
    throw err;
  }
  const address = app.server.address() as AddressInfo;
  if (!options.tls && !isLoopback(host)) {
    logger.warn({ host, port: address.port }, '!!! PLAIN HTTP ON A NON-LOOPBACK ADDRESS: tokens, session keys and passwords cross the network in clear. Give --tls-cert and --tls-key. !!!');
  }
  services.startSweeper(options.sweepIntervalMs ?? 1000);
  const scheme = options.tls ? 'https' : 'http';
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info({ url: `${scheme}://${urlHost}:${address.port}`, db: dbPath, storage: storage.kind }, 'RAS listening');
  return {
    url: `${scheme}://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    app,
    services,
    storage,
    close,
    provision: (entries) => provisionAll(services, entries),
    addUser: (identifier, password, displayName) => services.accounts.createUser(identifier, password, displayName),
    sweep: () => services.sweep(),
  };
}

function silentLogger(): Logger {
  return { info() {}, warn() {}, error() {}, debug() {} };
}

export async function provisionAll(services: RasServices, entries: FactoryEntry[]): Promise<ProvisionOutcome[]> {
  const out: ProvisionOutcome[] = [];
  for (const e of entries) out.push(await services.ddms.provision(e));
  return out;
}

export function readTlsFiles(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** The CLI's entry file, for starting the RAS as a child process (`node --conditions=igrs-source --import tsx <CLI_PATH> serve`). */
export const CLI_PATH = fileURLToPath(new URL('./cli.ts', import.meta.url));

const offlineLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** Loads factory entries into a database without a running server (what `provision` does). */
export async function provisionDevices(options: { dbPath: string; entries: FactoryEntry[]; masterKey?: string | Buffer; env?: NodeJS.ProcessEnv }): Promise<ProvisionOutcome[]> {
  const { storage, masterKey } = await openRasStorage(options.dbPath, options.masterKey, options.env);
  try {
    return await provisionAll(createServices(storage, masterKey, { logger: offlineLogger, ...(options.env ? { env: options.env } : {}) }), options.entries);
  } finally {
    await storage.close();
  }
}

/** Adds a verified user to a database without a running server (what `users add` does). */
export async function addUser(options: {
  dbPath: string;
  identifier: string;
  password: string;
  displayName?: string;
  masterKey?: string | Buffer;
  env?: NodeJS.ProcessEnv;
}): Promise<{ accountId: string }> {
  const { storage, masterKey } = await openRasStorage(options.dbPath, options.masterKey, options.env);
  try {
    return await createServices(storage, masterKey, { logger: offlineLogger, ...(options.env ? { env: options.env } : {}) }).accounts.createUser(
      options.identifier,
      options.password,
      options.displayName,
    );
  } finally {
    await storage.close();
  }
}
