-- The audit trail partitioned by day (UTC) of event_time: retention drops whole days instead of
-- deleting row by row. Partitions are named audit_day_N (N: the unix day, event_time / 86400)
-- and created ahead by the purge task; audit_default takes the events of a day without its
-- partition. The rows of the unpartitioned table are kept, each in its day's partition, with
-- their sequence numbers (the order of events of one second).

ALTER TABLE audit RENAME TO audit_unpartitioned;
ALTER INDEX audit_pkey RENAME TO audit_unpartitioned_pkey;
ALTER INDEX audit_by_time RENAME TO audit_unpartitioned_by_time;
ALTER INDEX audit_copies RENAME TO audit_unpartitioned_copies;

CREATE SEQUENCE audit_seq;
SELECT setval('audit_seq', coalesce((SELECT max(seq) FROM audit_unpartitioned), 0) + 1, false);

CREATE TABLE audit (
    seq bigint NOT NULL DEFAULT nextval('audit_seq'),
    event_time bigint NOT NULL,
    event text NOT NULL,
    copy_digest bytea,
    -- Time order (events of one second in the order appended), windows and retention cuts.
    PRIMARY KEY (event_time, seq)
) PARTITION BY RANGE (event_time);
ALTER SEQUENCE audit_seq OWNED BY audit.seq;
CREATE UNIQUE INDEX audit_copies ON audit (event_time, copy_digest) WHERE copy_digest IS NOT NULL;
CREATE TABLE audit_default PARTITION OF audit DEFAULT;

DO $$
DECLARE
    day bigint;
BEGIN
    FOR day IN SELECT DISTINCT event_time / 86400 FROM audit_unpartitioned WHERE event_time >= 0 LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF audit FOR VALUES FROM (%s) TO (%s)',
            'audit_day_' || day, day * 86400, (day + 1) * 86400
        );
    END LOOP;
END
$$;

INSERT INTO audit (seq, event_time, event, copy_digest)
    SELECT seq, event_time, event, copy_digest FROM audit_unpartitioned ORDER BY seq;
DROP TABLE audit_unpartitioned;
