/**
 * The Clause 7 messages ("Messages" table of the profile): one request body and one response
 * body per row, and `Messages`, the route table both the RAS and the RAC are built from.
 * A schema and its Static type share a name, as TypeBox code usually does.
 */
import { Type, type Static, type TObject, type TSchema } from 'typebox';
import { errorEnvelope, requestEnvelope, responseEnvelope } from './envelope.js';
import { Field } from './fields.js';

const Empty = Type.Object({});

/** What the RAS knows of a BSLD's state; the same shape in BsldDiscovery, pushes and events. */
export const BsldState = Type.Object({
  lockState: Field.LockState,
  battery: Type.Optional(Field.Battery),
  doorState: Type.Optional(Field.DoorState),
  updatedAt: Field.Timestamp,
});
export type BsldState = Static<typeof BsldState>;

export const BsldInfo = Type.Object({
  deviceId: Field.DeviceId,
  name: Field.Name,
  role: Field.Role,
  ownerAccountId: Field.AccountId,
  /** K_v, for the owner only; members never get it. */
  advertKey: Type.Optional(Field.Key),
  registeredAt: Field.Timestamp,
  lastState: BsldState,
});
export type BsldInfo = Static<typeof BsldInfo>;

// 7.1 (Fig. 8)
export const VerificationCodeRequest = Type.Object({ identifier: Field.Identifier });
export const VerificationCodeResponse = Type.Object({ expiresIn: Field.Seconds });
export const UserRegistrationRequest = Type.Object({
  identifier: Field.Identifier,
  password: Field.Password,
  /** Optional in the schema only so that a missing code gets Table 1's 423, not 400. */
  verificationCode: Type.Optional(Field.VerificationCode),
  displayName: Type.Optional(Field.DisplayName),
});
export const UserRegistrationResponse = Type.Object({ accountId: Field.AccountId });

// 7.2 (Fig. 9)
export const UserAuthenticationRequest = Type.Object({ identifier: Field.Identifier, password: Field.Password });
export const UserAuthenticationResponse = Type.Object({
  accountId: Field.AccountId,
  accessToken: Field.Token,
  refreshToken: Field.Token,
  expiresIn: Field.Seconds,
});
export const TokenRefreshRequest = Type.Object({ refreshToken: Field.Token });
export const TokenRefreshResponse = Type.Object({ accessToken: Field.Token, refreshToken: Field.Token, expiresIn: Field.Seconds });
export const LogoutRequest = Type.Object({ refreshToken: Field.Token });
export const LogoutResponse = Empty;

// 7.3
export const BsldDiscoveryRequest = Empty;
export const BsldDiscoveryResponse = Type.Object({ bslds: Type.Array(BsldInfo, { maxItems: 1024 }) });

// 7.4 (Fig. 10, 11), 7.5 (Fig. 12)
export const BsldAuthenticationRequest = Empty;
export const BsldAuthenticationResponse = Type.Object({
  legitimate: Type.Boolean(),
  registered: Type.Boolean(),
  registeredToYou: Type.Boolean(),
});
export const BsldRegistrationRequest = Type.Object({
  deviceId: Field.DeviceId,
  challenge: Field.Challenge,
  name: Field.Name,
  /** Optional in the schema only so that a missing code gets Table 1's 423, not 400. */
  setupCode: Type.Optional(Field.SetupCode),
});
export const BsldRegistrationResponse = Type.Object({ registrationFrame: Field.Frame });
export const BsldConfirmRequest = Type.Object({ challenge: Field.Challenge, response: Field.Frame });
export const BsldConfirmResponse = Type.Object({ result: Field.LockResult, bsld: Type.Optional(BsldInfo) });
export const BsldRemovalRequest = Type.Object({ challenge: Type.Optional(Field.Challenge), force: Type.Optional(Type.Boolean()) });
export const BsldRemovalResponse = Type.Object({ removalFrame: Type.Optional(Field.Frame) });

