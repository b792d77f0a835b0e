-- Signed-in sessions of the web console. Only the SHA-256 of the cookie's
-- secret is stored; a session lives no longer than its token (revoking the
-- token ends it) and no longer than `expires_at_ms`.
CREATE TABLE console_sessions (
    id_hash       TEXT   NOT NULL PRIMARY KEY,
    token_id      BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at_ms);
