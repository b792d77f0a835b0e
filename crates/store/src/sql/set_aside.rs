// Rows set aside after failing too often in their queue (ingest log, timers,
// outbox), so the rows behind them move on; listed, retried or discarded by
// an operator.
// Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;

use super::{Conn, Handle};
use crate::codec::{from_ms, to_ms};
use crate::outbox::NotificationRow;
use crate::set_aside::{LogPayload, TimerPayload, TimersPayload, decode_payload};
use crate::{Queue, SetAside, StoreError, Tried};

impl Handle {
    pub(crate) async fn log_row_failed(
        &self,
        seq: i64,
        error: &str,
        now: Timestamp,
        max_tries: u32,
    ) -> Result<Tried, StoreError> {
        let _t = Self::timer("log_row_failed");
        let mut tx = self.begin_alert_write().await?;
        let row: Option<(i64, i64, i64, String)> = sqlx::query_as(
            "UPDATE ingest_log SET tries = tries + 1 WHERE seq = $1 \
             RETURNING tries, received_at_ms, alert_count, alerts",
        )
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((tries, received_at_ms, alert_count, alerts)) = row else {
            return Ok(Tried::Gone);
        };
        let tries = u32::try_from(tries).unwrap_or(u32::MAX);
        if tries < max_tries {
            tx.commit().await?;
            return Ok(Tried::Again { tries });
        }
        let payload = serde_json::to_string(&LogPayload {
            received_at_ms,
            alert_count,
            alerts,
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id = put_aside(
            &mut tx,
            Queue::IngestLog,
            &seq.to_string(),
            tries,
            error,
            &payload,
            now,
        )
        .await?;
        sqlx::query("DELETE FROM ingest_log WHERE seq = $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Tried::SetAside { id })
    }

    pub(crate) async fn timers_failed(
        &self,
        incident_id: &str,
        token: &str,
        error: &str,
        now: Timestamp,
        retry_at: Timestamp,
        max_tries: u32,
    ) -> Result<Tried, StoreError> {
        let _t = Self::timer("timers_failed");
        let mut tx = self.begin_write().await?;
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "UPDATE timers SET tries = tries + 1, claimed_until_ms = $3 \
             WHERE incident_id = $1 AND claim_token = $2 \
             RETURNING tries, duty, fire_at_ms",
        )
        .bind(incident_id)
        .bind(token)
        .bind(to_ms(retry_at))
        .fetch_all(&mut *tx)
        .await?;
        let Some(tries) = rows.iter().map(|(t, _, _)| *t).max() else {
            return Ok(Tried::Gone);
        };
        let tries = u32::try_from(tries).unwrap_or(u32::MAX);
        if tries < max_tries {
            tx.commit().await?;
            return Ok(Tried::Again { tries });
        }
        let payload = serde_json::to_string(&TimersPayload {
            incident_id: incident_id.to_string(),
            timers: rows
                .into_iter()
                .map(|(_, duty, fire_at_ms)| TimerPayload { duty, fire_at_ms })
                .collect(),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id = put_aside(
            &mut tx,
            Queue::Timers,
            incident_id,
            tries,
            error,
            &payload,
            now,
        )
        .await?;
        sqlx::query("DELETE FROM timers WHERE incident_id = $1")
            .bind(incident_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Tried::SetAside { id })
    }

    pub(crate) async fn notification_failed(
        &self,
        id: &str,
        token: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<Tried, StoreError> {
        let _t = Self::timer("notification_failed");
        let mut tx = self.begin_write().await?;
        let row: Option<NotificationRow> = sqlx::query_as(concat!(
            "DELETE FROM notifications WHERE id = $1 AND claim_token = $2 AND state = 'sending' RETURNING ",
            crate::outbox::notification_columns!()
        ))
        .bind(id)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Tried::Gone);
        };
        let payload =
            serde_json::to_string(&row).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tries = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        let id = put_aside(&mut tx, Queue::Outbox, &row.id, tries, error, &payload, now).await?;
        tx.commit().await?;
        Ok(Tried::SetAside { id })
    }

    pub(crate) async fn queue_heads(&self) -> Result<Vec<(Queue, Option<Timestamp>)>, StoreError> {
        let _t = Self::timer("queue_heads");
        let (log, timers, outbox): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT received_at_ms FROM ingest_log ORDER BY seq LIMIT 1), \
                    (SELECT MIN(fire_at_ms) FROM timers), \
                    (SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_at_ms \
                                     ELSE claimed_until_ms END) \
                       FROM notifications WHERE state IN ('pending', 'sending'))",
        )
        .fetch_one(self.reader())
        .await?;
        Ok(vec![
            (Queue::IngestLog, log.map(from_ms).transpose()?),
            (Queue::Timers, timers.map(from_ms).transpose()?),
            (Queue::Outbox, outbox.map(from_ms).transpose()?),
        ])
    }

