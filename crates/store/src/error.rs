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
    /// Another process writes this SQLite file's alerts (one process serves
    /// a SQLite file).
    #[error("{0}")]
    InUse(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From a statement run on the SQLite writer's own handle (see
    /// `backend/sqlite/handle.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
            StoreError::Sqlite(e) => sqlite_fault(e),
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

fn sqlite_fault(e: &rusqlite::Error) -> Fault {
    use rusqlite::ErrorCode;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch => {
                Fault::Row
            }
            _ => Fault::Transient,
        },
        rusqlite::Error::ToSqlConversionFailure(_)
        | rusqlite::Error::IntegralValueOutOfRange(..) => Fault::Row,
        _ => Fault::Transient,
    }
}

/// Why the database cannot take a request right now, when the cause is
/// expected to pass (space freed, the server back, a lock released): callers
/// answer "retry later" instead of reporting a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// No space left: SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`.
    Full,
    /// No connection: refused, severed, timed out waiting for the pool, or the
    /// server shutting down or starting up.
    Unreachable,
    /// The database is there but has no room for this caller now: SQLite's
    /// lock held by another process past the busy timeout, PostgreSQL out of
    /// connections or memory.
    Busy,
}

/// SQLite primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i64 = 5;
const SQLITE_FULL: i64 = 13;

impl StoreError {
    /// The outage behind this error, if it is one; `None` for everything a
    /// retry would not fix (a conflict, a bad query, corrupt data).
    pub fn outage(&self) -> Option<Outage> {
        match self {
            StoreError::Database(e) => outage_of(e),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
                rusqlite::ErrorCode::DiskFull => Some(Outage::Full),
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    Some(Outage::Busy)
                }
                _ => None,
            },
            StoreError::Migration(sqlx::migrate::MigrateError::Execute(e)) => outage_of(e),
            _ => None,
        }
    }
}

fn outage_of(e: &sqlx::Error) -> Option<Outage> {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(Outage::Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                match code.parse::<i64>().ok()? & 0xff {
                    SQLITE_FULL => Some(Outage::Full),
                    SQLITE_BUSY => Some(Outage::Busy),
                    _ => None,
                }
            } else {
                // PostgreSQL SQLSTATE: class 08 connection exception, 53
                // insufficient resources, 57P01-57P03 shutting down or not
                // yet accepting connections.
                match code.as_ref() {
                    "53100" => Some(Outage::Full),
                    c if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03") => {
                        Some(Outage::Unreachable)
                    }
                    c if c.starts_with("53") => Some(Outage::Busy),
                    _ => None,
                }
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Outage, StoreError};

    /// A database that cannot grow answers `SQLITE_FULL`, which is an
    /// outage; a constraint failure on the same database is not.
    #[tokio::test]
    async fn a_full_sqlite_database_is_an_outage_and_a_constraint_is_not() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1, zeroblob(10))")
            .execute(&mut conn)
            .await
            .unwrap();
        let duplicate = sqlx::query("INSERT INTO t VALUES (1, zeroblob(10))")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert_eq!(StoreError::from(duplicate).outage(), None);
        sqlx::query("PRAGMA max_page_count = 3")
            .execute(&mut conn)
            .await
            .unwrap();
        let full = sqlx::query("INSERT INTO t VALUES (2, zeroblob(100000))")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert_eq!(StoreError::from(full).outage(), Some(Outage::Full));
    }

    #[test]
    fn a_lost_connection_is_an_outage() {
        let severed = sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(
            StoreError::from(severed).outage(),
            Some(Outage::Unreachable)
        );
        assert_eq!(
            StoreError::from(sqlx::Error::PoolTimedOut).outage(),
            Some(Outage::Unreachable)
        );
        assert_eq!(StoreError::from(sqlx::Error::RowNotFound).outage(), None);
    }
}
