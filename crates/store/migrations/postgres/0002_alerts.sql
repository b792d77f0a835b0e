-- Alerts, the alert → incident mapping, silences, maintenance windows and
-- change events. PostgreSQL flavour of sqlite/0002_alerts.sql; see 0001 for
-- the conventions (BIGINT milliseconds, JSON as TEXT, keys COLLATE "C").

-- One row per alert identity (label fingerprint or the sender's dedup key):
-- repeats merge into it. `labels` and `annotations` are JSON objects.
-- `pending`: changed since the processor last looked at it; only processing
-- clears it. `processed_firing`: whether it was firing when last processed,
-- so the sweep can tell which alerts owe the processor a resolution.
CREATE TABLE alerts (
    key              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    source           TEXT    NOT NULL,
    labels           TEXT    NOT NULL,
    annotations      TEXT    NOT NULL,
    starts_at_ms     BIGINT  NOT NULL,
    ends_at_ms       BIGINT,
    generator_url    TEXT,
    first_seen_at_ms BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    service          TEXT COLLATE "C",
    severity         TEXT COLLATE "C",
    group_key        TEXT COLLATE "C" NOT NULL,
    incident_id      TEXT COLLATE "C" REFERENCES incidents (id),
    pending          BOOLEAN NOT NULL,
    processed_firing BOOLEAN NOT NULL
);

-- The processor's queue, oldest change first.
CREATE INDEX alerts_pending ON alerts (updated_at_ms, key) WHERE pending;
-- Alerts of an incident.
CREATE INDEX alerts_by_incident ON alerts (incident_id, starts_at_ms DESC, key) WHERE incident_id IS NOT NULL;
-- Alerts last seen firing, by when they stop: what the expiry sweep scans.
CREATE INDEX alerts_expiring ON alerts (ends_at_ms) WHERE processed_firing;
-- Listing order.
CREATE INDEX alerts_by_start ON alerts (starts_at_ms DESC, key);

-- The open incident of each alert group. Written with the incident, deleted
-- in the transaction that resolves it, so a group has at most one open
-- incident and the next firing alert after a resolution opens a new one.
CREATE TABLE incident_groups (
    group_key   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    incident_id TEXT COLLATE "C" NOT NULL REFERENCES incidents (id)
);

CREATE INDEX incident_groups_by_incident ON incident_groups (incident_id);

-- Named row locks for duties that must not interleave across replicas.
-- `alerts`: every transaction that writes alert rows locks this row first
-- (FOR UPDATE, released at commit), so ingest and processing see the alerts
-- exactly as SQLite's single writer would, without deadlocks between
-- multi-row writers. A row lock rather than an advisory lock: it is scoped
-- to this schema and works behind PgBouncer's transaction pooling.
CREATE TABLE store_locks (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY
);

INSERT INTO store_locks (name) VALUES ('alerts');

-- Silences (Alertmanager's): `matchers` is a JSON array of {name, op, value}.
CREATE TABLE silences (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    matchers      TEXT   NOT NULL,
    starts_at_ms  BIGINT NOT NULL,
    ends_at_ms    BIGINT NOT NULL,
    created_by    TEXT   NOT NULL,
    comment       TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE INDEX silences_by_end ON silences (ends_at_ms DESC, id);

-- Maintenance windows; `services` is a JSON array, `ends_at_ms` NULL while
-- maintenance mode is on until switched off.
CREATE TABLE maintenance_windows (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    title         TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    services      TEXT   NOT NULL,
    starts_at_ms  BIGINT NOT NULL,
    ends_at_ms    BIGINT,
    created_by    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX maintenance_by_start ON maintenance_windows (starts_at_ms DESC, id);

-- Change events (deploys, config changes, flag flips) reported by CI and
-- other tools, kept to correlate with incidents. `payload` is the sender's JSON.
CREATE TABLE changes (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    source      TEXT   NOT NULL,
    summary     TEXT   NOT NULL,
    service     TEXT COLLATE "C",
    environment TEXT,
    at_ms       BIGINT NOT NULL,
    payload     TEXT   NOT NULL
);

CREATE INDEX changes_by_time ON changes (at_ms DESC, id);
CREATE INDEX changes_by_service ON changes (service, at_ms DESC, id);
