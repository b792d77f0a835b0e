//! The scheduler: fires incidents' due timers (escalation steps, rules,
//! reminders, breaches) through the pure core.
//!
//! A round claims incidents with a due timer (a lease; on PostgreSQL rows
//! other replicas hold are skipped), asks [`escalation::fire`] what is due
//! at `now`, and appends the events with their notification intents in one
//! transaction conditional on the incident's version. A concurrent command
//! makes the append conflict; the round then re-reads and decides again, so
//! an acknowledgement that commits first leaves nothing to page.

use std::time::Duration;

use firebell_core::escalation;
use firebell_store::{Encoded, Fault, Queue};

use crate::command::{self, ChangeError, Decision, Incidents};

/// The actor recorded for what the scheduler fires.
pub(crate) const ACTOR: &str = "system";

/// Due timers claimed per batch: their incidents, at most as many, fired in
/// one transaction. A mass event's first pages wait for one batch; each
/// batch costs a few statements per table, whatever its size.
const BATCH: u32 = 1_000;
/// Batches one call of [`run_once`] takes at most (100,000 incidents).
const MAX_BATCHES: usize = 100;
/// Failed firings of one incident's timers, each on its own, before they
/// are set aside; and the pause before the next try.
pub const MAX_TRIES: u32 = 5;
const RETRY_FAILED: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);
/// How long a claim keeps other schedulers off an incident.
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
/// Longest sleep between rounds when no timer is near (a policy reload or a
/// clock jump is noticed within this).
const IDLE: Duration = Duration::from_secs(5);

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub incidents: usize,
    pub events: usize,
    pub intents: usize,
    /// Incidents whose firing failed on their own (see [`crate::set_aside`]).
    pub failed: usize,
    /// Nothing claimed: this replica's clock is not trusted (see
    /// [`crate::skew`]).
    pub held: bool,
    /// When each write committed, and the incidents it fired: a page is
    /// queued at its commit, so a mass firing's lateness is measured here.
    pub committed: Vec<(usize, jiff::Timestamp)>,
}

/// Wakes the scheduler early (an incident was written with a timer due now).
pub type SchedulerWake = std::sync::Arc<tokio::sync::Notify>;

/// The scheduler's handles.
#[derive(Clone)]
pub struct Scheduler {
    /// The command path, and through it the store, the policy and the clock.
    incidents: Incidents,
    /// What wakes it (the command path notifies it).
    schedule: SchedulerWake,
}

impl Scheduler {
    pub fn new(incidents: Incidents, schedule: SchedulerWake) -> Scheduler {
        Scheduler {
            incidents,
            schedule,
        }
    }
}

/// Incidents claimed together, under one token.
struct Claim {
    token: String,
    ids: Vec<String>,
    now: jiff::Timestamp,
}

/// Claim the incidents of the next due timers; `None` when nothing is due.
async fn claim(state: &Scheduler) -> Result<Option<Claim>, ChangeError> {
    let now = state.incidents.clock.now();
    let token = uuid::Uuid::new_v4().to_string();
    let ids = state
        .incidents
        .store
        .claim_due_incidents(now, BATCH, &token, now + LEASE)
        .await?;
    Ok((!ids.is_empty()).then_some(Claim { token, ids, now }))
}

