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
//!
//! A URL may end in `?schema=NAME`: the schema is created if missing and every
//! connection gets `search_path=NAME` at startup, so tests (or tenants) can
//! share one database without seeing each other.

use std::str::FromStr;

use firebell_core::{Event, Incident};
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::common::{
    OpTimer, check_append, check_new, decode_event, decode_incident, distinct_services,
    effective_limit, encode_event, encode_incident, format_id, from_ms, into_page,
    is_unique_violation, list_query, status_counts, to_i64, to_ms, to_u64,
};
use crate::{Backend, IncidentFilter, IncidentPage, NewToken, StoreError, TokenRecord};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per replica.
const MAX_CONNECTIONS: u32 = 10;

/// PostgreSQL behind one pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
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
        Ok(PgStore { pool })
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
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO incident_counters (stem, last) VALUES ($1, 1) \
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
        let mut tx = self.pool.begin().await?;
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
                let mut conn = self.pool.acquire().await?;
                let actual = current_version(&mut conn, &state.id).await?;
                return Err(conflict_or_missing(&state.id, expected_version, actual)?);
            }
            return Err(e);
        }

        sqlx::query("DELETE FROM incident_services WHERE incident_id = $1")
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
