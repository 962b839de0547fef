/**
 * 7.7 generic message format. Each message gets its own envelope schema, with `msgType` fixed
 * to `<stem>Request` / `<stem>Response`, so a body sent to the wrong route fails on `msgType`
 * before its fields are even looked at. Unknown fields are allowed (JSON Schema's default) and
 * `validate` drops them from its output.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { Field } from './fields.js';
import { ErrorStatusField, Status, statusMessage, type ErrorStatus } from './status.js';

export const PROTOCOL_VERSION = '1.0';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'the profile version "1.0"' });
const Message = Type.String({ maxLength: 512, description: 'a human-readable text of at most 512 characters' });

/** Profile-chosen body of every non-200 response; the profile only says what 429 and 431 carry. */
export const ErrorBody = Type.Object({
  /** 400: the first bad field, as `ValidationError.field`. */
  field: Type.Optional(Type.String({ maxLength: 256 })),
  /** 431: the result byte of the Table 4, 6 or 8 frame the lock answered with. */
  result: Type.Optional(Field.LockResult),
  /** 429: the `Retry-After` header's value, for clients that cannot see headers. */
  retryAfter: Type.Optional(Field.Seconds),
});
export type ErrorBody = Static<typeof ErrorBody>;

export function requestEnvelope<const Stem extends string, Body extends TSchema>(stem: Stem, body: Body) {
  return Type.Object({
    version: Version,
    msgType: Type.Literal(`${stem}Request`),
    seq: Field.Uint32,
    timestamp: Field.Timestamp,
    body,
  });
}

/** The 200 answer. Errors have their own envelope, so each HTTP status maps to one schema. */
export function responseEnvelope<const Stem extends string, Body extends TSchema>(stem: Stem, body: Body) {
  return Type.Object({
    version: Version,
    msgType: Type.Literal(`${stem}Response`),
    seq: Field.Uint32,
    timestamp: Field.Timestamp,
    status: Type.Literal(Status.Ok),
    message: Message,
    body,
  });
}

export function errorEnvelope<const Stem extends string>(stem: Stem) {
  return Type.Object({
    version: Version,
    msgType: Type.Literal(`${stem}Response`),
    seq: Field.Uint32,
    timestamp: Field.Timestamp,
    status: ErrorStatusField,
    message: Message,
    body: ErrorBody,
  });
}

/** Any request: for a first look (version, msgType, seq) before the route's own schema. */
export const AnyRequestEnvelope = Type.Object({
  version: Version,
  msgType: Type.String({ maxLength: 64 }),
  seq: Field.Uint32,
  timestamp: Field.Timestamp,
  body: Type.Object({}),
});
export type AnyRequestEnvelope = Static<typeof AnyRequestEnvelope>;

export interface RequestEnvelope<Stem extends string, Body> {
  version: typeof PROTOCOL_VERSION;
  msgType: `${Stem}Request`;
  seq: number;
  timestamp: number;
  body: Body;
}

export interface ResponseEnvelope<Stem extends string, Body> {
  version: typeof PROTOCOL_VERSION;
  msgType: `${Stem}Response`;
  seq: number;
  timestamp: number;
  status: typeof Status.Ok;
  message: string;
  body: Body;
}

export interface ErrorEnvelope<Stem extends string> {
  version: typeof PROTOCOL_VERSION;
  msgType: `${Stem}Response`;
  seq: number;
  timestamp: number;
  status: ErrorStatus;
  message: string;
  body: ErrorBody;
}

export const unixNow = (): number => Math.floor(Date.now() / 1000);

export function makeRequest<const Stem extends string, Body>(stem: Stem, seq: number, body: Body, timestamp = unixNow()): RequestEnvelope<Stem, Body> {
  return { version: PROTOCOL_VERSION, msgType: `${stem}Request`, seq, timestamp, body };
}

export function makeResponse<const Stem extends string, Body>(stem: Stem, seq: number, body: Body, timestamp = unixNow()): ResponseEnvelope<Stem, Body> {
  return { version: PROTOCOL_VERSION, msgType: `${stem}Response`, seq, timestamp, status: Status.Ok, message: statusMessage(Status.Ok), body };
}

export function makeError<const Stem extends string>(
  stem: Stem,
  seq: number,
  status: ErrorStatus,
  message = statusMessage(status),
  body: ErrorBody = {},
  timestamp = unixNow(),
): ErrorEnvelope<Stem> {
  return { version: PROTOCOL_VERSION, msgType: `${stem}Response`, seq, timestamp, status, message, body };
}
