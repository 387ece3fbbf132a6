-- The first schema of the PostgreSQL store. Times are unix seconds (bigint), records the JSON
-- the daemon writes (text: kept byte for byte, read back by the daemon only).

CREATE TABLE sessions (
    access_key_id text PRIMARY KEY,
    expires_at bigint NOT NULL,
    issued_at bigint NOT NULL,
    record text NOT NULL
);
-- `sessions list` (latest expiry first) and the purge (a range up to now).
CREATE INDEX sessions_by_expiry ON sessions (expires_at, access_key_id);
-- Which sessions a sealing key still serves.
CREATE INDEX sessions_by_issue ON sessions (issued_at);

CREATE TABLE audit (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_time bigint NOT NULL,
    event text NOT NULL
);
-- Time order (events of one second in the order appended), windows and retention cuts.
CREATE INDEX audit_by_time ON audit (event_time, seq);

CREATE TABLE replay (
    key text PRIMARY KEY,
    until bigint NOT NULL
);
CREATE INDEX replay_by_until ON replay (until);

CREATE TABLE revocations (
    key text PRIMARY KEY,
    revocation text NOT NULL,
    -- When every session it covers has expired: the purge drops it then.
    moot_at bigint NOT NULL
);

CREATE TABLE users (
    name text PRIMARY KEY,
    record text NOT NULL
);

CREATE TABLE access_keys (
    access_key_id text PRIMARY KEY,
    name text NOT NULL REFERENCES users (name) ON DELETE CASCADE
);
CREATE INDEX access_keys_by_user ON access_keys (name);

CREATE TABLE role_ids (
    arn text PRIMARY KEY,
    id text NOT NULL
);

CREATE TABLE sealing_keys (
    key_id text PRIMARY KEY,
    current_at bigint NOT NULL
);

CREATE TABLE key_usage (
    access_key_id text PRIMARY KEY,
    used_at bigint NOT NULL,
    service text NOT NULL
);
