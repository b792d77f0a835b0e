-- Firebell schema, PostgreSQL flavour. Forward-only: never edit an applied
-- migration (sqlx checks its checksum); add a new file instead.
-- Instants are BIGINT milliseconds since the Unix epoch. JSON is kept as TEXT,
-- not JSONB, so an event reads back byte for byte (JSONB rejects "\u0000"
-- inside strings, which SQLite accepts: both backends must behave alike).
-- Ids use the "C" collation so they sort by bytes, as in SQLite.

-- The incident projection: what lists and filters read. `state` is the JSON of
-- the whole `Incident`; the other columns are copies used for filtering and order.
CREATE TABLE incidents (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    title          TEXT   NOT NULL,
    severity       TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    declared_at_ms BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    resolved_at_ms BIGINT,
    version        BIGINT NOT NULL,
    state          TEXT   NOT NULL
);

-- Newest first, ties broken by id: the list order and its keyset cursor.
CREATE INDEX incidents_by_declared ON incidents (declared_at_ms DESC, id DESC);
CREATE INDEX incidents_by_status ON incidents (status, declared_at_ms DESC, id DESC);
CREATE INDEX incidents_by_severity ON incidents (severity, declared_at_ms DESC, id DESC);

-- Services an incident affects, for the service filter.
CREATE TABLE incident_services (
    incident_id TEXT COLLATE "C" NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    service     TEXT NOT NULL,
    PRIMARY KEY (incident_id, service)
);

CREATE INDEX incident_services_by_service ON incident_services (service, incident_id);

-- The event log: the only record of what happened. `payload` is the JSON of the
-- whole `Event`; the primary key makes a second writer at the same seq fail.
CREATE TABLE incident_events (
    incident_id TEXT COLLATE "C" NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL CHECK (seq >= 1),
    at_ms       BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    type        TEXT   NOT NULL,
    payload     TEXT   NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

-- Last number handed out per id stem (e.g. `INC-20261123`), for gap-free ids.
CREATE TABLE incident_counters (
    stem TEXT   NOT NULL PRIMARY KEY,
    last BIGINT NOT NULL
);

-- API tokens. Only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT   NOT NULL UNIQUE,
    role          TEXT   NOT NULL,
    hash          TEXT   NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
