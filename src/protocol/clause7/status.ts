/**
 * 7.6 response status codes (Table 1). The envelope's `status` says what happened in the
 * standard's terms; the HTTP status is the nearest generic code, so plain HTTP tooling
 * (proxies, retries, `got`'s error handling) behaves sensibly without knowing Table 1.
 */
import { Type } from 'typebox';

export const Status = {
  Ok: 200,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  TokenInvalid: 420,
  UserExists: 421,
  WeakPassword: 422,
  CodeWrong: 423,
  BsldRegisteredElsewhere: 424,
  BsldNotLegitimate: 425,
  NoGateway: 426,
  OperationExpired: 427,
  FrameVerificationFailed: 428,
  RateLimited: 429,
  ChallengeUsed: 430,
  LockRefused: 431,
  ServerError: 500,
  Unavailable: 503,
} as const;
export type Status = (typeof Status)[keyof typeof Status];
export type ErrorStatus = Exclude<Status, 200>;

/** Table 1, row by row: HTTP status and the default `message`. */
const TABLE_1: Readonly<Record<Status, readonly [http: number, message: string]>> = {
  200: [200, 'OK'],
  400: [400, 'malformed envelope or body'],
  401: [401, 'missing or wrong credentials'],
  403: [403, 'not allowed'],
  404: [404, 'not found'],
  409: [409, 'conflict'],
  420: [401, 'token invalid or expired'],
  421: [409, 'user already exists'],
  422: [400, 'password empty or too weak'],
  423: [400, 'verification code or setup code missing, wrong or expired'],
  424: [409, 'BSLD already registered to another account'],
  425: [404, 'BSLD not legitimate'],
  426: [409, 'no gateway online can reach the BSLD'],
  427: [410, 'operation expired'],
  428: [400, 'lock frame failed verification'],
  429: [429, 'rate limited'],
  430: [409, 'challenge already used'],
  431: [409, 'the lock refused'],
  500: [500, 'server error'],
  503: [503, 'unavailable'],
};

export function isStatus(value: unknown): value is Status {
  return typeof value === 'number' && Object.hasOwn(TABLE_1, value);
}

export function httpStatusFor(status: Status): number {
  return TABLE_1[status][0];
}

export function statusMessage(status: Status): string {
  return TABLE_1[status][1];
}

/** Every Table 1 code but 200, for error envelopes. */
export const ErrorStatusField = Type.Enum(
  Object.values(Status).filter((s): s is ErrorStatus => s !== Status.Ok),
  { description: 'a Table 1 status code other than 200' },
);
