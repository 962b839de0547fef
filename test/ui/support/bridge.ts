/**
 * Stands in for Homebridge UI around the settings page: serves homebridge-ui/public wrapped the
 * way Homebridge UI wraps it (the page's HTML inside a body that stays hidden until 'ready'),
 * with a `window.homebridge` shim whose `request` goes over HTTP to this bridge and from here
 * over IPC to the real server script, and whose config calls work on an in-memory config.json.
 * Pushed events reach the page through Server-Sent Events.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { UiProcess } from './ui-process.js';

export type PluginConfig = Record<string, unknown>;

export interface Toast {
  type: 'success' | 'error' | 'warning' | 'info';
  message: string;
}

const SHIM = String.raw`
(function () {
  class HomebridgeShim extends EventTarget {
    constructor() {
      super();
      this.toast = {};
      for (const type of ['success', 'error', 'warning', 'info']) {
        this.toast[type] = (message, title) => { void post('/__toast', { type, message, title }); };
      }
      this.plugin = { name: 'homebridge-igrs-smartlock', displayName: 'IGRS Smart Lock' };
      this.serverEnv = { env: { lang: 'en' }, theme: 'auto' };
    }
    async request(path, body) {
      const answer = await post('/__request', { path, body });
      if (answer.success) return answer.data;
      throw answer.data;
    }
    getPluginConfig() { return post('/__config/get', {}); }
    updatePluginConfig(blocks) { return post('/__config/update', blocks); }
    async savePluginConfig() { await post('/__config/save', {}); }
    getPluginConfigSchema() { return post('/__config/schema', {}); }
    showSchemaForm() { void post('/__ui', { schemaForm: true }); }
    hideSchemaForm() { void post('/__ui', { schemaForm: false }); }
    fixScrollHeight() {}
    showSpinner() {}
    hideSpinner() {}
    disableSaveButton() {}
    enableSaveButton() {}
    closeSettings() {}
    async getCachedAccessories() { return []; }
    async userCurrentLightingMode() { return 'light'; }
    async i18nCurrentLang() { return 'en'; }
  }
  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.json();
  }
  window.homebridge = new HomebridgeShim();
  const events = new EventSource('/__events');
  events.onmessage = (m) => {
    const { event, data } = JSON.parse(m.data);
    window.homebridge.dispatchEvent(new MessageEvent(event, { data }));
  };
  // Homebridge UI sends 'ready' once the frame is loaded; here also once events can flow.
  const opened = new Promise((resolve) => { events.onopen = resolve; });
  const loaded = new Promise((resolve) => {
    if (document.readyState !== 'loading') resolve();
    else document.addEventListener('DOMContentLoaded', resolve);
  });
  void Promise.all([opened, loaded]).then(() => {
    document.body.style.display = 'block';
    window.homebridge.dispatchEvent(new Event('ready'));
  });
})();
`;

interface BridgeOptions {
  ui: UiProcess;
  publicDir: string;
  schemaFile: string;
  config: PluginConfig[];
}

export class UiBridge {
  readonly toasts: Toast[] = [];
  /** What config.json holds: the blocks as last saved. */
  saved: PluginConfig[];
  /** The blocks as the page last updated them (Homebridge UI's unsaved state). */
  current: PluginConfig[];
  schemaFormShown = false;
  private readonly clients = new Set<ServerResponse>();
  private readonly server: Server;
  url = '';

  private constructor(private readonly options: BridgeOptions) {
    this.saved = structuredClone(options.config);
    this.current = structuredClone(options.config);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    options.ui.on('stream', (e) => {
      for (const client of this.clients) client.write(`data: ${JSON.stringify(e)}\n\n`);
    });
  }

  static async start(options: BridgeOptions): Promise<UiBridge> {
    const bridge = new UiBridge(options);
    await new Promise<void>((resolve) => bridge.server.listen(0, '127.0.0.1', resolve));
    bridge.url = `http://127.0.0.1:${(bridge.server.address() as AddressInfo).port}/`;
    return bridge;
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const options = this.options;
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && url.pathname === '/') {
      const body = await readFile(path.join(options.publicDir, 'index.html'), 'utf8');
      const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>IGRS Smart Lock settings</title><script>${SHIM}</script></head><body style="display:none">${body}</body></html>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET' && url.pathname === '/__events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(': open\n\n');
      this.clients.add(res);
      req.on('close', () => this.clients.delete(res));
      return;
    }
    if (req.method === 'GET') {
      const file = path.join(options.publicDir, path.normalize(url.pathname).replace(/^[/\\]+/, ''));
      if (!file.startsWith(options.publicDir)) {
        res.writeHead(403).end();
        return;
      }
      try {
        const type = file.endsWith('.css') ? 'text/css' : file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream';
        res.writeHead(200, { 'content-type': type }).end(await readFile(file));
      } catch {
        res.writeHead(404).end();
      }
      return;
    }
    const body = JSON.parse((await readBody(req)) || 'null') as unknown;
    const reply = (data: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(data ?? null));
    switch (url.pathname) {
      case '/__request': {
        const { path: route, body: payload } = body as { path: string; body: unknown };
        reply(await options.ui.request(route, payload));
        return;
      }
      case '/__config/get':
        reply(this.current);
        return;
      case '/__config/update':
        this.current = structuredClone(body as PluginConfig[]);
        reply(this.current);
        return;
      case '/__config/save':
        this.saved = structuredClone(this.current);
        reply({});
        return;
      case '/__config/schema':
        reply(JSON.parse(await readFile(options.schemaFile, 'utf8')));
        return;
      case '/__toast':
        this.toasts.push(body as Toast);
        reply({});
        return;
      case '/__ui':
        this.schemaFormShown = (body as { schemaForm: boolean }).schemaForm;
        reply({});
        return;
      default:
        res.writeHead(404).end();
    }
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  req.setEncoding('utf8');
  for await (const chunk of req) text += chunk as string;
  return text;
}
