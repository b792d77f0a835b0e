-- Log rows holding the first reports of alert groups not seen before: merged
-- ahead of the backlog, so a new problem becomes an incident in a flood of
-- known ones (reports merged out of order change nothing that is newer).
ALTER TABLE ingest_log ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1));
CREATE INDEX ingest_log_urgent ON ingest_log (seq) WHERE urgent;
