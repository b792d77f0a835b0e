// Signals beside alerts: silences, maintenance windows and heartbeats.
// Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;
use firebell_core::alert::{MaintenanceReview, MaintenanceWindow, Silence};

use super::Handle;
use crate::codec::{MaintenanceRow, SilenceRow, encode_enum, encode_json, from_ms, to_ms};
use crate::{HeartbeatPing, StoreError};

impl Handle {
    pub(crate) async fn upsert_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let _t = Self::timer("upsert_silence");
        sqlx::query(
            "INSERT INTO silences \
             (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, \
             starts_at_ms = excluded.starts_at_ms, ends_at_ms = excluded.ends_at_ms, \
             created_by = excluded.created_by, comment = excluded.comment, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&silence.id)
        .bind(encode_json(
            &silence.matchers,
            &format!("matchers of silence {}", silence.id),
        )?)
        .bind(to_ms(silence.starts_at))
        .bind(to_ms(silence.ends_at))
        .bind(&silence.created_by)
        .bind(&silence.comment)
        .bind(to_ms(silence.updated_at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn get_silence(&self, id: &str) -> Result<Option<Silence>, StoreError> {
        let _t = Self::timer("get_silence");
        let row: Option<SilenceRow> = sqlx::query_as(
            "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms \
             FROM silences WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.map(SilenceRow::into_silence).transpose()
    }

    pub(crate) async fn list_silences(&self) -> Result<Vec<Silence>, StoreError> {
        let _t = Self::timer("list_silences");
        let rows: Vec<SilenceRow> = sqlx::query_as(
            "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms \
             FROM silences ORDER BY ends_at_ms DESC, id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(SilenceRow::into_silence).collect()
    }

    pub(crate) async fn expire_silence(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("expire_silence");
        let expired = sqlx::query(
            "UPDATE silences SET ends_at_ms = $1, updated_at_ms = $1, \
             starts_at_ms = CASE WHEN starts_at_ms > $1 THEN $1 ELSE starts_at_ms END \
             WHERE id = $2 AND ends_at_ms > $1",
        )
        .bind(to_ms(now))
        .bind(id)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(expired > 0)
    }

    pub(crate) async fn create_maintenance(
        &self,
        window: &MaintenanceWindow,
    ) -> Result<(), StoreError> {
        let _t = Self::timer("create_maintenance");
        let what = |field: &str| format!("{field} of maintenance window {}", window.id);
        sqlx::query(
            "INSERT INTO maintenance_windows \
             (id, title, kind, services, starts_at_ms, ends_at_ms, created_by, created_at_ms, \
              planned_starts_at_ms, planned_ends_at_ms, review_due_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&window.id)
        .bind(&window.title)
        .bind(encode_enum(&window.kind, &what("kind"))?)
        .bind(encode_json(&window.services, &what("services"))?)
        .bind(to_ms(window.starts_at))
        .bind(window.ends_at.map(to_ms))
        .bind(&window.created_by)
        .bind(to_ms(window.created_at))
        .bind(window.planned_starts_at.map(to_ms))
        .bind(window.planned_ends_at.map(to_ms))
        .bind(window.review_due_at.map(to_ms))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn list_maintenance(&self) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let _t = Self::timer("list_maintenance");
        let rows: Vec<MaintenanceRow> = sqlx::query_as(
            "SELECT id, title, kind, services, starts_at_ms, ends_at_ms, created_by, created_at_ms, \
             planned_starts_at_ms, planned_ends_at_ms, review_due_at_ms, reviewed_at_ms, \
             reviewed_by, review \
             FROM maintenance_windows ORDER BY starts_at_ms DESC, id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(MaintenanceRow::into_window).collect()
    }

    pub(crate) async fn end_maintenance(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("end_maintenance");
        let ended = sqlx::query(
            "UPDATE maintenance_windows SET ends_at_ms = $1, \
             starts_at_ms = CASE WHEN starts_at_ms > $1 THEN $1 ELSE starts_at_ms END \
             WHERE id = $2 AND (ends_at_ms IS NULL OR (starts_at_ms <= $1 AND ends_at_ms > $1))",
        )
        .bind(to_ms(now))
        .bind(id)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(ended > 0)
    }

    /// Record the review a window owes; false if it owes none or has one.
    pub(crate) async fn review_maintenance(
        &self,
        id: &str,
        review: &MaintenanceReview,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("review_maintenance");
        let done = sqlx::query(
            "UPDATE maintenance_windows SET reviewed_at_ms = $1, reviewed_by = $2, review = $3 \
             WHERE id = $4 AND review_due_at_ms IS NOT NULL AND reviewed_at_ms IS NULL",
        )
        .bind(to_ms(review.at))
        .bind(&review.by)
        .bind(&review.summary)
        .bind(id)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(done > 0)
    }

    pub(crate) async fn record_heartbeat(
        &self,
        name: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let _t = Self::timer("record_heartbeat");
        sqlx::query(
            "INSERT INTO heartbeats (name, last_seen_at_ms) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET last_seen_at_ms = excluded.last_seen_at_ms",
        )
        .bind(name)
        .bind(to_ms(at))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn heartbeats(&self) -> Result<Vec<HeartbeatPing>, StoreError> {
        let _t = Self::timer("heartbeats");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, last_seen_at_ms FROM heartbeats ORDER BY name")
                .fetch_all(self.reader())
                .await?;
        rows.into_iter()
            .map(|(name, ms)| {
                Ok(HeartbeatPing {
                    name,
                    last_seen_at: from_ms(ms)?,
                })
            })
            .collect()
    }
}
