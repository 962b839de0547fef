import assert from 'node:assert/strict';
import { silentLogger } from '../../src/logger.js';
import { RasError } from '../../src/rac/errors.js';
import { ResultOutbox, type OperationReport, type ResultSender } from '../../src/rac/result-outbox.js';
import { Status } from '../../src/protocol/index.js';

type Answer = Awaited<ReturnType<ResultSender['operationResult']>>;

/** A RAS that is down until told otherwise, then answers from a script. */
class ScriptedRas implements ResultSender {
  down = true;
  verdict: (operationId: number) => Answer | RasError = () => ({ state: 'done', result: 0, lockState: 1 });
  readonly calls: { operationId: number; report: OperationReport }[] = [];

  operationResult(operationId: number, report: OperationReport): Promise<Answer> {
    this.calls.push({ operationId, report });
    if (this.down) return Promise.reject(new RasError('network', 'connect ECONNREFUSED'));
    const v = this.verdict(operationId);
    return v instanceof RasError ? Promise.reject(v) : Promise.resolve(v);
  }
}

const frames = (n: number) => ({ challenge: Buffer.alloc(16, 1), frames: Array.from({ length: n }, (_, i) => Buffer.alloc(16, i)) });

describe('RAC result outbox (OperationResult the RAS could not take)', () => {
  it('keeps the lock\'s frames through an outage and delivers them once the RAS is back', async () => {
    const ras = new ScriptedRas();
    const outbox = new ResultOutbox(ras, silentLogger, 5);
    const delivered: number[] = [];
    outbox.delivered$.subscribe(({ operationId, answer }) => {
      assert.equal(answer.state, 'done');
      delivered.push(operationId);
    });
    assert.deepEqual(await outbox.send('00AA01010001', 7, frames(2)), { state: 'pending', queued: true });
    assert.equal(outbox.size, 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(delivered, [], 'nothing delivered while the RAS is down');
    ras.down = false;
    for (let i = 0; i < 100 && !delivered.length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(delivered, [7]);
    assert.equal(outbox.size, 0);
    assert.equal(ras.calls.at(-1)!.operationId, 7);
    assert.equal((ras.calls.at(-1)!.report as { frames: Buffer[] }).frames.length, 2, 'the frames, as the lock sent them');
    outbox.stop();
  });

  it('a later report of the same operation replaces the held one; an answer is final', async () => {
    const ras = new ScriptedRas();
    const outbox = new ResultOutbox(ras, silentLogger, 60_000);
    await outbox.send('d', 1, frames(1));
    await outbox.send('d', 1, frames(3));
    assert.equal(outbox.size, 1);
    ras.down = false;
    await outbox.flush();
    assert.equal((ras.calls.at(-1)!.report as { frames: Buffer[] }).frames.length, 3);
    assert.equal(outbox.size, 0);
    await outbox.flush();
    assert.equal(ras.calls.length, 3, 'not sent again once the RAS answered');
    outbox.stop();
  });

  it('drops a report the RAS refuses (replaced: 409) and passes a refusal through', async () => {
    const ras = new ScriptedRas();
    const outbox = new ResultOutbox(ras, silentLogger, 60_000);
    await outbox.send('d', 2, frames(2));
    ras.down = false;
    ras.verdict = () => new RasError('status', 'the operation was replaced by a newer one', { status: Status.Conflict });
    await outbox.flush();
    assert.equal(outbox.size, 0);
    await assert.rejects(outbox.send('d', 3, frames(2)), RasError, 'a refusal is not an outage: the caller sees it');
    assert.equal(outbox.size, 0);
    outbox.stop();
  });

  it('never holds an expired report (the RAS expires the operation by its own clock)', async () => {
    const ras = new ScriptedRas();
    const outbox = new ResultOutbox(ras, silentLogger, 60_000);
    await assert.rejects(outbox.send('d', 4, { expired: true }), RasError);
    assert.equal(outbox.size, 0);
    outbox.stop();
  });
});
