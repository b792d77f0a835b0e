//! The one path every change to an incident takes: the API's commands, the
//! alert processor's declarations and alert news, the scheduler's firings,
//! a PagerDuty `acknowledge` and a page's ack link.
//!
//! A change is decided by the pure core on the incident's current state,
//! stamped after its version, and written with its effects in one
//! transaction that succeeds only if the incident is still at that version
//! ([`firebell_store::Append`]). Every write carries the new state's agenda
//! under the live policy, so its timers can never be forgotten. A caller who
//! names `expected_version` gets a conflict on any mismatch; a caller who
//! does not is re-decided on fresh state, a few times, so two people acting
//! at once never both win and neither is lost.

use std::sync::Arc;

use firebell_core::escalation::{self, Due, Intent};
use firebell_core::incident::{self, Command, Context, Declare, Event, EventKind, Incident};
use firebell_core::{Policy, Timestamp};
use firebell_store::{Append, Encoded, NewIncident, ProcessedAlert, Store, StoreError};

use crate::clock::Clock;
use crate::notify::dispatch::DeliverWake;
use crate::policy_source::PolicyHandle;
use crate::scheduler::SchedulerWake;

/// Attempts before a change without `expected_version` that keeps losing
/// races gives up with a conflict.
const MAX_ATTEMPTS: usize = 5;

/// Why a change to an incident did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The domain refused it (not allowed now, or malformed).
    #[error(transparent)]
    Rejected(#[from] incident::CommandError),
    #[error("no incident with id {0:?}")]
    NotFound(String),
    /// The incident is not at the version the caller named, or kept moving.
    #[error(
        "version conflict: expected version {expected}, but the incident is at version {actual}"
    )]
    Conflict { expected: u64, actual: u64 },
    /// The alert group already has an open incident; attach to it instead.
    #[error("the alert group already has open incident {incident_id}")]
    GroupTaken { incident_id: String },
    #[error(transparent)]
    Store(StoreError),
}

impl ChangeError {
    /// Whether trying the same change again would fail the same way
    /// ([`Fault::Row`]): a refusal or bad stored data, not a busy database.
    pub fn fault(&self) -> firebell_store::Fault {
        match self {
            ChangeError::Rejected(_) => firebell_store::Fault::Row,
            ChangeError::Store(e) => e.fault(),
            _ => firebell_store::Fault::Transient,
        }
    }
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { expected, actual } => ChangeError::Conflict { expected, actual },
            StoreError::NotFound(id) => ChangeError::NotFound(id),
            StoreError::GroupTaken { incident_id } => ChangeError::GroupTaken { incident_id },
            e => ChangeError::Store(e),
        }
    }
}

/// What a decision adds to an incident: events, and the notifications
/// they send.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    pub events: Vec<EventKind>,
    pub intents: Vec<Intent>,
}

impl From<Vec<EventKind>> for Decision {
    fn from(events: Vec<EventKind>) -> Self {
        Decision {
            events,
            intents: Vec::new(),
        }
    }
}

/// A change as written: the incident after it, and its events (none if the
/// decision had nothing to add).
#[derive(Clone, Debug)]
pub struct Applied {
    pub incident: Incident,
    pub events: Vec<Event>,
}

