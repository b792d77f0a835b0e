// Timers and the notification outbox (see `crate::outbox`).
// Included once per backend (see `backend/mod.rs`).

use firebell_core::escalation::{Due, Duty, Intent};
use firebell_core::{Incident, Timestamp};

use super::{Conn, Handle};
use crate::StoreError;
use crate::codec::{decode_incident, from_ms, to_i64, to_ms};
use crate::outbox::{
    Completion, Notification, NotificationRow, completion_columns, new_id, notification,
    notification_columns, outcome_event, with_outcome,
};

/// The scheduler's claim (see `Handle::claim_due_incidents`), run by each
/// backend its own way (`rows::claim_due`): `$1` the claim's token, `$2`
/// the lease, `$3` now (in ms), `$4` the most timers.
pub(super) const CLAIM_DUE: &str = concat!(
    "WITH due AS (SELECT incident_id FROM timers \
       WHERE fire_at_ms <= $3 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $3) \
       ORDER BY fire_at_ms LIMIT $4), \
     claimed AS (SELECT id FROM incidents WHERE id IN (SELECT incident_id FROM due)",
    skip_locked!(),
    ") UPDATE timers SET claim_token = $1, claimed_until_ms = $2 \
     WHERE incident_id IN (SELECT id FROM claimed) \
       AND (claimed_until_ms IS NULL OR claimed_until_ms <= $3) \
     RETURNING incident_id"
);

