//! Timers and the notification outbox: every promise to act later, kept in
//! the database in the transaction that made it.
//!
//! - `timers`: an incident's agenda (see `firebell_core::escalation`),
//!   rewritten with each of its events by the [`Planner`] the server installs.
//!   The scheduler claims due incidents with a lease (PostgreSQL: `FOR UPDATE
//!   SKIP LOCKED`, so replicas share the work), fires them through a
//!   version-checked append ([`crate::Store::append_fired_batch`]) and the duty
//!   leaves the agenda in the same commit.
//! - `notifications`: one row per intent (unique per incident and
//!   `duty/person/channel`), written with the event that decided it. The
//!   dispatcher claims due rows with a lease and a claim token; completing a
//!   row checks the token, so a dispatcher whose lease lapsed cannot record
//!   an outcome over another's. An acknowledgement cancels pending pages and
//!   a resolution every pending notification, inside the append that made it.

use std::sync::{Arc, RwLock};

use firebell_core::escalation::{Due, Intent};
use firebell_core::incident::{Event, EventKind};
use firebell_core::{Incident, Timestamp};
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

use crate::common::{OpTimer, decode_incident, from_ms, to_ms};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Backend, StoreError};

/// Computes the timers of an incident from its state (and the live policy).
pub type Planner = Arc<dyn Fn(&Incident) -> Vec<Due> + Send + Sync>;

/// Called after a commit that left a timer already due (the scheduler
/// should look now, not at its next poll).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Where a store keeps its planner; shared by clones of the store. Without
/// one (tools, store tests) no timers are written.
#[derive(Clone, Default)]
pub struct PlannerCell(Arc<RwLock<Option<(Planner, Waker)>>>);

impl std::fmt::Debug for PlannerCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlannerCell")
    }
}

impl PlannerCell {
    pub(crate) fn set(&self, planner: Planner, waker: Waker) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some((planner, waker));
    }

    fn plan(&self, state: &Incident) -> Option<Vec<Due>> {
        let guard = self.0.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|(p, _)| p(state))
    }

    /// After a commit: wake the scheduler if the write left a timer due.
    pub(crate) fn committed(&self, due_now: bool) {
        if due_now {
            let guard = self.0.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, wake)) = guard.as_ref() {
                wake();
            }
        }
    }
}

/// One incident's firing, for [`crate::Store::append_fired_batch`].
#[derive(Clone, Debug)]
pub struct FiredAppend {
    /// The state after `events`.
    pub state: Incident,
    pub expected_version: u64,
    pub events: Vec<Event>,
    pub intents: Vec<Intent>,
}

/// One notification as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    pub incident_id: String,
    pub intent_key: String,
    pub duty: String,
    pub person: String,
    pub channel: String,
    pub address: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub stop_on_ack: bool,
    /// `pending`, `sending`, `delivered`, `dead` or `cancelled`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    #[serde(skip)]
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// How a claimed delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Delivered,
    /// Failed; try again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    /// Failed for good (permanent error or out of attempts).
    Dead {
        error: String,
    },
}

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    incident_id: String,
    intent_key: String,
    duty: String,
    person: String,
    channel: String,
    address: String,
    locale: String,
    subject: String,
    body: String,
    stop_on_ack: bool,
    state: String,
    attempts: i64,
    next_attempt_at_ms: i64,
    claim_token: Option<String>,
    last_error: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
    delivered_at_ms: Option<i64>,
}

const NOTIFICATION_COLUMNS: &str = "id, incident_id, intent_key, duty, person, channel, address, locale, subject, body, \
     stop_on_ack, state, attempts, next_attempt_at_ms, claim_token, last_error, created_at_ms, updated_at_ms, delivered_at_ms";

