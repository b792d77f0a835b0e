-- On-call schedule overrides. PostgreSQL flavour of sqlite/0004_overrides.sql;
-- see 0001 for the conventions (BIGINT milliseconds, keys COLLATE "C").
-- An override wins over every layer of its schedule during
-- [starts_at, ends_at) (see firebell_core::schedule). `schedule` is the
-- schedule's name as the policy spells it; `person` and `covering` are keys of
-- [people]. Removing an override sets `deleted_at_ms` (the row stays for the
-- record); a removed override no longer applies.
CREATE TABLE schedule_overrides (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    schedule      TEXT COLLATE "C" NOT NULL,
    person        TEXT COLLATE "C" NOT NULL,
    covering      TEXT COLLATE "C",
    starts_at_ms  BIGINT NOT NULL,
    ends_at_ms    BIGINT NOT NULL,
    reason        TEXT   NOT NULL DEFAULT '',
    created_by    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    deleted_at_ms BIGINT,
    CHECK (ends_at_ms > starts_at_ms)
);

-- One schedule's overrides that have not ended yet (listing).
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule, ends_at_ms);
-- Live overrides of every schedule overlapping a window (on-call evaluation).
CREATE INDEX schedule_overrides_live_by_end ON schedule_overrides (ends_at_ms) WHERE deleted_at_ms IS NULL;
