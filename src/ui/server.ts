/**
 * The custom UI's server side (homebridge-ui/server.js starts it): one request handler per thing
 * the page can do, each answering either with data or with a RequestError whose message says
 * what went wrong and whose payload says what to do next. No handler ever rejects with anything
 * else, and nothing secret (passwords, tokens) is logged or sent back.
 */
import { HomebridgePluginUiServer, RequestError } from '@homebridge/plugin-ui-utils';
import { BluezGateway } from '../bgw/bluez.js';
import type { Logger } from '../logger.js';
import { UiBackend, type UiBackendOptions } from './backend.js';
import { explain, type UiAction } from './explain.js';

/** The requests the page sends; the path is also what the page calls `homebridge.request` with. */
export const ROUTES = {
  '/status': 'status',
  '/account/code': 'send-code',
  '/account/create': 'create-account',
  '/account/sign-in': 'sign-in',
  '/account/sign-out': 'sign-out',
  '/locks': 'list-locks',
  '/scan/start': 'scan',
  '/scan/list': 'scan',
  '/scan/stop': 'scan',
  '/locks/register': 'register-lock',
  '/locks/remove': 'remove-lock',
  '/locks/share': 'share-lock',
  '/locks/unshare': 'unshare-lock',
} as const satisfies Record<string, UiAction>;
export type UiRoute = keyof typeof ROUTES;

/** Events pushed to the page (`homebridge.addEventListener`). */
export const EVENTS = { progress: 'igrs-progress', scan: 'igrs-scan' } as const;

type Body = Record<string, unknown>;
type Handler = (body: Body) => Promise<unknown>;

/** What of HomebridgePluginUiServer the routes use. */
export interface UiHost {
  onRequest(path: string, fn: (body: unknown) => Promise<unknown>): void;
  pushEvent(event: string, data: unknown): void;
}

export function handlersFor(backend: UiBackend): Record<UiRoute, Handler> {
  return {
    '/status': (b) => backend.status(b.rasUrl),
    '/account/code': (b) => backend.sendVerificationCode(b.rasUrl, b),
    '/account/create': (b) => backend.createAccount(b.rasUrl, b),
    '/account/sign-in': (b) => backend.signIn(b.rasUrl, b),
    '/account/sign-out': (b) => backend.signOut(b.rasUrl),
    '/locks': (b) => backend.locks(b.rasUrl),
    '/scan/start': (b) => backend.startScan(b),
    '/scan/list': () => Promise.resolve({ devices: backend.nearbyLocks() }),
    '/scan/stop': () => backend.stopScan(),
    '/locks/register': (b) => backend.registerLock(b.rasUrl, b),
    '/locks/remove': (b) => backend.removeLock(b.rasUrl, b),
    '/locks/share': (b) => backend.shareLock(b.rasUrl, b),
    '/locks/unshare': (b) => backend.unshareLock(b.rasUrl, b),
  };
}

/** Registers every route on the host, each failure turned into a RequestError for the page. */
export function mountRoutes(host: UiHost, backend: UiBackend, log: Logger): void {
  const handlers = handlersFor(backend);
  for (const route of Object.keys(handlers) as UiRoute[]) {
    const handler = handlers[route];
    host.onRequest(route, async (raw) => {
      const body: Body = raw !== null && typeof raw === 'object' ? (raw as Body) : {};
      try {
        return await handler(body);
      } catch (err) {
        const rasUrl = typeof body.rasUrl === 'string' ? body.rasUrl : undefined;
        const problem = explain(err, ROUTES[route], rasUrl ? { rasUrl } : {});
        // The cause, not the request: bodies carry passwords and setup codes.
        log.warn(`${route}: ${problem.code}: ${err instanceof Error ? err.message : String(err)}`);
        throw new RequestError(problem.message, { code: problem.code, hint: problem.hint });
      }
    });
  }
}

export function consoleLogger(): Logger {
  return {
    debug: () => undefined,
    info: (m) => {
      console.log(m);
    },
    warn: (m) => {
      console.warn(m);
    },
    error: (m) => {
      console.error(m);
    },
  };
}

export interface StartOptions {
  /** Replaces BlueZ (tests). */
  openBluetooth?: UiBackendOptions['openBluetooth'];
  log?: Logger;
}

/**
 * The server process: a HomebridgePluginUiServer with the routes mounted. Homebridge UI forks
 * it with HOMEBRIDGE_STORAGE_PATH set and ends it when the settings close.
 */
export function startUiServer(options: StartOptions = {}): { server: HomebridgePluginUiServer; backend: UiBackend } {
  const log = options.log ?? consoleLogger();
  const server = new HomebridgePluginUiServer();
  const storagePath = server.homebridgeStoragePath;
  const backend = new UiBackend({
    storagePath: storagePath ?? process.cwd(),
    log,
    openBluetooth: options.openBluetooth ?? ((o) => BluezGateway.open(o)),
    onProgress: (p) => {
      server.pushEvent(EVENTS.progress, p);
    },
    onScan: (devices) => {
      server.pushEvent(EVENTS.scan, { devices });
    },
  });
  if (!storagePath) log.warn('HOMEBRIDGE_STORAGE_PATH is not set; keeping credentials in the current directory');
  mountRoutes(server, backend, log);
  // A rejection nobody awaited (a D-Bus signal after close, say) must not end the page's server.
  process.on('unhandledRejection', (reason) => {
    log.error(`Unexpected error in the settings server: ${reason instanceof Error ? reason.message : String(reason)}`);
  });
  const stop = () => {
    void backend.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  server.ready();
  return { server, backend };
}