fn notification(r: NotificationRow) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: r.id,
        incident_id: r.incident_id,
        intent_key: r.intent_key,
        duty: r.duty,
        person: r.person,
        channel: r.channel,
        address: r.address,
        locale: r.locale,
        subject: r.subject,
        body: r.body,
        stop_on_ack: r.stop_on_ack,
        state: r.state,
        attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
        next_attempt_at: from_ms(r.next_attempt_at_ms)?,
        claim_token: r.claim_token,
        last_error: r.last_error,
        created_at: from_ms(r.created_at_ms)?,
        updated_at: from_ms(r.updated_at_ms)?,
        delivered_at: r.delivered_at_ms.map(from_ms).transpose()?,
    })
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The event a completion puts on the timeline.
fn outcome_event(n: &Notification, completion: &Completion) -> EventKind {
    use firebell_core::incident::NotificationOutcome as O;
    let (outcome, error) = match completion {
        Completion::Delivered => (O::Delivered, None),
        Completion::Retry { error, .. } => (O::Failed, Some(error.clone())),
        Completion::Dead { error } => (O::DeadLettered, Some(error.clone())),
    };
    EventKind::Notification {
        notification: n.id.clone(),
        person: n.person.clone(),
        channel: n.channel.clone(),
        outcome,
        attempt: n.attempts,
        error,
    }
}

/// `state` with one more event applied, and that event.
fn with_event(mut state: Incident, kind: EventKind, now: Timestamp) -> (Incident, Event) {
    let event = Event {
        seq: state.version + 1,
        at: now,
        actor: "system".into(),
        kind,
    };
    state.apply(&event);
    (state, event)
}

// ---------------------------------------------------------------- SQLite

/// Rewrite the incident's timers from its state and cancel what its state
/// no longer allows, inside the caller's transaction.
pub(crate) async fn sync_effects_sqlite(
    conn: &mut SqliteConnection,
    state: &Incident,
    planner: &PlannerCell,
) -> Result<bool, StoreError> {
    let mut due_now = false;
    if let Some(agenda) = planner.plan(state) {
        sqlx::query("DELETE FROM timers WHERE incident_id = ?")
            .bind(&state.id)
            .execute(&mut *conn)
            .await?;
        // The event's time: a duty due by then is due now.
        due_now = agenda.iter().any(|d| d.at <= state.updated_at);
        for due in &agenda {
            sqlx::query("INSERT INTO timers (incident_id, duty, fire_at_ms) VALUES (?, ?, ?)")
                .bind(&state.id)
                .bind(&due.key)
                .bind(to_ms(due.at))
                .execute(&mut *conn)
                .await?;
        }
    }
    if !state.is_open() || state.acknowledged_at.is_some() {
        sqlx::query(
            "UPDATE notifications SET state = 'cancelled', updated_at_ms = ? \
             WHERE incident_id = ? AND state = 'pending' AND (stop_on_ack OR ?)",
        )
        .bind(to_ms(state.updated_at))
        .bind(&state.id)
        .bind(!state.is_open())
        .execute(&mut *conn)
        .await?;
    }
    Ok(due_now)
}