impl Handle {
    /// Replace an incident's timers, if it is still at `version` (a newer
    /// write has planned its own). False if it moved on or does not exist.
    pub(crate) async fn replace_timers(
        &self,
        id: &str,
        version: u64,
        timers: &[Due],
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("replace_timers");
        let mut tx = self.begin_write().await?;
        let state: Option<String> = sqlx::query_scalar(concat!(
            "SELECT state FROM incidents WHERE id = $1 AND version = $2",
            for_update!()
        ))
        .bind(id)
        .bind(to_i64(version, "version")?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(state) = state else {
            tx.rollback().await?;
            return Ok(false);
        };
        sync_effects(&mut tx, &decode_incident(id, &state)?, timers).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claim the incidents of the `limit` earliest due timers (so at most
    /// `limit` incidents; fewer when one has several due), whole: every timer
    /// of a claimed incident is held until `lease`, so one that comes due
    /// meanwhile does not hand it to another scheduler. The earliest due are
    /// read through the `fire_at_ms` index, a few rows per claim however many
    /// are due. Incidents whose row another transaction holds (a command,
    /// another replica's claim) are skipped, not waited for; the final check
    /// on each timer row means a claim committed meanwhile is never taken
    /// over.
    pub(crate) async fn claim_due_incidents(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let _t = Self::timer("claim_due_incidents");
        let mut conn = self.writer().acquire().await?;
        let mut ids = super::rows::claim_due(&mut conn, now, limit, token, lease).await?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    pub(crate) async fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let _t = Self::timer("next_timer_at");
        let ms: Option<i64> = sqlx::query_scalar("SELECT MIN(fire_at_ms) FROM timers")
            .fetch_one(self.reader())
            .await?;
        ms.map(from_ms).transpose()
    }

    pub(crate) async fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<Notification>, StoreError> {
        let _t = Self::timer("claim_notifications");
        let rows: Vec<NotificationRow> = sqlx::query_as(concat!(
            "UPDATE notifications SET state = 'sending', claim_token = $1, claimed_until_ms = $2, \
             attempts = attempts + 1, updated_at_ms = $3 \
             WHERE id IN (SELECT id FROM notifications WHERE \
               (state = 'pending' AND next_attempt_at_ms <= $3) \
               OR (state = 'sending' AND claimed_until_ms <= $3) \
               ORDER BY next_attempt_at_ms LIMIT $4",
            skip_locked!(),
            ") RETURNING ",
            notification_columns!()
        ))
        .bind(token)
        .bind(to_ms(lease))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.writer_in(crate::backend::Lane::Pipeline).await?)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            match notification(row.clone()) {
                Ok(n) => claimed.push(n),
                // A row this version cannot read (written by a newer one,
                // or damaged) would come back every round: set it aside.
                Err(e) => {
                    tracing::error!(notification = %row.id, error = %e, "notification set aside");
                    let payload = serde_json::to_string(&row)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let mut tx = self.begin_write().await?;
                    let tries = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                    super::set_aside::put_aside(
                        &mut tx,
                        crate::Queue::Outbox,
                        &row.id,
                        tries,
                        &e.to_string(),
                        &payload,
                        now,
                    )
                    .await?;
                    sqlx::query("DELETE FROM notifications WHERE id = $1")
                        .bind(&row.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
            }
        }
        Ok(claimed)
    }

    /// Record how a claimed delivery ended, with its timeline event and any
    /// follow-up intents (the dead letter's meta-notifications), all or
    /// nothing. `false` if the claim was lost (lease lapsed, or cancelled).
    pub(crate) async fn complete_notification(
        &self,
        n: &Notification,
        token: &str,
        completion: &Completion,
        follow_up: &[Intent],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("complete_notification");
        let mut tx = self.begin_write().await?;
        let (state, next_ms, error, delivered) = completion_columns(completion, now);
        let done = sqlx::query(
            "UPDATE notifications SET state = $1, \
             next_attempt_at_ms = COALESCE($2, next_attempt_at_ms), \
             last_error = COALESCE($3, last_error), delivered_at_ms = $4, claim_token = NULL, \
             claimed_until_ms = NULL, updated_at_ms = $5 \
             WHERE id = $6 AND state = 'sending' AND claim_token = $7",
        )
        .bind(state.as_str())
        .bind(next_ms)
        .bind(error)
        .bind(delivered)
        .bind(to_ms(now))
        .bind(&n.id)
        .bind(token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // The incident row lock orders this append after any concurrent one.
        let current: Option<String> = sqlx::query_scalar(concat!(
            "SELECT state FROM incidents WHERE id = $1",
            for_update!()
        ))
        .bind(&n.incident_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(current) = current {
            let current = decode_incident(&n.incident_id, &current)?;
            let (next, events) = with_outcome(&current, outcome_event(n, completion), now);
            super::incidents::write_append(&mut tx, &next, current.version, &events).await?;
            // A failed page put back to pending after an ack must not go out.
            cancel_stopped(&mut tx, &next).await?;
            insert_intents(&mut tx, &n.incident_id, follow_up, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn list_notifications(
        &self,
        incident_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let _t = Self::timer("list_notifications");
        let rows: Vec<NotificationRow> = sqlx::query_as(concat!(
            "SELECT ",
            notification_columns!(),
            " FROM notifications WHERE (CAST($1 AS TEXT) IS NULL OR incident_id = $1) \
             ORDER BY created_at_ms DESC, intent_key DESC LIMIT $2"
        ))
        .bind(incident_id)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(notification).collect()
    }
}

/// Replace the incident's timers with `timers` (its agenda) and cancel what
/// its state no longer allows, inside the caller's transaction: an
/// acknowledgement cancels pending pages, a resolution every pending
/// notification.
pub(super) async fn sync_effects(
    conn: &mut Conn,
    state: &Incident,
    timers: &[Due],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM timers WHERE incident_id = $1")
        .bind(&state.id)
        .execute(&mut *conn)
        .await?;
    for due in timers {
        sqlx::query("INSERT INTO timers (incident_id, duty, fire_at_ms) VALUES ($1, $2, $3)")
            .bind(&state.id)
            .bind(due.duty.to_string())
            .bind(to_ms(due.at))
            .execute(&mut *conn)
            .await?;
    }
    cancel_stopped(conn, state).await
}

/// Cancel the pending notifications `state` no longer allows: pages once it
/// is acknowledged, everything once it is resolved — except the news of the
/// resolution itself (stakeholders told it is over) and the follow-ups
/// (postmortem, review, action items), which only exist after it.
async fn cancel_stopped(conn: &mut Conn, state: &Incident) -> Result<(), StoreError> {
    if !state.is_open() || state.acknowledged_at.is_some() {
        sqlx::query(
            "UPDATE notifications SET state = 'cancelled', updated_at_ms = $1 \
             WHERE incident_id = $2 AND state = 'pending' AND (stop_on_ack OR $3) \
             AND duty NOT LIKE $4 AND duty NOT LIKE $5",
        )
        .bind(to_ms(state.updated_at))
        .bind(&state.id)
        .bind(!state.is_open())
        .bind(format!("{}%", Duty::OUTLIVES_RESOLUTION_PREFIX))
        .bind(format!("{}%", Duty::FOLLOW_UP_PREFIX))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Store notification intents, each once per incident and intent key.
pub(super) async fn insert_intents(
    conn: &mut Conn,
    incident_id: &str,
    intents: &[Intent],
    now: Timestamp,
) -> Result<(), StoreError> {
    for i in intents {
        sqlx::query(
            "INSERT INTO notifications (id, incident_id, intent_key, duty, person, channel, \
             address, locale, subject, body, stop_on_ack, ack_round, state, attempts, \
             next_attempt_at_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', 0, $13, $13, $13) \
             ON CONFLICT (incident_id, intent_key) DO NOTHING",
        )
        .bind(new_id())
        .bind(incident_id)
        .bind(&i.key)
        .bind(i.duty.to_string())
        .bind(&i.person)
        .bind(i.channel.as_str())
        .bind(&i.address)
        .bind(&i.locale)
        .bind(&i.subject)
        .bind(&i.text)
        .bind(i.stop_on_ack)
        .bind(i64::from(i.ack_round))
        .bind(to_ms(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
