-- Alerts keyed by insertion order. Alert keys are fingerprints, so in an
-- index on `key` every new alert landed on a random page, and a merge wrote
-- about one index page per alert to the WAL. The store keeps the key → id
-- map in memory instead (one process serves a SQLite file), and `key` has
-- no index: new rows and their processing touch the table's last pages.
CREATE TABLE alerts_by_id (
    id               INTEGER NOT NULL PRIMARY KEY,
    key              TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    labels           TEXT    NOT NULL,
    annotations      TEXT    NOT NULL,
    starts_at_ms     INTEGER NOT NULL,
    ends_at_ms       INTEGER,
    generator_url    TEXT,
    first_seen_at_ms INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    service          TEXT,
    severity         TEXT,
    group_key        TEXT    NOT NULL,
    incident_id      TEXT REFERENCES incidents (id),
    pending          INTEGER NOT NULL CHECK (pending IN (0, 1)),
    processed_firing INTEGER NOT NULL CHECK (processed_firing IN (0, 1))
) STRICT;

INSERT INTO alerts_by_id (id, key, source, labels, annotations, starts_at_ms, ends_at_ms,
    generator_url, first_seen_at_ms, updated_at_ms, service, severity, group_key,
    incident_id, pending, processed_firing)
SELECT rowid, key, source, labels, annotations, starts_at_ms, ends_at_ms,
    generator_url, first_seen_at_ms, updated_at_ms, service, severity, group_key,
    incident_id, pending, processed_firing
FROM alerts ORDER BY rowid;

DROP TABLE alerts;
ALTER TABLE alerts_by_id RENAME TO alerts;

-- As in 0002.
CREATE INDEX alerts_pending ON alerts (updated_at_ms, key) WHERE pending;
CREATE INDEX alerts_by_incident ON alerts (incident_id, starts_at_ms DESC, key) WHERE incident_id IS NOT NULL;
CREATE INDEX alerts_expiring ON alerts (ends_at_ms) WHERE processed_firing;
CREATE INDEX alerts_by_start ON alerts (starts_at_ms DESC, key);
