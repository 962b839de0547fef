/**
 * Schema migrations, applied in order inside one transaction each; `PRAGMA user_version` records
 * the last applied. Append only: a released migration is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE users (
    account_id TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    display_name TEXT,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE verifications (
    identifier TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    account_id TEXT NOT NULL REFERENCES users(account_id),
    family_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at INTEGER,
    revoked_at INTEGER
  ) STRICT;
  CREATE INDEX tokens_family ON tokens(family_id);
  CREATE INDEX tokens_account ON tokens(account_id);
  CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    sealed_key BLOB NOT NULL,
    setup_code_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    provisioned_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE bindings (
    device_id TEXT PRIMARY KEY REFERENCES devices(device_id),
    owner_account_id TEXT NOT NULL REFERENCES users(account_id),
    name TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    last_state TEXT
  ) STRICT;
  CREATE INDEX bindings_owner ON bindings(owner_account_id);
  CREATE TABLE pending_binds (
    device_id TEXT PRIMARY KEY REFERENCES devices(device_id),
    kind TEXT NOT NULL CHECK (kind IN ('bind', 'unbind')),
    account_id TEXT NOT NULL,
    challenge TEXT NOT NULL,
    ts INTEGER NOT NULL,
    name TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE challenges (
    device_id TEXT NOT NULL,
    challenge TEXT NOT NULL,
    call TEXT NOT NULL,
    account_id TEXT NOT NULL,
    target TEXT NOT NULL,
    ts INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, challenge)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE members (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    account_id TEXT NOT NULL REFERENCES users(account_id),
    valid_from INTEGER,
    valid_until INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, account_id)
  ) STRICT;
  CREATE INDEX members_account ON members(account_id);
  CREATE TABLE gateways (
    gateway_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES users(account_id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX gateways_account ON gateways(account_id);
  CREATE TABLE gateway_reach (
    gateway_id TEXT NOT NULL REFERENCES gateways(gateway_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    PRIMARY KEY (gateway_id, device_id)
  ) STRICT;
  CREATE INDEX gateway_reach_device ON gateway_reach(device_id);
  CREATE TABLE operations (
    operation_id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    account_id TEXT NOT NULL REFERENCES users(account_id),
    op TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    frames_challenge TEXT,
    frames_ts INTEGER,
    frames_account_id TEXT,
    result INTEGER,
    lock_state INTEGER,
    battery INTEGER,
    door_state INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER
  ) STRICT;
  CREATE INDEX operations_pending ON operations(device_id) WHERE state = 'pending';
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    gateway_id TEXT NOT NULL,
    event TEXT NOT NULL,
    device_id TEXT,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    operation_id INTEGER,
    acked INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX outbox_stream ON outbox(account_id, gateway_id, seq) WHERE acked = 0;
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    gateway_id TEXT,
    verification TEXT NOT NULL CHECK (verification IN ('lock-verified', 'gateway-reported')),
    event TEXT NOT NULL
  ) STRICT;
  CREATE INDEX events_device ON events(device_id, received_at, id);
  `,
];