/// Fire everything due now. Tests call this with a manual clock.
///
/// A pipeline of batches: while one batch is written (on SQLite, by the
/// writer's own thread), the next is claimed before it and decided beside
/// it, so deciding and writing overlap.
pub async fn run_once(state: &Scheduler) -> Result<Round, ChangeError> {
    let mut round = Round::default();
    if !state.incidents.clock.trusted() {
        round.held = true;
        return Ok(round);
    }
    let mut current = claim(state).await?;
    let mut decided = match &current {
        Some(c) => decide_batch(state, &c.ids).await,
        None => return Ok(round),
    };
    // Bounded, so a timer that keeps coming back due (a policy reload racing
    // a round) cannot hold one call forever; the next round picks up the rest.
    for i in 1..=MAX_BATCHES {
        let Some(batch) = current.take() else {
            break;
        };
        // The next claim takes the writer before this batch's write does;
        // none after the last batch (it would wait for its lease to lapse).
        let next = match i < MAX_BATCHES {
            true => claim(state).await?,
            false => None,
        };
        let write = decided.map(|items| {
            let incidents = state.incidents.clone();
            tokio::spawn(async move { write_batch(&incidents, items).await })
        });
        decided = match &next {
            Some(c) => decide_batch(state, &c.ids).await,
            None => Ok(Vec::new()),
        };
        let written = match write {
            Ok(write) => write.await.unwrap_or_else(|e| {
                Err(ChangeError::Store(firebell_store::StoreError::Corrupt(
                    format!("a batch of timers stopped: {e}"),
                )))
            }),
            Err(e) => Err(e),
        };
        settle(state, batch, written, &mut round).await?;
        current = next;
    }
    Ok(round)
}

