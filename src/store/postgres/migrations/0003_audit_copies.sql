-- Audit events copied in from another store (`stsbridge store copy`) carry a digest of the
-- event and its occurrence, so a copy run twice inserts each event once. Events the daemon
-- writes have none (and cost this partial index nothing).
ALTER TABLE audit ADD COLUMN copy_digest bytea;
CREATE UNIQUE INDEX audit_copies ON audit (event_time, copy_digest) WHERE copy_digest IS NOT NULL;
