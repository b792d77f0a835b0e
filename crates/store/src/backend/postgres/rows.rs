//! The bulk writes on PostgreSQL: the scheduler's claim and a batch's
//! incident rows, and a merge's alert rows. A multi-row statement per table
//! and thousand rows, since each statement is a round trip to the server.
//! SQLite writes the same rows one prepared statement at a time on its own
//! handle (`backend/sqlite/rows.rs`).

use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::batch::Stored;
use super::{Conn, Db};
use crate::codec::{
    AlertSlot, InPlace, KEYS_PER_QUERY, ROWS_PER_STATEMENT, alert_id_taken, to_i64, to_ms,
    upsert_alerts_query,
};
use crate::outbox::new_id;
use firebell_core::Timestamp;
use firebell_core::alert::Alert;

use crate::{Append, Encoded, StoreError};

/// The projections, events, timers and notification intents of `appends`
/// (the versions were checked under lock). `moved` names the incidents whose
/// status or severity changed; the others are written without them, as
/// naming an indexed column in `SET` rewrites its index entries.
pub(crate) async fn write_rows(
    conn: &mut Conn,
    appends: &[&Encoded],
    moved: &HashSet<&str>,
) -> Result<(), StoreError> {
    write_states(conn, appends, moved).await?;
    write_events(conn, appends).await?;
    let appends: Vec<&Append> = appends.iter().map(|e| &e.append).collect();
    write_timers(conn, &appends).await?;
    write_intents(conn, &appends).await
}

/// Lock the incidents and read their versions (missing ones are absent).
pub(crate) async fn lock_versions(
    conn: &mut Conn,
    ids: &[&str],
) -> Result<HashMap<String, Stored>, StoreError> {
    let mut stored = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(KEYS_PER_QUERY) {
        let mut q =
            QueryBuilder::<Db>::new("SELECT id, version, status, severity FROM incidents WHERE ");
        super::batch::push_in(&mut q, "id", chunk);
        q.push(for_update!());
        let rows: Vec<(String, i64, String, String)> =
            q.build_query_as().fetch_all(&mut *conn).await?;
        stored.extend(rows.into_iter().map(|(id, version, status, severity)| {
            (
                id,
                Stored {
                    version,
                    status,
                    severity,
                },
            )
        }));
    }
    Ok(stored)
}

