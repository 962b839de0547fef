import assert from 'node:assert/strict';
import { Compile } from 'typebox/compile';
import {
  MESSAGE_STEMS,
  Messages,
  Wire,
  hasRequestBody,
  makeError,
  makeRequest,
  makeResponse,
  pathFor,
  validate,
  type MessageStem,
  type WireRequest,
} from '../../src/protocol/clause7/index.js';

const DEVICE = 'A4C138F0E1D2';
const ACCOUNT = '0123456789abcdef01';
const BLOCK = '00112233445566778899aabbccddeeff';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.e30.sig-part_1';
const GATEWAY = '0011223344556677';

const bsldInfo = {
  deviceId: DEVICE,
  name: 'Front door',
  role: 'owner',
  ownerAccountId: ACCOUNT,
  advertKey: BLOCK,
  registeredAt: 1795000000,
  lastState: { lockState: 1, battery: 80, doorState: 0, updatedAt: 1795000100 },
};
const stateEvent = { kind: 'state', at: 1795000000, lockState: 1, battery: 80, doorState: 255, cause: 2 };
const operationEvent = { kind: 'operation', at: 1795000000, op: 'unlock', result: 0, lockState: 0, operationId: 7 };

/** One valid example body per row of the profile's Messages table, every optional field filled. */
const EXAMPLES: Record<MessageStem, { requests: unknown[]; responses: unknown[] }> = {
  VerificationCode: { requests: [{ identifier: '+8613800138000' }, { identifier: 'ana@example.org' }], responses: [{ expiresIn: 300 }] },
  UserRegistration: {
    requests: [{ identifier: 'ana@example.org', password: 'correct horse', verificationCode: '123456', displayName: 'Ana' }],
    responses: [{ accountId: ACCOUNT }],
  },
  UserAuthentication: {
    requests: [{ identifier: 'ana@example.org', password: 'correct horse' }],
    responses: [{ accountId: ACCOUNT, accessToken: TOKEN, refreshToken: TOKEN, expiresIn: 900 }],
  },
  TokenRefresh: { requests: [{ refreshToken: TOKEN }], responses: [{ accessToken: TOKEN, refreshToken: TOKEN, expiresIn: 900 }] },
  Logout: { requests: [{ refreshToken: TOKEN }], responses: [{}] },
  BsldDiscovery: { requests: [{}], responses: [{ bslds: [bsldInfo] }] },
  BsldAuthentication: { requests: [{}], responses: [{ legitimate: true, registered: false, registeredToYou: false }] },
  BsldRegistration: { requests: [{ deviceId: DEVICE, challenge: BLOCK, name: 'Front door', setupCode: '12345678' }], responses: [{ registrationFrame: BLOCK }] },
  BsldConfirm: { requests: [{ challenge: BLOCK, response: BLOCK }], responses: [{ result: 0, bsld: bsldInfo }] },
  BsldRemoval: { requests: [{ challenge: BLOCK, force: false }], responses: [{ removalFrame: BLOCK }] },
  BsldSession: { requests: [{ challenge: BLOCK }], responses: [{ sessionKey: BLOCK, ownerAccountId: ACCOUNT, role: 'member', expiresIn: 60 }] },
  OperationFrames: { requests: [{ challenge: BLOCK }], responses: [{ frames: [BLOCK, BLOCK] }] },
  Operation: { requests: [{ op: 'unlock' }, { op: 'lock' }, { op: 'status' }], responses: [{ operationId: 4294967295, state: 'pending' }] },
  OperationQuery: { requests: [{}], responses: [{ state: 'done', result: 0, lockState: 0 }] },
  OperationResult: { requests: [{ challenge: BLOCK, frames: [BLOCK, BLOCK, BLOCK] }, { expired: true }], responses: [{ state: 'failed', result: 5, lockState: 2 }] },
  MemberAddition: {
    requests: [{ identifier: '+4915112345678', validFrom: 1795000000, validUntil: 1795086400 }],
    responses: [{ accountId: ACCOUNT, validFrom: 1795000000, validUntil: 1795086400 }],
  },
  MemberRemoval: { requests: [{}], responses: [{}] },
  GatewayRegistration: { requests: [{ name: 'Hallway Pi' }], responses: [{ gatewayId: GATEWAY }] },
  GatewayReach: { requests: [{ deviceIds: [DEVICE, 'A4C138F0E1D3'] }], responses: [{}] },
  EventReport: { requests: [{ events: [stateEvent, operationEvent] }], responses: [{ stored: 2 }] },
  EventQuery: {
    requests: [{}],
    responses: [{ events: [{ eventId: 1, event: operationEvent, reportedBy: ACCOUNT, gatewayId: GATEWAY, verification: 'lock-verified', receivedAt: 1795000001 }] }],
  },
  Provision: { requests: [{ deviceId: DEVICE, deviceKey: BLOCK, setupCode: '00000042', model: 'IGRS-L1' }], responses: [{ deviceId: DEVICE }] },
};

