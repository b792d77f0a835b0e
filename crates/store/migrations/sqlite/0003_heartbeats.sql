-- Heartbeats: when each job named in the policy's [[heartbeats]] last pinged.
-- SQLite flavour; see 0001 for the conventions (INTEGER milliseconds, STRICT).
-- Only the latest ping is kept: whether a heartbeat is missing depends on
-- nothing else, and a restart reads it back here. Whether its alert fires is
-- the alert's own state (key `heartbeat:<name>` in `alerts`).
CREATE TABLE heartbeats (
    name            TEXT    NOT NULL PRIMARY KEY,
    last_seen_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
