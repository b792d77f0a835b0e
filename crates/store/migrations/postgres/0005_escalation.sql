-- Escalation timers and the notification outbox (issue 5).
--
-- `timers` is the agenda of every open incident: one row per duty (the next
-- escalation step, a rule's clock, a reminder, a breach) with its due time.
-- The rows of an incident are rewritten in the transaction of each of its
-- events, so a restart loses none. A scheduler claims due rows (PostgreSQL:
-- FOR UPDATE SKIP LOCKED) and fires them through a version-checked append,
-- so a duty fires once even with two replicas or a clock that jumps back.
CREATE TABLE timers (
    incident_id   TEXT COLLATE "C" NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    duty          TEXT COLLATE "C" NOT NULL,
    fire_at_ms    BIGINT NOT NULL,
    claim_token   TEXT,
    claimed_until_ms BIGINT,
    PRIMARY KEY (incident_id, duty)
);

CREATE INDEX timers_by_fire_at ON timers (fire_at_ms);

-- One row per intent to notify: unique per (incident, duty/person/channel),
-- written with the event that decided it. States: pending → sending →
-- delivered | pending (retry) | dead; pending → cancelled (ack/resolve).
CREATE TABLE notifications (
    id                 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    incident_id        TEXT COLLATE "C" NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    intent_key         TEXT COLLATE "C" NOT NULL,
    duty               TEXT NOT NULL,
    person             TEXT NOT NULL,
    channel            TEXT NOT NULL,
    address            TEXT NOT NULL,
    locale             TEXT NOT NULL,
    subject            TEXT NOT NULL,
    body               TEXT NOT NULL,
    stop_on_ack        BOOLEAN NOT NULL,
    state              TEXT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    claim_token        TEXT,
    claimed_until_ms   BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL,
    delivered_at_ms    BIGINT,
    UNIQUE (incident_id, intent_key)
);

CREATE INDEX notifications_due ON notifications (state, next_attempt_at_ms);
CREATE INDEX notifications_by_incident ON notifications (incident_id, created_at_ms);

-- Server-wide settings shared by replicas (the key that signs ack links).
CREATE TABLE settings (
    key   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