/// Count a written batch, and fire alone what it left out: the incidents
/// that lost a race to a concurrent command, or all of them when one is at
/// fault, to find it and set it aside.
async fn settle(
    state: &Scheduler,
    batch: Claim,
    written: Result<Written, ChangeError>,
    round: &mut Round,
) -> Result<(), ChangeError> {
    let claimed = batch.ids.len();
    let (retry, alone) = match written {
        Ok(w) => {
            round.incidents += claimed - w.retry.len();
            round.events += w.events;
            round.intents += w.intents;
            if w.fired > 0 {
                round.committed.push((w.fired, w.at));
            }
            (w.retry, false)
        }
        Err(e) if e.fault() == Fault::Row => (batch.ids, true),
        Err(e) => return Err(e),
    };
    if retry.is_empty() {
        return Ok(());
    }
    let overrides = overrides_now(state, batch.now).await?;
    for id in retry {
        match fire_incident(state, &id, &overrides).await {
            Ok((events, intents)) => {
                round.incidents += 1;
                round.events += events;
                round.intents += intents;
                if events > 0 {
                    round.committed.push((1, state.incidents.clock.now()));
                }
            }
            Err(e) if alone && e.fault() == Fault::Row => {
                let error = e.to_string();
                let now = state.incidents.clock.now();
                let tried = state
                    .incidents
                    .store
                    .timers_failed(
                        &id,
                        &batch.token,
                        &error,
                        now,
                        now + RETRY_FAILED,
                        MAX_TRIES,
                    )
                    .await?;
                crate::set_aside::tried(Queue::Timers, &id, &error, tried);
                round.failed += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Decide what the claimed incidents' due duties write, read in one query.
/// An incident with nothing due after all (the policy changed, or the timer
/// was stale) has its agenda rewritten so the timer does not come back.
async fn decide_batch(state: &Scheduler, ids: &[String]) -> Result<Vec<Encoded>, ChangeError> {
    let now = state.incidents.clock.now();
    let policy = state.incidents.policy.policy();
    let overrides = overrides_now(state, now).await?;
    let mut items = Vec::with_capacity(ids.len());
    for current in state.incidents.store.get_incidents(ids).await? {
        let firing = escalation::fire(&current, &policy, &overrides, now);
        if firing.events.is_empty() {
            state.incidents.replan(&current.id).await?;
            continue;
        }
        let decision = Decision {
            events: firing.events,
            intents: firing.intents,
        };
        // Encoded here, beside the previous batch's write, not in its own.
        let prepared = command::prepare(&current, decision, &policy, now, ACTOR, Vec::new());
        items.push(prepared.encode()?);
    }
    Ok(items)
}

/// What a batch's write did.
struct Written {
    /// Incidents whose appends committed.
    fired: usize,
    events: usize,
    intents: usize,
    /// Incidents to fire alone (a concurrent write won).
    retry: Vec<String>,
    /// When it committed.
    at: jiff::Timestamp,
}

/// Write a decided batch in one transaction (one commit for the batch, not
/// one per incident).
async fn write_batch(incidents: &Incidents, items: Vec<Encoded>) -> Result<Written, ChangeError> {
    let lost = match items.is_empty() {
        true => Vec::new(),
        false => incidents.append_batch(&items).await?,
    };
    let at = incidents.clock.now();
    let (mut events, mut intents) = (0, 0);
    for (i, item) in items.iter().map(Encoded::append).enumerate() {
        if !lost.contains(&i) {
            count(&item.events);
            events += item.events.len();
            intents += item.intents.len();
        }
    }
    let retry: Vec<String> = lost
        .into_iter()
        .map(|i| items[i].append().state.id.clone())
        .collect();
    Ok(Written {
        fired: items.len() - retry.len(),
        events,
        intents,
        retry,
        at,
    })
}

/// Overrides in force at `now`, for resolving schedules.
async fn overrides_now(
    state: &Scheduler,
    now: jiff::Timestamp,
) -> Result<Vec<firebell_core::schedule::Override>, ChangeError> {
    Ok(state
        .incidents
        .store
        .overrides_between(now, now + jiff::SignedDuration::from_secs(1))
        .await?)
}

pub(crate) fn count(events: &[firebell_core::Event]) {
    for e in events {
        metrics::counter!("firebell_escalation_events_total", "type" => e.kind.type_name())
            .increment(1);
        if !e.kind.unreachable().is_empty() {
            // Someone to be paged or told could not be: alert on this.
            metrics::counter!("firebell_unreachable_total", "type" => e.kind.type_name())
                .increment(1);
        }
    }
}

/// Fire one incident's due duties through the command path, which decides
/// again on fresh state after a lost race.
async fn fire_incident(
    state: &Scheduler,
    id: &str,
    overrides: &[firebell_core::schedule::Override],
) -> Result<(usize, usize), ChangeError> {
    let mut intents = 0;
    let applied = state
        .incidents
        .change(id, ACTOR, None, &[], |incident, ctx| {
            let firing = escalation::fire(incident, ctx.policy, overrides, ctx.now);
            intents = firing.intents.len();
            Ok(Decision {
                events: firing.events,
                intents: firing.intents,
            })
        })
        .await?;
    if applied.events.is_empty() {
        state.incidents.replan(id).await?;
        return Ok((0, 0));
    }
    count(&applied.events);
    Ok((applied.events.len(), intents))
}

/// Rewrite the timers of every incident that may owe something from the
/// policy in force (open ones, and resolved ones with follow-ups): a
/// reloaded policy may move, add or remove what is owed.
pub async fn resync_all(state: &Scheduler) -> Result<usize, ChangeError> {
    let ids = state.incidents.store.incident_ids_with_duties().await?;
    for id in &ids {
        state.incidents.replan(id).await?;
    }
    Ok(ids.len())
}

/// The background loop: a round whenever woken or the next timer is due.
pub async fn run(state: Scheduler) {
    let mut policy = state.incidents.policy.policy();
    loop {
        let current = state.incidents.policy.policy();
        if !std::sync::Arc::ptr_eq(&policy, &current) {
            match resync_all(&state).await {
                Ok(n) => {
                    tracing::info!(
                        incidents = n,
                        "policy changed: the timers of incidents that owe anything rewritten"
                    );
                    policy = current;
                }
                Err(e) => {
                    tracing::error!(error = %e, "rewriting timers after a policy change failed; retrying")
                }
            }
        }
        if let Err(e) = run_once(&state).await {
            tracing::error!(error = %e, "scheduler round failed; retrying");
        }
        let sleep = match state.incidents.store.next_timer_at().await {
            Ok(Some(at)) => {
                let wait = at.duration_since(state.incidents.clock.now());
                if wait.is_negative() {
                    // Due but claimed by someone else: look again after a moment.
                    Duration::from_millis(500)
                } else {
                    Duration::try_from(wait).unwrap_or(IDLE).min(IDLE)
                }
            }
            _ => IDLE,
        };
        tokio::select! {
            _ = state.schedule.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}
