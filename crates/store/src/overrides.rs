//! On-call schedule overrides (`schedule_overrides`): "Sara covers Omar on
//! `primary` from Tue 18:00 to Wed 09:00", created through the API and read
//! back whenever someone asks who is on call.
//!
//! The statements are in `sql/overrides.rs`. Every write is one statement. Removing an override is a soft delete: it
//! sets `deleted_at` and the row stays for the record, but a removed override
//! is never listed and never applies again.

use firebell_core::Timestamp;
use firebell_core::schedule::Override;
use serde::Serialize;

use crate::StoreError;
use crate::codec::{from_ms, to_ms};

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
macro_rules! override_columns {
    () => {
        "id, schedule, person, covering, starts_at_ms, ends_at_ms, reason, \
         created_by, created_at_ms, deleted_at_ms"
    };
}
pub(crate) use override_columns;

#[derive(Clone, sqlx::FromRow)]
pub(crate) struct OverrideRow {
    pub(crate) id: String,
    pub(crate) schedule: String,
    pub(crate) person: String,
    pub(crate) covering: Option<String>,
    pub(crate) starts_at_ms: i64,
    pub(crate) ends_at_ms: i64,
    pub(crate) reason: String,
    pub(crate) created_by: String,
    pub(crate) created_at_ms: i64,
    pub(crate) deleted_at_ms: Option<i64>,
}

pub(crate) fn from_row(r: OverrideRow) -> Result<OverrideRecord, StoreError> {
    Ok(OverrideRecord {
        starts_at: from_ms(r.starts_at_ms)?,
        ends_at: from_ms(r.ends_at_ms)?,
        created_at: from_ms(r.created_at_ms)?,
        deleted_at: r.deleted_at_ms.map(from_ms).transpose()?,
        id: r.id,
        schedule: r.schedule,
        person: r.person,
        covering: r.covering,
        reason: r.reason,
        created_by: r.created_by,
    })
}

/// The row to insert, and the record it reads back as (instants truncated
/// to the millisecond, as stored).
pub(crate) fn to_row(new: &NewOverride) -> Result<(OverrideRow, OverrideRecord), StoreError> {
    let row = OverrideRow {
        id: new.id.clone(),
        schedule: new.schedule.clone(),
        person: new.person.clone(),
        covering: new.covering.clone(),
        starts_at_ms: to_ms(new.starts_at),
        ends_at_ms: to_ms(new.ends_at),
        reason: new.reason.clone(),
        created_by: new.created_by.clone(),
        created_at_ms: to_ms(new.created_at),
        deleted_at_ms: None,
    };
    let record = from_row(row.clone())?;
    Ok((row, record))
}

pub(crate) fn records(rows: Vec<OverrideRow>) -> Result<Vec<OverrideRecord>, StoreError> {
    rows.into_iter().map(from_row).collect()
}

pub(crate) fn overrides(rows: Vec<OverrideRow>) -> Result<Vec<Override>, StoreError> {
    rows.into_iter()
        .map(|r| from_row(r).map(|r| r.to_override()))
        .collect()
}
