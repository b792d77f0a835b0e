// Incidents: the event log, its projection for lists, and the service index.
// Included once per backend (see `backend/mod.rs`).

use firebell_core::status_page::Span;
use firebell_core::{Event, Incident, Timestamp};

use super::{Conn, Db, Handle};
use crate::alert_ids::KeyLookup;
use crate::codec::{
    KEYS_PER_QUERY, check_append, check_new, decode_event, decode_incident, distinct_services,
    effective_limit, encode_event, encode_incident, format_id, from_ms, into_page,
    is_unique_violation, list_query, status_counts, to_i64, to_ms, to_u64,
};
use crate::{Append, FirstDuties, IncidentFilter, IncidentPage, NewIncident, StoreError};

impl Handle {
    pub(crate) async fn create_incident(
        &self,
        stem: &str,
        digits: u8,
        new: &NewIncident,
        first: FirstDuties<'_>,
    ) -> Result<Incident, StoreError> {
        let _t = Self::timer("create_incident");
        let lookup = self.key_lookup().await?;
        let mut tx = self.begin_write().await?;
        let incident = insert_incident(&mut tx, stem, digits, new).await?;
        let incident = write_first_duties(&mut tx, lookup, incident, first).await?;
        tx.commit().await?;
        Ok(incident)
    }

    pub(crate) async fn append(&self, append: &Append) -> Result<(), StoreError> {
        let _t = Self::timer("append");
        check_append(&append.state, append.expected_version, &append.events)?;
        let lookup = self.key_lookup().await?;
        let mut tx = if append.writes_alerts() {
            self.begin_alert_write().await?
        } else {
            self.begin_write().await?
        };
        if let Err(e) = write(&mut tx, lookup, append).await {
            tx.rollback().await?;
            if let StoreError::Database(db) = &e
                && is_unique_violation(db)
            {
                // Someone else holds one of these seqs: the log moved on.
                let mut conn = self.writer().acquire().await?;
                let actual = current_version(&mut conn, &append.state.id).await?;
                return Err(conflict_or_missing(
                    &append.state.id,
                    append.expected_version,
                    actual,
                )?);
            }
            return Err(e);
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn load_events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let _t = Self::timer("load_events");
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, payload FROM incident_events WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|(seq, payload)| decode_event(id, *seq, payload))
            .collect()
    }

    pub(crate) async fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let _t = Self::timer("get_incident");
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        state.map(|s| decode_incident(id, &s)).transpose()
    }

    pub(crate) async fn get_incidents(&self, ids: &[String]) -> Result<Vec<Incident>, StoreError> {
        let _t = Self::timer("get_incidents");
        let mut incidents = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS_PER_QUERY) {
            let mut q =
                sqlx::QueryBuilder::<Db>::new("SELECT id, state FROM incidents WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            q.push(") ORDER BY id");
            let rows: Vec<(String, String)> = q.build_query_as().fetch_all(self.reader()).await?;
            for (id, state) in rows {
                incidents.push(decode_incident(&id, &state)?);
            }
        }
        Ok(incidents)
    }

    pub(crate) async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<IncidentPage, StoreError> {
        let _t = Self::timer("list_incidents");
        let limit = effective_limit(filter.limit);
        let mut query = list_query::<Db>(filter, limit + 1)?;
        let rows: Vec<(i64, String, String)> =
            query.build_query_as().fetch_all(self.reader()).await?;
        into_page(rows, limit)
    }

    pub(crate) async fn count_incidents_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let _t = Self::timer("count_incidents_by_status");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM incidents GROUP BY status")
                .fetch_all(self.reader())
                .await?;
        Ok(status_counts(rows))
    }

    pub(crate) async fn incident_spans(&self, since: Timestamp) -> Result<Vec<Span>, StoreError> {
        let _t = Self::timer("incident_spans");
        let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT s.service, i.severity, i.declared_at_ms, i.resolved_at_ms \
             FROM incident_services s JOIN incidents i ON i.id = s.incident_id \
             WHERE i.resolved_at_ms >= $1 AND i.drill = $2",
        )
        .bind(to_ms(since))
        .bind(false)
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(|(service, severity, start, end)| {
                Ok(Span {
                    service,
                    severity,
                    start: from_ms(start)?,
                    end: end.map(from_ms).transpose()?,
                })
            })
            .collect()
    }

    /// Incidents a policy change may owe new timers: open ones, and
    /// resolved ones with timers or follow-ups still to do (a postmortem
    /// not published, an action item not complete).
    pub(crate) async fn incident_ids_with_duties(&self) -> Result<Vec<String>, StoreError> {
        let _t = Self::timer("incident_ids_with_duties");
        Ok(sqlx::query_scalar(
            "SELECT id FROM incidents WHERE status <> 'resolved' \
             UNION SELECT incident_id FROM timers \
             UNION SELECT incident_id FROM postmortems WHERE state <> 'published' \
             UNION SELECT incident_id FROM action_items WHERE status <> 'complete' \
             ORDER BY 1",
        )
        .fetch_all(self.reader())
        .await?)
    }

    pub(crate) async fn open_incident_ids(&self) -> Result<Vec<String>, StoreError> {
        let _t = Self::timer("open_incident_ids");
        Ok(
            sqlx::query_scalar("SELECT id FROM incidents WHERE status <> 'resolved' ORDER BY id")
                .fetch_all(self.reader())
                .await?,
        )
    }
}