// Stage b and operations
export const BsldSessionRequest = Type.Object({ challenge: Field.Challenge });
export const BsldSessionResponse = Type.Object({
  sessionKey: Field.Key,
  ownerAccountId: Field.AccountId,
  role: Field.Role,
  /** The profile fixes 60 s; a RAS may grant less, never more than a lock connection lasts. */
  expiresIn: Type.Integer({ minimum: 1, maximum: 60, description: 'a whole number of seconds, 1 to 60' }),
});
export const OperationFramesRequest = Type.Object({ challenge: Field.Challenge });
export const OperationFramesResponse = Type.Object({
  frames: Type.Array(Field.Frame, { minItems: 2, maxItems: 2, description: 'the Table 5 and Table 7 frames' }),
});
export const OperationRequest = Type.Object({ op: Field.Op });
export const OperationResponse = Type.Object({ operationId: Field.OperationId, state: Type.Literal('pending') });
export const OperationQueryRequest = Empty;
/** `lockState` is a profile addition (the table lists `{state,result?}`): a remote RAC needs it for HomeKit. */
export const OperationQueryResponse = Type.Object({
  state: Field.OperationState,
  result: Type.Optional(Field.LockResult),
  lockState: Type.Optional(Field.LockState),
});
export const OperationResultRequest = Type.Union([
  Type.Object({
    challenge: Field.Challenge,
    /** A 60 s stage-b connection never carries more lock frames than this. */
    frames: Type.Array(Field.Frame, { minItems: 1, maxItems: 64, description: 'the lock frames of the connection, in order' }),
  }),
  Type.Object({ expired: Type.Literal(true) }),
]);
export const OperationResultResponse = OperationQueryResponse;

// Resource sharing
export const MemberAdditionRequest = Type.Object({
  identifier: Field.Identifier,
  validFrom: Type.Optional(Field.Timestamp),
  validUntil: Type.Optional(Field.Timestamp),
});
export const MemberAdditionResponse = Type.Object({
  accountId: Field.AccountId,
  validFrom: Type.Optional(Field.Timestamp),
  validUntil: Type.Optional(Field.Timestamp),
});
export const MemberRemovalRequest = Empty;
export const MemberRemovalResponse = Empty;

// Gateways
export const GatewayRegistrationRequest = Type.Object({ name: Field.Name });
export const GatewayRegistrationResponse = Type.Object({ gatewayId: Field.GatewayId });
export const GatewayReachRequest = Type.Object({ deviceIds: Type.Array(Field.DeviceId, { maxItems: 256, uniqueItems: true }) });
export const GatewayReachResponse = Empty;

// Events (the audit trail)
/**
 * Profile-chosen: a gateway reports either a state change (from a status report or a Table 6/8
 * answer) or an operation it ran. `at` is the gateway's clock, since the lock's is not trusted.
 */
export const ReportedEvent = Type.Union([
  Type.Object({
    kind: Type.Literal('state'),
    at: Field.Timestamp,
    lockState: Field.LockState,
    battery: Type.Optional(Field.Battery),
    doorState: Type.Optional(Field.DoorState),
    cause: Type.Optional(Field.Cause),
  }),
  Type.Object({
    kind: Type.Literal('operation'),
    at: Field.Timestamp,
    op: Field.Op,
    result: Field.LockResult,
    lockState: Type.Optional(Field.LockState),
    operationId: Type.Optional(Field.OperationId),
  }),
]);
export type ReportedEvent = Static<typeof ReportedEvent>;

/** A stored event; only OperationFrames results are `lock-verified` (profile, Event row). */
export const StoredEvent = Type.Object({
  eventId: Field.Uint32,
  event: ReportedEvent,
  reportedBy: Field.AccountId,
  gatewayId: Type.Optional(Field.GatewayId),
  verification: Type.Enum(['lock-verified', 'gateway-reported'], { description: 'one of "lock-verified", "gateway-reported"' }),
  receivedAt: Field.Timestamp,
});
export type StoredEvent = Static<typeof StoredEvent>;

