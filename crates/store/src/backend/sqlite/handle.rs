//! Statements run on the writer connection's own SQLite handle, in the
//! caller's transaction, for the rows of a batch.
//!
//! sqlx runs every statement on a thread of its own and hands each statement
//! and each row across to it. For a batch of thousands of small rows those
//! hand-offs (a thread woken for each) cost more than SQLite's own work: a
//! mass firing's last timer fired about a quarter sooner once its rows were
//! written this way (BENCHMARKS.md, slice 17).

use super::Conn;
use crate::StoreError;

/// Run `f` with the connection's SQLite handle, locked away from sqlx's
/// worker thread while it runs. What `f` writes belongs to the transaction
/// open on `conn`, and commits or rolls back with it.
///
/// `f` runs on the calling task's thread, which it holds for as long as
/// SQLite works (about 10 ms for 500 incidents' rows). Handing the runtime's
/// other tasks off first (`block_in_place`) cost more than it saved: 20,000
/// timers fired 20 % later with it.
pub(crate) async fn on_handle<T>(
    conn: &mut Conn,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut locked = conn.lock_handle().await?;
    let raw = locked.as_raw_handle().as_ptr();
    // SAFETY: sqlx's worker leaves the handle alone while `locked` lives,
    // and the borrowed connection, which never closes the handle it was
    // given, is dropped at the end of this function, before `locked`.
    let db = unsafe { rusqlite::Connection::from_handle(raw) }?;
    f(&db)
}
