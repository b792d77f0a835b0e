// Leases for singleton duties, server-wide settings, and the liveness ping.
// Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;

use super::Handle;
use crate::StoreError;
use crate::codec::to_ms;

impl Handle {
    /// Cheap round trip for readiness checks.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let _t = Self::timer("ping");
        sqlx::query("SELECT 1").execute(self.reader()).await?;
        Ok(())
    }

    /// The database server's clock, the one reference every replica shares.
    pub(crate) async fn database_time(&self) -> Result<Timestamp, StoreError> {
        let _t = Self::timer("database_time");
        let ms: i64 = sqlx::query_scalar(concat!("SELECT ", clock_ms!()))
            .fetch_one(self.reader())
            .await?;
        crate::codec::from_ms(ms)
    }

    pub(crate) async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let _t = Self::timer("release_lease");
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub(crate) async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("try_lease");
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE leases.until_ms <= $4 OR leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(to_ms(until))
        .bind(to_ms(now))
        .fetch_optional(self.writer())
        .await?;
        Ok(held.as_deref() == Some(holder))
    }

    pub(crate) async fn setting_or_init(
        &self,
        key: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        let _t = Self::timer("setting_or_init");
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(self.writer())
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(self.writer())
                .await?,
        )
    }
}