/** The `?` fields of the profile, per message (plus the codes whose absence Table 1 answers with 423). */
const OPTIONAL: Partial<Record<MessageStem, readonly string[]>> = {
  UserRegistration: ['body.verificationCode', 'body.displayName'],
  BsldDiscovery: ['body.bslds[0].advertKey', 'body.bslds[0].lastState.battery', 'body.bslds[0].lastState.doorState'],
  BsldRegistration: ['body.setupCode'],
  BsldConfirm: ['body.bsld', 'body.bsld.advertKey', 'body.bsld.lastState.battery', 'body.bsld.lastState.doorState'],
  BsldRemoval: ['body.challenge', 'body.force', 'body.removalFrame'],
  OperationQuery: ['body.result', 'body.lockState'],
  OperationResult: ['body.result', 'body.lockState'],
  MemberAddition: ['body.validFrom', 'body.validUntil'],
  EventReport: ['body.events[0].battery', 'body.events[0].doorState', 'body.events[0].cause', 'body.events[1].lockState', 'body.events[1].operationId'],
  EventQuery: ['body.events[0].gatewayId', 'body.events[0].event.lockState', 'body.events[0].event.operationId'],
};
/** `{}` fits neither OperationResult branch equally badly; the first branch's field is named. */
const NAMED_WHEN_MISSING: Readonly<Record<string, string>> = { 'OperationResult body.expired': 'body.challenge' };

function wrongType(value: unknown): unknown {
  if (typeof value === 'string') return 12345;
  if (typeof value === 'number' || typeof value === 'boolean') return 'x';
  if (Array.isArray(value)) return {};
  return [];
}

type Path = readonly (string | number)[];
const dotted = (path: Path) => path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');

/** Every field of a JSON value, depth first, with its path. */
function* fields(value: unknown, path: Path = []): Generator<Path> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      yield [...path, i];
      yield* fields(item, [...path, i]);
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      yield [...path, key];
      yield* fields(item, [...path, key]);
    }
  }
}

function edit(value: unknown, path: Path, change: (parent: Record<string | number, unknown>, key: string | number) => void): unknown {
  const copy = structuredClone(value);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  change(parent, path.at(-1)!);
  return copy;
}

function assertRejects(schema: Parameters<typeof validate>[0], value: unknown, field: string): void {
  const result = validate(schema, value);
  assert.ok(!result.ok, `${field}: accepted ${JSON.stringify(value)}`);
  assert.equal(result.error.field, field, result.error.message);
  assert.ok(result.error.message.startsWith(`${field}: `), result.error.message);
}

