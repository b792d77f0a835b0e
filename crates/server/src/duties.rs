//! Recurring duties (`[[duties]]`): one replica (lease `duties`) queues
//! each owner's reminders before an occurrence, when it is due and when it
//! is overdue, once each; runs a monitoring check when one comes due (a
//! test through every notification channel, then a run recorded with what
//! arrived); and delivers these messages through the same channels as
//! pages, with retries. People record the other runs through the API, the
//! CLI or the console.

use std::time::Duration;

use firebell_core::Timestamp;
use firebell_core::duties::{DutyReminder, DutySchedule, ReminderKind, reminders_due};
use firebell_core::escalation::Duty;
use firebell_core::policy::{ContactKind, DutyKind, Policy, RecurringDuty};
use firebell_store::{
    Completion, DutyMessage, DutyOutcome, DutyRun, NewDutyMessage, Notification, NotificationState,
    StoreError,
};
use tokio::sync::Mutex as AsyncMutex;

use crate::AppState;
use crate::health::Lease;
use crate::notify::channels;
use crate::notify::dispatch::{DEFAULT_MAX_ATTEMPTS, backoff};

/// Messages claimed per round.
const BATCH: u32 = 64;
/// How often the background loop looks.
const EVERY: Duration = Duration::from_secs(15);
/// A claim outlives the slowest attempt by this much.
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);
/// Runs read per duty to tell which occurrences are done.
const RUNS_READ: u32 = 20;
/// The actor of runs Firebell records itself.
pub const FIREBELL: &str = "firebell";

/// This replica's hold on the duties.
pub struct Duties {
    replica: std::sync::Arc<str>,
    lease: AsyncMutex<Lease>,
}

