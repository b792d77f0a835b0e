// API tokens, and the console sessions signed in with them: only a hash of
// each secret is kept. Included once per backend (see `backend/mod.rs`).

use super::Handle;
use crate::codec::{from_ms, is_unique_violation, to_ms};
use crate::{
    NewSession, NewToken, PasswordRecord, SessionOwner, SessionRecord, StoreError, TokenRecord,
};

type TokenRow = (i64, String, String, i64, Option<i64>);

fn token_record(
    (id, name, role, created_at_ms, revoked_at_ms): TokenRow,
) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        role: role
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("token {name:?}: {e}")))?,
        id,
        name,
        created_at: from_ms(created_at_ms)?,
        revoked_at: revoked_at_ms.map(from_ms).transpose()?,
    })
}

impl Handle {
    pub(crate) async fn create_token(&self, token: &NewToken) -> Result<TokenRecord, StoreError> {
        let _t = Self::timer("create_token");
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO api_tokens (name, role, hash, created_at_ms) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(&token.hash)
        .bind(to_ms(token.created_at))
        .fetch_one(self.writer())
        .await;
        match inserted {
            Ok(id) => Ok(TokenRecord {
                id,
                name: token.name.clone(),
                role: token.role,
                created_at: token.created_at,
                revoked_at: None,
            }),
            Err(e) if is_unique_violation(&e) => {
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = $1")
                        .bind(&token.name)
                        .fetch_optional(self.writer())
                        .await?;
                match taken {
                    Some(_) => Err(StoreError::DuplicateToken(token.name.clone())),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let _t = Self::timer("token_by_hash");
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT id, name, role, created_at_ms, revoked_at_ms FROM api_tokens \
             WHERE hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(hash)
        .fetch_optional(self.reader())
        .await?;
        row.map(token_record).transpose()
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let _t = Self::timer("list_tokens");
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, name, role, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(token_record).collect()
    }

    pub(crate) async fn revoke_token(
        &self,
        id: i64,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("revoke_token");
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(to_ms(at))
        .bind(id)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    pub(crate) async fn count_tokens(&self) -> Result<i64, StoreError> {
        let _t = Self::timer("count_tokens");
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(self.reader())
            .await?)
    }

    pub(crate) async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let _t = Self::timer("create_session");
        let (token_id, person) = match &session.owner {
            SessionOwner::Token(id) => (Some(*id), None),
            SessionOwner::Person(p) => (None, Some(p.as_str())),
        };
        sqlx::query(
            "INSERT INTO console_sessions \
             (id_hash, token_id, person, csrf, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(token_id)
        .bind(person)
        .bind(&session.csrf)
        .bind(to_ms(session.created_at))
        .bind(to_ms(session.expires_at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn session_by_hash(
        &self,
        id_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let _t = Self::timer("session_by_hash");
        // A token's session ends with the token; a password's with the
        // password (a newer one, or none).
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT COALESCE(t.name, p.person), COALESCE(t.role, p.role), s.csrf, s.expires_at_ms \
             FROM console_sessions s \
             LEFT JOIN api_tokens t ON t.id = s.token_id AND t.revoked_at_ms IS NULL \
             LEFT JOIN console_passwords p ON p.person = s.person \
                  AND p.set_at_ms <= s.created_at_ms \
             WHERE s.id_hash = $1 AND s.expires_at_ms > $2 \
               AND (t.id IS NOT NULL OR p.person IS NOT NULL)",
        )
        .bind(id_hash)
        .bind(to_ms(now))
        .fetch_optional(self.reader())
        .await?;
        row.map(|(name, role, csrf, expires_at_ms)| {
            Ok(SessionRecord {
                role: role
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("session of {name:?}: {e}")))?,
                name,
                csrf,
                expires_at: from_ms(expires_at_ms)?,
            })
        })
        .transpose()
    }

    /// Set (or replace) a person's console password; sessions made with
    /// the old one end.
    pub(crate) async fn set_password(&self, password: &PasswordRecord) -> Result<(), StoreError> {
        let _t = Self::timer("set_password");
        sqlx::query(
            "INSERT INTO console_passwords (person, hash, role, set_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (person) DO UPDATE SET hash = excluded.hash, role = excluded.role, \
             set_at_ms = excluded.set_at_ms",
        )
        .bind(&password.person)
        .bind(&password.hash)
        .bind(password.role.as_str())
        .bind(to_ms(password.set_at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn password_of(
        &self,
        person: &str,
    ) -> Result<Option<PasswordRecord>, StoreError> {
        let _t = Self::timer("password_of");
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT person, hash, role, set_at_ms FROM console_passwords WHERE person = $1",
        )
        .bind(person)
        .fetch_optional(self.reader())
        .await?;
        row.map(|(person, hash, role, set_at_ms)| {
            Ok(PasswordRecord {
                role: role
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("password of {person:?}: {e}")))?,
                person,
                hash,
                set_at: from_ms(set_at_ms)?,
            })
        })
        .transpose()
    }

    /// Remove a person's password (and so their sessions); false if none.
    pub(crate) async fn remove_password(&self, person: &str) -> Result<bool, StoreError> {
        let _t = Self::timer("remove_password");
        sqlx::query("DELETE FROM console_sessions WHERE person = $1")
            .bind(person)
            .execute(self.writer())
            .await?;
        let removed = sqlx::query("DELETE FROM console_passwords WHERE person = $1")
            .bind(person)
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// Sign out: the session, and any of its kind that expired by `now`.
    pub(crate) async fn delete_session(
        &self,
        id_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let _t = Self::timer("delete_session");
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1 OR expires_at_ms <= $2")
            .bind(id_hash)
            .bind(to_ms(now))
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
