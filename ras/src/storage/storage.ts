/**
 * The RAS's storage interface. Every method is one atomic step and returns a promise, so a
 * PostgreSQL backend can implement it with one statement or transaction per method; the rules
 * live in the service layer, the atomicity of each step lives here. All times are Unix seconds.
 */

export interface UserRow {
  accountId: string;
  identifier: string;
  displayName: string | null;
  passwordHash: string;
  createdAt: number;
}

export interface VerificationRow {
  identifier: string;
  codeHash: string;
  expiresAt: number;
  attempts: number;
}

export interface TokenRow {
  tokenHash: string;
  kind: 'access' | 'refresh';
  accountId: string;
  familyId: string;
  expiresAt: number;
  /** Refresh tokens: when it was exchanged for a new pair. */
  spentAt: number | null;
  revokedAt: number | null;
}

export interface DeviceRow {
  deviceId: string;
  /** K_d sealed under the master key (AES-256-GCM, AAD = deviceId). */
  sealedKey: Buffer;
  setupCodeHash: string;
  model: string;
  provisionedAt: number;
}

export interface BindingRow {
  deviceId: string;
  ownerAccountId: string;
  name: string;
  registeredAt: number;
  /** The last state the RAS knows, as JSON text, or null. */
  lastState: string | null;
}

export interface PendingBindRow {
  deviceId: string;
  kind: 'bind' | 'unbind';
  accountId: string;
  challenge: string;
  ts: number;
  name: string;
  expiresAt: number;
}

export interface MemberRow {
  deviceId: string;
  accountId: string;
  validFrom: number | null;
  validUntil: number | null;
  createdAt: number;
}

export interface GatewayRow {
  gatewayId: string;
  accountId: string;
  name: string;
  createdAt: number;
}

export type OperationState = 'pending' | 'done' | 'failed' | 'expired' | 'replaced' | 'revoked';

export interface OperationRow {
  operationId: number;
  deviceId: string;
  accountId: string;
  op: 'unlock' | 'lock' | 'status';
  state: OperationState;
  createdAt: number;
  expiresAt: number;
  /** Set once OperationFrames has answered. */
  framesChallenge: string | null;
  framesTs: number | null;
  framesAccountId: string | null;
  result: number | null;
  lockState: number | null;
  battery: number | null;
  doorState: number | null;
  late: boolean;
  finishedAt: number | null;
}

export type ChallengeCall = 'session' | 'frames' | 'bind' | 'unbind';

export interface ChallengeClaim {
  deviceId: string;
  challenge: string;
  call: ChallengeCall;
  accountId: string;
  /** The call's own target (an operationId), '' if none. */
  target: string;
  ts: number;
}

/** `claimed`: first use. `repeat`: the same caller's same call, answered again with its `ts`. `taken`: 430. */
export type ClaimOutcome = { kind: 'claimed' } | { kind: 'repeat'; ts: number } | { kind: 'taken' };

export interface OutboxRow {
  seq: number;
  accountId: string;
  /** '' for the account's RAC stream, else the gateway's own stream. */
  gatewayId: string;
  event: string;
  deviceId: string | null;
  body: string;
  createdAt: number;
  /** Commands: not deliverable after this. */
  expiresAt: number | null;
  operationId: number | null;
}

export interface EventRow {
  id: number;
  deviceId: string;
  receivedAt: number;
  /** Who reported it; for a lock-verified result, the account whose gateway relayed the frames. */
  accountId: string;
  gatewayId: string | null;
  /** Only OperationFrames results are lock-verified; everything else is gateway-reported. */
  verification: 'lock-verified' | 'gateway-reported';
  /** The ReportedEvent, as JSON text. */
  event: string;
}

export interface Storage {
  readonly kind: string;
  close(): Promise<void>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  // UDMS
  createUser(row: UserRow): Promise<'created' | 'exists'>;
  getUserByIdentifier(identifier: string): Promise<UserRow | undefined>;
  getUser(accountId: string): Promise<UserRow | undefined>;
  putVerification(row: VerificationRow): Promise<void>;
  getVerification(identifier: string): Promise<VerificationRow | undefined>;
  bumpVerificationAttempts(identifier: string): Promise<void>;
  deleteVerification(identifier: string): Promise<void>;

