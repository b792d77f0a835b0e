//! The SQLite backend: Firebell's embedded default, one file and nothing else.
//!
//! Durability and concurrency come from the connection setup:
//!
//! - WAL with `synchronous=FULL`: a committed write survives power loss, and
//!   readers never block the writer (nor the writer the readers).
//! - One writer connection (a pool of 1) runs every write transaction, each
//!   begun with `BEGIN IMMEDIATE`. Writers in this process queue for that
//!   connection instead of racing for SQLite's lock, so a read-then-write
//!   transaction never fails with `SQLITE_BUSY` on a lock upgrade. Another
//!   process writing the same file waits up to the 5 s busy timeout.
//! - A few reader connections (`query_only`) serve reads concurrently.
//! - The log is copied back into the file by a thread of its own
//!   ([`checkpoint`]), not in the writer's commits.
//!
//! The single writer is also why row locks are not needed: `for_update!` and
//! `skip_locked!` are empty here.
//!
//! `sqlite::memory:` is a special case: every connection to it would be its
//! own database, so there a single connection serves reads and writes, and it
//! is never closed while the store is open (closing it would drop the data).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::Lane;
use super::turns::Turns;
use crate::alert_ids::{AlertIds, KeyLookup};
use crate::codec::OpTimer;
use crate::{Backend, StoreError};
use checkpoint::Checkpointer;

pub(crate) type Db = sqlx::Sqlite;
pub(crate) type Conn = sqlx::SqliteConnection;
pub(crate) type Handle = SqliteStore;
type Tx = sqlx::Transaction<'static, Db>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A label's value: labels are a JSON object in a text column, read by a
/// JSON path, in which a quoted name cannot hold `"` or `\`.
pub(crate) const LABEL_SQL: crate::codec::LabelSql<Db> = crate::codec::LabelSql {
    readable: |name| !name.contains(['"', '\\']),
    push_value: |qb, name| {
        qb.push("json_extract(labels, ")
            .push_bind(format!("$.\"{name}\""))
            .push(")");
    },
};

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reader connections for a file database.
const READERS: u32 = 4;

/// Row-lock suffix of a read that a write in the same transaction depends on.
macro_rules! for_update {
    () => {
        ""
    };
}

/// Row-lock suffix of a claim that skips rows another replica is claiming.
macro_rules! skip_locked {
    () => {
        ""
    };
}

/// The database's clock, in milliseconds since the epoch.
macro_rules! clock_ms {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
}

/// The key → id map of one SQLite file (see [`crate::alert_ids`]), shared
/// by every store this process opens on the file (a restart within one
/// process, tests), and the lock that keeps other processes from writing
/// the file's alerts behind the map's back.
#[derive(Debug)]
struct SharedIds {
    path: Option<PathBuf>,
    /// The lock file, once locked.
    held: Mutex<Option<std::fs::File>>,
    ids: tokio::sync::OnceCell<AlertIds>,
}

/// Reading the key map packs each slice of `(id, key)` rows into one
/// string, `id:bytes:key` after another: a row at a time through the driver
/// cost about 3 µs, 3 s at a million alerts.
const LOAD_IDS: &str = "SELECT group_concat(id || ':' || length(CAST(key AS BLOB)) || ':' || key, '') \
     FROM (SELECT id, key FROM alerts WHERE id > $1 ORDER BY id LIMIT $2)";
const LOAD_IDS_PER_QUERY: i64 = 100_000;

/// Hand each row [`LOAD_IDS`] packed to `row`, without copying its key.
fn unpack_ids(mut packed: &str, mut row: impl FnMut(i64, &str)) -> Result<(), StoreError> {
    let bad = || StoreError::Corrupt("the alerts' key map read back malformed".into());
    while !packed.is_empty() {
        let (id, rest) = packed.split_once(':').ok_or_else(bad)?;
        let (len, rest) = rest.split_once(':').ok_or_else(bad)?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        let len: usize = len.parse().map_err(|_| bad())?;
        row(id, rest.get(..len).ok_or_else(bad)?);
        packed = &rest[len..];
    }
    Ok(())
}

/// The maps of the files this process has open, by path.
static SHARED_IDS: LazyLock<Mutex<HashMap<PathBuf, Weak<SharedIds>>>> =
    LazyLock::new(Default::default);

impl SharedIds {
    fn new(path: Option<PathBuf>) -> SharedIds {
        SharedIds {
            path,
            held: Default::default(),
            ids: Default::default(),
        }
    }

