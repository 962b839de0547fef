import assert from 'node:assert/strict';
import { PUSH_EVENTS, Push, PushAck, PushClientMessage, PushResume, decode, validate, type PushOf } from '../../src/protocol/clause7/index.js';

const DEVICE = 'A4C138F0E1D2';
const ACCOUNT = '0123456789abcdef01';

const BODIES = {
  'bsld.command': { operationId: 7, op: 'unlock', expiresAt: 1795000030 },
  'bsld.state': { lockState: 0, battery: 55, doorState: 1, updatedAt: 1795000000 },
  'bsld.registered': {
    bsld: { deviceId: DEVICE, name: 'Door', role: 'member', ownerAccountId: ACCOUNT, registeredAt: 1795000000, lastState: { lockState: 3, updatedAt: 1795000000 } },
  },
  'bsld.removed': { forced: true },
  'bsld.operation': { operationId: 7, state: 'done', result: 0, lockState: 0 },
  'member.changed': { accountId: ACCOUNT, change: 'added', validFrom: 1795000000, validUntil: 1795003600 },
  'account.revoked': { reason: 'token-reuse' },
} as const;

const push = (event: keyof typeof BODIES, extra: object = {}) => ({
  version: '1.0',
  msgType: 'Push',
  seq: 123,
  timestamp: 1795000000,
  event,
  ...(event === 'account.revoked' ? {} : { deviceId: DEVICE }),
  body: BODIES[event],
  ...extra,
});

function assertRejects(schema: Parameters<typeof validate>[0], value: unknown, field: string): void {
  const result = validate(schema, value);
  assert.ok(!result.ok, `${field}: accepted ${JSON.stringify(value)}`);
  assert.equal(result.error.field, field, result.error.message);
}

describe('Clause 7 push (Table 2)', () => {
  it('has a body schema for each event of Table 2', () => {
    assert.deepEqual([...PUSH_EVENTS].sort(), Object.keys(BODIES).sort());
  });

  for (const event of Object.keys(BODIES) as (keyof typeof BODIES)[]) {
    it(`${event}: accepts its example and names each bad field`, () => {
      const value = push(event);
      assert.deepEqual(validate(Push, { ...value, unknown: 1 }), { ok: true, value });
      for (const key of Object.keys(value.body)) {
        const body: Record<string, unknown> = { ...value.body };
        body[key] = typeof body[key] === 'string' ? 1 : 'x';
        assertRejects(Push, { ...value, body }, `body.${key}`);
      }
      for (const key of ['version', 'msgType', 'seq', 'timestamp', 'event', 'body']) {
        const { [key]: _, ...without } = value as Record<string, unknown>;
        assertRejects(Push, without, key);
      }
    });
  }

  it('requires deviceId exactly for the events about one lock', () => {
    const { deviceId: _, ...noDevice } = push('bsld.command');
    assertRejects(Push, noDevice, 'deviceId');
    assertRejects(Push, push('bsld.state', { deviceId: 'a4c138f0e1d2' }), 'deviceId');
    assert.equal(validate(Push, push('account.revoked')).ok, true);
  });

  it('names the event when it is not one of Table 2', () => {
    const result = validate(Push, push('bsld.command', { event: 'bsld.exploded' }));
    assert.equal(!result.ok && result.error.field, 'event');
    assert.match(!result.ok ? result.error.message : '', /^event: must be one of "bsld.command", "bsld.state", /);
  });

  it('checks the body against its own event', () => {
    assertRejects(Push, push('bsld.command', { body: BODIES['bsld.state'] }), 'body.operationId');
    assertRejects(Push, push('bsld.command', { body: { ...BODIES['bsld.command'], op: 'open' } }), 'body.op');
    assertRejects(Push, push('bsld.command', { body: { ...BODIES['bsld.command'], operationId: 2 ** 32 } }), 'body.operationId');
    assertRejects(Push, push('bsld.registered', { body: { bsld: { ...BODIES['bsld.registered'].bsld, role: 'admin' } } }), 'body.bsld.role');
  });

  it('narrows to the event type', () => {
    const result = decode(Push, JSON.stringify(push('bsld.command')));
    assert.ok(result.ok && result.value.event === 'bsld.command');
    const command: PushOf<'bsld.command'> = result.value;
    assert.equal(command.body.expiresAt - command.timestamp, 30);
  });

  it('PushAck and PushResume', () => {
    assert.deepEqual(validate(PushClientMessage, { msgType: 'PushAck', seq: 123 }), { ok: true, value: { msgType: 'PushAck', seq: 123 } });
    assert.deepEqual(validate(PushClientMessage, { msgType: 'PushResume', lastSeq: 0 }), { ok: true, value: { msgType: 'PushResume', lastSeq: 0 } });
    assertRejects(PushAck, { msgType: 'PushAck', seq: -1 }, 'seq');
    assertRejects(PushResume, { msgType: 'PushResume' }, 'lastSeq');
    assertRejects(PushClientMessage, { msgType: 'PushNack', seq: 1 }, 'msgType');
    assertRejects(PushClientMessage, { msgType: 'PushResume', lastSeq: 'x' }, 'lastSeq');
  });
});
