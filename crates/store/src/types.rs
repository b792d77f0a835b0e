//! Plain data passed in and out of the store.

use firebell_core::{Incident, Status, Timestamp};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Which incidents to list. Empty vectors and `None`s do not filter.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Any of these statuses.
    pub statuses: Vec<Status>,
    /// Any of these severities (exact names as stored).
    pub severities: Vec<String>,
    /// Incidents affecting this service.
    pub service: Option<String>,
    /// Declared at or after.
    pub since: Option<Timestamp>,
    /// Declared strictly before.
    pub until: Option<Timestamp>,
    /// Page size, 1..=500 (the API clamps it).
    pub limit: u32,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IncidentPage {
    pub items: Vec<Incident>,
    /// Present when more results follow; pass it back as `cursor`.
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    /// `viewer`, `responder` or `admin`.
    pub role: String,
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    pub hash: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}