  // Tokens
  putToken(row: TokenRow): Promise<void>;
  getToken(tokenHash: string): Promise<TokenRow | undefined>;
  /** Marks an unspent, unrevoked refresh token spent; false if it was already spent or revoked. */
  spendRefreshToken(tokenHash: string, at: number): Promise<boolean>;
  revokeFamily(familyId: string, at: number): Promise<void>;
  revokeAccountTokens(accountId: string, at: number): Promise<void>;
  pruneTokens(before: number): Promise<void>;

  // DDMS
  /** Inserts, or replaces model and setup code of a device whose K_d is unchanged. */
  putDevice(row: DeviceRow, sameKey: (existing: DeviceRow) => boolean): Promise<'created' | 'updated' | 'key-conflict'>;
  getDevice(deviceId: string): Promise<DeviceRow | undefined>;
  listDevices(): Promise<DeviceRow[]>;

  // Bindings
  getBinding(deviceId: string): Promise<BindingRow | undefined>;
  /** Activates a binding; a different previous owner's members go with it. */
  putBinding(row: BindingRow): Promise<void>;
  /** Removes the binding and its members. */
  deleteBinding(deviceId: string): Promise<void>;
  setLastState(deviceId: string, lastState: string): Promise<void>;
  listBindingsFor(accountId: string): Promise<BindingRow[]>;
  listBindings(): Promise<BindingRow[]>;
  putPendingBind(row: PendingBindRow): Promise<void>;
  getPendingBind(deviceId: string): Promise<PendingBindRow | undefined>;
  deletePendingBind(deviceId: string, challenge: string): Promise<void>;

  // Challenges
  claimChallenge(claim: ChallengeClaim, at: number): Promise<ClaimOutcome>;

  // Members
  putMember(row: MemberRow): Promise<void>;
  getMember(deviceId: string, accountId: string): Promise<MemberRow | undefined>;
  deleteMember(deviceId: string, accountId: string): Promise<boolean>;
  listMembers(deviceId: string): Promise<MemberRow[]>;

  // Gateways
  createGateway(row: GatewayRow): Promise<void>;
  getGateway(gatewayId: string): Promise<GatewayRow | undefined>;
  listGateways(accountId: string): Promise<GatewayRow[]>;
  setReach(gatewayId: string, deviceIds: string[]): Promise<void>;
  getReach(gatewayId: string): Promise<string[]>;
  /** Gateways whose reach list holds the device. */
  gatewaysReaching(deviceId: string): Promise<GatewayRow[]>;

  // Operations
  /** Creates a pending operation; every older pending one of the lock becomes `replaced`. Returns the replaced ones. */
  createOperation(row: Omit<OperationRow, 'operationId'>): Promise<{ operation: OperationRow; replaced: OperationRow[] }>;
  getOperation(operationId: number): Promise<OperationRow | undefined>;
  /** Records issued frames if none were; false if another call got there first. */
  markFramesIssued(operationId: number, challenge: string, ts: number, accountId: string): Promise<boolean>;
  /** Moves a pending operation (or, with `late`, an expired one) to a final state; false if it had already moved. */
  finishOperation(operationId: number, update: Partial<OperationRow> & { state: OperationState }, from: OperationState[]): Promise<boolean>;
  listPendingOperations(): Promise<OperationRow[]>;

  // Push outbox
  enqueue(rows: Omit<OutboxRow, 'seq'>[]): Promise<OutboxRow[]>;
  /** Unacknowledged rows of one stream with seq > afterSeq, oldest first. */
  pendingFor(accountId: string, gatewayId: string, afterSeq: number, limit: number): Promise<OutboxRow[]>;
  ack(accountId: string, gatewayId: string, seq: number): Promise<void>;
  /** Acknowledges everything up to and including `seq`. */
  ackUpTo(accountId: string, gatewayId: string, seq: number): Promise<void>;
  /** Drops acknowledged and command rows created before `settledBefore`, and anything created before `anyBefore`. */
  pruneOutbox(settledBefore: number, anyBefore: number): Promise<void>;

  // Audit trail
  addEvent(row: Omit<EventRow, 'id'>): Promise<EventRow>;
  /** The latest `limit` events received at or after `since`, newest first. */
  listEvents(deviceId: string, since: number, limit: number): Promise<EventRow[]>;
}
