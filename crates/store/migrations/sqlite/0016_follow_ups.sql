-- The learning loop's projection: postmortems and action items across
-- incidents, for lists ("every overdue action item") and the tracker export.
-- The incident's event log stays the record; these rows are rewritten from
-- its state in the transaction of every follow-up event.

CREATE TABLE postmortems (
    incident_id   TEXT    NOT NULL PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    state         TEXT    NOT NULL,
    owner         TEXT,
    due_at_ms     INTEGER,
    review_at_ms  INTEGER,
    updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX postmortems_by_due ON postmortems (state, due_at_ms);

-- `item` is the JSON of the whole action item; the other columns filter.
CREATE TABLE action_items (
    incident_id    TEXT    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    id             INTEGER NOT NULL,
    owner          TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    due_at_ms      INTEGER,
    tracker_number INTEGER,
    tracker_state  TEXT,
    item           TEXT    NOT NULL,
    PRIMARY KEY (incident_id, id)
) STRICT;
CREATE INDEX action_items_by_status ON action_items (status, due_at_ms);

-- A drill pages like any incident but is never public nor reported: the
-- status page's uptime history and the reports skip it.
ALTER TABLE incidents ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;
