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
    /// One queued row failed on its own (merged or fired alone): the caller
    /// counts the try against that row ([`crate::Queue`]).
    #[error("{queue} row {item}: {source}")]
    Row {
        queue: crate::Queue,
        item: String,
        source: Box<StoreError>,
    },
}

/// Whose fault an error is, which decides whether a queued row's try counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The database or the connection (down, busy, full, a lost race): the
    /// same row will likely go through later; tries are not counted.
    Transient,
    /// The row itself (data the database refuses, a value that does not
    /// decode, a broken constraint): trying again fails again.
    Row,
}

impl StoreError {
    pub fn fault(&self) -> Fault {
        match self {
            StoreError::Corrupt(_) => Fault::Row,
            StoreError::Row { source, .. } => source.fault(),
            StoreError::Database(e) => sqlx_fault(e),
            _ => Fault::Transient,
        }
    }
}

fn sqlx_fault(e: &sqlx::Error) -> Fault {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => Fault::Row,
        sqlx::Error::Database(db) => {
            use sqlx::error::ErrorKind;
            match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => return Fault::Row,
                _ => {}
            }
            match db.code().as_deref() {
                // PostgreSQL: data exceptions (a NUL in text, a number out of
                // range, bad encoding) and integrity constraints.
                Some(code) if code.starts_with("22") || code.starts_with("23") => Fault::Row,
                // SQLite: too big, datatype mismatch, constraint.
                Some("18" | "19" | "20") => Fault::Row,
                _ => Fault::Transient,
            }
        }
        _ => Fault::Transient,
    }
}
