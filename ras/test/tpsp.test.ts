import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { SmtpSender, WebhookSender, senderFromEnv, type CodeSender } from '../src/index.js';
import { SqliteStorage } from '../src/storage/sqlite.js';
import { MIGRATIONS } from '../src/storage/migrations.js';
import { expectStatus, newAccount, startTestRas } from './support/harness.js';
import { TestLock } from './support/lock.js';
import { register } from './bslds.test.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve((server.address() as AddressInfo).port);
    });
  });
}

describe('TPSP senders, secrets at rest, storage', () => {
  it('webhook: POSTs {identifier, code, expiresIn} as JSON; a non-2xx answer is a failure', async () => {
    const received: unknown[] = [];
    let status = 204;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ auth: req.headers.authorization, body: JSON.parse(body) as unknown });
        res.statusCode = status;
        res.end();
      });
    });
    const port = await listen(server);
    try {
      const sender = new WebhookSender(`http://127.0.0.1:${port}/codes`, { authorization: 'Bearer hook' });
      await sender.send({ identifier: '+4915112345678', code: '123456', expiresIn: 600 });
      assert.deepEqual(received, [{ auth: 'Bearer hook', body: { identifier: '+4915112345678', code: '123456', expiresIn: 600 } }]);
      status = 500;
      await assert.rejects(sender.send({ identifier: '+4915112345678', code: '123456', expiresIn: 600 }), /HTTP 500/);
    } finally {
      server.close();
    }
  });

  it('smtp: a minimal client delivers the code to an SMTP server with AUTH PLAIN', async () => {
    const transcript: string[] = [];
    let data = '';
    const server = net.createServer((socket) => {
      let inData = false;
      let buffer = '';
      socket.write('220 test ESMTP\r\n');
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        for (;;) {
          if (inData) {
            const end = buffer.indexOf('\r\n.\r\n');
            if (end < 0) return;
            data = buffer.slice(0, end);
            buffer = buffer.slice(end + 5);
            inData = false;
            socket.write('250 queued\r\n');
            continue;
          }
          const nl = buffer.indexOf('\r\n');
          if (nl < 0) return;
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 2);
          transcript.push(line);
          if (line.startsWith('EHLO')) socket.write('250-test\r\n250 AUTH PLAIN\r\n');
          else if (line.startsWith('AUTH')) socket.write('235 ok\r\n');
          else if (line === 'DATA') {
            inData = true;
            socket.write('354 go\r\n');
          } else if (line === 'QUIT') socket.end('221 bye\r\n');
          else socket.write('250 ok\r\n');
        }
      });
    });
    const port = await listen(server);
    try {
      const sender = new SmtpSender({ url: `smtp://ras:secret@127.0.0.1:${port}`, from: 'ras@example.com' });
      await sender.send({ identifier: 'bob@example.com', code: '654321', expiresIn: 600 });
      assert.ok(transcript.includes('MAIL FROM:<ras@example.com>'));
      assert.ok(transcript.includes('RCPT TO:<bob@example.com>'));
      assert.ok(transcript.some((l) => l === `AUTH PLAIN ${Buffer.from('\0ras\0secret').toString('base64')}`));
      assert.match(data, /Your verification code is 654321/);
      await assert.rejects(sender.send({ identifier: '+4915112345678', code: '1', expiresIn: 1 }), /e-mail/);
    } finally {
      server.close();
    }
  });

  it('chooses the sender from RAS_TPSP and refuses an incomplete configuration', () => {
    assert.equal(senderFromEnv({}).kind, 'log');
    assert.equal(senderFromEnv({ RAS_TPSP: 'webhook', RAS_WEBHOOK_URL: 'http://127.0.0.1:1/x' }).kind, 'webhook');
    assert.equal(senderFromEnv({ RAS_TPSP: 'smtp', RAS_SMTP_URL: 'smtps://h:465', RAS_SMTP_FROM: 'a@b.cc' }).kind, 'smtp');
    assert.throws(() => senderFromEnv({ RAS_TPSP: 'smtp' }), /RAS_SMTP_URL/);
    assert.throws(() => senderFromEnv({ RAS_TPSP: 'pigeon' }), /unknown sender/);
  });

  it('answers 503 when the TPSP cannot deliver a verification code', async () => {
    const failing: CodeSender = { kind: 'broken', send: () => Promise.reject(new Error('down')) };
    const t = await startTestRas({ sender: failing });
    try {
      expectStatus(await t.client.call('VerificationCode', { body: { identifier: 'x@example.com' } }), 503, 503);
    } finally {
      await t.stop();
    }
  });

  it('keeps K_d and setup codes out of the database file; expires a pending registration after 5 minutes', async () => {
    const t = await startTestRas();
    try {
      const owner = await newAccount(t, 'atrest');
      const lock = TestLock.random('31415926');
      await t.ras.provision([lock.factoryEntry]);
      await register(t, owner, lock);
      const challenge = lock.connect();
      expectStatus(await t.client.call('BsldRemoval', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge } }), 200);
      t.clock.advance(301);
      expectStatus(await t.client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response: '00'.repeat(16) } }), 404, 404);
      t.ras.storage.db.pragma('wal_checkpoint(TRUNCATE)');
      const file = readFileSync(t.dbPath);
      assert.equal(file.indexOf(lock.deviceKey), -1, 'K_d bytes are not in the file');
      assert.equal(file.indexOf(Buffer.from(lock.factoryEntry.deviceKey)), -1, 'K_d hex is not in the file');
      assert.equal(file.indexOf(Buffer.from('31415926')), -1, 'the setup code is not in the file');
      assert.equal(file.indexOf(Buffer.from(owner.accessToken)), -1, 'tokens are stored hashed');
    } finally {
      await t.stop();
    }
  });

  it('migrates a new database to the latest schema and refuses one newer than the code', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ras-migrate-'));
    try {
      const file = path.join(dir, 'db.sqlite');
      const s = new SqliteStorage(file);
      assert.equal(s.schemaVersion, MIGRATIONS.length);
      s.db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
      await s.close();
      assert.throws(() => new SqliteStorage(file), /newer than this RAS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
