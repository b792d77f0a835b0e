//! Timers and the notification outbox: every promise to act later, kept in
//! the database in the transaction that made it.
//!
//! - `timers`: an incident's agenda (see `firebell_core::escalation`). Every
//!   write of an incident carries its agenda ([`crate::Append::timers`]),
//!   and the rows are replaced in the same transaction: the store plans
//!   nothing itself. The scheduler claims due incidents with a lease
//!   (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas share the work), fires
//!   them through a version-checked append ([`crate::Store::append_batch`])
//!   and the duty leaves the agenda in the same commit.
//! - `notifications`: one row per intent (unique per incident and
//!   `duty/person/channel`), written with the event that decided it. The
//!   dispatcher claims due rows with a lease and a claim token; completing a
//!   row checks the token, so a dispatcher whose lease lapsed cannot record
//!   an outcome over another's. An acknowledgement cancels pending pages and
//!   a resolution every pending notification, inside the append that made it.

use firebell_core::escalation::{Duty, InvalidDuty};
use firebell_core::incident::{Event, EventKind};
use firebell_core::policy::ContactKind;
use firebell_core::{Incident, Timestamp};
use serde::Serialize;

use crate::StoreError;
use crate::codec::{from_ms, to_ms};

/// One notification as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Notification {
    pub id: String,
    pub incident_id: String,
    pub intent_key: String,
    pub duty: Duty,
    pub person: String,
    pub channel: ContactKind,
    pub address: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub stop_on_ack: bool,
    /// The incident's acknowledgement round it was decided in; its ack
    /// link works only while the incident is still in that round.
    pub ack_round: u32,
    pub state: NotificationState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    #[serde(skip)]
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// Where a notification is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    /// Waiting for its `next_attempt_at`.
    Pending,
    /// Claimed by a dispatcher (until its lease lapses).
    Sending,
    Delivered,
    /// Failed for good; the admins were told.
    Dead,
    /// Acknowledged or resolved before it went out.
    Cancelled,
}

impl NotificationState {
    pub const ALL: [NotificationState; 5] = [
        NotificationState::Pending,
        NotificationState::Sending,
        NotificationState::Delivered,
        NotificationState::Dead,
        NotificationState::Cancelled,
    ];

    /// As stored, and as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Sending => "sending",
            NotificationState::Delivered => "delivered",
            NotificationState::Dead => "dead",
            NotificationState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<NotificationState> {
        NotificationState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }
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

#[derive(Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub(crate) struct NotificationRow {
    pub(crate) id: String,
    pub(crate) incident_id: String,
    pub(crate) intent_key: String,
    pub(crate) duty: String,
    pub(crate) person: String,
    pub(crate) channel: String,
    pub(crate) address: String,
    pub(crate) locale: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) stop_on_ack: bool,
    pub(crate) ack_round: i64,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at_ms: i64,
    pub(crate) claim_token: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at_ms: i64,
    pub(crate) updated_at_ms: i64,
    pub(crate) delivered_at_ms: Option<i64>,
}

/// The columns [`NotificationRow`] reads, as a literal for `concat!`.
macro_rules! notification_columns {
    () => {
        "id, incident_id, intent_key, duty, person, channel, address, locale, subject, body, \
     stop_on_ack, ack_round, state, attempts, next_attempt_at_ms, claim_token, last_error, created_at_ms, updated_at_ms, delivered_at_ms"
    };
}
pub(crate) use notification_columns;

pub(crate) fn notification(r: NotificationRow) -> Result<Notification, StoreError> {
    let corrupt = |what: &str, e: String| {
        StoreError::Corrupt(format!("{what} of notification {}: {e}", r.id))
    };
    Ok(Notification {
        duty: r
            .duty
            .parse()
            .map_err(|e: InvalidDuty| corrupt("duty", e.to_string()))?,
        channel: r.channel.parse().map_err(|e| corrupt("channel", e))?,
        ack_round: u32::try_from(r.ack_round).map_err(|e| corrupt("ack_round", e.to_string()))?,
        state: NotificationState::parse(&r.state)
            .ok_or_else(|| corrupt("state", format!("unknown state {:?}", r.state)))?,
        id: r.id,
        incident_id: r.incident_id,
        intent_key: r.intent_key,
        person: r.person,
        address: r.address,
        locale: r.locale,
        subject: r.subject,
        body: r.body,
        stop_on_ack: r.stop_on_ack,
        attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
        next_attempt_at: from_ms(r.next_attempt_at_ms)?,
        claim_token: r.claim_token,
        last_error: r.last_error,
        created_at: from_ms(r.created_at_ms)?,
        updated_at: from_ms(r.updated_at_ms)?,
        delivered_at: r.delivered_at_ms.map(from_ms).transpose()?,
    })
}

/// A new row id: time-ordered (UUID v7), so a burst of pages appends to the
/// end of the primary key's index instead of touching a random page each.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
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
        channel: n.channel.to_string(),
        outcome,
        attempt: n.attempts,
        error,
    }
}

/// `state` with the outcome's event applied, and that event. It changes
/// neither the agenda nor what is cancelled, so timers stay as they are.
pub(crate) fn with_outcome(
    state: &Incident,
    kind: EventKind,
    now: Timestamp,
) -> (Incident, Vec<Event>) {
    state.advance(vec![kind], now, "system")
}

/// `(state, next_attempt_at_ms, last_error, delivered_at_ms)` to write.
pub(crate) fn completion_columns(
    completion: &Completion,
    now: Timestamp,
) -> (NotificationState, Option<i64>, Option<String>, Option<i64>) {
    use NotificationState as S;
    match completion {
        Completion::Delivered => (S::Delivered, None, None, Some(to_ms(now))),
        Completion::Retry { at, error } => {
            (S::Pending, Some(to_ms(*at)), Some(error.clone()), None)
        }
        Completion::Dead { error } => (S::Dead, None, Some(error.clone()), None),
    }
}
