import assert from 'node:assert/strict';
import { LockSession } from '../../src/bgw/session.js';
import { BgwError } from '../../src/bgw/errors.js';
import { FakeLock } from '../support/fake-lock.js';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined };

describe('BGW LockSession (against a fake lock)', () => {
  it('unlocks cold, then locks warm on the same connection with one RAS session', async () => {
    const lock = new FakeLock();
    const authority = lock.authority();
    const session = new LockSession(lock, authority, { log });
    const unlocked = await session.operate('unlock');
    assert.equal(unlocked.lockState, 0);
    assert.equal(unlocked.verified, true);
    const locked = await session.operate('lock');
    assert.equal(locked.lockState, 1);
    assert.equal(lock.connects, 1);
    assert.equal(authority.sessions, 1);
    await session.close();
  });

  it('retries once on a fresh session when the kept connection died unseen', async () => {
    const lock = new FakeLock();
    const authority = lock.authority();
    const session = new LockSession(lock, authority, { log });
    await session.operate('unlock');
    // The link is gone but no disconnect was signalled yet: the first write fails.
    const write = lock.writeFrame.bind(lock);
    let failed = false;
    lock.writeFrame = (frame) => {
      if (!failed) {
        failed = true;
        return Promise.reject(new BgwError('disconnected', 'the lock is not connected'));
      }
      return write(frame);
    };
    const locked = await session.operate('lock');
    assert.equal(locked.lockState, 1);
    assert.equal(authority.sessions, 2);
    await session.close();
  });

  it('runs queued operations one at a time, in order', async () => {
    const lock = new FakeLock();
    const session = new LockSession(lock, lock.authority(), { log });
    const results = await Promise.all([session.operate('unlock'), session.operate('lock'), session.operate('unlock')]);
    assert.deepEqual(results.map((r) => r.lockState), [0, 1, 0]);
    await session.close();
  });

  it('reconnects with a fresh session after the lock dropped the connection', async () => {
    const lock = new FakeLock();
    const authority = lock.authority();
    const session = new LockSession(lock, authority, { log });
    await session.operate('unlock');
    await lock.disconnect();
    assert.equal(session.isWarm, false);
    await session.operate('lock');
    assert.equal(lock.connects, 2);
    assert.equal(authority.sessions, 2);
    await session.close();
  });

  it('follows a manual turn reported on an open session', async () => {
    const lock = new FakeLock();
    const session = new LockSession(lock, lock.authority(), { log });
    await session.operate('lock');
    const reported = new Promise((resolve) => {
      session.events$.subscribe((e) => {
        if (e.kind === 'statusReport') resolve(e.snapshot.lockState);
      });
    });
    lock.turn(0);
    assert.equal(await reported, 0);
    assert.equal(session.state$.value?.lockState, 0);
    await session.close();
  });

  it('fails with a typed error when the RAS refuses the session, and never writes a frame', async () => {
    const lock = new FakeLock();
    const session = new LockSession(lock, lock.authority({ openSession: () => Promise.reject(new BgwError('ras', 'forbidden', { status: 403 })) }), { log });
    await assert.rejects(session.operate('unlock'), (e) => e instanceof BgwError && e.code === 'ras');
    assert.equal(lock.written.length, 0);
    assert.equal(lock.isConnected, false);
    await session.close();
  });

  it('times out when the lock never answers, and drops the connection', async () => {
    const lock = new FakeLock();
    lock.notify = () => undefined;
    const session = new LockSession(lock, lock.authority(), { log, answerTimeoutMs: 50 });
    await assert.rejects(session.operate('unlock'), (e) => e instanceof BgwError && e.code === 'timeout');
    assert.equal(lock.isConnected, false);
    await session.close();
  });

  it('drops the connection on a corrupted notification and fails the operation as a protocol error', async () => {
    const lock = new FakeLock();
    const session = new LockSession(lock, lock.authority(), { log });
    await session.operate('lock');
    const original = lock.notify.bind(lock);
    lock.notify = (frame) => {
      const bad = Buffer.from(frame);
      bad[3]! ^= 0x40;
      original(bad);
    };
    await assert.rejects(session.operate('unlock'), (e) => e instanceof BgwError && (e.code === 'protocol' || e.code === 'disconnected'));
    assert.equal(lock.isConnected, false);
    await session.close();
  });

  it('never runs a pushed command whose expiresAt has passed, and reports it expired', async () => {
    const lock = new FakeLock();
    const reports: unknown[] = [];
    const session = new LockSession(
      lock,
      lock.authority({
        operationFrames: () => assert.fail('frames must not be fetched for an expired command'),
        operationResult: (_id, report) => {
          reports.push(report);
          return Promise.resolve({ state: 'expired' });
        },
      }),
      { log },
    );
    const outcome = await session.runCommand({ operationId: 9, op: 'unlock', expiresAt: Math.floor(Date.now() / 1000) - 1 });
    assert.equal(outcome.state, 'expired');
    assert.deepEqual(reports, [{ expired: true }]);
    assert.equal(lock.connects, 0);
    assert.equal(lock.lockState, 1);
    await session.close();
  });
});
