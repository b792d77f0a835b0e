//! From committed alerts to incidents.
//!
//! The processor claims alerts marked pending (new, resolved, or fired again),
//! groups them by their route's group key and, per group: declares an incident
//! if the group has none open and something unsuppressed is firing, or records
//! the change on the group's open incident. The incident write and the
//! "processed" mark on the alerts are one transaction, so a crash repeats a
//! round at worst, never loses or doubles it; an alert re-reported meanwhile
//! stays pending for the next round.
//!
//! Under a storm most of that news is recorded earlier, by the merge itself
//! ([`news_recorder`]): what comes here is what it left pending (new groups,
//! suppression, resolves of old incidents, sweeps, another replica's rows).
//!
//! Silenced alerts and alerts of services in maintenance are kept and shown,
//! but never open an incident by themselves.
//!
//! **New groups first.** Alerts of urgent log rows (see [`super`]) go
//! through a fast lane ([`run_fast_lane`]): a task of its own that merges
//! them and declares their incidents while the batch goes on, so a new group
//! waits for no part of a flood. The two never count an alert twice: each
//! holds a group while it processes it ([`GroupsInHand`]), the fast lane
//! reads its alerts only once it holds the group, and the batch reads again
//! the alerts of a group the fast lane finished with since the batch was
//! read. A group's alerts are processed in slices of [`GROUP_SLICE`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firebell_core::Timestamp;
use firebell_core::alert::{Alert, MaintenanceWindow, Silence, SilenceState, opening};
use firebell_core::incident;
use firebell_store::{AlertFilter, Fault, Lane, ProcessedAlert, StoreError, in_lane};

use super::Pipeline;
use crate::AppState;
use crate::command::Incidents;
use crate::command::{ChangeError, Decision};

/// Alerts claimed per round.
pub const CLAIM: u32 = 10_000;
/// Alerts of one group recorded per incident write: between slices, urgent
/// alerts (new groups) go first. Each slice is one summary event on the
/// timeline, so smaller slices would answer a new group sooner at the cost
/// of a longer timeline in a storm.
pub const GROUP_SLICE: usize = 2_000;
/// How often the processor looks even without a wake-up (for alerts whose
/// `endsAt` passes without a new report).
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The actor recorded for what the processor does.
pub const ACTOR: &str = "alerts";

/// The processor's handles.
#[derive(Clone)]
pub struct Processor {
    incidents: Incidents,
    /// The pipeline it merges and is woken by.
    pipeline: Pipeline,
    /// Held for a whole round, so rounds in this process never overlap (the
    /// background loop, and a PagerDuty `acknowledge` that needs its alert
    /// processed first): two at once would count the same alerts twice.
    processing: Arc<tokio::sync::Mutex<()>>,
    /// Silence and maintenance ids active at the last round, to notice when
    /// one lapses (`None` before the first round).
    suppressions_seen: Arc<Mutex<Option<BTreeSet<String>>>>,
    /// Groups the batch and the fast lane are processing now.
    groups: Arc<GroupsInHand>,
    /// Groups the fast lane finished with since the batch was last read:
    /// the batch's copy of their alerts may be stale.
    fast_done: Arc<Mutex<HashSet<String>>>,
}

impl Processor {
    pub fn new(incidents: Incidents, pipeline: Pipeline) -> Processor {
        Processor {
            incidents,
            pipeline,
            processing: Default::default(),
            suppressions_seen: Default::default(),
            groups: Default::default(),
            fast_done: Default::default(),
        }
    }
}

/// Alert groups being processed, each by one path at a time.
#[derive(Default)]
pub struct GroupsInHand {
    held: Mutex<HashSet<String>>,
    released: tokio::sync::Notify,
}

/// A group held; dropping it lets the other path have it.
struct GroupHold<'a> {
    groups: &'a GroupsInHand,
    key: String,
}

impl GroupsInHand {
    async fn hold(&self, key: &str) -> GroupHold<'_> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.lock().insert(key.to_string()) {
                return GroupHold {
                    groups: self,
                    key: key.to_string(),
                };
            }
            released.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for GroupHold<'_> {
    fn drop(&mut self) {
        self.groups.lock().remove(&self.key);
        self.groups.released.notify_waiters();
    }
}

