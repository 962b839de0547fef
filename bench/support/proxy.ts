/**
 * A TCP proxy on loopback that holds every chunk for `delayMs` in each direction, so the RAS
 * looks as far away as a real one. Delaying bytes (not requests) keeps it honest for keep-alive
 * HTTP and the push WebSocket alike; the TCP handshake to the proxy itself stays free, as a
 * pooled connection to a real RAS would be.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface DelayProxy {
  readonly url: string;
  readonly port: number;
  /** One-way delay; change it at any time (applies to chunks read from then on). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }, delayMs = 0): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const state = { delayMs };
  // Same delay for every chunk of a direction, and timers of equal delay fire in order, so order holds.
  const pipe = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      const d = state.delayMs;
      if (d <= 0) to.write(chunk);
      else setTimeout(() => { if (!to.destroyed) to.write(chunk); }, d);
    });
    from.on('end', () => {
      const d = state.delayMs;
      if (d <= 0) to.end();
      else setTimeout(() => to.end(), d);
    });
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), state.delayMs + 10));
  };
  const server: Server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = createConnection({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { resolve(); });
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}
