//! Firebell's persistence: one interface, two backends.
//!
//! - SQLite (the default): one file, WAL, `synchronous=FULL`, one writer
//!   connection so writers never fight over the lock, a small pool of readers.
//! - PostgreSQL (`postgres://…`): the same schema, for several replicas.
//!
//! [`Store`] is an enum rather than a trait object: two backends are known at
//! compile time, and `match` keeps async simple. Each backend has forward-only
//! migrations under `migrations/<backend>/`. Instants are stored as INTEGER
//! milliseconds since the epoch on both backends (text timestamps do not sort).

mod common;
mod error;
mod postgres;
mod sqlite;
mod types;

pub use error::StoreError;
pub use types::*;

use firebell_core::{Event, Incident};

/// The database behind Firebell.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Dispatch a call to whichever backend this store is.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

impl Store {
    /// Open (creating if needed) and migrate the database at `url`:
    /// `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:` or `postgres://…`.
    /// A `postgres` URL may carry `?schema=NAME` (created if missing) so tests
    /// can each have their own schema.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::PgStore::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(sqlite::SqliteStore::connect(url).await?))
        } else {
            Err(StoreError::InvalidUrl(format!(
                "unsupported database URL {url:?}: expected sqlite:PATH or postgres://…"
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }

    /// Close the pools, waiting for in-flight work.
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// Create an incident in one transaction: allocate the next number of the
    /// day `id_stem` (e.g. `INC-20261123`), format the id as
    /// `{id_stem}-{n:0digits}`, call `build(id)` for the initial state and events,
    /// and write them. Ids are gap-free per stem.
    pub async fn create_incident<F>(
        &self,
        id_stem: &str,
        digits: u8,
        build: F,
    ) -> Result<Incident, StoreError>
    where
        F: FnOnce(String) -> (Incident, Vec<Event>) + Send,
    {
        dispatch!(self, s => s.create_incident(id_stem, digits, build).await)
    }

    /// Append events to an incident if its version is still `expected_version`;
    /// otherwise nothing is written and [`StoreError::Conflict`] says the current
    /// version. `state` is the incident after the events (its `version` is the
    /// last event's `seq`), kept as the list/filter projection.
    pub async fn append_events(
        &self,
        state: &Incident,
        expected_version: u64,
        events: &[Event],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.append_events(state, expected_version, events).await)
    }

    /// Every event of an incident in `seq` order; empty if there is no such incident.
    pub async fn load_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        dispatch!(self, s => s.load_events(id).await)
    }

    /// The stored projection of an incident (what lists show).
    pub async fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        dispatch!(self, s => s.get_incident(id).await)
    }

    /// Incidents matching `filter`, newest declaration first, `limit` per page.
    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        dispatch!(self, s => s.list_incidents(filter).await)
    }

    /// Number of incidents per status (for metrics).
    pub async fn count_incidents_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, s => s.count_incidents_by_status().await)
    }

    pub async fn create_token(&self, token: &NewToken) -> Result<TokenRecord, StoreError> {
        dispatch!(self, s => s.create_token(token).await)
    }

    /// The live (not revoked) token with this hash.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        dispatch!(self, s => s.token_by_hash(hash).await)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        dispatch!(self, s => s.list_tokens().await)
    }

    /// Revoke by id; returns false if no live token had that id.
    pub async fn revoke_token(&self, id: i64, at: jiff::Timestamp) -> Result<bool, StoreError> {
        dispatch!(self, s => s.revoke_token(id, at).await)
    }

    /// Count of all tokens ever created (revoked included): zero means a fresh
    /// database, which is when the first admin token is minted.
    pub async fn count_tokens(&self) -> Result<i64, StoreError> {
        dispatch!(self, s => s.count_tokens().await)
    }
}
