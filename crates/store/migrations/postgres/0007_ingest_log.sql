-- The ingest log: what senders reported, committed before they get their 2xx.
-- One row per group commit of an ingest writer (many requests); the merge
-- step folds rows into `alerts`, oldest first, under the `alerts` lock of
-- `store_locks`, and deletes them in the same transaction. A sender's 2xx
-- therefore costs one append, not a read-merge-write of every alert.
-- `alerts` is a JSON array of reports; `received_at_ms` is the "now" they
-- are merged at, so merging later changes nothing about the result.
CREATE TABLE ingest_log (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at_ms BIGINT NOT NULL,
    alert_count    BIGINT NOT NULL,
    alerts         TEXT   NOT NULL
);
