// Many appends in one transaction: what a scheduler round writes when a mass
// event makes thousands of timers due at once. The incident rows go through
// the backend's own `rows::write_rows` (multi-row statements on PostgreSQL,
// prepared statements on SQLite's own handle). Included once per backend
// (see `backend/mod.rs`).

use std::collections::{BTreeSet, HashMap, HashSet};

use firebell_core::Incident;
use firebell_core::escalation::Duty;
use sqlx::QueryBuilder;

use super::{Conn, Db, Handle};
use crate::codec::{
    KEYS_PER_QUERY, ROWS_PER_STATEMENT, check_append, distinct_services, to_i64, to_ms,
};
use crate::{Append, Encoded, StoreError};

impl Handle {
    /// Many appends in one transaction. The incidents are locked and their
    /// versions read first: an append whose incident moved on (a concurrent
    /// command) or is gone is left out, and its index returned. The rest are
    /// written together in one transaction, without a dozen statements per
    /// incident: the cost per statement, not the rows, is what made a mass
    /// firing slow.
    pub(crate) async fn append_batch(&self, encoded: &[Encoded]) -> Result<Vec<usize>, StoreError> {
        let _t = Self::timer("append_batch");
        let appends: Vec<&Append> = encoded.iter().map(|e| &e.append).collect();
        for a in &appends {
            check_append(&a.state, a.expected_version, &a.events)?;
        }
        if appends.is_empty() {
            return Ok(Vec::new());
        }
        let lookup = self.key_lookup().await?;
        let mut tx = if appends.iter().any(|a| a.writes_alerts()) {
            self.begin_alert_write().await?
        } else {
            self.begin_write().await?
        };
        let ids: Vec<&str> = appends.iter().map(|a| a.state.id.as_str()).collect();
        let stored = super::rows::lock_versions(&mut tx, &ids).await?;
        let (mut lost, mut kept, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
        for (i, e) in encoded.iter().enumerate() {
            let a = &e.append;
            let current = stored.get(a.state.id.as_str()).map(|s| s.version);
            let expected = to_i64(a.expected_version, "version")?;
            // A second append of one incident in the batch expects the
            // version the first one replaces: it lost, as it would alone.
            if current == Some(expected) && seen.insert(a.state.id.as_str()) {
                kept.push(e);
            } else {
                lost.push(i);
            }
        }
        for encoded in kept.chunks(KEYS_PER_QUERY) {
            let chunk: Vec<&Append> = encoded.iter().map(|e| &e.append).collect();
            let chunk = chunk.as_slice();
            let moved = moved(chunk, &stored);
            super::rows::write_rows(&mut tx, encoded, &moved).await?;
            write_services(&mut tx, chunk).await?;
            cancel_stopped(&mut tx, chunk).await?;
            for a in chunk {
                if super::follow_ups::touches_follow_ups(&a.events) {
                    super::follow_ups::sync(&mut tx, &a.state).await?;
                }
                super::alerts::mark_processed(&mut tx, lookup, &a.alerts, None).await?;
            }
            let closed: Vec<&str> = chunk
                .iter()
                .filter(|a| !a.state.is_open())
                .map(|a| a.state.id.as_str())
                .collect();
            if !closed.is_empty() {
                let mut q = QueryBuilder::<Db>::new("DELETE FROM incident_groups WHERE ");
                push_in(&mut q, "incident_id", &closed);
                q.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(lost)
    }
}

/// `column IN ($…)` over `values` (never empty).
pub(super) fn push_in(q: &mut QueryBuilder<Db>, column: &str, values: &[&str]) {
    q.push(column).push(" IN (");
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(*v);
    }
    q.push(")");
}

/// An incident's row as the batch found it, under lock.
pub(super) struct Stored {
    pub(super) version: i64,
    pub(super) status: String,
    pub(super) severity: String,
}

/// The incidents whose status or severity the batch changes (or that were
/// not found): their rows are written with the indexed columns.
fn moved<'a>(appends: &[&'a Append], stored: &HashMap<String, Stored>) -> HashSet<&'a str> {
    appends
        .iter()
        .filter(|a| match stored.get(&a.state.id) {
            Some(old) => old.status != a.state.status.as_str() || old.severity != a.state.severity,
            None => true,
        })
        .map(|a| a.state.id.as_str())
        .collect()
}