impl Duties {
    pub fn new(replica: std::sync::Arc<str>) -> Duties {
        Duties {
            replica,
            lease: AsyncMutex::new(Lease::new("duties")),
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub queued: u64,
    pub delivered: usize,
    pub failed: usize,
    /// Monitoring checks whose results were all in and recorded.
    pub checks_recorded: usize,
}

/// Where a duty stands at `now`, for the API and the console.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DutyView {
    pub key: String,
    pub title: String,
    pub description: String,
    /// `task` or `monitoring_check`.
    pub kind: String,
    /// `weekly on sun at 10:00`, in the calendar's time zone.
    pub schedule: String,
    /// Who is reminded: the first owner target that names someone.
    pub owner: Option<String>,
    /// The last occurrence, and whether a run was recorded for it.
    pub last_due: Option<Timestamp>,
    pub last_done: bool,
    pub next_due: Option<Timestamp>,
    /// No run for the last occurrence `overdue_after` past it, or none
    /// after a major incident that long after its resolution.
    pub overdue: bool,
    pub last_run: Option<DutyRun>,
    /// Incidents of `after_incidents` severities resolved with no run since.
    pub owed_after: Vec<String>,
}

/// The owner `duty` names first (no incident: people, teams, schedules).
pub fn owner_of(duty: &RecurringDuty, policy: &Policy, now: Timestamp) -> Option<String> {
    duty.owner.iter().find_map(|t| match t.split_once(':') {
        Some(("person", p)) => Some(p.to_string()),
        Some(("team", t)) => policy.teams.get(t).and_then(|team| match &team.schedule {
            Some(s) => firebell_core::schedule::on_call(policy, s, now, &[]).map(|oc| oc.person),
            None => team.members.first().cloned(),
        }),
        Some(("schedule", s)) => {
            firebell_core::schedule::on_call(policy, s, now, &[]).map(|oc| oc.person)
        }
        _ => None,
    })
}

fn schedule_text(d: &RecurringDuty, policy: &Policy) -> String {
    format!(
        "{} ({})",
        DutySchedule::describe(d),
        policy.calendar.time_zone
    )
}

/// Every duty of the policy, where it stands.
pub async fn views(state: &AppState) -> Result<Vec<DutyView>, StoreError> {
    let policy = state.policy.policy();
    let now = state.clock.now();
    let mut out = Vec::new();
    for d in &policy.duties {
        let Ok(schedule) = DutySchedule::of(d, &policy.calendar) else {
            continue;
        };
        // A read: a duty the loop has not seen yet is owed from now.
        let since = state.store.known_duty_since(&d.key).await?.unwrap_or(now);
        let runs = state.store.duty_runs(Some(&d.key), RUNS_READ).await?;
        let done = |occ: Timestamp| runs.iter().any(|r| r.occurrence == occ);
        let last_due = schedule.prev(now).filter(|p| *p >= since);
        let last_done = last_due.is_some_and(done);
        let after = owed_after(state, d, since, &runs).await?;
        let overdue = last_due.is_some_and(|p| {
            !done(p)
                && p.checked_add(d.overdue_after.as_signed())
                    .is_ok_and(|at| at <= now)
        }) || after.iter().any(|(_, _, resolved)| {
            resolved
                .checked_add(d.overdue_after.as_signed())
                .is_ok_and(|at| at <= now)
        });
        out.push(DutyView {
            key: d.key.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            kind: match d.kind {
                DutyKind::Task => "task".into(),
                DutyKind::MonitoringCheck => "monitoring_check".into(),
            },
            schedule: schedule_text(d, &policy),
            owner: owner_of(d, &policy, now),
            last_due,
            last_done,
            next_due: schedule.next(now),
            overdue,
            last_run: runs.first().cloned(),
            owed_after: after.into_iter().map(|(id, _, _)| id).collect(),
        });
    }
    Ok(out)
}

/// Incidents of the duty's `after_incidents` severities, declared since the
/// duty appeared and resolved, with no run recorded after their
/// resolution: `(id, title, resolved_at)`.
async fn owed_after(
    state: &AppState,
    d: &RecurringDuty,
    since: Timestamp,
    runs: &[DutyRun],
) -> Result<Vec<(String, String, Timestamp)>, StoreError> {
    if d.after_incidents.is_empty() {
        return Ok(Vec::new());
    }
    let page = state
        .store
        .list_incidents(&firebell_store::IncidentFilter {
            statuses: vec![firebell_core::Status::Resolved],
            // As stored: the policy's own spelling of each severity.
            severities: d
                .after_incidents
                .iter()
                .map(|s| {
                    state
                        .policy
                        .policy()
                        .severity(s)
                        .map_or_else(|| s.clone(), |sev| sev.name.clone())
                })
                .collect(),
            since: Some(since),
            limit: 100,
            ..Default::default()
        })
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|i| !i.drill)
        .filter_map(|i| Some((i.id, i.title, i.resolved_at?)))
        .filter(|(_, _, resolved)| !runs.iter().any(|r| r.at >= *resolved))
        .collect())
}

/// Record a run of `key` now, for the occurrence it belongs to.
pub async fn record_run(
    state: &AppState,
    key: &str,
    outcome: DutyOutcome,
    notes: &str,
    actor: &str,
) -> Result<Option<DutyRun>, StoreError> {
    let policy = state.policy.policy();
    let Some(d) = policy.duties.iter().find(|d| d.key == key) else {
        return Ok(None);
    };
    let Ok(schedule) = DutySchedule::of(d, &policy.calendar) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let since = state.store.duty_since(key, now).await?;
    let runs = state.store.duty_runs(Some(key), RUNS_READ).await?;
    let Some(occurrence) = firebell_core::duties::occurrence_for_run(&schedule, since, now, |o| {
        runs.iter().any(|r| r.occurrence == o)
    }) else {
        return Ok(None);
    };
    let run = state
        .store
        .record_duty_run(key, occurrence, outcome, notes, actor, now)
        .await?;
    metrics::counter!("firebell_duty_runs_total", "duty" => key.to_string(), "outcome" => outcome.as_str())
        .increment(1);
    Ok(Some(run))
}