async fn write_states(
    conn: &mut Conn,
    appends: &[&Encoded],
    moved: &HashSet<&str>,
) -> Result<(), StoreError> {
    let (mut same, mut changed) = (Vec::new(), Vec::new());
    for e in appends {
        let s = &e.append.state;
        let row = (
            s,
            to_i64(s.version, "version")?,
            &e.state,
            s.resolved_at.map(to_ms),
        );
        match moved.contains(s.id.as_str()) {
            false => same.push(row),
            true => changed.push(row),
        }
    }
    for (rows, indexed) in [(same, false), (changed, true)] {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Db>::new(
                "WITH v (id, title, updated_at_ms, resolved_at_ms, version, state",
            );
            q.push(if indexed {
                ", status, severity) AS ("
            } else {
                ") AS ("
            });
            q.push_values(chunk, |mut row, (s, version, state, resolved)| {
                row.push_bind(s.id.as_str())
                    .push_bind(s.title.as_str())
                    .push_bind(to_ms(s.updated_at))
                    .push_bind(*resolved)
                    .push_bind(*version)
                    .push_bind(state.as_str());
                if indexed {
                    row.push_bind(s.status.as_str())
                        .push_bind(s.severity.as_str());
                }
            });
            q.push(
                ") UPDATE incidents SET title = v.title, updated_at_ms = v.updated_at_ms, \
                 resolved_at_ms = v.resolved_at_ms, version = v.version, state = v.state",
            );
            if indexed {
                q.push(", status = v.status, severity = v.severity");
            }
            q.push(" FROM v WHERE incidents.id = v.id");
            q.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

async fn write_events(conn: &mut Conn, appends: &[&Encoded]) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    for a in appends {
        for (e, payload) in a.append.events.iter().zip(&a.events) {
            rows.push((
                a.append.state.id.as_str(),
                to_i64(e.seq, "seq")?,
                to_ms(e.at),
                e.actor.as_str(),
                e.kind.type_name(),
                payload,
            ));
        }
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO incident_events (incident_id, seq, at_ms, actor, type, payload) ",
        );
        q.push_values(chunk, |mut row, (id, seq, at, actor, kind, payload)| {
            row.push_bind(*id)
                .push_bind(*seq)
                .push_bind(*at)
                .push_bind(*actor)
                .push_bind(*kind)
                .push_bind(payload.as_str());
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every incident's timers replaced by its agenda.
async fn write_timers(conn: &mut Conn, appends: &[&Append]) -> Result<(), StoreError> {
    let ids: Vec<&str> = appends.iter().map(|a| a.state.id.as_str()).collect();
    let mut q = QueryBuilder::<Db>::new("DELETE FROM timers WHERE ");
    super::batch::push_in(&mut q, "incident_id", &ids);
    q.build().execute(&mut *conn).await?;
    let rows: Vec<(&str, String, i64)> = appends
        .iter()
        .flat_map(|a| {
            a.timers
                .iter()
                .map(|d| (a.state.id.as_str(), d.duty.to_string(), to_ms(d.at)))
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new("INSERT INTO timers (incident_id, duty, fire_at_ms) ");
        q.push_values(chunk, |mut row, (id, duty, at)| {
            row.push_bind(*id).push_bind(duty.as_str()).push_bind(*at);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Notification intents, each stored once per incident and key.
async fn write_intents(conn: &mut Conn, appends: &[&Append]) -> Result<(), StoreError> {
    let rows: Vec<(&Append, &firebell_core::escalation::Intent, i64)> = appends
        .iter()
        .flat_map(|a| {
            let at = to_ms(a.state.updated_at);
            a.intents.iter().map(move |i| (*a, i, at))
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO notifications (id, incident_id, intent_key, duty, person, channel, \
             address, locale, subject, body, stop_on_ack, ack_round, state, attempts, \
             next_attempt_at_ms, created_at_ms, updated_at_ms) ",
        );
        q.push_values(chunk, |mut row, (a, i, at)| {
            row.push_bind(new_id())
                .push_bind(a.state.id.as_str())
                .push_bind(i.key.as_str())
                .push_bind(i.duty.to_string())
                .push_bind(i.person.as_str())
                .push_bind(i.channel.as_str())
                .push_bind(i.address.as_str())
                .push_bind(i.locale.as_str())
                .push_bind(i.subject.as_str())
                .push_bind(i.text.as_str())
                .push_bind(i.stop_on_ack)
                .push_bind(i64::from(i.ack_round))
                .push_unseparated(", 'pending', 0")
                .push_bind(*at)
                .push_bind(*at)
                .push_bind(*at);
        });
        q.push(" ON CONFLICT (incident_id, intent_key) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Claim the incidents of the earliest due timers (at most `limit` timers),
/// skipping rows another replica holds; returns their ids, possibly twice.
pub(crate) async fn claim_due(
    conn: &mut Conn,
    now: Timestamp,
    limit: u32,
    token: &str,
    lease: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(super::outbox::CLAIM_DUE)
        .bind(token)
        .bind(to_ms(lease))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    Ok(ids)
}

/// The merge's alert rows (see [`upsert_alerts_query`]), a multi-row
/// statement per thousand, each encoded while the one before runs.
/// `slots`: each row's where rows are found by id, else empty.
pub(crate) async fn upsert_alerts(
    conn: &mut Conn,
    rows: &[(Alert, bool)],
    slots: &[AlertSlot],
    processed: bool,
) -> Result<(), StoreError> {
    let ids: Vec<i64> = slots.iter().map(AlertSlot::id).collect();
    let by_id = !ids.is_empty();
    let encode = |chunk: usize| {
        let start = chunk * ROWS_PER_STATEMENT;
        let rows = rows.get(start..)?;
        let rows = &rows[..rows.len().min(ROWS_PER_STATEMENT)];
        (!rows.is_empty()).then(|| {
            let ids = by_id.then(|| ids.get(start..start + rows.len()).unwrap_or_default());
            upsert_alerts_query::<Db>(rows, ids, processed).map(|q| (q, rows.len()))
        })
    };
    let mut next = encode(0);
    let mut chunk = 0;
    while let Some(query) = next {
        let (mut query, rows) = query?;
        chunk += 1;
        let (written, following) =
            tokio::join!(query.build().execute(&mut *conn), async { encode(chunk) });
        next = following;
        let written = written?.rows_affected();
        if by_id && written != rows as u64 {
            return Err(alert_id_taken());
        }
    }
    Ok(())
}

/// Nothing is extended in place here: another replica may be merging the
/// same alert, so each extension's report is logged and merged (the
/// append never calls this on PostgreSQL; see `merge_on_append`).
pub(crate) async fn extend_alerts(
    _conn: &mut Conn,
    _rows: &[InPlace<'_>],
    _now: i64,
) -> Result<HashSet<String>, StoreError> {
    Ok(HashSet::new())
}

/// The service index's rows of the incidents `ids` (at most
/// [`KEYS_PER_QUERY`]): incident, service, status, severity.
pub(crate) async fn read_services(
    conn: &mut Conn,
    ids: &[&str],
) -> Result<Vec<(String, String, String, String)>, StoreError> {
    let mut q = QueryBuilder::<Db>::new(
        "SELECT incident_id, service, status, severity FROM incident_services WHERE ",
    );
    super::batch::push_in(&mut q, "incident_id", ids);
    Ok(q.build_query_as().fetch_all(&mut *conn).await?)
}
