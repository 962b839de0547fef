import assert from 'node:assert/strict';
import { BgwError } from '../../src/bgw/errors.js';
import { Result, Status } from '../../src/protocol/index.js';
import { RasError } from '../../src/rac/errors.js';
import { explain, UiError, type UiAction } from '../../src/ui/explain.js';

const ACTIONS: UiAction[] = ['status', 'send-code', 'create-account', 'sign-in', 'sign-out', 'list-locks', 'scan', 'register-lock', 'remove-lock', 'share-lock', 'unshare-lock'];
const status = (s: number, details: Record<string, number> = {}) => new RasError('status', `X: ${s}`, { status: s as Status, ...details });

describe('settings page error messages', () => {
  it('give every failure a sentence and a next step, never a bare code', () => {
    const failures: unknown[] = [
      ...Object.values(Status).filter((s) => s !== 200).map((s) => status(s)),
      new RasError('network', 'x'),
      new RasError('timeout', 'x'),
      new RasError('malformed', 'x'),
      new RasError('signed-out', 'x'),
      ...(['timeout', 'unreachable', 'busy', 'disconnected', 'protocol', 'refused', 'ras', 'bus', 'closed'] as const).map((c) => new BgwError(c, 'x')),
      ...Object.values(Result).map((r) => new BgwError('refused', 'x', { result: r })),
      new UiError('invalid-input', 'Type a name.', 'A short name.'),
    ];
    for (const action of ACTIONS) {
      for (const err of failures) {
        const p = explain(err, action);
        assert.ok(p.message.length > 8 && p.hint.length > 8, `${action}: ${String(err)}`);
        assert.match(p.message, /^[A-Z].*\.$/, `a sentence: ${p.message}`);
        assert.notEqual(p.code, 'internal');
      }
    }
  });

  it('tell a wrong verification code from a wrong setup code', () => {
    assert.equal(explain(status(Status.CodeWrong), 'create-account').code, 'wrong-verification-code');
    assert.equal(explain(status(Status.CodeWrong), 'register-lock').code, 'wrong-setup-code');
  });

  it('name the lock\'s own refusals and the outage, with what to do', () => {
    assert.equal(explain(new BgwError('refused', 'x', { result: Result.PairingModeRequired }), 'register-lock').code, 'lock-not-in-pairing-mode');
    assert.equal(explain(status(Status.LockRefused, { result: Result.PairingModeRequired }), 'register-lock').code, 'lock-not-in-pairing-mode');
    assert.equal(explain(status(Status.BsldRegisteredElsewhere), 'register-lock').code, 'lock-registered-elsewhere');
    assert.match(explain(new BgwError('unreachable', 'x'), 'remove-lock').hint, /Remove without the lock/);
    const outage = explain(new RasError('network', 'x'), 'sign-in', { rasUrl: 'https://ras.example.com' });
    assert.equal(outage.code, 'ras-unreachable');
    assert.match(outage.message, /https:\/\/ras\.example\.com/);
    assert.match(explain(status(Status.RateLimited, { retryAfter: 42 }), 'sign-in').hint, /42 seconds/);
    assert.equal(explain(new Error('boom'), 'status').code, 'internal');
  });
});