async fn current_version(conn: &mut Conn, id: &str) -> Result<Option<i64>, StoreError> {
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

/// Bring an incident's rows of `incident_services` in line with its state,
/// writing only what changed: most writes (a note, an acknowledgement, alerts
/// recorded) change none of its services, status or severity, and the table
/// carries four indexes.
async fn sync_services(conn: &mut Conn, incident: &Incident) -> Result<(), StoreError> {
    let services = distinct_services(incident);
    let mut gone =
        sqlx::QueryBuilder::<Db>::new("DELETE FROM incident_services WHERE incident_id = ");
    gone.push_bind(&incident.id);
    if !services.is_empty() {
        gone.push(" AND service NOT IN (");
        let mut list = gone.separated(", ");
        for service in &services {
            list.push_bind(*service);
        }
        gone.push(")");
    }
    gone.build().execute(&mut *conn).await?;
    sqlx::query(
        "UPDATE incident_services SET status = $1, severity = $2 \
         WHERE incident_id = $3 AND (status <> $1 OR severity <> $2)",
    )
    .bind(incident.status.as_str())
    .bind(&incident.severity)
    .bind(&incident.id)
    .execute(&mut *conn)
    .await?;
    insert_services(conn, incident).await
}

/// Rows of `incident_services` for the incident's services that have none.
async fn insert_services(conn: &mut Conn, incident: &Incident) -> Result<(), StoreError> {
    for service in distinct_services(incident) {
        sqlx::query(
            "INSERT INTO incident_services \
             (incident_id, service, declared_at_ms, status, severity) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id, service) DO NOTHING",
        )
        .bind(&incident.id)
        .bind(service)
        .bind(to_ms(incident.declared_at))
        .bind(incident.status.as_str())
        .bind(&incident.severity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn insert_events(conn: &mut Conn, id: &str, events: &[Event]) -> Result<(), StoreError> {
    for event in events {
        sqlx::query(
            "INSERT INTO incident_events (incident_id, seq, at_ms, actor, type, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
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

/// Allocate the stem's next number and write the incident with its first
/// events and timers (inside the caller's transaction). Returns it with its id.
pub(super) async fn insert_incident(
    conn: &mut Conn,
    stem: &str,
    digits: u8,
    new: &NewIncident,
) -> Result<Incident, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO incident_counters (stem, last) VALUES ($1, 1) \
         ON CONFLICT (stem) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
    )
    .bind(stem)
    .fetch_one(&mut *conn)
    .await?;
    let mut incident = new.state.clone();
    incident.id = format_id(stem, digits, n);
    check_new(&incident, &new.events)?;

    sqlx::query(
        "INSERT INTO incidents \
         (id, title, severity, status, declared_at_ms, updated_at_ms, resolved_at_ms, version, state, drill) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .bind(incident.drill)
    .execute(&mut *conn)
    .await?;
    insert_services(conn, &incident).await?;
    insert_events(conn, &incident.id, &new.events).await?;
    super::outbox::sync_effects(conn, &incident, &new.timers).await?;
    Ok(incident)
}

/// Write the duties due at declaration (see [`FirstDuties`]) inside the
/// declaring transaction; returns the state after them.
pub(super) async fn write_first_duties(
    conn: &mut Conn,
    lookup: KeyLookup<'_>,
    incident: Incident,
    first: FirstDuties<'_>,
) -> Result<Incident, StoreError> {
    let Some(append) = first(&incident) else {
        return Ok(incident);
    };
    check_append(&append.state, append.expected_version, &append.events)?;
    write(conn, lookup, &append).await?;
    Ok(append.state)
}

/// Write an append inside the caller's transaction: the events and their
/// effects (timers, cancellations, intents, alerts marked processed).
async fn write(conn: &mut Conn, lookup: KeyLookup<'_>, append: &Append) -> Result<(), StoreError> {
    write_change(conn, append).await?;
    super::alerts::mark_processed(conn, lookup, &append.alerts, None).await?;
    Ok(())
}

/// [`write`] but for the alerts' marks, which the caller writes with the
/// alerts themselves.
pub(super) async fn write_change(conn: &mut Conn, append: &Append) -> Result<(), StoreError> {
    let state = &append.state;
    write_append(conn, state, append.expected_version, &append.events).await?;
    super::outbox::sync_effects(conn, state, &append.timers).await?;
    super::outbox::insert_intents(conn, &state.id, &append.intents, state.updated_at).await?;
    Ok(())
}

/// Write an append inside the caller's transaction: the projection (only if
/// still at `expected_version`, else Conflict or NotFound), the events, the
/// service index, and, when the incident is now resolved, the end of its
/// alert groups' claim on it.
pub(super) async fn write_append(
    conn: &mut Conn,
    state: &Incident,
    expected_version: u64,
    events: &[Event],
) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE incidents SET title = $1, severity = $2, status = $3, updated_at_ms = $4, \
         resolved_at_ms = $5, version = $6, state = $7 WHERE id = $8 AND version = $9",
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
    sync_services(conn, state).await?;
    if super::follow_ups::touches_follow_ups(events) {
        super::follow_ups::sync(conn, state).await?;
    }
    if !state.is_open() {
        sqlx::query("DELETE FROM incident_groups WHERE incident_id = $1")
            .bind(&state.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
