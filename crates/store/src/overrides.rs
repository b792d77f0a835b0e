//! On-call schedule overrides (`schedule_overrides`): "Sara covers Omar on
//! `primary` from Tue 18:00 to Wed 09:00", created through the API and read
//! back whenever someone asks who is on call.
//!
//! Every write is one statement. Removing an override is a soft delete: it
//! sets `deleted_at` and the row stays for the record, but a removed override
//! is never listed and never applies again.

use firebell_core::Timestamp;
use firebell_core::schedule::Override;
use serde::Serialize;

use crate::common::{OpTimer, from_ms, to_ms};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Backend, StoreError};

/// An override to store. Instants are kept to the millisecond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOverride {
    /// Chosen by the caller (the API uses a UUID).
    pub id: String,
    /// The schedule's name as the policy spells it.
    pub schedule: String,
    /// Key of the person on call during the override (in `[people]`).
    pub person: String,
    /// Key of the person they stand in for, if any.
    pub covering: Option<String>,
    /// Start (inclusive).
    pub starts_at: Timestamp,
    /// End (exclusive); must be after `starts_at`.
    pub ends_at: Timestamp,
    pub reason: String,
    /// The token name that created it.
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A stored override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OverrideRecord {
    pub id: String,
    pub schedule: String,
    pub person: String,
    pub covering: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// When it was removed; a removed override no longer applies.
    pub deleted_at: Option<Timestamp>,
}

impl OverrideRecord {
    /// The override as the pure on-call evaluation takes it.
    pub fn to_override(&self) -> Override {
        Override {
            schedule: self.schedule.clone(),
            person: self.person.clone(),
            covering: self.covering.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
        }
    }
}

/// The columns of `schedule_overrides`, in [`OverrideRow`] order, as a
/// literal for `concat!` (queries must be `&'static str` to count as SQL-safe).
macro_rules! columns {
    () => {
        "id, schedule, person, covering, starts_at_ms, ends_at_ms, reason, \
         created_by, created_at_ms, deleted_at_ms"
    };
}

type OverrideRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
);

fn from_row(
    (
        id,
        schedule,
        person,
        covering,
        starts_at_ms,
        ends_at_ms,
        reason,
        created_by,
        created_at_ms,
        deleted_at_ms,
    ): OverrideRow,
) -> Result<OverrideRecord, StoreError> {
    Ok(OverrideRecord {
        id,
        schedule,
        person,
        covering,
        starts_at: from_ms(starts_at_ms)?,
        ends_at: from_ms(ends_at_ms)?,
        reason,
        created_by,
        created_at: from_ms(created_at_ms)?,
        deleted_at: deleted_at_ms.map(from_ms).transpose()?,
    })
}

/// The row to insert, and the record it reads back as (instants truncated
/// to the millisecond, as stored).
fn to_row(new: &NewOverride) -> Result<(OverrideRow, OverrideRecord), StoreError> {
    let row: OverrideRow = (
        new.id.clone(),
        new.schedule.clone(),
        new.person.clone(),
        new.covering.clone(),
        to_ms(new.starts_at),
        to_ms(new.ends_at),
        new.reason.clone(),
        new.created_by.clone(),
        to_ms(new.created_at),
        None,
    );
    let record = from_row(row.clone())?;
    Ok((row, record))
}

fn records(rows: Vec<OverrideRow>) -> Result<Vec<OverrideRecord>, StoreError> {
    rows.into_iter().map(from_row).collect()
}

fn overrides(rows: Vec<OverrideRow>) -> Result<Vec<Override>, StoreError> {
    rows.into_iter()
        .map(|r| from_row(r).map(|r| r.to_override()))
        .collect()
}

