-- The status page's subscribers, what was sent to them, and the review an
-- emergency maintenance window owes.

-- An emergency window must be reviewed within a day (s003.maintenance-
-- emergency): when it is due, and who reviewed it, when, saying what.
ALTER TABLE maintenance_windows ADD COLUMN review_due_at_ms BIGINT;
ALTER TABLE maintenance_windows ADD COLUMN reviewed_at_ms BIGINT;
ALTER TABLE maintenance_windows ADD COLUMN reviewed_by TEXT;
ALTER TABLE maintenance_windows ADD COLUMN review TEXT;

-- One row per address and channel while it is pending or confirmed; an
-- unsubscribed row stays (as evidence of consent withdrawn) and no longer
-- blocks a new sign-up. `components` is a JSON array of component ids, empty
-- for the whole page. `secret` signs a webhook's deliveries.
CREATE TABLE subscribers (
    id              TEXT    NOT NULL PRIMARY KEY,
    channel         TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    components      TEXT    NOT NULL,
    locale          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    secret          TEXT,
    client          TEXT    NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    confirmed_at_ms BIGINT,
    ended_at_ms     BIGINT
);
CREATE UNIQUE INDEX subscribers_by_address ON subscribers (channel, address)
    WHERE state <> 'unsubscribed';
CREATE INDEX subscribers_by_state ON subscribers (state, confirmed_at_ms);

-- Every sign-up attempt, for the per-address and per-client limits.
CREATE TABLE subscriber_signups (
    address TEXT    NOT NULL,
    client  TEXT    NOT NULL,
    at_ms   BIGINT NOT NULL
);
CREATE INDEX subscriber_signups_by_address ON subscriber_signups (address, at_ms);
CREATE INDEX subscriber_signups_by_client ON subscriber_signups (client, at_ms);

-- Posts (a public update, a maintenance announcement) already handed to
-- the subscribers: a post is fanned out once, whichever replica sees it.
CREATE TABLE subscriber_posts (
    key              TEXT    NOT NULL PRIMARY KEY,
    at_ms            BIGINT NOT NULL,
    recipients       BIGINT NOT NULL,
    fanned_out_at_ms BIGINT NOT NULL
);

-- The subscribers' outbox: one message per subscriber and post (or
-- confirmation request), delivered at least once with its id as the
-- idempotency key.
CREATE TABLE subscriber_messages (
    id                 TEXT    NOT NULL PRIMARY KEY,
    subscriber_id      TEXT    NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    post_key           TEXT    NOT NULL,
    subject            TEXT    NOT NULL,
    body               TEXT    NOT NULL,
    payload            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    attempts           BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    claim_token        TEXT,
    claimed_until_ms   BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT NOT NULL,
    delivered_at_ms    BIGINT,
    UNIQUE (subscriber_id, post_key)
);
CREATE INDEX subscriber_messages_due ON subscriber_messages (state, next_attempt_at_ms);
