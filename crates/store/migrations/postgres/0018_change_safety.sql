-- Change safety: what kind of change each is and a deploy's details, the
-- freezes and overrides people set, and the upstream providers' status.

ALTER TABLE changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'app';
-- JSON: version, previous_version, commit, author, url, started_at, frozen.
ALTER TABLE changes ADD COLUMN details TEXT NOT NULL DEFAULT '{}';

-- Manual freezes and admins' overrides (`kind`), until `until_ms` or lifted.
CREATE TABLE freezes (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    kind          TEXT   NOT NULL,
    environment   TEXT,
    service       TEXT,
    reason        TEXT   NOT NULL,
    created_by    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    until_ms      BIGINT NOT NULL,
    lifted_at_ms  BIGINT,
    lifted_by     TEXT
);
CREATE INDEX freezes_by_until ON freezes (until_ms);

-- The last status read from each upstream provider's status.json.
CREATE TABLE provider_status (
    provider      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    indicator     TEXT   NOT NULL,
    description   TEXT   NOT NULL,
    checked_at_ms BIGINT NOT NULL,
    changed_at_ms BIGINT NOT NULL,
    error         TEXT
);
