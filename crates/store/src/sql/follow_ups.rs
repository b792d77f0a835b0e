// The learning loop's projection: postmortems and action items across
// incidents. Included once per backend (see `backend/mod.rs`).

use firebell_core::incident::{ActionItem, ActionStatus};
use firebell_core::{Event, EventKind, Incident};

use super::{Conn, Db, Handle};
use crate::codec::{effective_limit, from_ms, to_i64, to_ms};
use crate::{ActionItemFilter, ActionItemRow, PostmortemFilter, PostmortemRow, StoreError};

/// Whether an append changes what the projection holds.
pub(super) fn touches_follow_ups(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::PostmortemOpened { .. }
                | EventKind::PostmortemEdited { .. }
                | EventKind::PostmortemStateChanged { .. }
                | EventKind::ReviewScheduled { .. }
                | EventKind::ActionItemAdded { .. }
                | EventKind::ActionItemUpdated { .. }
                | EventKind::ActionItemFiled { .. }
                | EventKind::Resolved { .. }
                | EventKind::Reopened { .. }
        )
    })
}

/// Rewrite the incident's rows from its state (inside the caller's
/// transaction).
pub(super) async fn sync(conn: &mut Conn, state: &Incident) -> Result<(), StoreError> {
    if let Some(pm) = &state.postmortem {
        sqlx::query(
            "INSERT INTO postmortems (incident_id, state, owner, due_at_ms, review_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident_id) DO UPDATE SET \
             state = excluded.state, owner = excluded.owner, due_at_ms = excluded.due_at_ms, \
             review_at_ms = excluded.review_at_ms, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&state.id)
        .bind(pm.state.as_str())
        .bind(&pm.owner)
        .bind(pm.due_at.map(to_ms))
        .bind(pm.review.as_ref().map(|r| to_ms(r.at)))
        .bind(to_ms(state.updated_at))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM action_items WHERE incident_id = $1")
        .bind(&state.id)
        .execute(&mut *conn)
        .await?;
    for item in &state.action_items {
        sqlx::query(
            "INSERT INTO action_items (incident_id, id, owner, status, due_at_ms, tracker_number, \
             tracker_state, item) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&state.id)
        .bind(i64::from(item.id))
        .bind(&item.owner)
        .bind(item.status.as_str())
        .bind(item.due_at.map(to_ms))
        .bind(
            item.tracker
                .as_ref()
                .map(|t| to_i64(t.number, "issue number"))
                .transpose()?,
        )
        .bind(item.tracker.as_ref().map(|t| t.state.clone()))
        .bind(encode(item)?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn encode(item: &ActionItem) -> Result<String, StoreError> {
    serde_json::to_string(item)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode action item {}: {e}", item.id)))
}

fn decode(incident: &str, item: &str) -> Result<ActionItem, StoreError> {
    serde_json::from_str(item)
        .map_err(|e| StoreError::Corrupt(format!("an action item of incident {incident}: {e}")))
}

type ItemRow = (String, String, String);

impl Handle {
    /// Postmortems past due and not published, and action items past due
    /// and not complete: the two numbers `/metrics` shows.
    pub(crate) async fn count_overdue_follow_ups(
        &self,
        now: firebell_core::Timestamp,
    ) -> Result<(i64, i64), StoreError> {
        let _t = Self::timer("count_overdue_follow_ups");
        let postmortems: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM postmortems WHERE state <> 'published' AND due_at_ms < $1",
        )
        .bind(to_ms(now))
        .fetch_one(self.reader())
        .await?;
        let items: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM action_items WHERE status <> $1 AND due_at_ms < $2",
        )
        .bind(ActionStatus::Complete.as_str())
        .bind(to_ms(now))
        .fetch_one(self.reader())
        .await?;
        Ok((postmortems, items))
    }

    pub(crate) async fn list_action_items(
        &self,
        filter: &ActionItemFilter,
    ) -> Result<Vec<ActionItemRow>, StoreError> {
        let _t = Self::timer("list_action_items");
        let mut q = sqlx::QueryBuilder::<Db>::new(
            "SELECT a.incident_id, i.title, a.item FROM action_items a \
             JOIN incidents i ON i.id = a.incident_id WHERE 1 = 1",
        );
        if let Some(id) = &filter.incident {
            q.push(" AND a.incident_id = ").push_bind(id.clone());
        }
        if let Some(owner) = &filter.owner {
            q.push(" AND a.owner = ").push_bind(owner.clone());
        }
        if let Some(status) = filter.status {
            q.push(" AND a.status = ").push_bind(status.as_str());
        } else if filter.open_only {
            q.push(" AND a.status <> ")
                .push_bind(ActionStatus::Complete.as_str());
        }
        if let Some(now) = filter.overdue_at {
            q.push(" AND a.status <> ")
                .push_bind(ActionStatus::Complete.as_str())
                .push(" AND a.due_at_ms < ")
                .push_bind(to_ms(now));
        }
        // The tracker deals with items still to do: a complete one is not
        // filed late, nor read back.
        if filter.unfiled {
            q.push(" AND a.tracker_number IS NULL AND a.status <> ")
                .push_bind(ActionStatus::Complete.as_str());
        }
        if filter.filed_open {
            q.push(" AND a.tracker_number IS NOT NULL AND a.tracker_state <> 'closed' AND a.status <> ")
                .push_bind(ActionStatus::Complete.as_str());
        }
        q.push(" ORDER BY a.due_at_ms IS NULL, a.due_at_ms, a.incident_id, a.id LIMIT ")
            .push_bind(i64::from(effective_limit(filter.limit)));
        let rows: Vec<ItemRow> = q.build_query_as().fetch_all(self.reader()).await?;
        rows.into_iter()
            .map(|(incident_id, incident_title, item)| {
                Ok(ActionItemRow {
                    item: decode(&incident_id, &item)?,
                    incident_id,
                    incident_title,
                })
            })
            .collect()
    }

    pub(crate) async fn list_postmortems(
        &self,
        filter: &PostmortemFilter,
    ) -> Result<Vec<PostmortemRow>, StoreError> {
        let _t = Self::timer("list_postmortems");
        let mut q = sqlx::QueryBuilder::<Db>::new(
            "SELECT p.incident_id, i.title, i.severity, p.state, p.owner, p.due_at_ms, \
             p.review_at_ms FROM postmortems p JOIN incidents i ON i.id = p.incident_id WHERE 1 = 1",
        );
        if let Some(state) = filter.state {
            q.push(" AND p.state = ").push_bind(state.as_str());
        }
        if let Some(now) = filter.overdue_at {
            q.push(" AND p.state <> 'published' AND p.due_at_ms < ")
                .push_bind(to_ms(now));
        }
        q.push(" ORDER BY p.due_at_ms IS NULL, p.due_at_ms, p.incident_id LIMIT ")
            .push_bind(i64::from(effective_limit(filter.limit)));
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = q.build_query_as().fetch_all(self.reader()).await?;
        rows.into_iter()
            .map(
                |(incident_id, title, severity, state, owner, due, review)| {
                    Ok(PostmortemRow {
                        state: state.parse().map_err(|_| {
                            StoreError::Corrupt(format!(
                                "postmortem of {incident_id} has state {state:?}"
                            ))
                        })?,
                        incident_id,
                        title,
                        severity,
                        owner,
                        due_at: due.map(from_ms).transpose()?,
                        review_at: review.map(from_ms).transpose()?,
                    })
                },
            )
            .collect()
    }
}
