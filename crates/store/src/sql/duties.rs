// Recurring duties: since when each is owed, runs, and the reminders'
// outbox. Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;

use super::Handle;
use crate::codec::{from_ms, to_ms};
use crate::outbox::{Completion, NotificationState, completion_columns, new_id};
use crate::{DutyMessage, DutyOutcome, DutyRun, NewDutyMessage, StoreError};

type RunRow = (String, String, i64, String, String, String, i64);

fn run_of(r: RunRow) -> Result<DutyRun, StoreError> {
    Ok(DutyRun {
        outcome: r.3.parse().map_err(StoreError::Corrupt)?,
        id: r.0,
        duty: r.1,
        occurrence: from_ms(r.2)?,
        notes: r.4,
        actor: r.5,
        at: from_ms(r.6)?,
    })
}

type MessageRow = (
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

/// The columns [`message_of`] reads, in its order.
macro_rules! message_columns {
    () => {
        "id, intent_key, duty, occurrence_ms, person, channel, address, locale, subject, body, \
         state, attempts, last_error, created_at_ms, delivered_at_ms"
    };
}

fn message_of(r: MessageRow) -> Result<DutyMessage, StoreError> {
    Ok(DutyMessage {
        channel: r.5.parse().map_err(|_| {
            StoreError::Corrupt(format!("duty message {} has channel {:?}", r.0, r.5))
        })?,
        state: NotificationState::parse(&r.10).ok_or_else(|| {
            StoreError::Corrupt(format!("duty message {} has state {:?}", r.0, r.10))
        })?,
        id: r.0,
        intent_key: r.1,
        duty: r.2,
        occurrence: from_ms(r.3)?,
        person: r.4,
        address: r.6,
        locale: r.7,
        subject: r.8,
        body: r.9,
        attempts: u32::try_from(r.11).unwrap_or(u32::MAX),
        last_error: r.12,
        created_at: from_ms(r.13)?,
        delivered_at: r.14.map(from_ms).transpose()?,
    })
}

impl Handle {
    /// When `duty` is owed from: the first time this is asked.
    pub(crate) async fn duty_since(
        &self,
        duty: &str,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let _t = Self::timer("duty_since");
        sqlx::query(
            "INSERT INTO duty_state (duty, since_ms) VALUES ($1, $2) ON CONFLICT (duty) DO NOTHING",
        )
        .bind(duty)
        .bind(to_ms(now))
        .execute(self.writer())
        .await?;
        let ms: i64 = sqlx::query_scalar("SELECT since_ms FROM duty_state WHERE duty = $1")
            .bind(duty)
            .fetch_one(self.writer())
            .await?;
        from_ms(ms)
    }

    /// When `duty` is owed from, if the server has seen it yet (a read).
    pub(crate) async fn known_duty_since(
        &self,
        duty: &str,
    ) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar("SELECT since_ms FROM duty_state WHERE duty = $1")
            .bind(duty)
            .fetch_optional(self.reader())
            .await?;
        ms.map(from_ms).transpose()
    }

    pub(crate) async fn record_duty_run(
        &self,
        duty: &str,
        occurrence: Timestamp,
        outcome: DutyOutcome,
        notes: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<DutyRun, StoreError> {
        let _t = Self::timer("record_duty_run");
        let id = new_id();
        sqlx::query(
            "INSERT INTO duty_runs (id, duty, occurrence_ms, outcome, notes, actor, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(duty)
        .bind(to_ms(occurrence))
        .bind(outcome.as_str())
        .bind(notes)
        .bind(actor)
        .bind(to_ms(now))
        .execute(self.writer())
        .await?;
        Ok(DutyRun {
            id,
            duty: duty.to_string(),
            occurrence,
            outcome,
            notes: notes.to_string(),
            actor: actor.to_string(),
            at: now,
        })
    }

    /// Runs, newest occurrence first; of one duty, or of all.
    pub(crate) async fn duty_runs(
        &self,
        duty: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DutyRun>, StoreError> {
        let _t = Self::timer("duty_runs");
        let rows: Vec<RunRow> = sqlx::query_as(
            "SELECT id, duty, occurrence_ms, outcome, notes, actor, at_ms FROM duty_runs \
             WHERE ($1 IS NULL OR duty = $1) ORDER BY occurrence_ms DESC, at_ms DESC LIMIT $2",
        )
        .bind(duty)
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(run_of).collect()
    }

    /// Queue messages; one already queued under the same key is left alone.
    /// Returns how many were new.
    pub(crate) async fn queue_duty_messages(
        &self,
        messages: &[NewDutyMessage],
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let _t = Self::timer("queue_duty_messages");
        let mut new = 0;
        for m in messages {
            new += sqlx::query(
                "INSERT INTO duty_messages (id, intent_key, duty, occurrence_ms, person, channel, \
                 address, locale, subject, body, state, attempts, next_attempt_at_ms, \
                 created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11) \
                 ON CONFLICT (intent_key) DO NOTHING",
            )
            .bind(new_id())
            .bind(&m.intent_key)
            .bind(&m.duty)
            .bind(to_ms(m.occurrence))
            .bind(&m.person)
            .bind(m.channel.as_str())
            .bind(&m.address)
            .bind(&m.locale)
            .bind(&m.subject)
            .bind(&m.body)
            .bind(to_ms(now))
            .execute(self.writer())
            .await?
            .rows_affected();
        }
        Ok(new)
    }

    /// Whether a message with this key was ever queued.
    pub(crate) async fn duty_message_queued(&self, intent_key: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM duty_messages WHERE intent_key = $1")
            .bind(intent_key)
            .fetch_one(self.reader())
            .await?;
        Ok(n > 0)
    }

    pub(crate) async fn claim_duty_messages(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<DutyMessage>, StoreError> {
        let _t = Self::timer("claim_duty_messages");
        let ids: Vec<String> = sqlx::query_scalar(concat!(
            "UPDATE duty_messages SET state = 'sending', claim_token = $1, \
             claimed_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM duty_messages WHERE \
               (state = 'pending' AND next_attempt_at_ms <= $3) \
               OR (state = 'sending' AND claimed_until_ms <= $3) \
               ORDER BY next_attempt_at_ms LIMIT $4",
            skip_locked!(),
            ") RETURNING id"
        ))
        .bind(token)
        .bind(to_ms(lease))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::new(concat!(
            "SELECT ",
            message_columns!(),
            " FROM duty_messages WHERE id IN ("
        ));
        let mut list = q.separated(", ");
        for id in &ids {
            list.push_bind(id);
        }
        q.push(")");
        let rows: Vec<MessageRow> = q.build_query_as().fetch_all(self.writer()).await?;
        rows.into_iter().map(message_of).collect()
    }

    pub(crate) async fn complete_duty_message(
        &self,
        id: &str,
        token: &str,
        completion: &Completion,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("complete_duty_message");
        let (state, next_ms, error, delivered_ms) = completion_columns(completion, now);
        let done = sqlx::query(
            "UPDATE duty_messages SET state = $1, \
             next_attempt_at_ms = COALESCE($2, next_attempt_at_ms), last_error = $3, \
             delivered_at_ms = $4, claim_token = NULL, claimed_until_ms = NULL, updated_at_ms = $5 \
             WHERE id = $6 AND claim_token = $7",
        )
        .bind(state.as_str())
        .bind(next_ms)
        .bind(error)
        .bind(delivered_ms)
        .bind(to_ms(now))
        .bind(id)
        .bind(token)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(done > 0)
    }

    /// A duty's messages for one occurrence (or all), newest first.
    pub(crate) async fn duty_messages(
        &self,
        duty: &str,
        occurrence: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<DutyMessage>, StoreError> {
        let _t = Self::timer("duty_messages");
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM duty_messages WHERE duty = $1 \
             AND ($2 IS NULL OR occurrence_ms = $2) ORDER BY created_at_ms DESC, id LIMIT $3"
        ))
        .bind(duty)
        .bind(occurrence.map(to_ms))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(message_of).collect()
    }
}
