/**
 * A fault-injecting HTTP and WebSocket proxy on loopback, in front of the RAS: the plugin is
 * pointed at it and the test turns the RAS into a stopped, slow, failing or babbling one, or
 * cuts the push socket, without touching the RAS itself.
 */
import http from 'node:http';
import net from 'node:net';

export type FaultMode = 'pass' | 'stopped' | 'slow' | 'error500' | 'malformed';

export class FaultProxy {
  mode: FaultMode = 'pass';
  slowMs = 5_000;
  private readonly server: http.Server;
  private readonly tunnels = new Set<net.Socket>();
  private readonly pending = new Set<NodeJS.Timeout>();

  private constructor(private readonly target: URL) {
    this.server = http.createServer((req, res) => {
      this.onRequest(req, res);
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      this.onUpgrade(req, socket, head);
    });
  }

  static async start(target: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(new URL(target));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const { port } = this.server.address() as net.AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Follows a RAS that came back on another port. */
  retarget(url: string): void {
    const u = new URL(url);
    this.target.host = u.host;
  }

  /** Cuts every push socket now (the RAC sees its WebSocket drop). */
  cutPush(): number {
    const n = this.tunnels.size;
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
    return n;
  }

  async close(): Promise<void> {
    for (const t of this.pending) clearTimeout(t);
    this.cutPush();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.pending.delete(t);
      fn();
    }, ms);
    this.pending.add(t);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    switch (this.mode) {
      case 'stopped':
        req.socket.destroy();
        return;
      case 'error500':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"1.0","msgType":"Bsld');
        return;
      case 'slow':
        this.later(() => {
          this.forward(req, res);
        }, this.slowMs);
        return;
      case 'pass':
        this.forward(req, res);
    }
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    // A client that gave up while a slow answer waited leaves a request whose body never ends:
    // forwarded, it would hold a RAS connection open (and the RAS's close) until Node's own
    // request timeout. Such a request is dropped here, and one cut mid-way is cut upstream too.
    if (req.destroyed) return;
    const upstream = http.request(
      { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      req.socket.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    if (this.mode !== 'pass' && this.mode !== 'slow') {
      socket.destroy();
      return;
    }
    const upstream = net.connect(Number(this.target.port), this.target.hostname);
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      socket.destroy();
      this.tunnels.delete(socket);
    });
    this.tunnels.add(socket);
    upstream.on('connect', () => {
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]!}: ${req.rawHeaders[i + 1]!}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
  }
}
