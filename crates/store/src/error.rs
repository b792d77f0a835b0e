//! The store's one error type.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    InvalidUrl(String),
    /// The incident moved on since the caller read it.
    #[error(
        "version conflict: expected version {expected}, but the incident is at version {actual}"
    )]
    Conflict { expected: u64, actual: u64 },
    /// The alert group already has an open incident; nothing was written.
    #[error("the alert group already has open incident {incident_id}")]
    GroupTaken { incident_id: String },
    #[error("no incident with id {0:?}")]
    NotFound(String),
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    #[error("a token named {0:?} already exists")]
    DuplicateToken(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