/** A batch, so a gateway that was offline sends its backlog in one call. */
export const EventReportRequest = Type.Object({ events: Type.Array(ReportedEvent, { minItems: 1, maxItems: 64 }) });
export const EventReportResponse = Type.Object({ stored: Field.Uint32 });
export const EventQueryRequest = Empty;
export const EventQueryResponse = Type.Object({ events: Type.Array(StoredEvent, { maxItems: 500 }) });

// DDMS
export const ProvisionRequest = Type.Object({
  deviceId: Field.DeviceId,
  deviceKey: Field.Key,
  setupCode: Field.SetupCode,
  model: Field.Model,
});
export const ProvisionResponse = Type.Object({ deviceId: Field.DeviceId });

export type VerificationCodeRequest = Static<typeof VerificationCodeRequest>;
export type VerificationCodeResponse = Static<typeof VerificationCodeResponse>;
export type UserRegistrationRequest = Static<typeof UserRegistrationRequest>;
export type UserRegistrationResponse = Static<typeof UserRegistrationResponse>;
export type UserAuthenticationRequest = Static<typeof UserAuthenticationRequest>;
export type UserAuthenticationResponse = Static<typeof UserAuthenticationResponse>;
export type TokenRefreshRequest = Static<typeof TokenRefreshRequest>;
export type TokenRefreshResponse = Static<typeof TokenRefreshResponse>;
export type LogoutRequest = Static<typeof LogoutRequest>;
export type LogoutResponse = Static<typeof LogoutResponse>;
export type BsldDiscoveryRequest = Static<typeof BsldDiscoveryRequest>;
export type BsldDiscoveryResponse = Static<typeof BsldDiscoveryResponse>;
export type BsldAuthenticationRequest = Static<typeof BsldAuthenticationRequest>;
export type BsldAuthenticationResponse = Static<typeof BsldAuthenticationResponse>;
export type BsldRegistrationRequest = Static<typeof BsldRegistrationRequest>;
export type BsldRegistrationResponse = Static<typeof BsldRegistrationResponse>;
export type BsldConfirmRequest = Static<typeof BsldConfirmRequest>;
export type BsldConfirmResponse = Static<typeof BsldConfirmResponse>;
export type BsldRemovalRequest = Static<typeof BsldRemovalRequest>;
export type BsldRemovalResponse = Static<typeof BsldRemovalResponse>;
export type BsldSessionRequest = Static<typeof BsldSessionRequest>;
export type BsldSessionResponse = Static<typeof BsldSessionResponse>;
export type OperationFramesRequest = Static<typeof OperationFramesRequest>;
export type OperationFramesResponse = Static<typeof OperationFramesResponse>;
export type OperationRequest = Static<typeof OperationRequest>;
export type OperationResponse = Static<typeof OperationResponse>;
export type OperationQueryRequest = Static<typeof OperationQueryRequest>;
export type OperationQueryResponse = Static<typeof OperationQueryResponse>;
export type OperationResultRequest = Static<typeof OperationResultRequest>;
export type OperationResultResponse = Static<typeof OperationResultResponse>;
export type MemberAdditionRequest = Static<typeof MemberAdditionRequest>;
export type MemberAdditionResponse = Static<typeof MemberAdditionResponse>;
export type MemberRemovalRequest = Static<typeof MemberRemovalRequest>;
export type MemberRemovalResponse = Static<typeof MemberRemovalResponse>;
export type GatewayRegistrationRequest = Static<typeof GatewayRegistrationRequest>;
export type GatewayRegistrationResponse = Static<typeof GatewayRegistrationResponse>;
export type GatewayReachRequest = Static<typeof GatewayReachRequest>;
export type GatewayReachResponse = Static<typeof GatewayReachResponse>;
export type EventReportRequest = Static<typeof EventReportRequest>;
export type EventReportResponse = Static<typeof EventReportResponse>;
export type EventQueryRequest = Static<typeof EventQueryRequest>;
export type EventQueryResponse = Static<typeof EventQueryResponse>;
export type ProvisionRequest = Static<typeof ProvisionRequest>;
export type ProvisionResponse = Static<typeof ProvisionResponse>;

// The route table

