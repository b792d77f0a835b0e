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
//!
//! `sqlite::memory:` is a special case: every connection to it would be its
//! own database, so there a single connection serves reads and writes, and it
//! is never closed while the store is open (closing it would drop the data).

use std::str::FromStr;
use std::time::Duration;

use firebell_core::{Event, Incident};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::common::{
    OpTimer, check_append, check_new, decode_event, decode_incident, distinct_services,
    effective_limit, encode_event, encode_incident, format_id, from_ms, into_page,
    is_unique_violation, list_query, status_counts, to_i64, to_ms, to_u64,
};
use crate::{Backend, IncidentFilter, IncidentPage, NewToken, StoreError, TokenRecord};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reader connections for a file database.
const READERS: u32 = 4;

/// SQLite behind a writer pool and a reader pool (the same pool in memory).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

type TokenRow = (i64, String, String, i64, Option<i64>);

fn token_record(
    (id, name, role, created_at_ms, revoked_at_ms): TokenRow,
) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id,
        name,
        role,
        created_at: from_ms(created_at_ms)?,
        revoked_at: revoked_at_ms.map(from_ms).transpose()?,
    })
}

impl SqliteStore {
    /// Open (creating the file if missing) and migrate.
    pub(crate) async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("invalid SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        if url.contains(":memory:") || url.contains("mode=memory") {
            // One connection for everything, kept alive for the store's lifetime.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            MIGRATOR.run(&pool).await?;
            return Ok(SqliteStore {
                writer: pool.clone(),
                reader: pool,
            });
        }

