//! The write-ahead log's checkpoints, on a connection and a thread of their
//! own rather than in the writer's commits.
//!
//! By default SQLite copies the log back into the database file, and syncs
//! that file, inside the commit that takes the log past 1,000 pages. Under a
//! flood that is every few merges, and every write queued behind that commit
//! (a new group's declaration among them) waits for the copy. A passive
//! checkpoint from another connection does the same work beside the writer:
//! it never blocks the writer or a reader, and copies only pages no reader
//! still needs.
//!
//! The log starts over from its beginning only when a write begins with all
//! of it copied back, which a copy racing a busy writer never achieves: the
//! log grew past 200 MB in a drain, and every page read searched it. So the
//! writer still checkpoints, but only once the log reaches
//! [`RESTART_PAGES`], and by then it finds nearly all of it copied: it
//! copies the rest, and its next write starts the log over.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::StoreError;
use crate::codec::OpTimer;

/// Pages of log not yet copied back that start a checkpoint: SQLite's own
/// threshold for the checkpoints it would run in a commit.
const PAGES: i64 = 1_000;

/// The log's size at which the writer's own commit finishes the copy.
pub(crate) const RESTART_PAGES: u32 = 8_192;

/// The least time between two looks at the log: a flood of one-alert
/// requests ends thousands of writes a second, and a look after each would
/// wake this thread as often, for a few pages each time.
const GAP: std::time::Duration = std::time::Duration::from_millis(10);

/// What the thread is told.
#[derive(Debug, Default)]
struct Wake {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// A write ended since the thread last looked.
    wrote: bool,
    stop: bool,
}

impl Wake {
    fn set(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_one();
    }
}

/// Told of each write by [`Checkpointer::waker`]; its thread ends when
/// [`Checkpointer::stop`] is called or it is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: Arc<Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Tells the checkpointer a write ended (the writer pool's release hook).
#[derive(Clone, Debug)]
pub(crate) struct Waker(Arc<Wake>);

impl Waker {
    /// Cheap and never blocks on the checkpoint itself.
    pub(crate) fn wrote(&self) {
        self.0.set(|s| s.wrote = true);
    }
}

impl Checkpointer {
    /// Not yet started: the writer pool needs its waker before the file
    /// exists.
    pub(crate) fn new() -> Checkpointer {
        Checkpointer {
            wake: Arc::default(),
            thread: Mutex::new(None),
        }
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker(self.wake.clone())
    }

    /// Open its connection to `path` (in WAL mode by now) and start its
    /// thread.
    pub(crate) fn start(&self, path: &Path) -> Result<(), StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        // A checkpoint syncs the log before it copies it and the file after,
        // as the writer's would.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let wake = self.wake.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &wake))
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok(())
    }

    /// End the thread once any checkpoint in flight is done; its connection
    /// closes before this returns.
    pub(crate) async fn stop(&self) {
        self.wake.set(|s| s.stop = true);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            // The thread only checkpoints, and a panic there is its own.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake.set(|s| s.stop = true);
    }
}

/// How often a checkpoint that keeps failing (a full disk, say) is logged.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Wait for writes, and checkpoint once enough log has built up.
fn run(conn: &rusqlite::Connection, wake: &Wake) {
    let mut warned: Option<std::time::Instant> = None;
    loop {
        {
            let mut state = wake.state.lock().unwrap_or_else(|e| e.into_inner());
            while !state.wrote && !state.stop {
                state = wake.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.stop {
                return;
            }
            state.wrote = false;
        }
        if let Err(e) = checkpoint_if_due(conn)
            && warned.is_none_or(|at| at.elapsed() >= WARN_EVERY)
        {
            warned = Some(std::time::Instant::now());
            tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log failed; the next write tries again (logged at most once a minute)");
        }
        std::thread::sleep(GAP);
    }
}

/// A passive checkpoint, if at least [`PAGES`] of log wait to be copied.
fn checkpoint_if_due(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    // (busy, pages in the log, pages copied back): `NOOP` only reads them.
    let waiting = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok(row.get::<_, i64>(1)? - row.get::<_, i64>(2)?)
        })
    };
    if waiting("NOOP")? >= PAGES {
        let _t = OpTimer::start(crate::Backend::Sqlite, "wal_checkpoint");
        waiting("PASSIVE")?;
    }
    Ok(())
}