/// What the command path needs, and nothing else: the store, the live
/// policy, the clock, and the two wake-ups a write may owe.
#[derive(Clone)]
pub struct Incidents {
    pub store: Store,
    pub policy: PolicyHandle,
    pub clock: Arc<dyn Clock>,
    /// Woken after a write that left a duty due already.
    schedule: SchedulerWake,
    /// Woken after a write that queued notifications.
    deliver: DeliverWake,
    /// Where people reach this server: the incident links in messages.
    links: Arc<crate::notify::links::Links>,
    /// Bumped after every committed write, so views rendered from the
    /// store (the status page) know theirs is out of date and live views
    /// (the console's timeline) wake up.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Incidents {
    pub fn new(
        store: Store,
        policy: PolicyHandle,
        clock: Arc<dyn Clock>,
        schedule: SchedulerWake,
        deliver: DeliverWake,
        links: Arc<crate::notify::links::Links>,
    ) -> Self {
        Incidents {
            store,
            policy,
            clock,
            schedule,
            deliver,
            links,
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// How many writes this replica has committed (see `changes`).
    pub fn changes(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Woken at every committed write on this replica.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Count a change made outside the command path that views show too
    /// (a maintenance window created or ended).
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Declare an incident as `actor`; `then` are events recorded right
    /// after the declaration (the alerts that opened it).
    pub async fn declare(
        &self,
        d: &Declare,
        actor: &str,
        then: Vec<EventKind>,
    ) -> Result<Applied, ChangeError> {
        let (d, others) = self.concurrent(d).await?;
        let decl = self.prepare_declaration(&d, actor, then).await?;
        let incident = self
            .store
            .create_incident(&decl.id_stem(), decl.digits(), &decl.new, &|i| {
                decl.first_duties(i)
            })
            .await?;
        self.declared(&incident, &decl);
        self.flag_concurrent(&others, &decl.policy).await;
        Ok(Applied {
            incident,
            events: decl.new.events,
        })
    }

    /// `[concurrent_incidents]`: when this declaration makes `at_least`
    /// incidents open at once, it carries the flag, and so do the others
    /// (returned, to be flagged after the commit). Past the threshold the
    /// others have it already.
    async fn concurrent(&self, d: &Declare) -> Result<(Declare, Vec<String>), ChangeError> {
        let policy = self.policy.policy();
        let rule = &policy.concurrent_incidents;
        let mut d = d.clone();
        if rule.at_least == 0 || rule.tag.trim().is_empty() {
            return Ok((d, Vec::new()));
        }
        let open = self.store.open_incident_ids().await?;
        let count = open.len() as u64 + 1;
        if count < u64::from(rule.at_least) {
            return Ok((d, Vec::new()));
        }
        if !d.tags.iter().any(|t| t.eq_ignore_ascii_case(&rule.tag)) {
            d.tags.push(rule.tag.clone());
        }
        let others = if count == u64::from(rule.at_least) {
            open
        } else {
            Vec::new()
        };
        Ok((d, others))
    }

    /// Raise the concurrency flag on `ids`; one that has it, or changed
    /// meanwhile, is left as it is.
    async fn flag_concurrent(&self, ids: &[String], policy: &Policy) {
        let cmd = Command::ChangeTags {
            add: vec![policy.concurrent_incidents.tag.clone()],
            remove: Vec::new(),
        };
        for id in ids {
            if let Err(e) = self.execute(id, "firebell", None, &cmd).await
                && !matches!(e, ChangeError::Rejected(_))
            {
                tracing::warn!(incident = %id, error = %e, "could not flag a concurrent incident");
            }
        }
    }

    /// [`Incidents::declare`] for an alert group: the incident becomes the
    /// group's open one and `alerts` are marked processed, in one
    /// transaction; [`ChangeError::GroupTaken`] if the group has one already.
    pub async fn declare_for_group(
        &self,
        group_key: &str,
        d: &Declare,
        actor: &str,
        then: Vec<EventKind>,
        alerts: &[ProcessedAlert],
    ) -> Result<Incident, ChangeError> {
        let (d, others) = self.concurrent(d).await?;
        let decl = self.prepare_declaration(&d, actor, then).await?;
        let incident = self
            .store
            .create_incident_for_group(
                &decl.id_stem(),
                decl.digits(),
                group_key,
                &decl.new,
                alerts,
                &|i| decl.first_duties(i),
            )
            .await?;
        self.declared(&incident, &decl);
        self.flag_concurrent(&others, &decl.policy).await;
        Ok(incident)
    }

    /// A declaration decided at the policy and time in force, with the
    /// schedule overrides its first duties resolve people with; none (the
    /// duties left to the scheduler) if this replica's clock is not trusted
    /// (see [`crate::skew`]), as a replica whose clock is fires them.
    async fn prepare_declaration(
        &self,
        d: &Declare,
        actor: &str,
        then: Vec<EventKind>,
    ) -> Result<Declaration, ChangeError> {
        let (policy, now) = (self.policy.policy(), self.clock.now());
        let new = self.new_incident(d, actor, then, &policy, now)?;
        let overrides = match self.clock.trusted() {
            true => {
                let until = now + jiff::SignedDuration::from_secs(1);
                Some(self.store.overrides_between(now, until).await?)
            }
            false => None,
        };
        Ok(Declaration {
            policy,
            now,
            new,
            overrides,
            fired: Default::default(),
        })
    }

    /// After a declaration commits, with the first duties if they went with
    /// it: count them, and wake whoever owes the next step.
    fn declared(&self, incident: &Incident, decl: &Declaration) {
        match decl.fired.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(first) => {
                crate::scheduler::count(&first.events);
                self.committed(incident, &first.timers, first.intents.len());
            }
            None => self.committed(incident, &decl.new.timers, 0),
        }
    }

    fn new_incident(
        &self,
        d: &Declare,
        actor: &str,
        then: Vec<EventKind>,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<NewIncident, ChangeError> {
        let base = self.links.base();
        let ctx = Context {
            policy,
            now,
            actor,
            link_base: &base,
        };
        let (declared, mut events) = incident::declare(d, &ctx)?;
        let (state, more) = declared.advance(then, now, actor);
        events.extend(more);
        Ok(NewIncident {
            timers: escalation::agenda(&state, policy),
            state,
            events,
        })
    }

    /// Run `cmd` on incident `id` as `actor`.
    pub async fn execute(
        &self,
        id: &str,
        actor: &str,
        expected: Option<u64>,
        cmd: &Command,
    ) -> Result<Applied, ChangeError> {
        self.change(id, actor, expected, &[], |incident, ctx| {
            incident::decide(incident, cmd, ctx).map(Decision::from)
        })
        .await
    }

    /// Decide on the current state, stamp, and write with its effects and
    /// `alerts` marked processed, retrying on a lost race unless the caller
    /// named `expected` (see the module docs). A decision with no events
    /// writes nothing.
    pub async fn change<F>(
        &self,
        id: &str,
        actor: &str,
        expected: Option<u64>,
        alerts: &[ProcessedAlert],
        mut decide: F,
    ) -> Result<Applied, ChangeError>
    where
        F: FnMut(&Incident, &Context) -> Result<Decision, incident::CommandError>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self
                .store
                .get_incident(id)
                .await?
                .ok_or_else(|| ChangeError::NotFound(id.to_string()))?;
            if let Some(expected) = expected
                && expected != current.version
            {
                return Err(ChangeError::Conflict {
                    expected,
                    actual: current.version,
                });
            }
            let (policy, now) = (self.policy.policy(), self.clock.now());
            let base = self.links.base();
            let decision = decide(
                &current,
                &Context {
                    policy: &policy,
                    now,
                    actor,
                    link_base: &base,
                },
            )?;
            if decision.events.is_empty() {
                return Ok(Applied {
                    incident: current,
                    events: Vec::new(),
                });
            }
            let append = prepare(&current, decision, &policy, now, actor, alerts.to_vec());
            match self.store.append(&append).await {
                Ok(()) => {
                    self.committed(&append.state, &append.timers, append.intents.len());
                    return Ok(Applied {
                        incident: append.state,
                        events: append.events,
                    });
                }
                Err(StoreError::Conflict { .. })
                    if expected.is_none() && attempt < MAX_ATTEMPTS => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Write many prepared changes in one transaction; returns the indexes
    /// of those that lost a race (to be decided again).
    pub async fn append_batch(&self, appends: &[Encoded]) -> Result<Vec<usize>, ChangeError> {
        let lost = self.store.append_batch(appends).await?;
        for (i, a) in appends.iter().map(Encoded::append).enumerate() {
            if !lost.contains(&i) {
                self.committed(&a.state, &a.timers, a.intents.len());
            }
        }
        Ok(lost)
    }

    /// Rewrite an incident's timers from the live policy (a reload may move,
    /// add or remove duties), unless a newer write planned them already.
    pub async fn replan(&self, id: &str) -> Result<(), ChangeError> {
        let Some(current) = self.store.get_incident(id).await? else {
            return Ok(());
        };
        let timers = escalation::agenda(&current, &self.policy.policy());
        if self
            .store
            .replace_timers(id, current.version, &timers)
            .await?
        {
            self.committed(&current, &timers, 0);
        }
        Ok(())
    }

    /// Wake the scheduler (a timer was put back, say).
    pub fn wake_scheduler(&self) {
        self.schedule.notify_one();
    }

    /// Wake the dispatcher (a notification was put back, say).
    pub fn wake_delivery(&self) {
        self.deliver.notify_one();
    }

    /// After a commit: wake the scheduler if a duty is due by the write's
    /// time, and the dispatcher if notifications were queued.
    /// What a change written by someone else's transaction (a merge that
    /// recorded news, see [`crate::ingest::processor::news_recorder`]) wakes.
    pub fn recorded(&self, appends: &[Append]) {
        for a in appends {
            self.committed(&a.state, &a.timers, a.intents.len());
        }
    }

    /// Where people reach this server, for messages' links.
    pub fn link_base(&self) -> String {
        self.links.base()
    }

    fn committed(&self, state: &Incident, timers: &[Due], intents: usize) {
        self.changed();
        if timers.iter().any(|d| d.at <= state.updated_at) {
            self.schedule.notify_one();
        }
        if intents > 0 {
            self.deliver.notify_one();
        }
    }
}

/// A declaration about to be written (see [`Incidents::prepare_declaration`]).
struct Declaration {
    policy: Arc<Policy>,
    now: Timestamp,
    new: NewIncident,
    overrides: Option<Vec<firebell_core::schedule::Override>>,
    /// What [`Declaration::first_duties`] handed the store, for after the
    /// commit.
    fired: std::sync::Mutex<Option<Append>>,
}

impl Declaration {
    fn id_stem(&self) -> String {
        incident::incident_id_stem(&self.policy, self.now)
    }

    fn digits(&self) -> u8 {
        self.policy.incident_ids.digits
    }

    /// The duties due on the just-numbered incident (the first page above
    /// all), as the scheduler would fire them now, to be written in the
    /// declaring transaction (see [`firebell_store::FirstDuties`]).
    fn first_duties(&self, incident: &Incident) -> Option<Append> {
        let firing = escalation::fire(incident, &self.policy, self.overrides.as_deref()?, self.now);
        let first = (!firing.events.is_empty()).then(|| {
            let decision = Decision {
                events: firing.events,
                intents: firing.intents,
            };
            prepare(
                incident,
                decision,
                &self.policy,
                self.now,
                crate::scheduler::ACTOR,
                Vec::new(),
            )
        });
        *self.fired.lock().unwrap_or_else(|e| e.into_inner()) = first.clone();
        first
    }
}

/// The write for `decision` on `current`: the events stamped at `now` by
/// `actor`, the state after them and its agenda under `policy`.
pub fn prepare(
    current: &Incident,
    decision: Decision,
    policy: &Policy,
    now: Timestamp,
    actor: &str,
    alerts: Vec<ProcessedAlert>,
) -> Append {
    let (state, events) = current.advance(decision.events, now, actor);
    Append {
        timers: escalation::agenda(&state, policy),
        expected_version: current.version,
        state,
        events,
        intents: decision.intents,
        alerts,
    }
}
