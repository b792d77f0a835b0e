-- Recurring duties (`[[duties]]`): since when each is owed, the record of
-- each run, and the outbox of their reminders (not tied to an incident).

-- When the server first saw a duty: occurrences before it are owed nothing.
CREATE TABLE duty_state (
    duty     TEXT NOT NULL PRIMARY KEY,
    since_ms INTEGER NOT NULL
) STRICT;

-- One row per run recorded; `occurrence_ms` is the occurrence it is for.
CREATE TABLE duty_runs (
    id            TEXT NOT NULL PRIMARY KEY,
    duty          TEXT NOT NULL,
    occurrence_ms INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    notes         TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at_ms         INTEGER NOT NULL
) STRICT;
CREATE INDEX duty_runs_by_duty ON duty_runs (duty, occurrence_ms);

-- Reminders and monitoring-check tests, once each (`intent_key`), with the
-- same life as notifications: pending → sending → delivered | pending
-- (retry) | dead.
CREATE TABLE duty_messages (
    id                 TEXT NOT NULL PRIMARY KEY,
    intent_key         TEXT NOT NULL UNIQUE,
    duty               TEXT NOT NULL,
    occurrence_ms      INTEGER NOT NULL,
    person             TEXT NOT NULL,
    channel            TEXT NOT NULL,
    address            TEXT NOT NULL,
    locale             TEXT NOT NULL,
    subject            TEXT NOT NULL,
    body               TEXT NOT NULL,
    state              TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    claim_token        TEXT,
    claimed_until_ms   INTEGER,
    last_error         TEXT,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    delivered_at_ms    INTEGER
) STRICT;
CREATE INDEX duty_messages_due ON duty_messages (state, next_attempt_at_ms);
CREATE INDEX duty_messages_by_duty ON duty_messages (duty, occurrence_ms);
