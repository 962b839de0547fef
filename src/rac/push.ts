/**
 * Table 2 push from the RAS as an rxjs Observable: a WebSocket at /v1/push that reconnects with
 * jittered backoff, resumes from the last handled seq (stored across restarts), acknowledges
 * every message once handled, and never emits the same seq twice.
 */
import { Observable } from 'rxjs';
import WebSocket from 'ws';
import { MAX_BODY_BYTES, Push, decode } from '../protocol/clause7/index.js';
import type { Logger } from '../logger.js';
import type { RasClient } from './client.js';
import type { CredentialStore } from './credentials.js';
import { RasError } from './errors.js';

export interface PushOptions {
  client: RasClient;
  store: CredentialStore;
  /** A BGW's id: the RAS pushes bsld.command only to gateways. */
  gatewayId?: string;
  log: Logger;
  /** First reconnect delay; doubles up to maxBackoffMs, each with ±50 % jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A silent socket is presumed dead after this long without a pong. */
  heartbeatMs?: number;
  /** Observes connection state, for logs and HomeKit. */
  onState?: (state: 'connected' | 'disconnected') => void;
}

export function pushStream(options: PushOptions): Observable<Push> {
  const { client, store, log } = options;
  const minBackoff = options.minBackoffMs ?? 1_000;
  const maxBackoff = options.maxBackoffMs ?? 60_000;
  const heartbeatMs = options.heartbeatMs ?? 30_000;

  return new Observable<Push>((subscriber) => {
    let socket: WebSocket | undefined;
    let stopped = false;
    // Read through a function: the flag changes while connect() awaits.
    const isStopped = () => stopped;
    let failures = 0;
    let retryTimer: NodeJS.Timeout | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    let wasConnected = false;

    const url = new URL('/v1/push', client.baseUrl.replace(/^http/, 'ws'));
    if (options.gatewayId) url.searchParams.set('gatewayId', options.gatewayId);

    const scheduleReconnect = (why: string) => {
      clearInterval(heartbeat);
      socket = undefined;
      if (wasConnected) {
        wasConnected = false;
        options.onState?.('disconnected');
      }
      if (stopped) return;
      const base = Math.min(maxBackoff, minBackoff * 2 ** Math.min(failures, 16));
      const delay = Math.round(base * (0.5 + Math.random()));
      failures++;
      log.warn(`Push channel to the RAS is down (${why}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
      retryTimer = setTimeout(() => {
        void connect();
      }, delay);
      retryTimer.unref();
    };

    const connect = async (): Promise<void> => {
      if (stopped) return;
      let token: string;
      try {
        token = await client.accessToken();
      } catch (err) {
        scheduleReconnect(err instanceof RasError ? err.message : String(err));
        return;
      }
      if (isStopped()) return;
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 10_000, maxPayload: MAX_BODY_BYTES });
      socket = ws;
      let alive = true;

      ws.on('unexpected-response', (_req, res) => {
        // A refused upgrade: 401 means the token died; renew it before the next try.
        if (res.statusCode === 401) client.invalidateAccess();
        ws.terminate();
      });
      ws.on('open', () => {
        failures = 0;
        wasConnected = true;
        options.onState?.('connected');
        log.info(`Push channel to the RAS connected${options.gatewayId ? ' (gateway)' : ''}; resuming after seq ${store.get().pushLastSeq}`);
        ws.send(JSON.stringify({ msgType: 'PushResume', lastSeq: store.get().pushLastSeq }));
        heartbeat = setInterval(() => {
          if (!alive) {
            ws.terminate();
            return;
          }
          alive = false;
          ws.ping();
        }, heartbeatMs);
        heartbeat.unref();
      });
      ws.on('pong', () => {
        alive = true;
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        alive = true;
        if (isBinary) return;
        const parsed = decode(Push, data);
        if (!parsed.ok) {
          log.warn(`Ignored a malformed push message from the RAS: ${parsed.error.message}`);
          return;
        }
        const push = parsed.value;
        // Resent after a reconnect or RAS restart: acknowledge again, handle once.
        if (push.seq > store.get().pushLastSeq) {
          try {
            subscriber.next(push);
          } catch (err) {
            log.error(`A push handler failed: ${err instanceof Error ? err.message : String(err)}`);
          }
          store.update({ pushLastSeq: push.seq }).catch((err: unknown) => {
            log.error(`Cannot store the push position: ${err instanceof Error ? err.message : String(err)}`);
          });
        }
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ msgType: 'PushAck', seq: push.seq }));
      });
      ws.on('error', (err) => {
        log.debug(`Push socket error: ${err.message}`);
      });
      ws.on('close', (code) => {
        if (socket === ws) scheduleReconnect(`closed with code ${code}`);
      });
    };

    void connect();

    return () => {
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(heartbeat);
      const ws = socket;
      socket = undefined;
      ws?.close(1000);
      if (wasConnected) options.onState?.('disconnected');
    };
  });
}
