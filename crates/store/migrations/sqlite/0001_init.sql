-- Firebell schema, SQLite flavour. Forward-only: never edit an applied
-- migration (sqlx checks its checksum); add a new file instead.
-- Instants are INTEGER milliseconds since the Unix epoch.

-- The incident projection: what lists and filters read. `state` is the JSON of
-- the whole `Incident`; the other columns are copies used for filtering and order.
CREATE TABLE incidents (
    id             TEXT    NOT NULL PRIMARY KEY,
    title          TEXT    NOT NULL,
    severity       TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    declared_at_ms INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    resolved_at_ms INTEGER,
    version        INTEGER NOT NULL,
    state          TEXT    NOT NULL
) STRICT;

-- Newest first, ties broken by id: the list order and its keyset cursor.
CREATE INDEX incidents_by_declared ON incidents (declared_at_ms DESC, id DESC);
CREATE INDEX incidents_by_status ON incidents (status, declared_at_ms DESC, id DESC);
CREATE INDEX incidents_by_severity ON incidents (severity, declared_at_ms DESC, id DESC);

-- Services an incident affects, for the service filter.
CREATE TABLE incident_services (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    service     TEXT NOT NULL,
    PRIMARY KEY (incident_id, service)
) STRICT, WITHOUT ROWID;

CREATE INDEX incident_services_by_service ON incident_services (service, incident_id);

-- The event log: the only record of what happened. `payload` is the JSON of the
-- whole `Event`; the primary key makes a second writer at the same seq fail.
CREATE TABLE incident_events (
    incident_id TEXT    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    at_ms       INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    PRIMARY KEY (incident_id, seq)
) STRICT;

-- Last number handed out per id stem (e.g. `INC-20261123`), for gap-free ids.
CREATE TABLE incident_counters (
    stem TEXT    NOT NULL PRIMARY KEY,
    last INTEGER NOT NULL
) STRICT;

-- API tokens. Only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    hash          TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
) STRICT;
