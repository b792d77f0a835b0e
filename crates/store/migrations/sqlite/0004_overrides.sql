-- On-call schedule overrides: "Sara covers Omar on `primary` from Tue 18:00
-- to Wed 09:00". SQLite flavour; see 0001 for the conventions (INTEGER
-- milliseconds, STRICT tables). An override wins over every layer of its
-- schedule during [starts_at, ends_at) (see firebell_core::schedule).
-- `schedule` is the schedule's name as the policy spells it; `person` and
-- `covering` are keys of [people]. Removing an override sets `deleted_at_ms`
-- (the row stays for the record); a removed override no longer applies.
CREATE TABLE schedule_overrides (
    id            TEXT    NOT NULL PRIMARY KEY,
    schedule      TEXT    NOT NULL,
    person        TEXT    NOT NULL,
    covering      TEXT,
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    created_by    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    deleted_at_ms INTEGER,
    CHECK (ends_at_ms > starts_at_ms)
) STRICT;

-- One schedule's overrides that have not ended yet (listing).
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule, ends_at_ms);
-- Live overrides of every schedule overlapping a window (on-call evaluation).
CREATE INDEX schedule_overrides_live_by_end ON schedule_overrides (ends_at_ms) WHERE deleted_at_ms IS NULL;