/// Queue what is owed, record finished checks, deliver what is due.
pub async fn run_once(state: &AppState) -> Result<Round, StoreError> {
    let mut round = Round::default();
    let policy = state.policy.policy();
    if policy.duties.is_empty() || !state.clock.trusted() {
        return Ok(round);
    }
    let me = &state.duties;
    if !Lease::held(&me.lease, &state.store, &*state.clock, &me.replica).await {
        return Ok(round);
    }
    let now = state.clock.now();
    for d in &policy.duties {
        let Ok(schedule) = DutySchedule::of(d, &policy.calendar) else {
            continue;
        };
        let since = state.store.duty_since(&d.key, now).await?;
        let runs = state.store.duty_runs(Some(&d.key), RUNS_READ).await?;
        let done = |occ: Timestamp| runs.iter().any(|r| r.occurrence == occ);
        let mut messages = Vec::new();
        for r in reminders_due(d, &schedule, since, now, done) {
            // A check's "due" is its tests, below.
            if !(d.kind == DutyKind::MonitoringCheck && r.kind == ReminderKind::Due) {
                messages.extend(reminder_messages(d, &policy, &r, now));
            }
        }
        // A monitoring check runs its tests whatever people recorded (they
        // may have done the manual part early); once per occurrence.
        let checked = |occ: Timestamp| {
            runs.iter()
                .any(|r| r.occurrence == occ && r.actor == FIREBELL)
        };
        let check_due = schedule
            .prev(now)
            .filter(|p| d.kind == DutyKind::MonitoringCheck && *p >= since && !checked(*p));
        if let Some(prev) = check_due {
            let r = DutyReminder {
                occurrence: prev,
                kind: ReminderKind::Due,
                at: prev,
            };
            messages.extend(check_messages(d, &policy, &r, now));
        }
        for (id, title, resolved) in owed_after(state, d, since, &runs).await? {
            let overdue = resolved
                .checked_add(d.overdue_after.as_signed())
                .is_ok_and(|at| at <= now);
            messages.extend(after_incident_messages(
                d, &policy, &id, &title, resolved, overdue, now,
            ));
        }
        if !messages.is_empty() {
            round.queued += state.store.queue_duty_messages(&messages, now).await?;
        }
        if let Some(prev) = check_due
            && record_check(state, d, prev).await?
        {
            round.checks_recorded += 1;
        }
    }
    deliver(state, &mut round).await?;
    Ok(round)
}

/// The owner's reminder on each of their channels.
fn reminder_messages(
    d: &RecurringDuty,
    policy: &Policy,
    r: &DutyReminder,
    now: Timestamp,
) -> Vec<NewDutyMessage> {
    let Some(owner) = owner_of(d, policy, now) else {
        tracing::warn!(duty = %d.key, "a duty's reminder reaches nobody: no owner target names anyone");
        return Vec::new();
    };
    let when = r.occurrence.strftime("%Y-%m-%d %H:%M UTC");
    let subject = match r.kind {
        ReminderKind::Before(_) => format!("[duty] {} is due {when}", d.title),
        ReminderKind::Due => format!("[duty] {} is due now", d.title),
        ReminderKind::Overdue => format!("[duty] OVERDUE: {} was due {when}", d.title),
    };
    let body = match d.kind {
        DutyKind::Task => format!(
            "{}\n\n{}\nRecord the run: firebell duty done {} --outcome ok --notes \"…\"",
            subject, d.description, d.key
        ),
        DutyKind::MonitoringCheck => format!(
            "{subject}\n\nFirebell sends a test through every notification channel when it is due \
             and records which arrived. What only people can check: {}",
            d.description
        ),
    };
    contacts(policy, &owner)
        .into_iter()
        .map(|(channel, address)| NewDutyMessage {
            intent_key: format!("{}:{}", r.key(&d.key), channel.as_str()),
            duty: d.key.clone(),
            occurrence: r.occurrence,
            person: owner.clone(),
            channel,
            address,
            locale: locale(policy, &owner),
            subject: subject.clone(),
            body: body.clone(),
        })
        .collect()
}

