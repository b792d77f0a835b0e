-- Rows that kept failing in a queue, set aside so the rows behind them move
-- on. `queue` names the queue (`ingest_log`, `timers`, `outbox`), `item` the
-- row there (a log seq, an incident id, a notification id), `payload` the
-- row as it was (JSON), enough to put it back.
CREATE TABLE set_aside (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue           TEXT    NOT NULL,
    item            TEXT    NOT NULL,
    tries           BIGINT  NOT NULL,
    error           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    set_aside_at_ms BIGINT  NOT NULL
);

-- Failed tries of a log row or of an incident's timers; a successful write
-- of the incident replaces its timers, which starts the count again.
ALTER TABLE ingest_log ADD COLUMN tries BIGINT  NOT NULL DEFAULT 0;
ALTER TABLE timers ADD COLUMN tries BIGINT  NOT NULL DEFAULT 0;
