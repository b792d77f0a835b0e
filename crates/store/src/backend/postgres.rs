//! The PostgreSQL backend: the same schema as SQLite, for teams running
//! several replicas that share nothing but the database.
//!
//! Concurrency is left to PostgreSQL's row locks under READ COMMITTED:
//!
//! - Numbering: `INSERT … ON CONFLICT (stem) DO UPDATE … RETURNING` locks the
//!   stem's counter row until commit, so concurrent creates queue on it and
//!   each gets its own number; a rolled-back create gives its number back.
//! - Appending: `UPDATE … WHERE version = expected` waits for a concurrent
//!   writer of the same incident, then re-checks the version against the
//!   committed row, so exactly one of two racing appends wins.
//! - Alerts: every transaction that writes alert rows or the alert-group
//!   mapping (ingest, processing, the expiry sweep, a resolution, pruning)
//!   begins with [`PgStore::begin_alert_write`], which locks the `alerts` row
//!   of `store_locks`, or [`PgStore::begin_alert_write_in`] for a few
//!   groups, which shares that row and locks each group. Writers of one
//!   group then run one at a time, as behind SQLite's single writer: an
//!   ingest's read-merge-write cannot interleave with the processor's
//!   guarded update (no lost `incident_id`), multi-row writers cannot
//!   deadlock on each other's rows (locks are taken first, in one order),
//!   and "is this group taken?" is answered once and stays true until
//!   commit. Writers of other groups, readers and the other incident writes
//!   are not held up.
//! - Claims (timers, notifications) skip rows another replica is claiming
//!   (`FOR UPDATE SKIP LOCKED`), so replicas share the work.
//!
//! A URL may end in `?schema=NAME`: the schema is created if missing and every
//! connection gets `search_path=NAME` at startup, so tests (or tenants) can
//! share one database without seeing each other.

use std::str::FromStr;

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::AlertScope;
use crate::codec::{OpTimer, is_unique_violation};
use crate::{Backend, StoreError};

pub(crate) type Db = sqlx::Postgres;

/// A label's value: labels are a JSON object in a text column.
pub(crate) const LABEL_SQL: crate::codec::LabelSql<Db> = crate::codec::LabelSql {
    readable: |_| true,
    push_value: |qb, name| {
        qb.push("(labels::jsonb ->> ")
            .push_bind(name.to_string())
            .push(")");
    },
};
pub(crate) type Conn = sqlx::PgConnection;
pub(crate) type Handle = PgStore;
type Tx = sqlx::Transaction<'static, Db>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica.
const MAX_CONNECTIONS: u32 = 10;
/// Longest a caller waits for a connection. While the database is down the
/// pool keeps retrying a refused connect until this passes; short enough that
/// a sender hears "retry later" (503) before its own timeout gives up on us.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Row-lock suffix of a read that a write in the same transaction depends on.
macro_rules! for_update {
    () => {
        " FOR UPDATE"
    };
}

/// Row-lock suffix of a claim that skips rows another replica is claiming.
macro_rules! skip_locked {
    () => {
        " FOR UPDATE SKIP LOCKED"
    };
}

/// The database's clock, in milliseconds since the epoch (the moment of the
/// call, not of the transaction's start).
macro_rules! clock_ms {
    () => {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    };
}

