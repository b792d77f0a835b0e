//! The outbox dispatcher: claims due notifications, delivers each through
//! its channel, and records the outcome on the incident's timeline.
//!
//! Delivery is at-least-once with the notification id as idempotency key:
//! a success the receiver saw but we did not (a timeout after it answered)
//! is retried with the same key, so the receiver can drop the repeat.
//! Failures retry with exponential backoff and jitter, or after the
//! receiver's `Retry-After`; after the notifier's `max_attempts` (or at once
//! for a permanent failure) the notification is dead-lettered: a timeline
//! entry, and a message to the organization's admins on another channel.

use std::sync::Arc;
use std::time::Duration;

use firebell_core::escalation::{Duty, Intent};
use firebell_core::policy::{ContactKind, Policy};
use firebell_store::{Completion, Fault, Notification, Queue, Store, StoreError};
use rand::Rng;

use super::channels::{self, DeliveryError};
use super::links::Links;
use crate::clock::Clock;
use crate::policy_source::PolicyHandle;

/// Notifications claimed per round.
const BATCH: u32 = 32;
/// A claimed notification's send must start this soon after the claim; its
/// lease covers that plus the slowest channel's timeout.
pub const START_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_secs(15);
/// Default attempts before a dead letter.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Longest `Retry-After` honoured (and at least a second, whatever it says).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Wakes the dispatcher (new intents were written).
pub type DeliverWake = std::sync::Arc<tokio::sync::Notify>;

/// The dispatcher's handles.
#[derive(Clone)]
pub struct Dispatcher {
    pub(super) store: Store,
    pub(super) policy: PolicyHandle,
    pub(super) clock: Arc<dyn Clock>,
    /// Signs the ack links in what it sends.
    pub(super) links: Arc<Links>,
    /// What wakes it (the command path notifies it).
    deliver: DeliverWake,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        policy: PolicyHandle,
        clock: Arc<dyn Clock>,
        links: Arc<Links>,
        deliver: DeliverWake,
    ) -> Dispatcher {
        Dispatcher {
            store,
            policy,
            clock,
            links,
            deliver,
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    /// Claimed but not sent: too late to start (see [`START_WITHIN`]).
    pub fenced: usize,
    /// Nothing claimed: this replica's clock is not trusted (see
    /// [`crate::skew`]).
    pub held: bool,
}

/// Deliver every notification due now. Tests call this with a manual clock.
pub async fn run_once(state: &Dispatcher) -> Result<Round, StoreError> {
    let mut round = Round::default();
    if !state.clock.trusted() {
        round.held = true;
        return Ok(round);
    }
    loop {
        let Some(claim) = claim(state).await? else {
            return Ok(round);
        };
        let full = claim.batch.len() >= BATCH as usize;
        round.add(finish(state, claim).await?);
        if !full {
            return Ok(round);
        }
    }
}

/// Notifications claimed together, and what their sends must respect.
struct Claim {
    batch: Vec<Notification>,
    token: String,
    policy: Arc<Policy>,
    start_by: jiff::Timestamp,
}

/// Claim the next batch of due notifications, if any.
async fn claim(state: &Dispatcher) -> Result<Option<Claim>, StoreError> {
    let now = state.clock.now();
    let token = uuid::Uuid::new_v4().to_string();
    let policy = state.policy.policy();
    // The lease outlives the slowest attempt, so nobody else retries it
    // meanwhile; a dispatcher that died mid-send is retried after it.
    let slowest = policy
        .notifiers
        .values()
        .map(channels::timeout_of)
        .max()
        .unwrap_or(channels::DEFAULT_TIMEOUT);
    let start_by = now + START_WITHIN;
    let lease = start_by + jiff::SignedDuration::try_from(slowest).unwrap_or_default();
    let batch = state
        .store
        .claim_notifications(now, BATCH, &token, lease)
        .await?;
    Ok((!batch.is_empty()).then_some(Claim {
        batch,
        token,
        policy,
        start_by,
    }))
}

/// Send a claimed batch, each on its own task, and record each outcome.
async fn finish(state: &Dispatcher, claim: Claim) -> Result<Round, StoreError> {
    let Claim {
        batch,
        token,
        policy,
        start_by,
    } = claim;
    let mut round = Round::default();
    let claimed = batch.len();
    let mut tasks = tokio::task::JoinSet::new();
    for n in batch {
        let state = state.clone();
        let policy = policy.clone();
        tasks.spawn(async move {
            // Fencing: past `start_by` the send might not end within the
            // lease, and after a pause (SIGSTOP, a VM freeze) the claim
            // may be another replica's already. Leave it to lapse.
            if state.clock.now() >= start_by {
                return (n, None);
            }
            let result = channels::deliver(&state, &policy, &n).await;
            (n, Some(result))
        });
    }
    let mut outcomes = Vec::with_capacity(claimed);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(outcome) => outcomes.push(outcome),
            // A panicking delivery leaves its claim to lapse and be retried.
            Err(e) => tracing::error!(error = %e, "a delivery task failed"),
        }
    }
    for (n, result) in &outcomes {
        let Some(result) = result.clone() else {
            tracing::warn!(notification = %n.id, "not sent: its claim is too old to finish within the lease; left for the next claim");
            metrics::counter!("firebell_notifications_fenced_total").increment(1);
            round.fenced += 1;
            continue;
        };
        let now = state.clock.now();
        let completion = completion_for(&policy, n, result, now);
        let follow_up = match &completion {
            Completion::Dead { error } => dead_letter_intents(&policy, n, error),
            _ => Vec::new(),
        };
        let kind = match &completion {
            Completion::Delivered => {
                round.delivered += 1;
                "delivered"
            }
            Completion::Retry { .. } => {
                round.retried += 1;
                "failed"
            }
            Completion::Dead { .. } => {
                round.dead += 1;
                "dead_lettered"
            }
        };
        metrics::counter!("firebell_notifications_total", "channel" => n.channel.as_str(), "outcome" => kind)
            .increment(1);
        match state
            .store
            .complete_notification(n, &token, &completion, &follow_up, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(notification = %n.id, "lost the claim on a notification before recording its outcome")
            }
            // This notification's outcome cannot be written (its
            // incident's data, say): set it aside rather than fail the
            // round, which would leave the others to be sent again.
            Err(e) if e.fault() == Fault::Row => {
                let error = e.to_string();
                let tried = state
                    .store
                    .notification_failed(&n.id, &token, &error, now)
                    .await?;
                crate::set_aside::tried(Queue::Outbox, &n.id, &error, tried);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(round)
}

impl Round {
    fn add(&mut self, other: Round) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead += other.dead;
        self.fenced += other.fenced;
    }
}

