import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Push } from '../../src/protocol/index.js';
import type { RasClient } from '../../src/rac/client.js';
import { CredentialStore } from '../../src/rac/credentials.js';
import { pushStream } from '../../src/rac/push.js';
import { silentLogger } from '../../src/logger.js';

/** A stand-in for the RAS's push endpoint; the real one is exercised end to end. */
function pushMessage(seq: number): Push {
  return {
    version: '1.0',
    msgType: 'Push',
    seq,
    timestamp: Math.floor(Date.now() / 1000),
    event: 'bsld.command',
    deviceId: 'A4C138F0E1D2',
    body: { operationId: seq, op: 'unlock', expiresAt: Math.floor(Date.now() / 1000) + 30 },
  };
}

describe('RAC push stream (Table 2) against a scripted push endpoint', () => {
  let server: WebSocketServer;
  let port: number;
  const received: { resume: number[]; acks: number[]; auth: string[] } = { resume: [], acks: [], auth: [] };
  let onConnection: (ws: WebSocket) => void = () => undefined;

  beforeEach(async () => {
    received.resume = [];
    received.acks = [];
    received.auth = [];
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    server.on('connection', (ws, req) => {
      received.auth.push(req.headers.authorization ?? '');
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { msgType: string; lastSeq?: number; seq?: number };
        if (msg.msgType === 'PushResume') received.resume.push(msg.lastSeq!);
        if (msg.msgType === 'PushAck') received.acks.push(msg.seq!);
      });
      onConnection(ws);
    });
  });
  afterEach(async () => {
    for (const c of server.clients) c.terminate();
    await new Promise((r) => { server.close(r); });
  });

  async function open() {
    const store = await CredentialStore.open(path.join(await mkdtemp(path.join(tmpdir(), 'igrs-push-')), 'c.json'), `http://127.0.0.1:${port}`);
    const client = { baseUrl: `http://127.0.0.1:${port}`, accessToken: () => Promise.resolve('a'.repeat(32)), invalidateAccess: () => undefined } as unknown as RasClient;
    return { store, client };
  }

  const until = async (cond: () => boolean, ms = 5_000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('resumes after a cut from the last handled seq, acknowledges everything, and emits each seq once', async () => {
    let connections = 0;
    onConnection = (ws) => {
      connections++;
      // First connection: 1, 2, 3 then a cut. Second: the RAS re-sends 3 (unacknowledged) and 4.
      const script = connections === 1 ? [1, 2, 3] : [3, 4];
      for (const seq of script) ws.send(JSON.stringify(pushMessage(seq)));
      if (connections === 1) setTimeout(() => { ws.terminate(); }, 100);
    };
    const { store, client } = await open();
    const seen: number[] = [];
    const sub = pushStream({ client, store, gatewayId: '0123456789abcdef', log: silentLogger, minBackoffMs: 20 }).subscribe((p) => seen.push(p.seq));
    try {
      await until(() => seen.includes(4));
      assert.deepEqual(seen, [1, 2, 3, 4]);
      assert.deepEqual(received.resume, [0, 3]);
      await until(() => received.acks.filter((s) => s === 3).length === 2);
      assert.equal(store.get().pushLastSeq, 4);
      assert.equal(received.auth[0], `Bearer ${'a'.repeat(32)}`);
    } finally {
      sub.unsubscribe();
    }
  });

  it('keeps the position across a restart of the plugin', async () => {
    onConnection = (ws) => {
      for (const seq of [5, 6]) ws.send(JSON.stringify(pushMessage(seq)));
    };
    const { store, client } = await open();
    await store.update({ pushLastSeq: 5 });
    const seen: number[] = [];
    const sub = pushStream({ client, store, log: silentLogger }).subscribe((p) => seen.push(p.seq));
    try {
      await until(() => seen.length > 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen, [6]);
      assert.deepEqual(received.resume, [5]);
    } finally {
      sub.unsubscribe();
    }
  });

  it('ignores malformed messages and keeps the channel', async () => {
    onConnection = (ws) => {
      ws.send('{not json');
      ws.send(JSON.stringify({ ...pushMessage(7), event: 'bsld.explode' }));
      ws.send(JSON.stringify({ ...pushMessage(8), deviceId: 'nope' }));
      ws.send(JSON.stringify(pushMessage(9)));
    };
    const { store, client } = await open();
    const seen: number[] = [];
    const sub = pushStream({ client, store, log: silentLogger }).subscribe((p) => seen.push(p.seq));
    try {
      await until(() => seen.length > 0);
      assert.deepEqual(seen, [9]);
    } finally {
      sub.unsubscribe();
    }
  });
});