/// Run until the task is dropped.
pub async fn run(state: Processor) {
    loop {
        tokio::select! {
            _ = state.pipeline.wake.notified() => {}
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        if let Err(e) = process_round(&state, false).await {
            tracing::error!(error = %e, "alert processing failed; retrying next round");
            metrics::counter!("firebell_alert_processing_errors_total").increment(1);
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub alerts: usize,
    pub declared: usize,
    pub updated: usize,
    /// Nothing processed: this replica's clock is not trusted (see
    /// [`crate::skew`]); another replica processes the alerts.
    pub held: bool,
}

/// Merge the ingest log, then process everything pending now. Tests call
/// this directly with a manual clock. Rounds in one process take turns
/// (see [`Processor`]).
pub async fn process_pending(state: &Processor) -> Result<Round, ChangeError> {
    process_round(state, true).await
}

/// The fast lane: merge the urgent log rows (new groups' first reports) and
/// process their alerts, leaving the rest of the log where it is. Runs
/// beside the batch ([`run`]); tests call it to see a new group overtake a
/// backlog.
pub async fn process_new_groups(state: &Processor) -> Result<Round, ChangeError> {
    if !state.incidents.clock.trusted() {
        return Ok(Round::held());
    }
    super::merge_urgent(&state.pipeline).await;
    let waiting = !state
        .pipeline
        .urgent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty();
    let mut round = Round::default();
    if !waiting {
        return Ok(round);
    }
    let now = state.incidents.clock.now();
    let (suppressed, watched) = suppressions(state, now).await?;
    process_urgent(
        state,
        &|a: &Alert| suppressed.holds(a),
        &watched,
        &mut round,
    )
    .await?;
    Ok(round)
}

/// The fast lane's task: woken by each committed urgent row, and once a
/// second for urgent alerts merged by someone else. Runs until dropped.
pub async fn run_fast_lane(state: Processor) {
    loop {
        tokio::select! {
            _ = state.pipeline.fast_lane.notified() => {}
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        if let Err(e) = process_new_groups(&state).await {
            tracing::error!(error = %e, "processing new alert groups failed; they wait for the batch");
            metrics::counter!("firebell_alert_processing_errors_total").increment(1);
        }
    }
}

/// Silences and maintenance windows active at `now`.
struct Suppressions {
    silences: Vec<Silence>,
    maintenance: Vec<MaintenanceWindow>,
    /// Whether any stored silence or window is not active at `now` (ended,
    /// or not begun): without one, none can have lapsed.
    any_inactive: bool,
}

impl Suppressions {
    /// Whether an alert is held back from opening an incident.
    fn holds(&self, a: &Alert) -> bool {
        self.silences.iter().any(|s| s.matches(&a.labels))
            || self
                .maintenance
                .iter()
                .any(|w| w.covers(a.service.as_deref()))
    }
}

/// What holds alerts back at `now`, and the windows that ended recently
/// enough that alerts of their services are still watched.
async fn suppressions(
    state: &Processor,
    now: Timestamp,
) -> Result<(Suppressions, Vec<MaintenanceWindow>), ChangeError> {
    let all_silences = state.incidents.store.list_silences().await?;
    let all_windows = state.incidents.store.list_maintenance().await?;
    let any_inactive = all_silences
        .iter()
        .any(|s| s.state(now) != SilenceState::Active)
        || all_windows.iter().any(|w| !w.is_active(now));
    let silences: Vec<Silence> = all_silences
        .into_iter()
        .filter(|s| s.state(now) == SilenceState::Active)
        .collect();
    let watch_after = state.incidents.policy.policy().maintenance.watch_after;
    let (maintenance, watched): (Vec<MaintenanceWindow>, Vec<MaintenanceWindow>) = all_windows
        .into_iter()
        .filter(|w| w.is_active(now) || w.ended_within(watch_after, now))
        .partition(|w| w.is_active(now));
    Ok((
        Suppressions {
            silences,
            maintenance,
            any_inactive,
        },
        watched,
    ))
}

/// One round; `merge`: fold in the ingest log first (the background loop
/// leaves that to the merger task, which runs alongside).
async fn process_round(state: &Processor, merge: bool) -> Result<Round, ChangeError> {
    let _turn = state.processing.lock().await;
    if !state.incidents.clock.trusted() {
        return Ok(Round::held());
    }
    let now = state.incidents.clock.now();
    state.incidents.store.sweep_expired_alerts(now).await?;
    let (suppressions, watched) = suppressions(state, now).await?;
    // A silence or window that lapsed since the last round makes alerts it was
    // holding back news again: re-queue firing alerts that have no incident.
    let active_ids: BTreeSet<String> = suppressions
        .silences
        .iter()
        .map(|s| s.id.clone())
        .chain(suppressions.maintenance.iter().map(|w| w.id.clone()))
        .collect();
    let lapsed = {
        let mut seen = state
            .suppressions_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let lapsed = match seen.as_ref() {
            Some(before) => before.difference(&active_ids).next().is_some(),
            // First round since start: something may have lapsed while we
            // were down, if anything stored is no longer active. Without
            // that the re-queue is skipped: it reads every alert, holding
            // the writer (about 0.5 s at a million) while the first new
            // group after a restart waits to be declared.
            None => suppressions.any_inactive,
        };
        *seen = Some(active_ids);
        lapsed
    };
    if lapsed {
        state
            .incidents
            .store
            .repend_unattached_firing_alerts(now)
            .await?;
    }
    let suppressed = |a: &Alert| suppressions.holds(a);

    let mut round = Round::default();
    let mut ahead = None;
    loop {
        // Urgent alerts waiting with no fast lane to take them (tests run
        // rounds by hand) go first.
        process_urgent(state, &suppressed, &watched, &mut round).await?;
        // Fold in the next slice of the ingest log (a claim's worth) first,
        // so under a storm the first alerts become an incident while the
        // rest are still being merged.
        let merged = if merge {
            match super::merge_logged(&state.pipeline, CLAIM as usize, &mut ahead).await {
                Ok(done) => {
                    round.alerts += done.recorded;
                    round.updated += done.incidents;
                    done.reports
                }
                // Counted against the row; what is merged is processed.
                Err(e) if e.fault() == Fault::Row => 0,
                Err(e) => return Err(e.into()),
            }
        } else {
            0
        };
        // Cleared as the batch is read: a group the fast lane finishes with
        // from now on may hold alerts this read saw pending.
        state
            .fast_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let pending = state.incidents.store.pending_alerts(CLAIM).await?;
        if pending.is_empty() {
            if merged > 0 {
                continue;
            }
            break;
        }
        let mut groups: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        for a in pending {
            groups.entry(a.group_key.clone()).or_default().push(a);
        }
        for (group_key, alerts) in groups {
            for slice in alerts.chunks(GROUP_SLICE) {
                let _hold = state.groups.hold(&group_key).await;
                let fast_done = state
                    .fast_done
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&group_key);
                let slice = match fast_done {
                    // The fast lane took some of these since the read: what
                    // is still pending, as it is now.
                    true => {
                        let keys: Vec<String> = slice.iter().map(|a| a.key.clone()).collect();
                        state.incidents.store.pending_alerts_by_key(&keys).await?
                    }
                    false => slice.to_vec(),
                };
                if slice.is_empty() {
                    continue;
                }
                round.alerts += slice.len();
                // News for open incidents takes the gaps between pipeline
                // writes; a declaration goes back to the pipeline's lane.
                let outcome = in_lane(
                    Lane::Bulk,
                    process_group(state, &group_key, slice, now, &suppressed, &watched),
                )
                .await?;
                round.count(outcome);
            }
        }
    }
    Ok(round)
}

impl Round {
    /// Nothing done: the clock is not trusted.
    fn held() -> Round {
        Round {
            held: true,
            ..Round::default()
        }
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Declared => self.declared += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Nothing => {}
        }
    }
}

/// Process the alerts merged from urgent log rows that are still pending,
/// group by group, each read once its group is held (see the module's
/// docs). On failure they stay pending, for the batch to take in its turn.
async fn process_urgent(
    state: &Processor,
    suppressed: &impl Fn(&Alert) -> bool,
    watched: &[MaintenanceWindow],
    round: &mut Round,
) -> Result<(), ChangeError> {
    let urgent = std::mem::take(
        &mut *state
            .pipeline
            .urgent
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in urgent {
        groups.entry(a.group_key).or_default().push(a.key);
    }
    for (group_key, keys) in groups {
        let hold = state.groups.hold(&group_key).await;
        let alerts = state.incidents.store.pending_alerts_by_key(&keys).await?;
        if !alerts.is_empty() {
            round.alerts += alerts.len();
            let now = state.incidents.clock.now();
            let outcome = process_group(state, &group_key, alerts, now, suppressed, watched).await;
            state
                .fast_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(group_key);
            round.count(outcome?);
        }
        drop(hold);
    }
    Ok(())
}

enum Outcome {
    Declared,
    Updated,
    Nothing,
}

fn processed<A: std::borrow::Borrow<Alert>>(
    alerts: &[A],
    incident_id: Option<&str>,
    now: Timestamp,
) -> Vec<ProcessedAlert> {
    alerts
        .iter()
        .map(A::borrow)
        .map(|a| ProcessedAlert {
            key: a.key.clone(),
            seen_updated_at: a.updated_at,
            firing: a.is_firing(now),
            incident_id: incident_id
                .map(str::to_string)
                .or_else(|| a.incident_id.clone()),
        })
        .collect()
}

async fn process_group(
    state: &Processor,
    group_key: &str,
    alerts: Vec<Alert>,
    now: Timestamp,
    suppressed: &impl Fn(&Alert) -> bool,
    watched: &[MaintenanceWindow],
) -> Result<Outcome, ChangeError> {
    // A few attempts: losing a race to declare the group means attaching instead.
    for _ in 0..3 {
        if let Some(id) = state
            .incidents
            .store
            .open_incident_for_group(group_key)
            .await?
        {
            return record_on(state, &id, &alerts, now)
                .await
                .map(|()| Outcome::Updated);
        }
        // No open incident for the group. Resolutions of alerts that belonged to
        // an earlier (now resolved) incident are news for that incident.
        let (old, fresh): (Vec<Alert>, Vec<Alert>) = alerts
            .iter()
            .cloned()
            .partition(|a| a.incident_id.is_some() && !a.is_firing(now));
        let mut by_incident: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        for a in old {
            by_incident
                .entry(a.incident_id.clone().unwrap_or_default())
                .or_default()
                .push(a);
        }
        for (id, group) in &by_incident {
            record_on(state, id, group, now).await?;
        }
        let opens = fresh.iter().any(|a| a.is_firing(now) && !suppressed(a));
        let declaration = opens
            .then(|| opening::declaration(&state.incidents.policy.policy(), &fresh, watched, now))
            .flatten();
        let Some(declaration) = declaration else {
            state
                .incidents
                .store
                .mark_alerts_processed(&processed(&fresh, None, now))
                .await?;
            return Ok(Outcome::Nothing);
        };
        // The store sets the real id on the alerts; `processed` carries a placeholder.
        let marks = processed(&fresh, Some(""), now);
        let opened = in_lane(
            Lane::Pipeline,
            state.incidents.declare_for_group(
                group_key,
                &declaration,
                ACTOR,
                opening::opened_with(&state.incidents.policy.policy(), &declaration, &fresh, now),
                &marks,
            ),
        )
        .await;
        match opened {
            Ok(created) => {
                metrics::counter!("firebell_incidents_declared_total", "severity" => created.severity.clone())
                    .increment(1);
                tracing::info!(incident = %created.id, group = group_key, alerts = fresh.len(), "incident declared from alerts");
                return Ok(Outcome::Declared);
            }
            Err(ChangeError::GroupTaken { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ChangeError::Store(StoreError::Corrupt(format!(
        "group {group_key} kept changing while being processed"
    ))))
}

/// Record alert changes on incident `id` (attached, resolved, fired again),
/// with the alerts marked processed in the same write.
async fn record_on(
    state: &Processor,
    id: &str,
    alerts: &[Alert],
    now: Timestamp,
) -> Result<(), ChangeError> {
    let marks = processed(alerts, Some(id), now);
    state
        .incidents
        .change(id, ACTOR, None, &marks, |incident, ctx| {
            incident::decide(
                incident,
                &opening::record(ctx.policy, incident, alerts, now),
                ctx,
            )
            .map(Decision::from)
        })
        .await?;
    Ok(())
}

/// What a merge writes for an open incident in its own transaction (see
/// [`firebell_store::Store::merge_read_alerts`]): what
/// [`record_on`] would write a round later, decided at the merge's instant.
/// `None` while this replica's clock is not trusted: the alerts then wait,
/// pending, for whichever replica processes.
pub(crate) fn news_recorder(
    incidents: &Incidents,
) -> Option<
    impl FnMut(&incident::Incident, &[&Alert]) -> Option<firebell_store::Append> + Send + use<>,
> {
    if !incidents.clock.trusted() {
        return None;
    }
    let (policy, now, base) = (
        incidents.policy.policy(),
        incidents.clock.now(),
        incidents.link_base(),
    );
    Some(move |current: &incident::Incident, alerts: &[&Alert]| {
        let ctx = incident::Context {
            policy: &policy,
            now,
            actor: ACTOR,
            link_base: &base,
        };
        let command = opening::record(&policy, current, alerts, now);
        let decision = Decision::from(incident::decide(current, &command, &ctx).ok()?);
        if decision.events.is_empty() {
            return None;
        }
        let marks = processed(alerts, Some(&current.id), now);
        Some(crate::command::prepare(
            current, decision, &policy, now, ACTOR, marks,
        ))
    })
}

/// Alerts attached to an incident, newest first (for the API).
pub async fn alerts_of(
    state: &AppState,
    incident_id: &str,
    limit: u32,
) -> Result<Vec<Alert>, StoreError> {
    super::settle(&state.pipeline).await?;
    state
        .store
        .list_alerts(&AlertFilter {
            incident_id: Some(incident_id.to_string()),
            firing_at: None,
            limit,
            after: None,
            labels: Vec::new(),
        })
        .await
}
