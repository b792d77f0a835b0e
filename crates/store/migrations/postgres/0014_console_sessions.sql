-- Signed-in sessions of the web console, made from an API token or from a
-- person's password. Only the SHA-256 of the cookie's secret is stored; a
-- session lives no longer than `expires_at_ms`, no longer than its token
-- (revoking it ends the session), and no longer than its person's password
-- (setting a new one ends the sessions made with the old).
CREATE TABLE console_passwords (
    person    TEXT   NOT NULL PRIMARY KEY,
    -- Argon2id, in the PHC string format.
    hash      TEXT   NOT NULL,
    role      TEXT   NOT NULL,
    set_at_ms BIGINT NOT NULL
);

CREATE TABLE console_sessions (
    id_hash       TEXT   NOT NULL PRIMARY KEY,
    token_id      BIGINT REFERENCES api_tokens (id) ON DELETE CASCADE,
    person        TEXT   REFERENCES console_passwords (person) ON DELETE CASCADE,
    csrf          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    CHECK ((token_id IS NULL) <> (person IS NULL))
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at_ms);