const DeviceParams = Type.Object({ deviceId: Field.DeviceId });
const OperationParams = Type.Object({ operationId: Field.OperationId });
/** GET and DELETE carry no envelope, so the RAC may pass the `seq` to echo here (default 0). */
const SeqQuery = Type.Object({ seq: Type.Optional(Field.Uint32) });

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** `none`: the body is the credential; `admin`: the DDMS's admin token, not a user's. */
export type Auth = 'none' | 'bearer' | 'admin';

export interface MessageSpec {
  readonly clause: string;
  readonly method: Method;
  /** Fastify-style template under `/v1`, e.g. `/v1/bslds/:deviceId/sessions`. */
  readonly path: string;
  readonly auth: Auth;
  /** Path parameters; integers arrive as strings, so validate them with `{ coerce: true }`. */
  readonly params: TObject;
  /** Query string, likewise coerced. */
  readonly query: TObject;
  /** The envelope's body; `Empty` and never sent for GET and DELETE. */
  readonly request: TSchema;
  readonly response: TSchema;
}

const NoParams = Empty;
const post = { method: 'POST', query: Empty } as const;

export const Messages = {
  VerificationCode: { ...post, clause: '7.1', path: '/v1/users/verification', auth: 'none', params: NoParams, request: VerificationCodeRequest, response: VerificationCodeResponse },
  UserRegistration: { ...post, clause: '7.1', path: '/v1/users', auth: 'none', params: NoParams, request: UserRegistrationRequest, response: UserRegistrationResponse },
  UserAuthentication: { ...post, clause: '7.2', path: '/v1/auth/login', auth: 'none', params: NoParams, request: UserAuthenticationRequest, response: UserAuthenticationResponse },
  TokenRefresh: { ...post, clause: '7.2', path: '/v1/auth/refresh', auth: 'none', params: NoParams, request: TokenRefreshRequest, response: TokenRefreshResponse },
  Logout: { ...post, clause: '7.2', path: '/v1/auth/logout', auth: 'none', params: NoParams, request: LogoutRequest, response: LogoutResponse },
  BsldDiscovery: { method: 'GET', clause: '7.3', path: '/v1/bslds', auth: 'bearer', params: NoParams, query: SeqQuery, request: BsldDiscoveryRequest, response: BsldDiscoveryResponse },
  BsldAuthentication: { ...post, clause: '7.4', path: '/v1/bslds/:deviceId/authentication', auth: 'bearer', params: DeviceParams, request: BsldAuthenticationRequest, response: BsldAuthenticationResponse },
  BsldRegistration: { ...post, clause: '7.4', path: '/v1/bslds', auth: 'bearer', params: NoParams, request: BsldRegistrationRequest, response: BsldRegistrationResponse },
  BsldConfirm: { ...post, clause: '7.4, 7.5', path: '/v1/bslds/:deviceId/confirmation', auth: 'bearer', params: DeviceParams, request: BsldConfirmRequest, response: BsldConfirmResponse },
  BsldRemoval: { ...post, clause: '7.5', path: '/v1/bslds/:deviceId/removal', auth: 'bearer', params: DeviceParams, request: BsldRemovalRequest, response: BsldRemovalResponse },
  BsldSession: { ...post, clause: '—', path: '/v1/bslds/:deviceId/sessions', auth: 'bearer', params: DeviceParams, request: BsldSessionRequest, response: BsldSessionResponse },
  OperationFrames: { ...post, clause: '—', path: '/v1/operations/:operationId/frames', auth: 'bearer', params: OperationParams, request: OperationFramesRequest, response: OperationFramesResponse },
  Operation: { ...post, clause: '—', path: '/v1/bslds/:deviceId/operations', auth: 'bearer', params: DeviceParams, request: OperationRequest, response: OperationResponse },
  OperationQuery: {
    method: 'GET', clause: '—', path: '/v1/operations/:operationId', auth: 'bearer', params: OperationParams,
    query: Type.Object({ seq: Type.Optional(Field.Uint32), wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 30, description: 'a long-poll time of 0 to 30 s' })) }),
    request: OperationQueryRequest, response: OperationQueryResponse,
  },
  OperationResult: { ...post, clause: '—', path: '/v1/operations/:operationId/result', auth: 'bearer', params: OperationParams, request: OperationResultRequest, response: OperationResultResponse },
  MemberAddition: { ...post, clause: '—', path: '/v1/bslds/:deviceId/members', auth: 'bearer', params: DeviceParams, request: MemberAdditionRequest, response: MemberAdditionResponse },
  MemberRemoval: {
    method: 'DELETE', clause: '—', path: '/v1/bslds/:deviceId/members/:accountId', auth: 'bearer',
    params: Type.Object({ deviceId: Field.DeviceId, accountId: Field.AccountId }), query: SeqQuery,
    request: MemberRemovalRequest, response: MemberRemovalResponse,
  },
  GatewayRegistration: { ...post, clause: '—', path: '/v1/gateways', auth: 'bearer', params: NoParams, request: GatewayRegistrationRequest, response: GatewayRegistrationResponse },
  GatewayReach: {
    method: 'PUT', clause: '—', path: '/v1/gateways/:gatewayId/reach', auth: 'bearer', params: Type.Object({ gatewayId: Field.GatewayId }), query: Empty,
    request: GatewayReachRequest, response: GatewayReachResponse,
  },
  EventReport: { ...post, clause: '—', path: '/v1/bslds/:deviceId/events', auth: 'bearer', params: DeviceParams, request: EventReportRequest, response: EventReportResponse },
  EventQuery: {
    method: 'GET', clause: '—', path: '/v1/bslds/:deviceId/events', auth: 'bearer', params: DeviceParams,
    query: Type.Object({
      seq: Type.Optional(Field.Uint32),
      since: Type.Optional(Field.Timestamp),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'a count of 1 to 500' })),
    }),
    request: EventQueryRequest, response: EventQueryResponse,
  },
  Provision: { ...post, clause: 'DDMS', path: '/v1/admin/bslds', auth: 'admin', params: NoParams, request: ProvisionRequest, response: ProvisionResponse },
} as const satisfies Record<string, MessageSpec>;