/// PostgreSQL behind one pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// Split `?schema=NAME` (or `&schema=NAME`) off a PostgreSQL URL: sqlx does not
/// know the parameter. The name must be a plain identifier, since it is spliced
/// into `CREATE SCHEMA`.
fn split_schema(url: &str) -> Result<(String, Option<String>), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("schema=") {
            Some(name) => schema = Some(name.to_string()),
            None => rest.push(pair),
        }
    }
    if let Some(name) = &schema {
        let valid = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(StoreError::InvalidUrl(format!(
                "invalid schema {name:?} in database URL: use letters, digits and _ (at most 63)"
            )));
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

/// See [`PgStore::connect`].
pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "15s";

impl PgStore {
    /// Connect, create the URL's schema if it names one, and migrate.
    pub(crate) async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let (url, schema) = split_schema(url)?;
        let mut options = PgConnectOptions::from_str(&url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = &schema {
            // A startup parameter, so every pooled connection has it from the start.
            options = options.options([("search_path", schema)]);
        }
        // Fencing: a replica stopped inside a transaction (SIGSTOP, a VM
        // pause) loses it, its locks go to the others, and its commit fails
        // when it wakes. No transaction of ours idles this long.
        options = options.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        if let Some(schema) = &schema {
            // Validated as a plain identifier by `split_schema`.
            let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            if let Err(e) = sqlx::query(AssertSqlSafe(create)).execute(&pool).await {
                // Two connects racing to create it: the loser may see a
                // duplicate error although the schema now exists.
                if !is_unique_violation(&e) {
                    return Err(e.into());
                }
            }
        }
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub(crate) fn timer(op: &'static str) -> OpTimer {
        OpTimer::start(Backend::Postgres, op)
    }

    /// Where reads go.
    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// Where single-statement writes go.
    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction; row locks order it against concurrent writers.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// A write transaction that writes alerts or the alert-group mapping: it
    /// takes the `alerts` lock first, as every alert writer does, so lock
    /// order is the same everywhere.
    pub(crate) async fn begin_alert_write(&self) -> Result<Tx, StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked: Option<String> =
            sqlx::query_scalar("SELECT name FROM store_locks WHERE name = 'alerts' FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await?;
        match locked {
            Some(_) => Ok(tx),
            None => Err(missing_alerts_lock()),
        }
    }

    /// Replicas share the database: nothing to lock.
    pub(crate) fn hold_alerts_lock(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// How alert rows are found by key: by the index on `key`.
    pub(crate) async fn key_lookup(&self) -> Result<crate::alert_ids::KeyLookup<'_>, StoreError> {
        Ok(crate::alert_ids::KeyLookup::Index)
    }

    /// Never: a merge holds the alerts lock, and appends must not wait for
    /// it (replicas keep taking alerts while another holds it, frozen even).
    pub(crate) fn merge_on_append(&self) -> Option<crate::alert_ids::KeyLookup<'_>> {
        None
    }

    /// An alert write within `scope`; lanes matter only on SQLite's single
    /// writer connection. [`AlertScope::All`] is [`PgStore::begin_alert_write`].
    /// A scope of groups shares the `alerts` lock (`FOR SHARE`, so whole-lock
    /// writers still exclude it) and then takes a lock of each group, in one
    /// order everywhere: writes of disjoint groups run side by side, and a
    /// new group's merge and declaration do not wait for a flood's merge.
    pub(crate) async fn begin_alert_write_in(
        &self,
        _lane: super::Lane,
        scope: &AlertScope<'_>,
    ) -> Result<Tx, StoreError> {
        let AlertScope::Groups(groups) = scope else {
            return self.begin_alert_write().await;
        };
        let mut tx = self.pool.begin().await?;
        let locked: Option<String> =
            sqlx::query_scalar("SELECT name FROM store_locks WHERE name = 'alerts' FOR SHARE")
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Err(missing_alerts_lock());
        }
        let mut keys: Vec<i32> = groups.iter().map(|g| group_lock_key(g)).collect();
        keys.sort_unstable();
        keys.dedup();
        // `unnest` yields the keys in array order, so they are taken in it.
        sqlx::query("SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k")
            .bind(GROUP_LOCK_CLASS)
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A connection for a single statement; lanes matter only on SQLite.
    pub(crate) async fn writer_in(
        &self,
        _lane: super::Lane,
    ) -> Result<sqlx::pool::PoolConnection<Db>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// The first key of every group lock ([`PgStore::begin_alert_write_in`]):
/// its own space among advisory locks.
const GROUP_LOCK_CLASS: i32 = 0x4642_6c6b; // "FBlk"

/// A group's lock key: FNV-1a over its key, the same on every replica. Two
/// groups that share one merely wait for each other.
fn group_lock_key(group: &str) -> i32 {
    let hash = group.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    i32::from_ne_bytes(hash.to_ne_bytes())
}

fn missing_alerts_lock() -> StoreError {
    StoreError::Corrupt(
        "the `alerts` row of store_locks is missing: alert writers cannot be serialised".into(),
    )
}

mod rows;
super::operations!();

#[cfg(test)]
mod tests {
    use super::split_schema;

    #[test]
    fn schema_is_split_off_and_checked() {
        let (url, schema) = split_schema("postgres://h/db?schema=t_1&sslmode=disable").unwrap();
        assert_eq!(url, "postgres://h/db?sslmode=disable");
        assert_eq!(schema.as_deref(), Some("t_1"));
        assert!(split_schema("postgres://h/db?schema=a;drop").is_err());
        assert_eq!(split_schema("postgres://h/db").unwrap().1, None);
    }
}
