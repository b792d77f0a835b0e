-- The ingest log: what senders reported, committed before they get their 2xx.
-- One row per group commit of the ingest writer (many requests), appended in
-- order; the merge step folds rows into `alerts`, oldest first, and deletes
-- them in the same transaction. A sender's 2xx therefore costs one
-- sequential append, not a read-merge-write of every alert it reported.
-- `alerts` is a JSON array of reports; `received_at_ms` is the "now" they
-- are merged at, so merging later changes nothing about the result.
CREATE TABLE ingest_log (
    seq            INTEGER NOT NULL PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    alert_count    INTEGER NOT NULL,
    alerts         TEXT    NOT NULL
) STRICT;
