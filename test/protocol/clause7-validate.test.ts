import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Type } from 'typebox';
import {
  MAX_BODY_BYTES,
  MESSAGE_STEMS,
  Push,
  PushClientMessage,
  ValidationError,
  Wire,
  assertValid,
  decode,
  makeRequest,
  parseJson,
  validate,
  validatorFor,
} from '../../src/protocol/clause7/index.js';

const BLOCK = '00112233445566778899aabbccddeeff';
const session = makeRequest('BsldSession', 17, { challenge: BLOCK }, 1795000000);

/** Every schema a RAS or RAC validates untrusted input against. */
const SCHEMAS = [...MESSAGE_STEMS.flatMap((s) => [Wire[s].request, Wire[s].response, Wire[s].error]), Push, PushClientMessage];

function assertTypedFailure(result: ReturnType<typeof validate>): ValidationError {
  assert.ok(!result.ok);
  assert.ok(result.error instanceof ValidationError);
  assert.equal(result.error.status, 400);
  assert.equal(typeof result.error.field, 'string');
  assert.ok(result.error.message.startsWith(`${result.error.field || '(root)'}: `), result.error.message);
  return result.error;
}

describe('Clause 7 validation', () => {
  describe('parseJson', () => {
    it('parses JSON text and bytes', () => {
      assert.deepEqual(parseJson('{"a":[1,"é"]}'), { ok: true, value: { a: [1, 'é'] } });
      assert.deepEqual(parseJson(Buffer.from('{"a":[1,"é"]}')), { ok: true, value: { a: [1, 'é'] } });
    });

    it('refuses over 64 KiB before parsing, counting UTF-8 bytes', () => {
      const exact = `"${'a'.repeat(MAX_BODY_BYTES - 2)}"`;
      assert.equal(parseJson(exact).ok, true);
      for (const big of [`"${'a'.repeat(MAX_BODY_BYTES - 1)}"`, `"${'é'.repeat(MAX_BODY_BYTES / 2)}"`, Buffer.alloc(MAX_BODY_BYTES + 1, 0x20)]) {
        const error = assertTypedFailure(parseJson(big));
        assert.equal(error.kind, 'size');
        assert.equal(error.message, '(root): must be at most 65536 bytes');
      }
      // Malformed and too big: the size is what is reported, so it was checked first.
      assert.equal(assertTypedFailure(parseJson('{'.repeat(MAX_BODY_BYTES + 1))).kind, 'size');
      assert.equal(assertTypedFailure(parseJson('[1]', 2)).kind, 'size');
    });

    it('refuses malformed JSON and bad UTF-8 with a typed error', () => {
      for (const bad of ['', '{', '{"a":1,}', "{'a':1}", 'NaN', '[1] [2]', '\u0000', Buffer.from([0x22, 0xff, 0x22])]) {
        assert.equal(assertTypedFailure(parseJson(bad)).kind, 'json', String(bad));
      }
      assert.equal(assertTypedFailure(parseJson(42 as unknown as string)).kind, 'json');
    });

    it('survives deep nesting within the limit', () => {
      const deep = `${'['.repeat(30000)}${']'.repeat(30000)}`;
      const result = parseJson(deep);
      if (!result.ok) assert.equal(result.error.kind, 'json');
      assertTypedFailure(decode(Wire.BsldSession.request, deep));
    });
  });

  describe('validate', () => {
    it('returns the typed value without unknown fields', () => {
      const body: unknown = JSON.parse(`{"challenge":"${BLOCK}","__proto__":{"polluted":true},"key":"x"}`);
      const noisy = { ...session, extra: [1], body };
      const result = validate(Wire.BsldSession.request, noisy);
      assert.deepEqual(result, { ok: true, value: session });
      assert.notEqual(result.value.body, body);
      assert.equal(Object.getPrototypeOf(result.value.body), Object.prototype);
    });

    it('names the root when the value is not an object', () => {
      for (const value of [null, undefined, 0, 'x', [], true]) {
        const error = assertTypedFailure(validate(Wire.BsldSession.request, value));
        assert.equal(error.field, '');
        assert.equal(error.pointer, '');
        assert.equal(error.kind, 'schema');
      }
    });

    it('gives dotted paths and JSON pointers', () => {
      const error = assertTypedFailure(
        validate(Wire.OperationResult.request, makeRequest('OperationResult', 1, { challenge: BLOCK, frames: [BLOCK, BLOCK, 'x'] })),
      );
      assert.equal(error.field, 'body.frames[2]');
      assert.equal(error.pointer, '/body/frames/2');
      assert.equal(error.message, 'body.frames[2]: must be 32 lower-case hex digits (a 16-byte frame)');
    });

    it('assertValid throws the ValidationError, and only it', () => {
      assert.deepEqual(assertValid(Wire.BsldSession.request, session), session);
      assert.throws(() => assertValid(Wire.BsldSession.request, { ...session, seq: 'x' }), (e) => e instanceof ValidationError && e.field === 'seq');
    });

    it('decode parses and validates in one step', () => {
      assert.deepEqual(decode(Wire.BsldSession.request, JSON.stringify(session)), { ok: true, value: session });
      assert.equal(assertTypedFailure(decode(Wire.BsldSession.request, JSON.stringify({ ...session, body: {} }))).field, 'body.challenge');
      assert.equal(assertTypedFailure(decode(Wire.BsldSession.request, '{"version":')).kind, 'json');
    });

    it('caches one compiled validator per schema', () => {
      assert.equal(validatorFor(Wire.BsldSession.request), validatorFor(Wire.BsldSession.request));
      assert.notEqual(validatorFor(Wire.BsldSession.request), validatorFor(Wire.BsldSession.response));
    });

    it('turns hostile objects into typed errors', () => {
      const getter = Object.defineProperty({ ...session }, 'body', {
        enumerable: true,
        get() {
          throw new Error('boom');
        },
      });
      const proxy = new Proxy(session, {
        get() {
          throw new RangeError('trap');
        },
        has() {
          throw new RangeError('trap');
        },
      });
      const cyclic: Record<string, unknown> = { ...session, body: { challenge: BLOCK } };
      (cyclic.body as Record<string, unknown>).self = cyclic;
      cyclic.self = cyclic;
      for (const value of [getter, proxy]) assertTypedFailure(validate(Wire.BsldSession.request, value));
      assert.deepEqual(validate(Wire.BsldSession.request, cyclic), { ok: true, value: session });
    });

    it('stays typed on deeply nested and huge values', () => {
      let deep: unknown = 'x';
      for (let i = 0; i < 100_000; i++) deep = { body: deep, challenge: [deep] };
      for (const schema of SCHEMAS) assertTypedFailure(validate(schema, deep));
      const huge = { ...session, body: { challenge: Array<string>(200_000).fill(BLOCK) } };
      assert.equal(assertTypedFailure(validate(Wire.BsldSession.request, huge)).field, 'body.challenge');
      const frames = makeRequest('OperationResult', 1, { challenge: BLOCK, frames: Array<number>(100_000).fill(1) });
      assert.match(assertTypedFailure(validate(Wire.OperationResult.request, frames)).field, /^body\.frames/);
    });

    it('coerces only when asked', () => {
      const schema = Type.Object({ n: Type.Integer() });
      assert.equal(validate(schema, { n: '5' }).ok, false);
      assert.deepEqual(validate(schema, { n: '5' }, { coerce: true }), { ok: true, value: { n: 5 } });
    });
  });

  describe('properties', () => {
    it('random JSON never makes validation throw', () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: SCHEMAS.length - 1 }), (value, i) => {
          const result = validate(SCHEMAS[i]!, value);
          if (!result.ok) assert.ok(result.error instanceof ValidationError && result.error.message.length > 0);
        }),
        { numRuns: 2000 },
      );
    });

    it('random envelopes around valid parts fail with a named field or pass', () => {
      const envelope = fc.record(
        {
          version: fc.oneof(fc.constant('1.0'), fc.jsonValue()),
          msgType: fc.oneof(fc.constant('BsldSessionRequest'), fc.string()),
          seq: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.jsonValue()),
          timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.jsonValue()),
          body: fc.oneof(fc.constant({ challenge: BLOCK }), fc.record({ challenge: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{30,34}$/), fc.jsonValue()) }), fc.jsonValue()),
        },
        { requiredKeys: [] },
      );
      fc.assert(
        fc.property(envelope, (value) => {
          const result = validate(Wire.BsldSession.request, value);
          if (result.ok) return;
          assert.ok(['', 'version', 'msgType', 'seq', 'timestamp', 'body', 'body.challenge'].includes(result.error.field), result.error.message);
        }),
        { numRuns: 1000 },
      );
    });

    it('random text never makes parseJson or decode throw', () => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.json(), fc.uint8Array()), (text) => {
          const result = decode(Push, text);
          if (!result.ok) assert.ok(result.error instanceof ValidationError);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
