/**
 * The field formats of Clause 7 ("Identifiers and keys", 7.7), as JSON Schema. Each carries a
 * `description` that is both API documentation and the tail of the validation message
 * ("body.challenge: must be 32 lower-case hex digits"), so the two never drift apart.
 * Patterns only, no custom `format`s, so fastify's Ajv takes them unchanged.
 */
import { Type } from 'typebox';
import { ACCOUNT_ID_PATTERN, BLOCK_HEX_PATTERN, DEVICE_ID_PATTERN } from '../bytes.js';

const UINT32_MAX = 0xffff_ffff;

const block = (what: string) => Type.String({ pattern: BLOCK_HEX_PATTERN.source, description: `32 lower-case hex digits (${what})` });

/** Printable text: control characters would let a name forge lines in logs and UIs. */
const text = (maxLength: number, minLength = 1) =>
  Type.String({ minLength, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]*$', description: `text of ${minLength} to ${maxLength} printable characters` });

export const Field = {
  DeviceId: Type.String({ pattern: DEVICE_ID_PATTERN.source, description: "12 upper-case hex digits (the BSLD's BLE MAC)" }),
  AccountId: Type.String({ pattern: ACCOUNT_ID_PATTERN.source, description: '18 lower-case hex digits (an accountId)' }),
  /** Profile-chosen: the profile leaves gateway ids open; 8 random bytes keep them unguessable. */
  GatewayId: Type.String({ pattern: '^[0-9a-f]{16}$', description: '16 lower-case hex digits (a gatewayId)' }),
  Challenge: block('a 16-byte challenge'),
  Frame: block('a 16-byte frame'),
  Key: block('a 16-byte key'),
  SetupCode: Type.String({ pattern: '^[0-9]{8}$', description: '8 decimal digits (the setup code)' }),
  /** Profile silent on the length; six digits is what an SMS or e-mail user expects to type. */
  VerificationCode: Type.String({ pattern: '^[0-9]{6}$', description: '6 decimal digits (the verification code)' }),
  /**
   * E.164 phone number or an e-mail address, the two TPSP channels of 7.1. Domain labels exclude
   * the dot so the pattern cannot backtrack quadratically on a hostile 64 KiB string.
   */
  Identifier: Type.String({
    maxLength: 254,
    pattern: '^(\\+[1-9][0-9]{6,14}|[^\\s@]{1,64}@[^\\s@.]+(\\.[^\\s@.]+)+)$',
    description: 'an E.164 phone number (+ and 7 to 15 digits) or an e-mail address',
  }),
  /** Empty is allowed here: Table 1 answers an empty password with 422, not 400. */
  Password: Type.String({ maxLength: 1024, description: 'a string of at most 1024 characters' }),
  /** Opaque to the RAC; the charset covers base64url, JWTs and hex. */
  Token: Type.String({ minLength: 16, maxLength: 2048, pattern: '^[A-Za-z0-9._~+/=-]+$', description: 'an opaque token of 16 to 2048 URL-safe characters' }),
  Name: text(64),
  DisplayName: text(64),
  Model: text(64),
  Uint32: Type.Integer({ minimum: 0, maximum: UINT32_MAX, description: 'an integer from 0 to 4294967295' }),
  /** A JSON number, the u32 of Table 7 (7.7). */
  OperationId: Type.Integer({ minimum: 0, maximum: UINT32_MAX, description: 'an operationId, an integer from 0 to 4294967295' }),
  /** The same range as a frame's TS, so every timestamp fits Clause 8 too. */
  Timestamp: Type.Integer({ minimum: 0, maximum: UINT32_MAX, description: 'Unix time in whole seconds (0 to 4294967295)' }),
  Seconds: Type.Integer({ minimum: 0, maximum: 0x7fff_ffff, description: 'a whole number of seconds' }),
  Op: Type.Enum(['unlock', 'lock', 'status'], { description: 'one of "unlock", "lock", "status"' }),
  Role: Type.Enum(['owner', 'member'], { description: 'one of "owner", "member"' }),
  OperationState: Type.Enum(['pending', 'done', 'failed', 'expired'], { description: 'one of "pending", "done", "failed", "expired"' }),
  /** Clause 8 lockState, HomeKit's numbers. */
  LockState: Type.Integer({ minimum: 0, maximum: 3, description: 'a lockState, 0 unsecured, 1 secured, 2 jammed, 3 unknown' }),
  DoorState: Type.Enum([0, 1, 255], { description: 'a doorState, 0 closed, 1 open, 255 no sensor' }),
  Battery: Type.Integer({ minimum: 0, maximum: 100, description: 'a battery percentage, 0 to 100' }),
  /** The result byte of Tables 4, 6 and 8. */
  LockResult: Type.Integer({ minimum: 0, maximum: 255, description: 'a lock result byte, 0 to 255' }),
  /** Status report cause: 1 manual, 2 auto-lock, 3 keypad. */
  Cause: Type.Integer({ minimum: 1, maximum: 3, description: 'a cause, 1 manual, 2 auto-lock, 3 keypad' }),
} as const;