fn completion_for(
    policy: &Policy,
    n: &Notification,
    result: Result<(), DeliveryError>,
    now: jiff::Timestamp,
) -> Completion {
    let max = policy
        .notifiers
        .get(n.channel.as_str())
        .and_then(|c| c.max_attempts)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS);
    match result {
        Ok(()) => Completion::Delivered,
        Err(e) if e.retryable && n.attempts < max => {
            let wait = match e.retry_after {
                Some(after) => after.clamp(Duration::from_secs(1), MAX_RETRY_AFTER),
                None => backoff(n.attempts),
            };
            Completion::Retry {
                at: now + jiff::SignedDuration::try_from(wait).unwrap_or_default(),
                error: e.message,
            }
        }
        Err(e) => Completion::Dead {
            error: if e.retryable {
                format!("{} (gave up after {} attempts)", e.message, n.attempts)
            } else {
                e.message
            },
        },
    }
}

/// Exponential backoff with ±20% jitter, so many failed deliveries do not
/// all come back at the same second.
pub fn backoff(attempts: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let capped = exp.min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.8..1.2);
    capped.mul_f64(jitter)
}

/// Tell the admins a notification was dead-lettered, on any channel but the
/// failed one (which is evidently not working).
fn dead_letter_intents(policy: &Policy, n: &Notification, error: &str) -> Vec<Intent> {
    let mut out = Vec::new();
    for admin in &policy.organization.admins {
        let Some(person) = policy.people.get(admin) else {
            continue;
        };
        let Some(contact) = person
            .contacts
            .iter()
            .filter_map(|c| Some((c.kind.parse::<ContactKind>().ok()?, c)))
            .find(|(kind, _)| *kind != n.channel && policy.notifiers.contains_key(kind.as_str()))
        else {
            continue;
        };
        let (kind, contact) = contact;
        let duty = Duty::DeadLetter {
            notification: n.id.clone(),
        };
        out.push(Intent {
            key: format!("{duty}/{admin}/{kind}"),
            duty,
            person: admin.clone(),
            channel: kind,
            address: contact.address.clone(),
            locale: person
                .locale
                .clone()
                .unwrap_or_else(|| policy.default_locale().to_string()),
            subject: format!(
                "[Firebell] could not notify {} for {}",
                n.person, n.incident_id
            ),
            text: format!(
                "A {} notification to {} ({}) about {} was given up after {} attempts: {error}\n\
                 Subject was: {}\nCheck the notifier's configuration and the receiver.",
                n.channel, n.person, n.address, n.incident_id, n.attempts, n.subject
            ),
            // Admins must hear about it even if the incident is acknowledged.
            stop_on_ack: false,
            ack_round: n.ack_round,
        });
    }
    out
}

/// Batches being sent at once by the background loop, at most.
const BATCHES_IN_FLIGHT: usize = 8;

/// The background loop: claims when woken, and at least every second (for
/// retries that came due). Each batch is sent and recorded on a task of its
/// own, so a page queued meanwhile is claimed at once, not after the
/// previous batch's outcomes are written.
pub async fn run(state: Dispatcher) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        loop {
            if !state.clock.trusted() {
                break;
            }
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            match claim(&state).await {
                Ok(Some(claim)) => {
                    let full = claim.batch.len() >= BATCH as usize;
                    let state = state.clone();
                    tokio::spawn(async move {
                        if let Err(e) = finish(&state, claim).await {
                            tracing::error!(error = %e, "recording notification outcomes failed; their claims lapse and they are retried");
                        }
                        drop(permit);
                    });
                    if !full {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "claiming notifications failed; retrying");
                    break;
                }
            }
        }
        tokio::select! {
            _ = state.deliver.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
