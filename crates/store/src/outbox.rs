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

use crate::StoreError;
use crate::codec::{from_ms, to_ms};

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

    pub(crate) fn plan(&self, state: &Incident) -> Option<Vec<Due>> {
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
pub(crate) struct NotificationRow {
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

/// The columns [`NotificationRow`] reads, as a literal for `concat!`.
macro_rules! notification_columns {
    () => {
        "id, incident_id, intent_key, duty, person, channel, address, locale, subject, body, \
     stop_on_ack, state, attempts, next_attempt_at_ms, claim_token, last_error, created_at_ms, updated_at_ms, delivered_at_ms"
    };
}
pub(crate) use notification_columns;

pub(crate) fn notification(r: NotificationRow) -> Result<Notification, StoreError> {
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

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The event a completion puts on the timeline.
pub(crate) fn outcome_event(n: &Notification, completion: &Completion) -> EventKind {
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
pub(crate) fn with_event(
    mut state: Incident,
    kind: EventKind,
    now: Timestamp,
) -> (Incident, Event) {
    let event = Event {
        seq: state.version + 1,
        at: now,
        actor: "system".into(),
        kind,
    };
    state.apply(&event);
    (state, event)
}

/// `(state, next_attempt_at_ms, last_error, delivered_at_ms)` to write.
pub(crate) fn completion_columns(
    completion: &Completion,
    now: Timestamp,
) -> (&'static str, Option<i64>, Option<String>, Option<i64>) {
    match completion {
        Completion::Delivered => ("delivered", None, None, Some(to_ms(now))),
        Completion::Retry { at, error } => ("pending", Some(to_ms(*at)), Some(error.clone()), None),
        Completion::Dead { error } => ("dead", None, Some(error.clone()), None),
    }
}