describe('Clause 7 messages', () => {
  it('has a route for every row of the profile Messages table', () => {
    assert.deepEqual([...MESSAGE_STEMS].sort(), [
      'BsldAuthentication', 'BsldConfirm', 'BsldDiscovery', 'BsldRegistration', 'BsldRemoval', 'BsldSession',
      'EventQuery', 'EventReport', 'GatewayReach', 'GatewayRegistration', 'Logout', 'MemberAddition', 'MemberRemoval',
      'Operation', 'OperationFrames', 'OperationQuery', 'OperationResult', 'Provision', 'TokenRefresh',
      'UserAuthentication', 'UserRegistration', 'VerificationCode',
    ]);
  });

  it('every optional field of the list occurs in an example', () => {
    for (const [stem, paths] of Object.entries(OPTIONAL)) {
      const { requests, responses } = EXAMPLES[stem as MessageStem];
      const present = new Set([...requests, ...responses].flatMap((body) => [...fields({ body })].map(dotted)));
      for (const path of paths) assert.ok(present.has(path), `${stem}: ${path}`);
    }
  });

  it('routes are unique, under /v1, and their :params are the params schema', () => {
    const seen = new Set<string>();
    for (const stem of MESSAGE_STEMS) {
      const { method, path, params } = Messages[stem];
      assert.ok(path.startsWith('/v1/'), path);
      assert.ok(!seen.has(`${method} ${path}`), `${method} ${path} twice`);
      seen.add(`${method} ${path}`);
      const names = [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
      assert.deepEqual(Object.keys(params.properties).sort(), names.sort(), stem);
      assert.deepEqual([...(params.required ?? [])].sort(), names.sort(), stem);
    }
  });

  it('matches the profile calls', () => {
    const calls = Object.fromEntries(MESSAGE_STEMS.map((s) => [s, `${Messages[s].method} ${Messages[s].path} ${Messages[s].auth}`]));
    assert.equal(calls.UserAuthentication, 'POST /v1/auth/login none');
    assert.equal(calls.BsldDiscovery, 'GET /v1/bslds bearer');
    assert.equal(calls.BsldRegistration, 'POST /v1/bslds bearer');
    assert.equal(calls.BsldSession, 'POST /v1/bslds/:deviceId/sessions bearer');
    assert.equal(calls.OperationQuery, 'GET /v1/operations/:operationId bearer');
    assert.equal(calls.MemberRemoval, 'DELETE /v1/bslds/:deviceId/members/:accountId bearer');
    assert.equal(calls.GatewayReach, 'PUT /v1/gateways/:gatewayId/reach bearer');
    assert.equal(calls.Provision, 'POST /v1/admin/bslds admin');
    assert.deepEqual(MESSAGE_STEMS.filter((s) => !hasRequestBody(s)).sort(), ['BsldDiscovery', 'EventQuery', 'MemberRemoval', 'OperationQuery']);
  });

  it('pathFor fills and escapes path parameters', () => {
    assert.equal(pathFor('BsldSession', { deviceId: DEVICE }), `/v1/bslds/${DEVICE}/sessions`);
    assert.equal(pathFor('OperationResult', { operationId: 42 }), '/v1/operations/42/result');
    assert.equal(pathFor('MemberRemoval', { deviceId: 'A/B', accountId: ACCOUNT }), `/v1/bslds/A%2FB/members/${ACCOUNT}`);
    assert.equal(pathFor('BsldDiscovery', {}), '/v1/bslds');
    assert.throws(() => pathFor('BsldSession', {} as { deviceId: string }), TypeError);
  });

  it('path parameters and query strings validate with coercion', () => {
    const params = validate(Messages.OperationQuery.params, { operationId: '4294967295' }, { coerce: true });
    assert.deepEqual(params, { ok: true, value: { operationId: 4294967295 } });
    assertRejects(Messages.OperationQuery.params, { operationId: '4294967296' }, 'operationId');
    const query = validate(Messages.OperationQuery.query, { wait: '30', seq: '9' }, { coerce: true });
    assert.deepEqual(query, { ok: true, value: { wait: 30, seq: 9 } });
    assert.equal(validate(Messages.OperationQuery.query, { wait: '31' }, { coerce: true }).ok, false);
    assert.equal(validate(Messages.BsldSession.params, { deviceId: 'a4c138f0e1d2' }, { coerce: true }).ok, false);
  });

  for (const stem of MESSAGE_STEMS) {
    describe(stem, () => {
      const wire = Wire[stem];
      const requests = EXAMPLES[stem].requests.map((body, i) => makeRequest(stem, i + 1, body, 1795000000));
      const responses = EXAMPLES[stem].responses.map((body) => makeResponse(stem, 9, body, 1795000001));
      const optional = new Set(OPTIONAL[stem]);

      it('accepts the examples, dropping unknown fields', () => {
        for (const [schema, value] of [...requests.map((r) => [wire.request, r] as const), ...responses.map((r) => [wire.response, r] as const)]) {
          assert.deepEqual(validate(schema, value), { ok: true, value }, JSON.stringify(value));
          const noisy = { ...value, extra: 1, body: { ...(value.body as object), extra: { deep: [1] } } };
          assert.deepEqual(validate(schema, noisy), { ok: true, value });
        }
      });

      it('rejects each missing or mistyped field, naming it', () => {
        for (const [schema, value] of [...requests.map((r) => [wire.request, r] as const), ...responses.map((r) => [wire.response, r] as const)]) {
          for (const path of fields(value)) {
            const field = dotted(path);
            assertRejects(schema, edit(value, path, (p, k) => (p[k] = wrongType(p[k]))), field);
            const without = edit(value, path, (p, k) => (Array.isArray(p) ? p.splice(k as number, 1) : Reflect.deleteProperty(p, k)));
            if (typeof path.at(-1) === 'number') continue; // array lengths have their own tests
            if (optional.has(field)) assert.equal(validate(schema, without).ok, true, `${stem}: ${field} should be optional`);
            else assertRejects(schema, without, NAMED_WHEN_MISSING[`${stem} ${field}`] ?? field);
          }
        }
      });

      it('accepts any Table 1 error envelope and refuses status 200 in it', () => {
        assert.equal(validate(wire.error, makeError(stem, 3, 429, 'slow down', { retryAfter: 5 })).ok, true);
        assert.equal(validate(wire.error, makeError(stem, 3, 431, undefined, { result: 3 })).ok, true);
        assertRejects(wire.error, { ...makeError(stem, 3, 400), status: 200 }, 'status');
        assertRejects(wire.error, { ...makeError(stem, 3, 400), msgType: 'OtherResponse' }, 'msgType');
      });

      it('is plain JSON Schema: a JSON copy validates the same way', () => {
        for (const [schema, value] of [[wire.request, requests[0]], [wire.response, responses[0]]] as const) {
          const copy = JSON.parse(JSON.stringify(schema)) as typeof schema;
          assert.equal(Compile(copy).Check(value), true);
          assert.equal(Compile(copy).Check({ ...value, seq: -1 }), false);
        }
      });
    });
  }
});

describe('Clause 7 field formats', () => {
  const session = (body: object) => makeRequest('BsldSession', 1, body, 1795000000);
  const registration = (body: object) =>
    makeRequest('BsldRegistration', 1, { deviceId: DEVICE, challenge: BLOCK, name: 'Door', setupCode: '12345678', ...body }, 1795000000);

  it('challenges, frames and keys are 32 lower-case hex digits', () => {
    for (const bad of [BLOCK.toUpperCase(), BLOCK.slice(2), `${BLOCK}00`, `${BLOCK.slice(1)}g`, '']) {
      assertRejects(Wire.BsldSession.request, session({ challenge: bad }), 'body.challenge');
    }
    const result = validate(Wire.BsldSession.request, session({ challenge: 'zz' }));
    assert.equal(!result.ok && result.error.message, 'body.challenge: must be 32 lower-case hex digits (a 16-byte challenge)');
  });

  it('deviceId is 12 upper-case hex, setupCode 8 digits, name printable', () => {
    for (const bad of ['a4c138f0e1d2', 'A4C138F0E1', 'A4:C1:38:F0:E1:D2']) assertRejects(Wire.BsldRegistration.request, registration({ deviceId: bad }), 'body.deviceId');
    for (const bad of ['1234567', '123456789', '1234567a', 12345678]) assertRejects(Wire.BsldRegistration.request, registration({ setupCode: bad }), 'body.setupCode');
    for (const bad of ['', 'a\nb', 'x'.repeat(65)]) assertRejects(Wire.BsldRegistration.request, registration({ name: bad }), 'body.name');
    assert.equal(validate(Wire.BsldRegistration.request, registration({ name: 'Tür vorne 🚪' })).ok, true);
  });

  it('accountId is 18 lower-case hex', () => {
    const response = (ownerAccountId: string) => makeResponse('BsldSession', 1, { sessionKey: BLOCK, ownerAccountId, role: 'owner', expiresIn: 60 });
    assert.equal(validate(Wire.BsldSession.response, response(ACCOUNT)).ok, true);
    for (const bad of [ACCOUNT.toUpperCase(), ACCOUNT.slice(2), `${ACCOUNT}00`]) assertRejects(Wire.BsldSession.response, response(bad), 'body.ownerAccountId');
  });

  it('operationId is an integer JSON number below 2^32', () => {
    const response = (operationId: unknown) => makeResponse('Operation', 1, { operationId, state: 'pending' });
    for (const ok of [0, 1, 4294967295]) assert.equal(validate(Wire.Operation.response, response(ok)).ok, true);
    for (const bad of [-1, 4294967296, 1.5, '7', Number.NaN]) assertRejects(Wire.Operation.response, response(bad), 'body.operationId');
  });

  it('op, role, lockState, seq and timestamps have their ranges', () => {
    assertRejects(Wire.Operation.request, makeRequest('Operation', 1, { op: 'open' }), 'body.op');
    const session2 = (role: string, expiresIn = 60) => makeResponse('BsldSession', 1, { sessionKey: BLOCK, ownerAccountId: ACCOUNT, role, expiresIn });
    assertRejects(Wire.BsldSession.response, session2('admin'), 'body.role');
    assertRejects(Wire.BsldSession.response, session2('owner', 61), 'body.expiresIn');
    const query = (lockState: number) => makeResponse('OperationQuery', 1, { state: 'done', lockState });
    assert.equal(validate(Wire.OperationQuery.response, query(3)).ok, true);
    assertRejects(Wire.OperationQuery.response, query(4), 'body.lockState');
    assertRejects(Wire.BsldSession.request, { ...session({ challenge: BLOCK }), seq: 2 ** 32 }, 'seq');
    assertRejects(Wire.BsldSession.request, { ...session({ challenge: BLOCK }), timestamp: -1 }, 'timestamp');
    assertRejects(Wire.BsldSession.request, { ...session({ challenge: BLOCK }), version: '1.1' }, 'version');
  });

  it('identifiers are E.164 phone numbers or e-mail addresses', () => {
    const request = (identifier: string) => makeRequest('VerificationCode', 1, { identifier });
    for (const ok of ['+8613800138000', '+14155550123', 'a.b+c@mail.example.co.uk']) assert.equal(validate(Wire.VerificationCode.request, request(ok)).ok, true, ok);
    for (const bad of ['13800138000', '+0123456789', '+1234567890123456', 'ana', 'ana@', 'ana@example', 'a b@example.org', '']) {
      assertRejects(Wire.VerificationCode.request, request(bad), 'body.identifier');
    }
  });

  it('the e-mail pattern stays linear on hostile input', () => {
    const hostile = makeRequest('VerificationCode', 1, { identifier: `a@${'a.'.repeat(30000)}` });
    const started = process.hrtime.bigint();
    assertRejects(Wire.VerificationCode.request, hostile, 'body.identifier');
    assert.ok(process.hrtime.bigint() - started < 500_000_000n);
  });

  it('lets an empty password and a missing code through, for Table 1 statuses 422 and 423', () => {
    const body = { identifier: 'ana@example.org', password: '' };
    assert.equal(validate(Wire.UserRegistration.request, makeRequest('UserRegistration', 1, body)).ok, true);
    assertRejects(Wire.UserRegistration.request, makeRequest('UserRegistration', 1, { ...body, verificationCode: '12345' }), 'body.verificationCode');
  });

  it('array lengths follow the profile', () => {
    const frames = (n: number) => makeResponse('OperationFrames', 1, { frames: Array<string>(n).fill(BLOCK) });
    assertRejects(Wire.OperationFrames.response, frames(1), 'body.frames');
    assertRejects(Wire.OperationFrames.response, frames(3), 'body.frames');
    const result = (n: number) => makeRequest('OperationResult', 1, { challenge: BLOCK, frames: Array<string>(n).fill(BLOCK) });
    assert.equal(validate(Wire.OperationResult.request, result(64)).ok, true);
    assertRejects(Wire.OperationResult.request, result(0), 'body.frames');
    assertRejects(Wire.OperationResult.request, result(65), 'body.frames');
    assertRejects(Wire.GatewayReach.request, makeRequest('GatewayReach', 1, { deviceIds: [DEVICE, DEVICE] }), 'body.deviceIds');
    assertRejects(Wire.EventReport.request, makeRequest('EventReport', 1, { events: [] }), 'body.events');
  });

  it('names the field of the union branch the value was meant for', () => {
    const result = (body: object) => makeRequest('OperationResult', 1, body);
    assertRejects(Wire.OperationResult.request, result({ expired: false }), 'body.expired');
    assertRejects(Wire.OperationResult.request, result({ challenge: BLOCK, frames: [BLOCK, 'AB'] }), 'body.frames[1]');
    assertRejects(Wire.OperationResult.request, result({}), 'body.challenge');
    const events = (...e: object[]) => makeRequest('EventReport', 1, { events: e });
    assertRejects(Wire.EventReport.request, events(stateEvent, { ...operationEvent, op: 'open' }), 'body.events[1].op');
    assertRejects(Wire.EventReport.request, events({ ...stateEvent, kind: 'other' }), 'body.events[0].kind');
    const kind = validate(Wire.EventReport.request, events({ ...stateEvent, kind: 'other' }));
    assert.equal(!kind.ok && kind.error.message, 'body.events[0].kind: must be one of "state", "operation"');
  });

  it('gives the client typed envelopes', () => {
    const request: WireRequest<'BsldSession'> = makeRequest('BsldSession', 5, { challenge: BLOCK }, 1);
    assert.equal(request.msgType, 'BsldSessionRequest');
    const checked = validate(Wire.Operation.request, makeRequest('Operation', 1, { op: 'lock' }));
    assert.ok(checked.ok);
    const op: 'unlock' | 'lock' | 'status' = checked.value.body.op;
    assert.equal(op, 'lock');
  });
});