/// The owner's reminder after a major incident (and once more when it is
/// overdue).
fn after_incident_messages(
    d: &RecurringDuty,
    policy: &Policy,
    incident: &str,
    title: &str,
    resolved: Timestamp,
    overdue: bool,
    now: Timestamp,
) -> Vec<NewDutyMessage> {
    let Some(owner) = owner_of(d, policy, now) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (which, subject) in [
        (
            "due",
            Some(format!("[duty] {} after {incident}: {title}", d.title)),
        ),
        (
            "overdue",
            overdue.then(|| format!("[duty] OVERDUE: {} after {incident}: {title}", d.title)),
        ),
    ] {
        let Some(subject) = subject else { continue };
        let body = format!(
            "{subject}\n\n{}\nRecord the run: firebell duty done {} --notes \"…\"",
            d.description, d.key
        );
        for (channel, address) in contacts(policy, &owner) {
            out.push(NewDutyMessage {
                intent_key: format!("{}:after:{incident}:{which}:{}", d.key, channel.as_str()),
                duty: d.key.clone(),
                occurrence: resolved,
                person: owner.clone(),
                channel,
                address,
                locale: locale(policy, &owner),
                subject: subject.clone(),
                body: body.clone(),
            });
        }
    }
    out
}

/// The monthly monitoring check: one test through each configured
/// notification channel, to the owner's contact of that kind, else the
/// first person who has one.
fn check_messages(
    d: &RecurringDuty,
    policy: &Policy,
    r: &DutyReminder,
    now: Timestamp,
) -> Vec<NewDutyMessage> {
    let owner = owner_of(d, policy, now);
    let mut out = Vec::new();
    for kind in policy.notifiers.keys() {
        let Ok(channel) = kind.parse::<ContactKind>() else {
            continue;
        };
        let holder = owner
            .iter()
            .chain(policy.people.keys())
            .find(|p| contacts(policy, p).iter().any(|(c, _)| *c == channel));
        let Some(person) = holder else {
            continue;
        };
        let Some((_, address)) = contacts(policy, person)
            .into_iter()
            .find(|(c, _)| *c == channel)
        else {
            continue;
        };
        let subject = format!("[test] {}: the {} channel works", d.title, channel.as_str());
        out.push(NewDutyMessage {
            intent_key: format!("{}:test:{}", r.key(&d.key), channel.as_str()),
            duty: d.key.clone(),
            occurrence: r.occurrence,
            person: person.clone(),
            channel,
            address,
            locale: locale(policy, person),
            subject: subject.clone(),
            body: format!(
                "{subject}.\n\nThis is Firebell's monitoring check ({}), not an incident. Nothing to do.",
                d.description
            ),
        });
    }
    out
}

