import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, expectStatus } from './support/harness.js';
import { TestLock } from './support/lock.js';
import { PushClient, sleep } from './support/push-client.js';
import { cli, serve, type ServeChild } from './support/child.js';

describe('Push outbox across a RAS killed with SIGKILL and restarted; the CLI', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(path.join(tmpdir(), 'ras-restart-'));
  const db = path.join(dir, 'ras.sqlite');
  const env = { RAS_MASTER_KEY: randomBytes(32).toString('hex') };
  const lock = TestLock.random();
  let child: ServeChild | undefined;

  after(() => {
    if (child && child.child.exitCode === null) child.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions and adds users from the CLI with reliable exit codes', () => {
    const factory = path.join(dir, 'factory.json');
    writeFileSync(factory, JSON.stringify([lock.factoryEntry]));
    let r = cli(['provision', '--file', factory, '--db', db, '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { results: [{ deviceId: lock.deviceId, outcome: 'created' }] });
    // The same list again is an update; another K_d for the same deviceId is a conflict (3).
    assert.equal(cli(['provision', '--file', factory, '--db', db], env).status, 0);
    writeFileSync(factory, JSON.stringify([{ ...lock.factoryEntry, deviceKey: randomBytes(16).toString('hex') }]));
    assert.equal(cli(['provision', '--file', factory, '--db', db], env).status, 3);
    writeFileSync(factory, JSON.stringify([{ ...lock.factoryEntry, setupCode: '123' }]));
    r = cli(['provision', '--file', factory, '--db', db], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /setupCode/);
    assert.equal(cli(['users', 'add', '--identifier', 'owner@example.com', '--password', 'owner passphrase', '--db', db], env).status, 0);
    assert.equal(cli(['users', 'add', '--identifier', 'member@example.com', '--password', 'member passphrase', '--db', db], env).status, 0);
    assert.equal(cli(['users', 'add', '--identifier', 'owner@example.com', '--password', 'owner passphrase', '--db', db], env).status, 3);
    assert.equal(cli(['users', 'add', '--identifier', 'weak@example.com', '--password', 'short', '--db', db], env).status, 2);
    assert.equal(cli(['nonsense', '--db', db], env).status, 2);
    assert.equal(cli(['--help'], env).status, 0);
    // A wrong master key is refused at once, not when a K_d is first needed.
    r = cli(['bslds', 'list', '--db', db], { RAS_MASTER_KEY: randomBytes(32).toString('hex') });
    assert.equal(r.status, 1);
    r = cli(['bslds', 'list', '--db', db, '--json'], env);
    assert.equal(r.status, 0);
    assert.equal((JSON.parse(r.stdout) as { bslds: { deviceId: string }[] }).bslds[0]!.deviceId, lock.deviceId);
  });

  it('re-delivers unacknowledged pushes and resumes from lastSeq after SIGKILL and restart', async () => {
    child = await serve(['--db', db], env);
    let client = new Client(child.url);
    const login = async (identifier: string, password: string): Promise<{ accessToken: string; accountId: string }> =>
      expectStatus(await client.call('UserAuthentication', { body: { identifier, password } }), 200) as { accessToken: string; accountId: string };
    const owner = await login('owner@example.com', 'owner passphrase');
    // Register the lock.
    const challenge = lock.connect();
    const reg = expectStatus(
      await client.call('BsldRegistration', { token: owner.accessToken, body: { deviceId: lock.deviceId, challenge, name: 'Door', setupCode: lock.setupCode } }),
      200,
    );
    expectStatus(
      await client.call('BsldConfirm', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { challenge, response: lock.writeAccountId(reg.registrationFrame as string) } }),
      200,
    );
    const gatewayId = expectStatus(await client.call('GatewayRegistration', { token: owner.accessToken, body: { name: 'Bridge' } }), 200).gatewayId as string;
    expectStatus(await client.call('GatewayReach', { token: owner.accessToken, params: { gatewayId }, body: { deviceIds: [lock.deviceId] } }), 200);

    const rac = await PushClient.connect(child.url, owner.accessToken, { resume: 0 });
    const registered = await rac.next((m) => m.event === 'bsld.registered');
    rac.ack(registered.seq);
    await sleep(100);
    await rac.close();

    // While the RAC is away: a member is added (queued), and a command goes to the gateway, which receives it but never acknowledges.
    expectStatus(await client.call('MemberAddition', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { identifier: 'member@example.com' } }), 200);
    const gw = await PushClient.connect(child.url, owner.accessToken, { gatewayId, resume: 0 });
    const op = expectStatus(await client.call('Operation', { token: owner.accessToken, params: { deviceId: lock.deviceId }, body: { op: 'unlock' } }), 200);
    const cmd = await gw.next((m) => m.event === 'bsld.command');
    assert.equal(cmd.body.operationId, op.operationId);

    child.child.kill('SIGKILL');
    assert.equal(await child.exited, null);
    await gw.close();

    const firstLogs = child.logs.join('\n');
    for (const secret of [owner.accessToken, 'owner passphrase', lock.setupCode, lock.factoryEntry.deviceKey, challenge, reg.registrationFrame as string]) {
      assert.equal(firstLogs.includes(secret), false, 'a secret reached the log');
    }
    child = await serve(['--db', db], env);
    client = new Client(child.url);
    const rac2 = await PushClient.connect(child.url, owner.accessToken, { resume: registered.seq });
    const changed = await rac2.next((m) => m.event === 'member.changed');
    assert.equal(changed.body.change, 'added');
    assert.ok(changed.seq > registered.seq);
    await sleep(200);
    assert.ok(rac2.messages.every((m) => m.seq > registered.seq), 'nothing at or below lastSeq is sent again');
    const gw2 = await PushClient.connect(child.url, owner.accessToken, { gatewayId, resume: 0 });
    const again = await gw2.next((m) => m.event === 'bsld.command');
    assert.equal(again.seq, cmd.seq);
    assert.equal(again.body.operationId, op.operationId);
    // The operation survived the restart too.
    assert.equal(expectStatus(await client.call('OperationQuery', { token: owner.accessToken, params: { operationId: op.operationId as number } }), 200).state, 'pending');
    await rac2.close();
    await gw2.close();

    // SIGTERM: graceful shutdown, exit 0.
    child.child.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    // The structured log carries none of the secrets that went through this server.
    const logs = child.logs.join('\n');
    assert.match(logs, /"msg":"RAS listening"/);
    for (const secret of [owner.accessToken, 'owner passphrase', lock.setupCode, lock.factoryEntry.deviceKey, env.RAS_MASTER_KEY]) {
      assert.equal(logs.includes(secret), false, 'a secret reached the log');
    }
  });
});
