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
//!   mapping (ingest, processing, the expiry sweep, a resolution) first locks
//!   the `alerts` row of `store_locks`. Those writers then run one at a time,
//!   as behind SQLite's single writer: an ingest's read-merge-write cannot
//!   interleave with the processor's guarded update (no lost `incident_id`),
//!   multi-row writers cannot deadlock on each other's rows, and "is this
//!   group taken?" is answered once and stays true until commit. Readers and
//!   the other incident writes are not held up.
//!
//! A URL may end in `?schema=NAME`: the schema is created if missing and every
//! connection gets `search_path=NAME` at startup, so tests (or tenants) can
//! share one database without seeing each other.

use std::str::FromStr;

use std::collections::HashMap;

use firebell_core::alert::{Alert, IncomingAlert, MaintenanceWindow, Silence};
use firebell_core::{Event, Incident, Timestamp};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres};

use crate::common::{
    AlertRow, ChangeRow, KEYS_PER_QUERY, LOG_ROWS_PER_ROUND, LogEntry, MaintenanceRow, OpTimer,
    ROWS_PER_STATEMENT, SilenceRow, alert_columns, alert_counts, alert_limit, change_from_row,
    change_row, check_append, check_new, decode_event, decode_incident, decode_logged,
    distinct_processed, distinct_services, effective_limit, encode_event, encode_incident,
    format_id, from_ms, group_taken, into_alerts, into_page, is_unique_violation,
    list_alerts_query, list_query, log_insert_query, log_rows_query, logged_keys,
    maintenance_from_row, maintenance_row, mark_processed_query, merge_batch, select_alerts_by_key,
    silence_from_row, silence_row, status_counts, take_log_rows, to_i64, to_ms, to_u64,
    upsert_alerts_query,
};
use crate::{
    AlertFilter, Backend, ChangeRecord, IncidentFilter, IncidentPage, NewToken, ProcessedAlert,
    StoreError, TokenRecord,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica.
const MAX_CONNECTIONS: u32 = 10;

/// PostgreSQL behind one pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Computes an incident's timers from its state (set by the server).
    pub(crate) planner: crate::outbox::PlannerCell,
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
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
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
        Ok(PgStore {
            pool,
            planner: Default::default(),
        })
    }

    fn timer(op: &'static str) -> OpTimer {
        OpTimer::start(Backend::Postgres, op)
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let _t = Self::timer("ping");
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
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
        let mut tx = self.pool.begin().await?;
        let incident = insert_incident(&mut tx, stem, digits, build).await?;
        let due_now = crate::outbox::sync_effects_pg(&mut tx, &incident, &self.planner).await?;
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(incident)
    }

    pub(crate) async fn append_events(
        &self,
        state: &Incident,
        expected_version: u64,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("append_events");
        self.append_and_mark(state, expected_version, events, &[])
            .await
    }

    /// Append events and mark alerts processed, all or nothing.
    async fn append_and_mark(
        &self,
        state: &Incident,
        expected_version: u64,
        events: &[Event],
        alerts: &[ProcessedAlert],
    ) -> Result<(), StoreError> {
        check_append(state, expected_version, events)?;
        let mut tx = self.pool.begin().await?;
        // Marking alerts and releasing a resolved incident's groups are alert
        // writes: take the alerts lock before any row lock, as every alert
        // writer does, so lock order is the same everywhere.
        if !alerts.is_empty() || !state.is_open() {
            lock_alerts(&mut tx).await?;
        }
        if let Err(e) = write_append(&mut tx, state, expected_version, events).await {
            tx.rollback().await?;
            if let StoreError::Database(db) = &e
                && is_unique_violation(db)
            {
                // Someone else holds one of these seqs: the log moved on.
                let mut conn = self.pool.acquire().await?;
                let actual = current_version(&mut conn, &state.id).await?;
                return Err(conflict_or_missing(&state.id, expected_version, actual)?);
            }
            return Err(e);
        }
        let due_now = crate::outbox::sync_effects_pg(&mut tx, state, &self.planner).await?;
        mark_processed(&mut tx, alerts, None).await?;
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(())
    }

    pub(crate) async fn load_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let _t = Self::timer("load_events");
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, payload FROM incident_events WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|(seq, payload)| decode_event(id, *seq, payload))
            .collect()
    }

    pub(crate) async fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let _t = Self::timer("get_incident");
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        state.map(|s| decode_incident(id, &s)).transpose()
    }

    pub(crate) async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        let _t = Self::timer("list_incidents");
        let limit = effective_limit(filter.limit);
        let mut query = list_query::<sqlx::Postgres>(filter, limit + 1)?;
        let rows: Vec<(i64, String, String)> = query.build_query_as().fetch_all(&self.pool).await?;
        into_page(rows, limit)
    }

    pub(crate) async fn count_incidents_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let _t = Self::timer("count_incidents_by_status");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM incidents GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
        Ok(status_counts(rows))
    }

    pub(crate) async fn create_token(&self, token: &NewToken) -> Result<TokenRecord, StoreError> {
        let _t = Self::timer("create_token");
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO api_tokens (name, role, hash, created_at_ms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&token.name)
        .bind(&token.role)
        .bind(&token.hash)
        .bind(to_ms(token.created_at))
        .fetch_one(&self.pool)
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
                    sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = $1")
                        .bind(&token.name)
                        .fetch_optional(&self.pool)
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
             WHERE hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(token_record).transpose()
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let _t = Self::timer("list_tokens");
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, name, role, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.pool)
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
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(to_ms(at))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    pub(crate) async fn count_tokens(&self) -> Result<i64, StoreError> {
        let _t = Self::timer("count_tokens");
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&self.pool)
            .await?)
    }

    // --- alerts ------------------------------------------------------------

    pub(crate) async fn log_alerts(
        &self,
        received_at: Timestamp,
        entries: &[LogEntry],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("log_alerts");
        if let Some(mut insert) = log_insert_query::<Postgres>(received_at, entries) {
            insert.build().execute(&self.pool).await?;
        }
        Ok(())
    }

    pub(crate) async fn merge_logged_alerts<F>(
        &self,
        max_alerts: usize,
        merge: F,
    ) -> Result<Vec<Alert>, StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
    {
        let _t = Self::timer("merge_logged_alerts");
        // Most calls (every read of alerts settles the log first) find it
        // empty: a plain read says so without taking the write lock.
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ingest_log)")
            .fetch_one(&self.pool)
            .await?;
        if !any {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        lock_alerts(&mut tx).await?;
        let heads: Vec<(i64, i64)> =
            sqlx::query_as("SELECT seq, alert_count FROM ingest_log ORDER BY seq LIMIT $1")
                .bind(LOG_ROWS_PER_ROUND)
                .fetch_all(&mut *tx)
                .await?;
        let seqs = take_log_rows(&heads, max_alerts);
        if seqs.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let mut select = log_rows_query::<Postgres>("SELECT seq, received_at_ms, alerts", &seqs);
        let rows: Vec<(i64, i64, String)> = select.build_query_as().fetch_all(&mut *tx).await?;
        let incoming = decode_logged(rows)?;
        let stored = load_alerts(&mut tx, &logged_keys(&incoming)).await?;
        let batch = merge_batch(&incoming, stored, merge)?;
        for rows in batch.rows.chunks(ROWS_PER_STATEMENT) {
            upsert_alerts_query::<Postgres>(rows)?
                .build()
                .execute(&mut *tx)
                .await?;
        }
        let mut delete = log_rows_query::<Postgres>("DELETE", &seqs);
        delete.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(batch.results)
    }

    pub(crate) async fn logged_alert_backlog(&self) -> Result<u64, StoreError> {
        let _t = Self::timer("logged_alert_backlog");
        let n: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(alert_count), 0)::BIGINT FROM ingest_log")
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn pending_alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        let _t = Self::timer("pending_alerts");
        let rows: Vec<AlertRow> = sqlx::query_as(concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE pending ORDER BY updated_at_ms, key LIMIT $1"
        ))
        .bind(alert_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        into_alerts(rows)
    }

    pub(crate) async fn sweep_expired_alerts(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _t = Self::timer("sweep_expired_alerts");
        let mut tx = self.pool.begin().await?;
        lock_alerts(&mut tx).await?;
        let swept = sqlx::query(
            "UPDATE alerts SET pending = TRUE \
             WHERE processed_firing AND NOT pending AND ends_at_ms <= $1",
        )
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(swept)
    }

    pub(crate) async fn repend_unattached_firing_alerts(
        &self,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let _t = Self::timer("repend_unattached_firing_alerts");
        let mut tx = self.pool.begin().await?;
        lock_alerts(&mut tx).await?;
        let repended = sqlx::query(
            "UPDATE alerts SET pending = TRUE \
             WHERE NOT pending AND (ends_at_ms IS NULL OR ends_at_ms > $1) \
             AND NOT EXISTS (SELECT 1 FROM incidents \
                 WHERE incidents.id = alerts.incident_id AND incidents.status <> 'resolved')",
        )
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(repended)
    }

    pub(crate) async fn open_incident_for_group(
        &self,
        group_key: &str,
    ) -> Result<Option<String>, StoreError> {
        let _t = Self::timer("open_incident_for_group");
        Ok(
            sqlx::query_scalar("SELECT incident_id FROM incident_groups WHERE group_key = $1")
                .bind(group_key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn create_incident_for_group<F>(
        &self,
        stem: &str,
        digits: u8,
        group_key: &str,
        alerts: &[ProcessedAlert],
        build: F,
    ) -> Result<Incident, StoreError>
    where
        F: FnOnce(String) -> (Incident, Vec<Event>) + Send,
    {
        let _t = Self::timer("create_incident_for_group");
        let mut tx = self.pool.begin().await?;
        lock_alerts(&mut tx).await?;
        // Checked first so a taken group does not even use up a number.
        if let Some(incident_id) = group_holder(&mut tx, group_key).await? {
            tx.rollback().await?;
            return Err(StoreError::GroupTaken { incident_id });
        }
        let incident = insert_incident(&mut tx, stem, digits, build).await?;
        let due_now = crate::outbox::sync_effects_pg(&mut tx, &incident, &self.planner).await?;
        if incident.is_open() {
            let claimed = sqlx::query(
                "INSERT INTO incident_groups (group_key, incident_id) VALUES ($1, $2) \
                 ON CONFLICT (group_key) DO NOTHING",
            )
            .bind(group_key)
            .bind(&incident.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let holder = group_holder(&mut tx, group_key).await?;
                tx.rollback().await?;
                return Err(group_taken(group_key, holder));
            }
        }
        mark_processed(&mut tx, alerts, Some(&incident.id)).await?;
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(incident)
    }

    pub(crate) async fn attach_alerts(
        &self,
        state: &Incident,
        expected_version: u64,
        events: &[Event],
        alerts: &[ProcessedAlert],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("attach_alerts");
        self.append_and_mark(state, expected_version, events, alerts)
            .await
    }

    pub(crate) async fn mark_alerts_processed(
        &self,
        alerts: &[ProcessedAlert],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("mark_alerts_processed");
        if alerts.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        lock_alerts(&mut tx).await?;
        mark_processed(&mut tx, alerts, None).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_alert(&self, key: &str) -> Result<Option<Alert>, StoreError> {
        let _t = Self::timer("get_alert");
        let mut query = select_alerts_by_key::<Postgres>(&[key]);
        let row: Option<AlertRow> = query.build_query_as().fetch_optional(&self.pool).await?;
        row.map(AlertRow::into_alert).transpose()
    }

    pub(crate) async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let _t = Self::timer("list_alerts");
        let mut query = list_alerts_query::<Postgres>(filter);
        let rows: Vec<AlertRow> = query.build_query_as().fetch_all(&self.pool).await?;
        into_alerts(rows)
    }

    pub(crate) async fn alert_counts(
        &self,
        incident_id: &str,
        now: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        let _t = Self::timer("alert_counts");
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN ends_at_ms IS NULL OR ends_at_ms > $1 THEN 1 ELSE 0 END), 0), \
             COUNT(*) FROM alerts WHERE incident_id = $2",
        )
        .bind(to_ms(now))
        .bind(incident_id)
        .fetch_one(&self.pool)
        .await?;
        alert_counts(counts)
    }

    // --- silences ----------------------------------------------------------

    pub(crate) async fn upsert_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let _t = Self::timer("upsert_silence");
        let (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms) =
            silence_row(silence)?;
        sqlx::query(
            "INSERT INTO silences \
             (id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, \
             starts_at_ms = excluded.starts_at_ms, ends_at_ms = excluded.ends_at_ms, \
             created_by = excluded.created_by, comment = excluded.comment, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(id)
        .bind(matchers)
        .bind(starts_at_ms)
        .bind(ends_at_ms)
        .bind(created_by)
        .bind(comment)
        .bind(updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn get_silence(&self, id: &str) -> Result<Option<Silence>, StoreError> {
        let _t = Self::timer("get_silence");
        let row: Option<SilenceRow> = sqlx::query_as(
            "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms \
             FROM silences WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(silence_from_row).transpose()
    }

    pub(crate) async fn list_silences(&self) -> Result<Vec<Silence>, StoreError> {
        let _t = Self::timer("list_silences");
        let rows: Vec<SilenceRow> = sqlx::query_as(
            "SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, updated_at_ms \
             FROM silences ORDER BY ends_at_ms DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(silence_from_row).collect()
    }

    pub(crate) async fn expire_silence(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("expire_silence");
        let now = to_ms(now);
        let expired = sqlx::query(
            "UPDATE silences SET ends_at_ms = $1, updated_at_ms = $2, \
             starts_at_ms = CASE WHEN starts_at_ms > $3 THEN $4 ELSE starts_at_ms END \
             WHERE id = $5 AND ends_at_ms > $6",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(expired > 0)
    }

    // --- maintenance windows -------------------------------------------------

    pub(crate) async fn create_maintenance(
        &self,
        window: &MaintenanceWindow,
    ) -> Result<(), StoreError> {
        let _t = Self::timer("create_maintenance");
        let (
            id,
            title,
            kind,
            services,
            starts_at_ms,
            ends_at_ms,
            created_by,
            created_at_ms,
            planned_starts_at_ms,
            planned_ends_at_ms,
        ) = maintenance_row(window)?;
        sqlx::query(
            "INSERT INTO maintenance_windows \
             (id, title, kind, services, starts_at_ms, ends_at_ms, created_by, created_at_ms, \
              planned_starts_at_ms, planned_ends_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(title)
        .bind(kind)
        .bind(services)
        .bind(starts_at_ms)
        .bind(ends_at_ms)
        .bind(created_by)
        .bind(created_at_ms)
        .bind(planned_starts_at_ms)
        .bind(planned_ends_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_maintenance(&self) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let _t = Self::timer("list_maintenance");
        let rows: Vec<MaintenanceRow> = sqlx::query_as(
            "SELECT id, title, kind, services, starts_at_ms, ends_at_ms, created_by, created_at_ms, \
             planned_starts_at_ms, planned_ends_at_ms \
             FROM maintenance_windows ORDER BY starts_at_ms DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(maintenance_from_row).collect()
    }

    pub(crate) async fn end_maintenance(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("end_maintenance");
        let now = to_ms(now);
        let ended = sqlx::query(
            "UPDATE maintenance_windows SET ends_at_ms = $1, \
             starts_at_ms = CASE WHEN starts_at_ms > $2 THEN $3 ELSE starts_at_ms END \
             WHERE id = $4 AND (ends_at_ms IS NULL OR (starts_at_ms <= $5 AND ends_at_ms > $6))",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(ended > 0)
    }

    // --- heartbeats --------------------------------------------------------

    pub(crate) async fn record_heartbeat(
        &self,
        name: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let _t = Self::timer("record_heartbeat");
        sqlx::query(
            "INSERT INTO heartbeats (name, last_seen_at_ms) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET last_seen_at_ms = excluded.last_seen_at_ms",
        )
        .bind(name)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn heartbeats(&self) -> Result<Vec<crate::HeartbeatPing>, StoreError> {
        let _t = Self::timer("heartbeats");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, last_seen_at_ms FROM heartbeats ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(name, ms)| {
                Ok(crate::HeartbeatPing {
                    name,
                    last_seen_at: from_ms(ms)?,
                })
            })
            .collect()
    }

    // --- changes -----------------------------------------------------------

    pub(crate) async fn record_change(&self, change: &ChangeRecord) -> Result<(), StoreError> {
        let _t = Self::timer("record_change");
        let (id, source, summary, service, environment, at_ms, payload) = change_row(change)?;
        sqlx::query(
            "INSERT INTO changes (id, source, summary, service, environment, at_ms, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, summary = excluded.summary, \
             service = excluded.service, environment = excluded.environment, \
             at_ms = excluded.at_ms, payload = excluded.payload",
        )
        .bind(id)
        .bind(source)
        .bind(summary)
        .bind(service)
        .bind(environment)
        .bind(at_ms)
        .bind(payload)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_changes(
        &self,
        service: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let _t = Self::timer("list_changes");
        let rows: Vec<ChangeRow> =
            match service {
                Some(service) => sqlx::query_as(
                    "SELECT id, source, summary, service, environment, at_ms, payload FROM changes \
                     WHERE service = $1 AND at_ms >= $2 ORDER BY at_ms DESC, id",
                )
                .bind(service)
                .bind(to_ms(since))
                .fetch_all(&self.pool)
                .await?,
                None => sqlx::query_as(
                    "SELECT id, source, summary, service, environment, at_ms, payload FROM changes \
                     WHERE at_ms >= $1 ORDER BY at_ms DESC, id",
                )
                .bind(to_ms(since))
                .fetch_all(&self.pool)
                .await?,
            };
        rows.into_iter().map(change_from_row).collect()
    }
}

async fn current_version(conn: &mut PgConnection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT version FROM incidents WHERE id = $1")
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

async fn insert_services(conn: &mut PgConnection, incident: &Incident) -> Result<(), StoreError> {
    for service in distinct_services(incident) {
        sqlx::query("INSERT INTO incident_services (incident_id, service) VALUES ($1, $2)")
            .bind(&incident.id)
            .bind(service)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn insert_events(
    conn: &mut PgConnection,
    id: &str,
    events: &[Event],
) -> Result<(), StoreError> {
    for event in events {
        sqlx::query("INSERT INTO incident_events (incident_id, seq, at_ms, actor, type, payload) VALUES ($1, $2, $3, $4, $5, $6)")
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

/// Allocate the stem's next number, build the incident and write it with its
/// first events (inside the caller's transaction).
async fn insert_incident<F>(
    conn: &mut PgConnection,
    stem: &str,
    digits: u8,
    build: F,
) -> Result<Incident, StoreError>
where
    F: FnOnce(String) -> (Incident, Vec<Event>),
{
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO incident_counters (stem, last) VALUES ($1, 1) \
         ON CONFLICT (stem) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
    )
    .bind(stem)
    .fetch_one(&mut *conn)
    .await?;
    let id = format_id(stem, digits, n);
    let (mut incident, events) = build(id.clone());
    // The store allocated the id; the state must carry it.
    incident.id = id;
    check_new(&incident, &events)?;

    sqlx::query(
        "INSERT INTO incidents \
         (id, title, severity, status, declared_at_ms, updated_at_ms, resolved_at_ms, version, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
    .execute(&mut *conn)
    .await?;
    insert_services(conn, &incident).await?;
    insert_events(conn, &incident.id, &events).await?;
    Ok(incident)
}

/// Write an append inside the caller's transaction: the projection (only if
/// still at `expected_version`, else Conflict or NotFound), the events, the
/// service index, and, when the incident is now resolved, the end of its
/// alert groups' claim on it.
pub(crate) async fn write_append(
    conn: &mut PgConnection,
    state: &Incident,
    expected_version: u64,
    events: &[Event],
) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE incidents SET title = $1, severity = $2, status = $3, updated_at_ms = $4, resolved_at_ms = $5, \
         version = $6, state = $7 WHERE id = $8 AND version = $9",
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
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        let actual = current_version(conn, &state.id).await?;
        return Err(conflict_or_missing(&state.id, expected_version, actual)?);
    }
    insert_events(conn, &state.id, events).await?;
    sqlx::query("DELETE FROM incident_services WHERE incident_id = $1")
        .bind(&state.id)
        .execute(&mut *conn)
        .await?;
    insert_services(conn, state).await?;
    if !state.is_open() {
        sqlx::query("DELETE FROM incident_groups WHERE incident_id = $1")
            .bind(&state.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The incident a group's mapping names, if any.
async fn group_holder(
    conn: &mut PgConnection,
    group_key: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT incident_id FROM incident_groups WHERE group_key = $1")
            .bind(group_key)
            .fetch_optional(conn)
            .await?,
    )
}

/// The stored alerts with the keys of `incoming`, by key.
async fn load_alerts(
    conn: &mut PgConnection,
    keys: &[&str],
) -> Result<HashMap<String, Alert>, StoreError> {
    let mut stored = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let mut query = select_alerts_by_key::<Postgres>(chunk);
        let rows: Vec<AlertRow> = query.build_query_as().fetch_all(&mut *conn).await?;
        for row in rows {
            let alert = row.into_alert()?;
            stored.insert(alert.key.clone(), alert);
        }
    }
    Ok(stored)
}

/// Mark alerts processed inside the caller's transaction (see
/// [`mark_processed_query`]).
async fn mark_processed(
    conn: &mut PgConnection,
    alerts: &[ProcessedAlert],
    incident: Option<&str>,
) -> Result<(), StoreError> {
    for chunk in distinct_processed(alerts).chunks(ROWS_PER_STATEMENT) {
        mark_processed_query::<Postgres>(chunk, incident)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Take the alerts lock (see the module docs) until the transaction ends.
pub(crate) async fn lock_alerts(conn: &mut PgConnection) -> Result<(), StoreError> {
    let locked: Option<String> =
        sqlx::query_scalar("SELECT name FROM store_locks WHERE name = 'alerts' FOR UPDATE")
            .fetch_optional(conn)
            .await?;
    match locked {
        Some(_) => Ok(()),
        None => Err(StoreError::Corrupt(
            "the `alerts` row of store_locks is missing: alert writers cannot be serialised".into(),
        )),
    }
}
