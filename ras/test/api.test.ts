import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addUser, provisionDevices, startRas } from '../src/index.js';
import { Client, expectStatus } from './support/harness.js';
import { TestLock } from './support/lock.js';

describe('Programmatic API: provisionDevices, addUser, startRas on the same database; master.key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ras-api-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prepares a database offline, then serves it; the master key file is created 0600 on first use', async () => {
    const dbPath = path.join(dir, 'data', 'ras.sqlite');
    const env = {};
    const lock = TestLock.random();
    assert.deepEqual(await provisionDevices({ dbPath, entries: [lock.factoryEntry], env }), ['created']);
    const keyFile = path.join(dir, 'data', 'master.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(dbPath).mode & 0o777, 0o600);
    const { accountId } = await addUser({ dbPath, identifier: 'api@example.com', password: 'api passphrase', env });
    const ras = await startRas({ dbPath, port: 0, logger: false, env });
    try {
      const client = new Client(ras.url);
      const login = expectStatus(await client.call('UserAuthentication', { body: { identifier: 'api@example.com', password: 'api passphrase' } }), 200);
      assert.equal(login.accountId, accountId);
      const auth = expectStatus(await client.call('BsldAuthentication', { token: login.accessToken as string, params: { deviceId: lock.deviceId }, body: {} }), 200);
      assert.equal(auth.legitimate, true);
    } finally {
      await ras.close();
      await ras.close();
    }
  });

  it('runs on an in-memory database', async () => {
    const ras = await startRas({ dbPath: ':memory:', port: 0, logger: false });
    try {
      await ras.addUser('mem@example.com', 'memory passphrase');
      const r = await new Client(ras.url).call('UserAuthentication', { body: { identifier: 'mem@example.com', password: 'memory passphrase' } });
      expectStatus(r, 200);
    } finally {
      await ras.close();
    }
  });
});