pub(crate) async fn insert_intents_sqlite(
    conn: &mut SqliteConnection,
    incident_id: &str,
    intents: &[Intent],
    now: Timestamp,
) -> Result<(), StoreError> {
    for i in intents {
        sqlx::query(
            "INSERT INTO notifications (id, incident_id, intent_key, duty, person, channel, address, locale, \
             subject, body, stop_on_ack, state, attempts, next_attempt_at_ms, created_at_ms, updated_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) \
             ON CONFLICT (incident_id, intent_key) DO NOTHING",
        )
        .bind(new_id())
        .bind(incident_id)
        .bind(&i.key)
        .bind(&i.duty)
        .bind(&i.person)
        .bind(&i.channel)
        .bind(&i.address)
        .bind(&i.locale)
        .bind(&i.subject)
        .bind(&i.text)
        .bind(i.stop_on_ack)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until_ms) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE leases.until_ms <= ? OR leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(to_ms(until))
        .bind(to_ms(now))
        .fetch_optional(&self.writer)
        .await?;
        Ok(held.as_deref() == Some(holder))
    }

    /// Append many firings in one transaction (one fsync for a whole round),
    /// each in its own savepoint: one that lost a race to a concurrent
    /// command is rolled back alone, and its index returned for a retry.
    pub(crate) async fn append_fired_batch(
        &self,
        items: &[FiredAppend],
    ) -> Result<Vec<usize>, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "append_fired_batch");
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut lost = Vec::new();
        let mut due_now = false;
        for (i, item) in items.iter().enumerate() {
            crate::common::check_append(&item.state, item.expected_version, &item.events)?;
            let mut sp = sqlx::Connection::begin(&mut *tx).await?;
            match crate::sqlite::write_append(
                &mut sp,
                &item.state,
                item.expected_version,
                &item.events,
            )
            .await
            {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => {
                    sp.rollback().await?;
                    lost.push(i);
                    continue;
                }
                Err(StoreError::Database(e)) if crate::common::is_unique_violation(&e) => {
                    sp.rollback().await?;
                    lost.push(i);
                    continue;
                }
                Err(e) => return Err(e),
            }
            due_now |= sync_effects_sqlite(&mut sp, &item.state, &self.planner).await?;
            insert_intents_sqlite(
                &mut sp,
                &item.state.id,
                &item.intents,
                item.state.updated_at,
            )
            .await?;
            sp.commit().await?;
        }
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(lost)
    }

    pub(crate) fn set_planner(&self, planner: Planner, waker: Waker) {
        self.planner.set(planner, waker);
    }

    pub(crate) async fn resync_timers(&self, id: &str) -> Result<(), StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "resync_timers");
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM incidents WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let mut due_now = false;
        if let Some(state) = state {
            let state = decode_incident(id, &state)?;
            due_now = sync_effects_sqlite(&mut tx, &state, &self.planner).await?;
        }
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(())
    }

    pub(crate) async fn claim_due_incidents(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "claim_due_incidents");
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT incident_id FROM timers WHERE fire_at_ms <= ? \
             AND (claimed_until_ms IS NULL OR claimed_until_ms <= ?) LIMIT ?",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            sqlx::query(
                "UPDATE timers SET claim_token = ?, claimed_until_ms = ? WHERE incident_id = ?",
            )
            .bind(token)
            .bind(to_ms(lease))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub(crate) async fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar("SELECT MIN(fire_at_ms) FROM timers")
            .fetch_one(&self.reader)
            .await?;
        ms.map(from_ms).transpose()
    }

    pub(crate) async fn open_incident_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM incidents WHERE status <> 'resolved' ORDER BY id")
                .fetch_all(&self.reader)
                .await?,
        )
    }

    pub(crate) async fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<Notification>, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "claim_notifications");
        let sql = format!(
            "UPDATE notifications SET state = 'sending', claim_token = ?, claimed_until_ms = ?, \
             attempts = attempts + 1, updated_at_ms = ? \
             WHERE id IN (SELECT id FROM notifications WHERE \
               (state = 'pending' AND next_attempt_at_ms <= ?) OR (state = 'sending' AND claimed_until_ms <= ?) \
               ORDER BY next_attempt_at_ms LIMIT ?) \
             RETURNING {NOTIFICATION_COLUMNS}"
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token)
            .bind(to_ms(lease))
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await?;
        rows.into_iter().map(notification).collect()
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
        let _t = OpTimer::start(Backend::Sqlite, "complete_notification");
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let (state, next_ms, error, delivered) = completion_columns(completion, now);
        let done = sqlx::query(
            "UPDATE notifications SET state = ?, next_attempt_at_ms = COALESCE(?, next_attempt_at_ms), \
             last_error = COALESCE(?, last_error), delivered_at_ms = ?, claim_token = NULL, claimed_until_ms = NULL, \
             updated_at_ms = ? WHERE id = ? AND state = 'sending' AND claim_token = ?",
        )
        .bind(state)
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
        let current: Option<String> =
            sqlx::query_scalar("SELECT state FROM incidents WHERE id = ?")
                .bind(&n.incident_id)
                .fetch_optional(&mut *tx)
                .await?;
        let mut due_now = false;
        if let Some(current) = current {
            let current = decode_incident(&n.incident_id, &current)?;
            let version = current.version;
            let (next, event) = with_event(current, outcome_event(n, completion), now);
            crate::sqlite::write_append(&mut tx, &next, version, &[event]).await?;
            due_now = sync_effects_sqlite(&mut tx, &next, &self.planner).await?;
            insert_intents_sqlite(&mut tx, &n.incident_id, follow_up, now).await?;
        }
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(true)
    }

    pub(crate) async fn list_notifications(
        &self,
        incident_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE (? IS NULL OR incident_id = ?) \
             ORDER BY created_at_ms DESC, intent_key DESC LIMIT ?"
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(incident_id)
            .bind(incident_id)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(notification).collect()
    }

    pub(crate) async fn setting_or_init(
        &self,
        key: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_one(&self.writer)
                .await?,
        )
    }
}