/// The service index: rows read once, and only what changed written (a
/// firing rarely changes an incident's services, status or severity).
async fn write_services(conn: &mut Conn, appends: &[&Append]) -> Result<(), StoreError> {
    let ids: Vec<&str> = appends.iter().map(|a| a.state.id.as_str()).collect();
    let stored = super::rows::read_services(conn, &ids).await?;
    let by_id: HashMap<&str, &Incident> = appends
        .iter()
        .map(|a| (a.state.id.as_str(), &a.state))
        .collect();
    let mut present: HashSet<(&str, &str)> = HashSet::new();
    let (mut gone, mut restated) = (Vec::new(), BTreeSet::new());
    for (id, service, status, severity) in &stored {
        let Some(state) = by_id.get(id.as_str()) else {
            continue;
        };
        if !state.services.iter().any(|s| s == service) {
            gone.push((id.as_str(), service.as_str()));
            continue;
        }
        present.insert((id.as_str(), service.as_str()));
        if status != state.status.as_str() || *severity != state.severity {
            restated.insert(id.as_str());
        }
    }
    let mut added = Vec::new();
    for a in appends {
        for service in distinct_services(&a.state) {
            if !present.contains(&(a.state.id.as_str(), service)) {
                added.push((&a.state, service));
            }
        }
    }
    for chunk in gone.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new("WITH gone (incident_id, service) AS (");
        q.push_values(chunk, |mut row, (id, service)| {
            row.push_bind(*id).push_bind(*service);
        });
        q.push(
            ") DELETE FROM incident_services WHERE EXISTS (SELECT 1 FROM gone \
             WHERE gone.incident_id = incident_services.incident_id \
             AND gone.service = incident_services.service)",
        );
        q.build().execute(&mut *conn).await?;
    }
    let restated: Vec<&Incident> = restated.into_iter().map(|id| by_id[id]).collect();
    for chunk in restated.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new("WITH v (incident_id, status, severity) AS (");
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.id.as_str())
                .push_bind(s.status.as_str())
                .push_bind(s.severity.as_str());
        });
        q.push(
            ") UPDATE incident_services SET status = v.status, severity = v.severity \
             FROM v WHERE incident_services.incident_id = v.incident_id",
        );
        q.build().execute(&mut *conn).await?;
    }
    for chunk in added.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO incident_services (incident_id, service, declared_at_ms, status, severity) ",
        );
        q.push_values(chunk, |mut row, (s, service)| {
            row.push_bind(s.id.as_str())
                .push_bind(*service)
                .push_bind(to_ms(s.declared_at))
                .push_bind(s.status.as_str())
                .push_bind(s.severity.as_str());
        });
        q.push(" ON CONFLICT (incident_id, service) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Pending notifications the new states no longer allow, cancelled (see
/// `outbox::cancel_stopped`, the one-incident form).
async fn cancel_stopped(conn: &mut Conn, appends: &[&Append]) -> Result<(), StoreError> {
    let stopped: Vec<&Incident> = appends
        .iter()
        .map(|a| &a.state)
        .filter(|s| !s.is_open() || s.acknowledged_at.is_some())
        .collect();
    for chunk in stopped.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Db>::new("WITH v (incident_id, at_ms, closed) AS (");
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.id.as_str())
                .push_bind(to_ms(s.updated_at))
                .push_bind(!s.is_open());
        });
        q.push(
            ") UPDATE notifications SET state = 'cancelled', updated_at_ms = v.at_ms FROM v \
             WHERE notifications.incident_id = v.incident_id AND notifications.state = 'pending' \
             AND (notifications.stop_on_ack OR v.closed) AND notifications.duty NOT LIKE ",
        );
        q.push_bind(format!("{}%", Duty::OUTLIVES_RESOLUTION_PREFIX))
            .push(" AND notifications.duty NOT LIKE ")
            .push_bind(format!("{}%", Duty::FOLLOW_UP_PREFIX));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}
