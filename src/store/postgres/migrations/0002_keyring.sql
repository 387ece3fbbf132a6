-- The keyring kept in the database: each key's material sealed under the KEK every node holds
-- (the key id is the associated data), and one generation row that each change increments,
-- so a change is a compare-and-swap on it.

CREATE TABLE keyring (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL
);

CREATE TABLE keyring_keys (
    key_id text PRIMARY KEY,
    sealed bytea NOT NULL,
    created_at bigint NOT NULL,
    -- NULL for the current key: there is at most one.
    retire_after bigint
);
CREATE UNIQUE INDEX keyring_one_current ON keyring_keys ((true)) WHERE retire_after IS NULL;