fn completion_columns(
    completion: &Completion,
    now: Timestamp,
) -> (&'static str, Option<i64>, Option<String>, Option<i64>) {
    match completion {
        Completion::Delivered => ("delivered", None, None, Some(to_ms(now))),
        Completion::Retry { at, error } => ("pending", Some(to_ms(*at)), Some(error.clone()), None),
        Completion::Dead { error } => ("dead", None, Some(error.clone()), None),
    }
}

// ------------------------------------------------------------ PostgreSQL

pub(crate) async fn sync_effects_pg(
    conn: &mut PgConnection,
    state: &Incident,
    planner: &PlannerCell,
) -> Result<bool, StoreError> {
    let mut due_now = false;
    if let Some(agenda) = planner.plan(state) {
        sqlx::query("DELETE FROM timers WHERE incident_id = $1")
            .bind(&state.id)
            .execute(&mut *conn)
            .await?;
        // The event's time: a duty due by then is due now.
        due_now = agenda.iter().any(|d| d.at <= state.updated_at);
        for due in &agenda {
            sqlx::query("INSERT INTO timers (incident_id, duty, fire_at_ms) VALUES ($1, $2, $3)")
                .bind(&state.id)
                .bind(&due.key)
                .bind(to_ms(due.at))
                .execute(&mut *conn)
                .await?;
        }
    }
    if !state.is_open() || state.acknowledged_at.is_some() {
        sqlx::query(
            "UPDATE notifications SET state = 'cancelled', updated_at_ms = $1 \
             WHERE incident_id = $2 AND state = 'pending' AND (stop_on_ack OR $3)",
        )
        .bind(to_ms(state.updated_at))
        .bind(&state.id)
        .bind(!state.is_open())
        .execute(&mut *conn)
        .await?;
    }
    Ok(due_now)
}