export type MessageStem = keyof typeof Messages;
export const MESSAGE_STEMS = Object.keys(Messages) as MessageStem[];

/** Whether the call sends a request envelope at all. */
export function hasRequestBody(stem: MessageStem): boolean {
  const { method } = Messages[stem];
  return method === 'POST' || method === 'PUT';
}

type Spec<K extends MessageStem> = (typeof Messages)[K];
export interface WireSchemas<K extends MessageStem> {
  readonly request: ReturnType<typeof requestEnvelope<K, Spec<K>['request']>>;
  readonly response: ReturnType<typeof responseEnvelope<K, Spec<K>['response']>>;
  readonly error: ReturnType<typeof errorEnvelope<K>>;
}

/**
 * The envelopes as they travel, built once so that validator caches (keyed by schema object)
 * hit: fastify's `schema.body` is `Wire[stem].request`, `schema.response[200]` is `.response`,
 * and `'4xx'`/`'5xx'` are `.error`.
 */
export const Wire = Object.fromEntries(
  MESSAGE_STEMS.map((stem) => {
    const spec: MessageSpec = Messages[stem];
    return [stem, { request: requestEnvelope(stem, spec.request), response: responseEnvelope(stem, spec.response), error: errorEnvelope(stem) }];
  }),
) as unknown as { readonly [K in MessageStem]: WireSchemas<K> };

export type WireRequest<K extends MessageStem> = Static<WireSchemas<K>['request']>;
export type WireResponse<K extends MessageStem> = Static<WireSchemas<K>['response']>;
export type WireError<K extends MessageStem> = Static<WireSchemas<K>['error']>;

/** Fills a path template: `pathFor('BsldSession', { deviceId })` → `/v1/bslds/A4C1…/sessions`. */
export function pathFor<K extends MessageStem>(stem: K, params: Static<Spec<K>['params']>): string {
  const values = params as Readonly<Record<string, unknown>>;
  return Messages[stem].path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = values[name];
    if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError(`${stem}: missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}