/// When every test of a monitoring check has an end (delivered or given
/// up), record the run: `ok` if all arrived, with what did and the state of
/// the heartbeats. Returns whether it recorded one.
async fn record_check(
    state: &AppState,
    d: &RecurringDuty,
    occurrence: Timestamp,
) -> Result<bool, StoreError> {
    let sent = state
        .store
        .duty_messages(&d.key, Some(occurrence), 200)
        .await?;
    let tests: Vec<&DutyMessage> = sent
        .iter()
        .filter(|m| m.intent_key.contains(":test:"))
        .collect();
    if tests.is_empty()
        || tests.iter().any(|m| {
            !matches!(
                m.state,
                NotificationState::Delivered | NotificationState::Dead
            )
        })
    {
        return Ok(false);
    }
    let arrived = tests
        .iter()
        .filter(|m| m.state == NotificationState::Delivered)
        .count();
    let mut notes: Vec<String> = tests
        .iter()
        .map(|m| match m.state {
            NotificationState::Delivered => {
                format!(
                    "{}: arrived ({} {})",
                    m.channel.as_str(),
                    m.person,
                    m.address
                )
            }
            _ => format!(
                "{}: FAILED ({} {}): {}",
                m.channel.as_str(),
                m.person,
                m.address,
                m.last_error.as_deref().unwrap_or("no reason given")
            ),
        })
        .collect();
    notes.sort();
    let policy = state.policy.policy();
    let now = state.clock.now();
    let pings = state.store.heartbeats().await?;
    for hb in &policy.heartbeats {
        let last = pings
            .iter()
            .find(|p| p.name == hb.name)
            .map(|p| p.last_seen_at);
        notes.push(match last {
            Some(t) => format!(
                "heartbeat {}: last ping {}",
                hb.name,
                t.strftime("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("heartbeat {}: never pinged", hb.name),
        });
    }
    let outcome = if arrived == tests.len() {
        DutyOutcome::Ok
    } else {
        DutyOutcome::Failed
    };
    let summary = format!(
        "{arrived} of {} channels reached\n{}",
        tests.len(),
        notes.join("\n")
    );
    state
        .store
        .record_duty_run(&d.key, occurrence, outcome, &summary, FIREBELL, now)
        .await?;
    Ok(true)
}

/// A person's contacts that a notifier can deliver, in their order.
fn contacts(policy: &Policy, person: &str) -> Vec<(ContactKind, String)> {
    let Some(p) = policy.people.get(person) else {
        return Vec::new();
    };
    let mut out: Vec<(ContactKind, String)> = Vec::new();
    for c in &p.contacts {
        if let Ok(kind) = c.kind.parse::<ContactKind>()
            && policy.notifiers.contains_key(kind.as_str())
            && !out.iter().any(|(k, _)| *k == kind)
        {
            out.push((kind, c.address.clone()));
        }
    }
    out
}

fn locale(policy: &Policy, person: &str) -> String {
    policy
        .people
        .get(person)
        .and_then(|p| p.locale.clone())
        .unwrap_or_else(|| policy.default_locale().to_string())
}

/// Send every duty message due now.
async fn deliver(state: &AppState, round: &mut Round) -> Result<(), StoreError> {
    let policy = state.policy.policy();
    let now = state.clock.now();
    let token = uuid::Uuid::new_v4().to_string();
    let batch = state
        .store
        .claim_duty_messages(now, BATCH, &token, now + LEASE)
        .await?;
    for m in batch {
        let n = Notification {
            id: m.id.clone(),
            incident_id: String::new(),
            intent_key: m.intent_key.clone(),
            duty: Duty::Recurring {
                key: m.duty.clone(),
            },
            person: m.person.clone(),
            channel: m.channel,
            address: m.address.clone(),
            locale: m.locale.clone(),
            subject: m.subject.clone(),
            body: m.body.clone(),
            stop_on_ack: false,
            ack_round: 0,
            state: NotificationState::Sending,
            attempts: m.attempts,
            next_attempt_at: now,
            claim_token: Some(token.clone()),
            last_error: None,
            created_at: m.created_at,
            updated_at: now,
            delivered_at: None,
        };
        let result = channels::deliver(&state.dispatcher, &policy, &n).await;
        let now = state.clock.now();
        let completion = match result {
            Ok(()) => {
                round.delivered += 1;
                Completion::Delivered
            }
            Err(e) if e.retryable && m.attempts < DEFAULT_MAX_ATTEMPTS => {
                round.failed += 1;
                let wait = e
                    .retry_after
                    .map(|d| d.clamp(Duration::from_secs(1), Duration::from_secs(3600)))
                    .unwrap_or_else(|| backoff(m.attempts));
                Completion::Retry {
                    at: now + jiff::SignedDuration::try_from(wait).unwrap_or_default(),
                    error: e.message,
                }
            }
            Err(e) => {
                round.failed += 1;
                tracing::warn!(duty = %m.duty, person = %m.person, channel = m.channel.as_str(), error = %e.message, "a duty message was given up");
                Completion::Dead { error: e.message }
            }
        };
        state
            .store
            .complete_duty_message(&m.id, &token, &completion, now)
            .await?;
    }
    Ok(())
}

/// The background loop.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = run_once(&state).await {
            tracing::warn!(error = %e, "a duties round failed");
        }
        tokio::time::sleep(EVERY).await;
    }
}