impl SqliteStore {
    pub(crate) async fn create_override(
        &self,
        new: &NewOverride,
    ) -> Result<OverrideRecord, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "create_override");
        let (row, record) = to_row(new)?;
        sqlx::query(
            "INSERT INTO schedule_overrides (id, schedule, person, covering, starts_at_ms, \
             ends_at_ms, reason, created_by, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.0)
        .bind(row.1)
        .bind(row.2)
        .bind(row.3)
        .bind(row.4)
        .bind(row.5)
        .bind(row.6)
        .bind(row.7)
        .bind(row.8)
        .execute(&self.writer)
        .await?;
        Ok(record)
    }

    pub(crate) async fn get_override(
        &self,
        id: &str,
    ) -> Result<Option<OverrideRecord>, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "get_override");
        let row: Option<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedule_overrides WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(from_row).transpose()
    }

    pub(crate) async fn list_overrides(
        &self,
        schedule: Option<&str>,
        active_at_or_after: Option<Timestamp>,
    ) -> Result<Vec<OverrideRecord>, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "list_overrides");
        let after = active_at_or_after.map(to_ms);
        let rows: Vec<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedule_overrides WHERE deleted_at_ms IS NULL \
             AND (? IS NULL OR schedule = ?) AND (? IS NULL OR ends_at_ms > ?) \
             ORDER BY starts_at_ms, id"
        ))
        .bind(schedule)
        .bind(schedule)
        .bind(after)
        .bind(after)
        .fetch_all(&self.reader)
        .await?;
        records(rows)
    }

    pub(crate) async fn delete_override(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "delete_override");
        let deleted = sqlx::query(
            "UPDATE schedule_overrides SET deleted_at_ms = ? WHERE id = ? AND deleted_at_ms IS NULL",
        )
        .bind(to_ms(now))
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(deleted > 0)
    }

    pub(crate) async fn overrides_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Override>, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "overrides_between");
        let rows: Vec<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedule_overrides WHERE deleted_at_ms IS NULL \
             AND ends_at_ms > ? AND starts_at_ms < ? ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        overrides(rows)
    }
}

impl PgStore {
    pub(crate) async fn create_override(
        &self,
        new: &NewOverride,
    ) -> Result<OverrideRecord, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "create_override");
        let (row, record) = to_row(new)?;
        sqlx::query(
            "INSERT INTO schedule_overrides (id, schedule, person, covering, starts_at_ms, \
             ends_at_ms, reason, created_by, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.0)
        .bind(row.1)
        .bind(row.2)
        .bind(row.3)
        .bind(row.4)
        .bind(row.5)
        .bind(row.6)
        .bind(row.7)
        .bind(row.8)
        .execute(&self.pool)
        .await?;
        Ok(record)
    }

    pub(crate) async fn get_override(
        &self,
        id: &str,
    ) -> Result<Option<OverrideRecord>, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "get_override");
        let row: Option<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedule_overrides WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row).transpose()
    }

    pub(crate) async fn list_overrides(
        &self,
        schedule: Option<&str>,
        active_at_or_after: Option<Timestamp>,
    ) -> Result<Vec<OverrideRecord>, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "list_overrides");
        let rows: Vec<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedule_overrides WHERE deleted_at_ms IS NULL \
             AND ($1::TEXT IS NULL OR schedule = $1) AND ($2::BIGINT IS NULL OR ends_at_ms > $2) \
             ORDER BY starts_at_ms, id"
        ))
        .bind(schedule)
        .bind(active_at_or_after.map(to_ms))
        .fetch_all(&self.pool)
        .await?;
        records(rows)
    }

    pub(crate) async fn delete_override(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "delete_override");
        let deleted = sqlx::query(
            "UPDATE schedule_overrides SET deleted_at_ms = $1 \
             WHERE id = $2 AND deleted_at_ms IS NULL",
        )
        .bind(to_ms(now))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted > 0)
    }

    pub(crate) async fn overrides_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Override>, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "overrides_between");
        let rows: Vec<OverrideRow> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedule_overrides WHERE deleted_at_ms IS NULL \
             AND ends_at_ms > $1 AND starts_at_ms < $2 ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.pool)
        .await?;
        overrides(rows)
    }
}