    /// The map of the file at `path`, shared with the other stores of this
    /// process that have it open.
    fn of(path: &Path) -> Arc<SharedIds> {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mut open = SHARED_IDS.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, shared| shared.strong_count() > 0);
        if let Some(shared) = open.get(&path).and_then(Weak::upgrade) {
            return shared;
        }
        let shared = Arc::new(SharedIds::new(Some(path.clone())));
        open.insert(path, Arc::downgrade(&shared));
        shared
    }

    /// Lock `<file>.alerts.lock` (if not yet), held while the map is: a
    /// second process writing alerts would add rows this map does not know.
    fn hold(&self) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_some() {
            return Ok(());
        }
        let mut name = path.as_os_str().to_owned();
        name.push(".alerts.lock");
        let in_use = |why: String| {
            StoreError::InUse(format!(
                "cannot lock {}: {why}; one Firebell process serves a SQLite file \
                 (use PostgreSQL for several replicas)",
                Path::new(&name).display()
            ))
        };
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&name)
            .map_err(|e| in_use(e.to_string()))?;
        match file.try_lock() {
            Ok(()) => {
                *held = Some(file);
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(in_use("another process holds it".into()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(in_use(e.to_string())),
        }
    }
}

/// SQLite behind a writer pool and a reader pool (the same pool in memory).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Who takes the writer next: pipeline writes before bulk ones.
    turns: std::sync::Arc<Turns>,
    /// Alert rows by key, loaded on first use (see [`crate::alert_ids`]).
    alert_ids: std::sync::Arc<SharedIds>,
    /// The log's checkpoints, beside the writer (none in memory).
    checkpointer: Option<std::sync::Arc<Checkpointer>>,
    /// Fault injection: the writer's `max_page_count`, 0 for no limit; kept
    /// here so a replaced writer connection gets it too.
    #[cfg(feature = "fault-injection")]
    page_limit: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl SqliteStore {
    /// Open (creating the file if missing) and migrate.
    pub(crate) async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        // Told when the writer connection is back (see `Turns::released`).
        let turns = std::sync::Arc::<Turns>::default();
        if url.contains(":memory:") || url.contains("mode=memory") {
            // One connection for everything, kept alive for the store's lifetime.
            let released = turns.clone();
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_release(move |_, _| {
                    released.released();
                    Box::pin(async { Ok(true) })
                })
                .connect_with(options)
                .await?;
            MIGRATOR.run(&pool).await?;
            return Ok(SqliteStore {
                writer: pool.clone(),
                reader: pool,
                turns,
                alert_ids: std::sync::Arc::new(SharedIds::new(None)),
                checkpointer: None,
                #[cfg(feature = "fault-injection")]
                page_limit: Default::default(),
            });
        }

        // Only the writer sets the journal mode: switching to WAL takes a lock
        // that the busy timeout does not wait for, and the mode is persistent.
        #[cfg(feature = "fault-injection")]
        let page_limit = std::sync::Arc::<std::sync::atomic::AtomicU32>::default();
        let writer = SqlitePoolOptions::new();
        #[cfg(feature = "fault-injection")]
        let writer = {
            let page_limit = page_limit.clone();
            writer.after_connect(move |conn, _| {
                let limit = page_limit.load(std::sync::atomic::Ordering::Relaxed);
                Box::pin(async move {
                    if limit > 0 {
                        let pragma = format!("PRAGMA max_page_count = {limit}");
                        sqlx::query(sqlx::AssertSqlSafe(pragma))
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                })
            })
        };
        let released = turns.clone();
        let checkpointer = Checkpointer::new();
        let wrote = checkpointer.waker();
        let writer = writer
            .max_connections(1)
            .after_release(move |conn, _| {
                released.released();
                wrote.wrote();
                Box::pin(async move {
                    // A write that failed mid-transaction (SQLITE_FULL above
                    // all) may have been rolled back by SQLite itself; the
                    // driver's own ROLLBACK then fails and it goes on believing
                    // it is inside a transaction, refusing every BEGIN after.
                    // Flush the pending rollback, and replace a connection
                    // that still thinks so, or the writer never recovers.
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    // The checkpointer's thread copies the log back; the
                    // writer only finishes its copy, to start the log anew.
                    .pragma("wal_autocheckpoint", checkpoint::RESTART_PAGES.to_string()),
            )
            .await?;
        MIGRATOR.run(&writer).await?;
        checkpointer.start(options.get_filename())?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.clone().pragma("query_only", "ON"))
            .await?;
        Ok(SqliteStore {
            writer,
            reader,
            turns,
            alert_ids: SharedIds::of(options.get_filename()),
            checkpointer: Some(std::sync::Arc::new(checkpointer)),
            #[cfg(feature = "fault-injection")]
            page_limit,
        })
    }

    /// Fault injection: let the database grow to at most `pages` pages
    /// (SQLite keeps it at least as large as it is), or without limit, so
    /// tests can fill it up where they cannot fill a disk.
    #[cfg(feature = "fault-injection")]
    pub(crate) async fn limit_pages(&self, pages: Option<u32>) -> Result<(), StoreError> {
        let limit = pages.unwrap_or(0);
        self.page_limit
            .store(limit, std::sync::atomic::Ordering::Relaxed);
        // SQLite's own default: the largest database it can address.
        let pragma = format!("PRAGMA max_page_count = {}", pages.unwrap_or(u32::MAX - 1));
        sqlx::query(sqlx::AssertSqlSafe(pragma))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(crate) fn timer(op: &'static str) -> OpTimer {
        OpTimer::start(Backend::Sqlite, op)
    }

    /// Where reads go.
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Where single-statement writes go.
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Take the lock that makes this process the file's one writer of
    /// alerts (see [`SharedIds`]).
    pub(crate) fn hold_alerts_lock(&self) -> Result<(), StoreError> {
        self.alert_ids.hold()
    }

    /// How alert rows are found by key: by the ids this store keeps, read
    /// from the table on first use.
    pub(crate) async fn key_lookup(&self) -> Result<KeyLookup<'_>, StoreError> {
        let shared = &self.alert_ids;
        let ids = shared
            .ids
            .get_or_try_init(|| async {
                shared.hold()?;
                let _t = Self::timer("load_alert_ids");
                let ids = AlertIds::load([]);
                let mut after = 0_i64;
                loop {
                    let packed: Option<String> = sqlx::query_scalar(LOAD_IDS)
                        .bind(after)
                        .bind(LOAD_IDS_PER_QUERY)
                        .fetch_one(&self.reader)
                        .await?;
                    let Some(packed) = packed else { break };
                    // The slice's largest id, whatever order the rows were
                    // packed in.
                    let mut last = after;
                    unpack_ids(&packed, |id, key| {
                        ids.add(key, id);
                        last = last.max(id);
                    })?;
                    if last == after {
                        break;
                    }
                    after = last;
                }
                Ok::<_, StoreError>(ids)
            })
            .await?;
        Ok(KeyLookup::Ids(ids))
    }

    /// How an append may merge new groups' reports in its own transaction
    /// (the single writer serialises it with every merge): once the key map
    /// is read; `None` while it loads at start, so appends never wait for it.
    pub(crate) fn merge_on_append(&self) -> Option<KeyLookup<'_>> {
        self.alert_ids.ids.get().map(KeyLookup::Ids)
    }

    /// A write transaction: it holds SQLite's write lock from the start. In
    /// the pipeline's lane unless the task chose another ([`super::in_lane`]).
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        self.begin_in(super::current_lane(Lane::Pipeline)).await
    }

    /// A write transaction that writes alerts or the alert-group mapping:
    /// the single writer already serialises those.
    pub(crate) async fn begin_alert_write(&self) -> Result<Tx, StoreError> {
        self.begin_write().await
    }

    /// [`SqliteStore::begin_alert_write`] in `lane` (see [`Turns`]). The
    /// scope is PostgreSQL's business: here every write is serialised.
    pub(crate) async fn begin_alert_write_in(
        &self,
        lane: Lane,
        _scope: &super::AlertScope<'_>,
    ) -> Result<Tx, StoreError> {
        self.begin_in(lane).await
    }

    async fn begin_in(&self, lane: Lane) -> Result<Tx, StoreError> {
        let asked = std::time::Instant::now();
        let _turn = self.turns.take(lane).await;
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        self.turns.acquired(lane, asked);
        Ok(tx)
    }

    /// The writer connection for a single statement in `lane`.
    pub(crate) async fn writer_in(
        &self,
        lane: Lane,
    ) -> Result<sqlx::pool::PoolConnection<Db>, StoreError> {
        let asked = std::time::Instant::now();
        let _turn = self.turns.take(lane).await;
        let conn = self.writer.acquire().await?;
        self.turns.acquired(lane, asked);
        Ok(conn)
    }

    pub(crate) async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop().await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }
}

mod checkpoint;
mod handle;
mod rows;
super::operations!();

#[cfg(test)]
mod key_map_tests {
    use super::unpack_ids;

    #[test]
    fn packed_rows_unpack_whatever_the_key_holds() {
        let keys = ["a", "pd:x:y", "naïve:é", "12:34", ""];
        let packed: String = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{}:{}:{k}", i + 1, k.len()))
            .collect();
        let mut rows = Vec::new();
        unpack_ids(&packed, |id, key| rows.push((id, key.to_string()))).unwrap();
        let expected: Vec<(i64, String)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (i as i64 + 1, k.to_string()))
            .collect();
        assert_eq!(rows, expected);
        assert!(unpack_ids("1:5:ab", |_, _| {}).is_err(), "cut short");
        assert!(unpack_ids("x:1:a", |_, _| {}).is_err());
    }
}