    pub(crate) async fn list_set_aside(
        &self,
        queue: Option<Queue>,
        limit: u32,
    ) -> Result<Vec<SetAside>, StoreError> {
        let _t = Self::timer("list_set_aside");
        let rows: Vec<SetAsideRow> = sqlx::query_as(
            "SELECT id, queue, item, tries, error, payload, set_aside_at_ms FROM set_aside \
             WHERE $1 = '' OR queue = $1 ORDER BY id LIMIT $2",
        )
        .bind(queue.map(Queue::as_str).unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(SetAsideRow::decode).collect()
    }

    pub(crate) async fn count_set_aside(&self) -> Result<Vec<(Queue, u64)>, StoreError> {
        let _t = Self::timer("count_set_aside");
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT queue, CAST(COUNT(*) AS BIGINT) FROM set_aside GROUP BY queue")
                .fetch_all(self.reader())
                .await?;
        Ok(Queue::ALL
            .into_iter()
            .map(|q| {
                let n = rows
                    .iter()
                    .find(|(name, _)| name == q.as_str())
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                (q, n)
            })
            .collect())
    }

    pub(crate) async fn retry_set_aside(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<SetAside>, StoreError> {
        let _t = Self::timer("retry_set_aside");
        let mut tx = self.begin_alert_write().await?;
        let row: Option<SetAsideRow> = sqlx::query_as(
            "DELETE FROM set_aside WHERE id = $1 \
             RETURNING id, queue, item, tries, error, payload, set_aside_at_ms",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let entry = row.decode()?;
        match entry.queue {
            // At the end of the log: rows logged since merge first, and this
            // one is merged at the instant it was first received.
            Queue::IngestLog => {
                let p: LogPayload = decode_payload(&entry)?;
                sqlx::query(
                    "INSERT INTO ingest_log (received_at_ms, alert_count, alerts) VALUES ($1, $2, $3)",
                )
                .bind(p.received_at_ms)
                .bind(p.alert_count)
                .bind(&p.alerts)
                .execute(&mut *tx)
                .await?;
            }
            // Due again now, if the incident still exists and no newer write
            // has planned its own timers for that duty.
            Queue::Timers => {
                let p: TimersPayload = decode_payload(&entry)?;
                for t in &p.timers {
                    sqlx::query(
                        "INSERT INTO timers (incident_id, duty, fire_at_ms) \
                         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $1) \
                         ON CONFLICT (incident_id, duty) DO NOTHING",
                    )
                    .bind(&p.incident_id)
                    .bind(&t.duty)
                    .bind(t.fire_at_ms.min(to_ms(now)))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Queue::Outbox => {
                let n: NotificationRow = decode_payload(&entry)?;
                insert_pending(&mut tx, &n, now).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(entry))
    }

    pub(crate) async fn discard_set_aside(&self, id: i64) -> Result<bool, StoreError> {
        let _t = Self::timer("discard_set_aside");
        let done = sqlx::query("DELETE FROM set_aside WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Move a row's copy into `set_aside`, in the caller's transaction (which
/// also removes it from its queue).
pub(super) async fn put_aside(
    conn: &mut Conn,
    queue: Queue,
    item: &str,
    tries: u32,
    error: &str,
    payload: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    // Text that reached here may be what the database refused elsewhere.
    let error = error.replace('\0', "\\u0000");
    Ok(sqlx::query_scalar(
        "INSERT INTO set_aside (queue, item, tries, error, payload, set_aside_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(queue.as_str())
    .bind(item)
    .bind(i64::from(tries))
    .bind(error)
    .bind(payload)
    .bind(to_ms(now))
    .fetch_one(conn)
    .await?)
}

/// Put a notification back, due now, as if never tried.
async fn insert_pending(
    conn: &mut Conn,
    n: &NotificationRow,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notifications (id, incident_id, intent_key, duty, person, channel, \
         address, locale, subject, body, stop_on_ack, ack_round, state, attempts, \
         next_attempt_at_ms, created_at_ms, updated_at_ms) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $14, 'pending', 0, $12, $13, $12 \
         WHERE EXISTS (SELECT 1 FROM incidents WHERE id = $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&n.id)
    .bind(&n.incident_id)
    .bind(&n.intent_key)
    .bind(&n.duty)
    .bind(&n.person)
    .bind(&n.channel)
    .bind(&n.address)
    .bind(&n.locale)
    .bind(&n.subject)
    .bind(&n.body)
    .bind(n.stop_on_ack)
    .bind(to_ms(now))
    .bind(n.created_at_ms)
    .bind(n.ack_round)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SetAsideRow {
    id: i64,
    queue: String,
    item: String,
    tries: i64,
    error: String,
    payload: String,
    set_aside_at_ms: i64,
}

impl SetAsideRow {
    fn decode(self) -> Result<SetAside, StoreError> {
        Ok(SetAside {
            id: self.id,
            queue: Queue::parse(&self.queue).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "set-aside row {}: unknown queue {:?}",
                    self.id, self.queue
                ))
            })?,
            item: self.item,
            tries: u32::try_from(self.tries).unwrap_or(u32::MAX),
            error: self.error,
            payload: self.payload,
            set_aside_at: from_ms(self.set_aside_at_ms)?,
        })
    }
}