        // Only the writer sets the journal mode: switching to WAL takes a lock
        // that the busy timeout does not wait for, and the mode is persistent.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full),
            )
            .await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        Ok(SqliteStore { writer, reader })
    }

    fn timer(op: &'static str) -> OpTimer {
        OpTimer::start(Backend::Sqlite, op)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let _t = Self::timer("ping");
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    pub(crate) async fn create_incident<F>(
        &self,
        stem: &str,
        digits: u8,
        build: F,
    ) -> Result<Incident, StoreError>
    where
        F: FnOnce(String) -> (Incident, Vec<Event>) + Send,
    {
        let _t = Self::timer("create_incident");
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO incident_counters (stem, last) VALUES (?, 1) \
             ON CONFLICT (stem) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
        )
        .bind(stem)
        .fetch_one(&mut *tx)
        .await?;
        let id = format_id(stem, digits, n);
        let (mut incident, events) = build(id.clone());
        // The store allocated the id; the state must carry it.
        incident.id = id;
        check_new(&incident, &events)?;

        sqlx::query(
            "INSERT INTO incidents \
             (id, title, severity, status, declared_at_ms, updated_at_ms, resolved_at_ms, version, state) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&incident.id)
        .bind(&incident.title)
        .bind(&incident.severity)
        .bind(incident.status.as_str())
        .bind(to_ms(incident.declared_at))
        .bind(to_ms(incident.updated_at))
        .bind(incident.resolved_at.map(to_ms))
        .bind(to_i64(incident.version, "version")?)
        .bind(encode_incident(&incident)?)
        .execute(&mut *tx)
        .await?;
        insert_services(&mut tx, &incident).await?;
        insert_events(&mut tx, &incident.id, &events).await?;
        tx.commit().await?;
        Ok(incident)
    }

    pub(crate) async fn append_events(
        &self,
        state: &Incident,
        expected_version: u64,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("append_events");
        check_append(state, expected_version, events)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let updated = sqlx::query(
            "UPDATE incidents SET title = ?, severity = ?, status = ?, updated_at_ms = ?, resolved_at_ms = ?, \
             version = ?, state = ? WHERE id = ? AND version = ?",
        )
        .bind(&state.title)
        .bind(&state.severity)
        .bind(state.status.as_str())
        .bind(to_ms(state.updated_at))
        .bind(state.resolved_at.map(to_ms))
        .bind(to_i64(state.version, "version")?)
        .bind(encode_incident(state)?)
        .bind(&state.id)
        .bind(to_i64(expected_version, "version")?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            let actual = current_version(&mut tx, &state.id).await?;
            tx.rollback().await?;
            return Err(conflict_or_missing(&state.id, expected_version, actual)?);
        }

        if let Err(e) = insert_events(&mut tx, &state.id, events).await {
            tx.rollback().await?;
            if let StoreError::Database(db) = &e
                && is_unique_violation(db)
            {
                // Someone else holds one of these seqs: the log moved on.
                let mut conn = self.writer.acquire().await?;
                let actual = current_version(&mut conn, &state.id).await?;
                return Err(conflict_or_missing(&state.id, expected_version, actual)?);
            }
            return Err(e);
        }

        sqlx::query("DELETE FROM incident_services WHERE incident_id = ?")
            .bind(&state.id)
            .execute(&mut *tx)
            .await?;
        insert_services(&mut tx, state).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn load_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let _t = Self::timer("load_events");
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, payload FROM incident_events WHERE incident_id = ? ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|(seq, payload)| decode_event(id, *seq, payload))
            .collect()
    }

    pub(crate) async fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let _t = Self::timer("get_incident");
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM incidents WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        state.map(|s| decode_incident(id, &s)).transpose()
    }

    pub(crate) async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        let _t = Self::timer("list_incidents");
        let limit = effective_limit(filter.limit);
        let mut query = list_query::<sqlx::Sqlite>(filter, limit + 1)?;
        let rows: Vec<(i64, String, String)> =
            query.build_query_as().fetch_all(&self.reader).await?;
        into_page(rows, limit)
    }

    pub(crate) async fn count_incidents_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let _t = Self::timer("count_incidents_by_status");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM incidents GROUP BY status")
                .fetch_all(&self.reader)
                .await?;
        Ok(status_counts(rows))
    }

    pub(crate) async fn create_token(&self, token: &NewToken) -> Result<TokenRecord, StoreError> {
        let _t = Self::timer("create_token");
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO api_tokens (name, role, hash, created_at_ms) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&token.name)
        .bind(&token.role)
        .bind(&token.hash)
        .bind(to_ms(token.created_at))
        .fetch_one(&self.writer)
        .await;
        match inserted {
            Ok(id) => Ok(TokenRecord {
                id,
                name: token.name.clone(),
                role: token.role.clone(),
                created_at: token.created_at,
                revoked_at: None,
            }),
            Err(e) if is_unique_violation(&e) => {
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = ?")
                        .bind(&token.name)
                        .fetch_optional(&self.writer)
                        .await?;
                match taken {
                    Some(_) => Err(StoreError::DuplicateToken(token.name.clone())),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let _t = Self::timer("token_by_hash");
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT id, name, role, created_at_ms, revoked_at_ms FROM api_tokens \
             WHERE hash = ? AND revoked_at_ms IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.reader)
        .await?;
        row.map(token_record).transpose()
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let _t = Self::timer("list_tokens");
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, name, role, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(token_record).collect()
    }

    pub(crate) async fn revoke_token(
        &self,
        id: i64,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("revoke_token");
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
        )
        .bind(to_ms(at))
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    pub(crate) async fn count_tokens(&self) -> Result<i64, StoreError> {
        let _t = Self::timer("count_tokens");
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&self.reader)
            .await?)
    }
}

async fn current_version(conn: &mut SqliteConnection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT version FROM incidents WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The error for an append that matched no row at the expected version.
fn conflict_or_missing(
    id: &str,
    expected: u64,
    actual: Option<i64>,
) -> Result<StoreError, StoreError> {
    Ok(match actual {
        None => StoreError::NotFound(id.to_string()),
        Some(v) => StoreError::Conflict {
            expected,
            actual: to_u64(v, "version")?,
        },
    })
}

async fn insert_services(
    conn: &mut SqliteConnection,
    incident: &Incident,
) -> Result<(), StoreError> {
    for service in distinct_services(incident) {
        sqlx::query("INSERT INTO incident_services (incident_id, service) VALUES (?, ?)")
            .bind(&incident.id)
            .bind(service)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn insert_events(
    conn: &mut SqliteConnection,
    id: &str,
    events: &[Event],
) -> Result<(), StoreError> {
    for event in events {
        sqlx::query("INSERT INTO incident_events (incident_id, seq, at_ms, actor, type, payload) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(to_i64(event.seq, "seq")?)
            .bind(to_ms(event.at))
            .bind(&event.actor)
            .bind(event.kind.type_name())
            .bind(encode_event(event)?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
