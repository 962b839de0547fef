import assert from 'node:assert/strict';
import { Status, Wire, httpStatusFor, isStatus, statusMessage, validate, type ErrorStatus } from '../../src/protocol/clause7/index.js';

/** Table 1 as the profile prints it (7.6), parsed rather than retyped so a drift shows. */
const TABLE_1 = `
| 200 | success | 200 |
| 400 | malformed envelope or body | 400 |
| 401 | missing or wrong credentials | 401 |
| 403 | authenticated but not allowed (not owner/member, outside shared window) | 403 |
| 404 | no such user, member or operation, or a BSLD you have no rights to | 404 |
| 409 | conflict: frames already issued for this operation, or it was replaced | 409 |
| 420 | access or refresh token invalid or expired | 401 |
| 421 | user already exists | 409 |
| 422 | password empty or too weak | 400 |
| 423 | verification code or setup code missing, wrong or expired | 400 |
| 424 | BSLD already registered to another account | 409 |
| 425 | BSLD not legitimate (deviceId unknown to the DDMS) | 404 |
| 426 | no gateway online can reach the BSLD | 409 |
| 427 | operation expired before a gateway ran it | 410 |
| 428 | a lock frame relayed to the RAS failed verification | 400 |
| 430 | challenge already used for another call | 409 |
| 431 | the lock refused (its Table 4/6/8 result code is in the body) | 409 |
| 429 | rate limited (\`Retry-After\` set) | 429 |
| 500 / 503 | server error / unavailable | 500 / 503 |
`;

function table1(): Map<number, number> {
  const rows = new Map<number, number>();
  for (const line of TABLE_1.trim().split('\n')) {
    const [status = '', , http = ''] = line.split('|').slice(1).map((cell) => cell.trim());
    const statuses = status.split(' / ').map(Number);
    const https = http.split(' / ').map(Number);
    statuses.forEach((s, i) => rows.set(s, https[i]!));
  }
  return rows;
}

describe('Clause 7 Table 1 (7.6)', () => {
  it('maps every status to the HTTP code of the table, and has no other status', () => {
    const expected = table1();
    assert.equal(expected.size, 20);
    assert.deepEqual(Object.values(Status).sort(), [...expected.keys()].sort());
    for (const [status, http] of expected) {
      assert.ok(isStatus(status));
      assert.equal(httpStatusFor(status), http, `status ${status}`);
    }
  });

  it('names the standard rows', () => {
    assert.deepEqual(
      [Status.TokenInvalid, Status.UserExists, Status.WeakPassword, Status.CodeWrong, Status.BsldRegisteredElsewhere, Status.BsldNotLegitimate,
        Status.NoGateway, Status.OperationExpired, Status.FrameVerificationFailed, Status.RateLimited, Status.ChallengeUsed, Status.LockRefused],
      [420, 421, 422, 423, 424, 425, 426, 427, 428, 429, 430, 431],
    );
    assert.equal(statusMessage(Status.Ok), 'OK');
  });

  it('has a short default message for every status', () => {
    for (const status of Object.values(Status)) {
      assert.ok(statusMessage(status).length > 0 && statusMessage(status).length <= 64, `status ${status}`);
    }
  });

  it('tells Table 1 codes from other numbers', () => {
    for (const other of [0, 201, 402, 411, 419, 432, 502, '200', null, undefined, 420.5]) assert.equal(isStatus(other), false, String(other));
  });

  it('error envelopes accept every status but 200', () => {
    for (const status of Object.values(Status)) {
      const envelope = { version: '1.0', msgType: 'LogoutResponse', seq: 1, timestamp: 1, status, message: 'm', body: {} };
      assert.equal(validate(Wire.Logout.error, envelope).ok, status !== Status.Ok, `status ${status}`);
    }
    const notInTable = { version: '1.0', msgType: 'LogoutResponse', seq: 1, timestamp: 1, status: 402 as ErrorStatus, message: 'm', body: {} };
    assert.equal(validate(Wire.Logout.error, notInTable).ok, false);
  });
});
