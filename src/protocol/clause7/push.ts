/**
 * Table 2: message push, RAS → RAC/BGW, over the WebSocket at `GET /v1/push`. `Push` is a
 * union with one branch per event, so a message's body is checked against its own event and
 * `deviceId` is required exactly where the event concerns one lock.
 *
 * Bodies the profile leaves open (profile-chosen):
 * - `bsld.command`: `{operationId, op, expiresAt}` (given by the profile).
 * - `bsld.state`: a `BsldState`, as in BsldDiscovery's `lastState`.
 * - `bsld.registered`: `{bsld}`, the BsldDiscovery entry as this recipient would see it.
 * - `bsld.removed`: `{forced}`, whether the RAS removed it without the lock's Table 4.
 * - `bsld.operation`: `{operationId, state, result?, lockState?}`, OperationQuery's answer.
 * - `member.changed`: `{accountId, change, validFrom?, validUntil?}` for the member concerned.
 * - `account.revoked`: `{reason}`; no `deviceId`; every token of the account is dead.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { PROTOCOL_VERSION } from './envelope.js';
import { Field } from './fields.js';
import { BsldInfo, BsldState, OperationQueryResponse } from './messages.js';

export const PushBodies = {
  'bsld.command': Type.Object({ operationId: Field.OperationId, op: Field.Op, expiresAt: Field.Timestamp }),
  'bsld.state': BsldState,
  'bsld.registered': Type.Object({ bsld: BsldInfo }),
  'bsld.removed': Type.Object({ forced: Type.Boolean() }),
  'bsld.operation': Type.Object({ operationId: Field.OperationId, ...OperationQueryResponse.properties }),
  'member.changed': Type.Object({
    accountId: Field.AccountId,
    change: Type.Enum(['added', 'updated', 'removed'], { description: 'one of "added", "updated", "removed"' }),
    validFrom: Type.Optional(Field.Timestamp),
    validUntil: Type.Optional(Field.Timestamp),
  }),
  'account.revoked': Type.Object({
    reason: Type.Enum(['logout', 'token-reuse', 'admin'], { description: 'one of "logout", "token-reuse", "admin"' }),
  }),
} as const;

export type PushEvent = keyof typeof PushBodies;
export const PUSH_EVENTS = Object.keys(PushBodies) as PushEvent[];

function pushOf<const E extends PushEvent, Body extends TSchema>(event: E, body: Body) {
  return Type.Object({
    version: Type.Literal(PROTOCOL_VERSION),
    msgType: Type.Literal('Push'),
    seq: Field.Uint32,
    timestamp: Field.Timestamp,
    event: Type.Literal(event),
    deviceId: Field.DeviceId,
    body,
  });
}

export const Push = Type.Union([
  pushOf('bsld.command', PushBodies['bsld.command']),
  pushOf('bsld.state', PushBodies['bsld.state']),
  pushOf('bsld.registered', PushBodies['bsld.registered']),
  pushOf('bsld.removed', PushBodies['bsld.removed']),
  pushOf('bsld.operation', PushBodies['bsld.operation']),
  pushOf('member.changed', PushBodies['member.changed']),
  Type.Object({
    version: Type.Literal(PROTOCOL_VERSION),
    msgType: Type.Literal('Push'),
    seq: Field.Uint32,
    timestamp: Field.Timestamp,
    event: Type.Literal('account.revoked'),
    body: PushBodies['account.revoked'],
  }),
]);
export type Push = Static<typeof Push>;
/** The Push of one event, e.g. `PushOf<'bsld.command'>`. */
export type PushOf<E extends PushEvent> = Extract<Push, { event: E }>;

export const PushAck = Type.Object({ msgType: Type.Literal('PushAck'), seq: Field.Uint32 });
export type PushAck = Static<typeof PushAck>;
/** `lastSeq` 0 on a first connection asks for the whole outbox. */
export const PushResume = Type.Object({ msgType: Type.Literal('PushResume'), lastSeq: Field.Uint32 });
export type PushResume = Static<typeof PushResume>;
export const PushClientMessage = Type.Union([PushAck, PushResume]);
export type PushClientMessage = Static<typeof PushClientMessage>;
