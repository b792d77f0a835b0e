// On-call schedule overrides (see `crate::overrides`).
// Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;
use firebell_core::schedule::Override;

use super::Handle;
use crate::StoreError;
use crate::codec::to_ms;
use crate::overrides::{
    NewOverride, OverrideRecord, OverrideRow, from_row, override_columns, overrides, records,
    to_row,
};

impl Handle {
    pub(crate) async fn create_override(
        &self,
        new: &NewOverride,
    ) -> Result<OverrideRecord, StoreError> {
        let _t = Self::timer("create_override");
        let (row, record) = to_row(new)?;
        sqlx::query(
            "INSERT INTO schedule_overrides (id, schedule, person, covering, starts_at_ms, \
             ends_at_ms, reason, created_by, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.id)
        .bind(row.schedule)
        .bind(row.person)
        .bind(row.covering)
        .bind(row.starts_at_ms)
        .bind(row.ends_at_ms)
        .bind(row.reason)
        .bind(row.created_by)
        .bind(row.created_at_ms)
        .execute(self.writer())
        .await?;
        Ok(record)
    }

    pub(crate) async fn get_override(
        &self,
        id: &str,
    ) -> Result<Option<OverrideRecord>, StoreError> {
        let _t = Self::timer("get_override");
        let row: Option<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            override_columns!(),
            " FROM schedule_overrides WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.map(from_row).transpose()
    }

    pub(crate) async fn list_overrides(
        &self,
        schedule: Option<&str>,
        active_at_or_after: Option<Timestamp>,
    ) -> Result<Vec<OverrideRecord>, StoreError> {
        let _t = Self::timer("list_overrides");
        let rows: Vec<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            override_columns!(),
            " FROM schedule_overrides WHERE deleted_at_ms IS NULL \
             AND (CAST($1 AS TEXT) IS NULL OR schedule = $1) \
             AND (CAST($2 AS BIGINT) IS NULL OR ends_at_ms > $2) \
             ORDER BY starts_at_ms, id"
        ))
        .bind(schedule)
        .bind(active_at_or_after.map(to_ms))
        .fetch_all(self.reader())
        .await?;
        records(rows)
    }

    pub(crate) async fn delete_override(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("delete_override");
        let deleted = sqlx::query(
            "UPDATE schedule_overrides SET deleted_at_ms = $1 \
             WHERE id = $2 AND deleted_at_ms IS NULL",
        )
        .bind(to_ms(now))
        .bind(id)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(deleted > 0)
    }

    pub(crate) async fn overrides_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Override>, StoreError> {
        let _t = Self::timer("overrides_between");
        let rows: Vec<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            override_columns!(),
            " FROM schedule_overrides WHERE deleted_at_ms IS NULL \
             AND ends_at_ms > $1 AND starts_at_ms < $2 ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(self.reader())
        .await?;
        overrides(rows)
    }
}