pub(crate) async fn insert_intents_pg(
    conn: &mut PgConnection,
    incident_id: &str,
    intents: &[Intent],
    now: Timestamp,
) -> Result<(), StoreError> {
    for i in intents {
        sqlx::query(
            "INSERT INTO notifications (id, incident_id, intent_key, duty, person, channel, address, locale, \
             subject, body, stop_on_ack, state, attempts, next_attempt_at_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', 0, $12, $12, $12) \
             ON CONFLICT (incident_id, intent_key) DO NOTHING",
        )
        .bind(new_id())
        .bind(incident_id)
        .bind(&i.key)
        .bind(&i.duty)
        .bind(&i.person)
        .bind(&i.channel)
        .bind(&i.address)
        .bind(&i.locale)
        .bind(&i.subject)
        .bind(&i.text)
        .bind(i.stop_on_ack)
        .bind(to_ms(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl PgStore {
    pub(crate) async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE leases.until_ms <= $4 OR leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(to_ms(until))
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.as_deref() == Some(holder))
    }

    /// Append many firings in one transaction (one fsync for a whole round),
    /// each in its own savepoint: one that lost a race to a concurrent
    /// command is rolled back alone, and its index returned for a retry.
    pub(crate) async fn append_fired_batch(
        &self,
        items: &[FiredAppend],
    ) -> Result<Vec<usize>, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "append_fired_batch");
        let mut tx = self.pool.begin().await?;
        let mut lost = Vec::new();
        let mut due_now = false;
        for (i, item) in items.iter().enumerate() {
            crate::common::check_append(&item.state, item.expected_version, &item.events)?;
            let mut sp = sqlx::Connection::begin(&mut *tx).await?;
            match crate::postgres::write_append(
                &mut sp,
                &item.state,
                item.expected_version,
                &item.events,
            )
            .await
            {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => {
                    sp.rollback().await?;
                    lost.push(i);
                    continue;
                }
                Err(StoreError::Database(e)) if crate::common::is_unique_violation(&e) => {
                    sp.rollback().await?;
                    lost.push(i);
                    continue;
                }
                Err(e) => return Err(e),
            }
            due_now |= sync_effects_pg(&mut sp, &item.state, &self.planner).await?;
            insert_intents_pg(
                &mut sp,
                &item.state.id,
                &item.intents,
                item.state.updated_at,
            )
            .await?;
            sp.commit().await?;
        }
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(lost)
    }

    pub(crate) fn set_planner(&self, planner: Planner, waker: Waker) {
        self.planner.set(planner, waker);
    }

    pub(crate) async fn resync_timers(&self, id: &str) -> Result<(), StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "resync_timers");
        let mut tx = self.pool.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM incidents WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let mut due_now = false;
        if let Some(state) = state {
            let state = decode_incident(id, &state)?;
            due_now = sync_effects_pg(&mut tx, &state, &self.planner).await?;
        }
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(())
    }

    pub(crate) async fn claim_due_incidents(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "claim_due_incidents");
        // Rows another replica is claiming are skipped, not waited for.
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE timers SET claim_token = $1, claimed_until_ms = $2 \
             WHERE (incident_id, duty) IN (SELECT incident_id, duty FROM timers \
               WHERE fire_at_ms <= $3 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $3) \
               ORDER BY fire_at_ms LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING incident_id",
        )
        .bind(token)
        .bind(to_ms(lease))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    pub(crate) async fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar("SELECT MIN(fire_at_ms) FROM timers")
            .fetch_one(&self.pool)
            .await?;
        ms.map(from_ms).transpose()
    }

    pub(crate) async fn open_incident_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM incidents WHERE status <> 'resolved' ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<Notification>, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "claim_notifications");
        let sql = format!(
            "UPDATE notifications SET state = 'sending', claim_token = $1, claimed_until_ms = $2, \
             attempts = attempts + 1, updated_at_ms = $3 \
             WHERE id IN (SELECT id FROM notifications WHERE \
               (state = 'pending' AND next_attempt_at_ms <= $3) OR (state = 'sending' AND claimed_until_ms <= $3) \
               ORDER BY next_attempt_at_ms LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING {NOTIFICATION_COLUMNS}"
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token)
            .bind(to_ms(lease))
            .bind(to_ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(notification).collect()
    }

    pub(crate) async fn complete_notification(
        &self,
        n: &Notification,
        token: &str,
        completion: &Completion,
        follow_up: &[Intent],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "complete_notification");
        let mut tx = self.pool.begin().await?;
        let (state, next_ms, error, delivered) = completion_columns(completion, now);
        let done = sqlx::query(
            "UPDATE notifications SET state = $1, next_attempt_at_ms = COALESCE($2, next_attempt_at_ms), \
             last_error = COALESCE($3, last_error), delivered_at_ms = $4, claim_token = NULL, claimed_until_ms = NULL, \
             updated_at_ms = $5 WHERE id = $6 AND state = 'sending' AND claim_token = $7",
        )
        .bind(state)
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
        let current: Option<String> =
            sqlx::query_scalar("SELECT state FROM incidents WHERE id = $1 FOR UPDATE")
                .bind(&n.incident_id)
                .fetch_optional(&mut *tx)
                .await?;
        let mut due_now = false;
        if let Some(current) = current {
            let current = decode_incident(&n.incident_id, &current)?;
            let version = current.version;
            let (next, event) = with_event(current, outcome_event(n, completion), now);
            crate::postgres::write_append(&mut tx, &next, version, &[event]).await?;
            due_now = sync_effects_pg(&mut tx, &next, &self.planner).await?;
            insert_intents_pg(&mut tx, &n.incident_id, follow_up, now).await?;
        }
        tx.commit().await?;
        self.planner.committed(due_now);
        Ok(true)
    }

    pub(crate) async fn list_notifications(
        &self,
        incident_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE ($1::TEXT IS NULL OR incident_id = $1) \
             ORDER BY created_at_ms DESC, intent_key DESC LIMIT $2"
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(incident_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(notification).collect()
    }

    pub(crate) async fn setting_or_init(
        &self,
        key: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
