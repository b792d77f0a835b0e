//! Alerts in: every source hands its normalised alerts to one [`IngestQueue`].
//!
//! A writer task drains the bounded queue and appends everything it
//! finds to the ingest log as ONE row (group commit), then answers every
//! waiting request. So a 2xx always means "committed", a storm costs one
//! fsync per batch, not per request, and the cost on the request path is a
//! sequential append, not a read-merge-write of every alert.
//!
//! Back-pressure: a full queue, or a log holding more than [`MAX_BACKLOG`]
//! reports not merged yet, answers at once with 429 and `Retry-After`;
//! senders (Prometheus, Alertmanager) retry, and nothing is dropped silently.
//!
//! Folding the log into the alerts ([`merge_logged`]) and turning alerts into
//! incidents is the [`processor`]'s job, after the commit, so ingest latency
//! never waits for either. Reads of alerts call [`settle`] first, so a sender
//! that reads after its 2xx sees what it sent.
//!
//! **New groups jump the queue.** Under a flood the log holds a backlog, and
//! a new problem must not wait behind it. A report whose alert group this
//! process has not logged before is *urgent*. A request of urgent reports
//! only goes to a writer of its own ([`NEW_GROUPS_CAPACITY`]), so it is not
//! queued behind the flood's batch being appended, nor appended with it. The
//! writer merges an urgent report into
//! `alerts` in the append's own transaction and hands its alerts to the
//! processor's fast lane, which takes them before its current batch. So a
//! new group's incident is one more write after the 2xx, not two: on
//! SQLite's single writer each write waits for the transaction in flight.
//! Where that is not done (on PostgreSQL, whose appends never wait for the
//! alerts lock a merge holds; on SQLite while the key map loads at start,
//! for more new reports in one batch than [`MERGE_CHUNK`], or when the
//! merge fails) they are
//! logged in an urgent row instead, which the merger takes before the
//! oldest ones, without waiting for a quiet moment. Order within an alert is
//! kept by the merge itself: a
//! report older than the stored state changes nothing
//! ([`firebell_core::alert::merge`]).

pub mod processor;
pub mod refresh;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firebell_core::alert::{Alert, IncomingAlert, RouteMatch, merge, route};
use firebell_store::{
    Appended, Extension, Fault, LogBatch, LogEntry, LogLane, MergedBatch, Queue, Store, StoreError,
    Tried,
};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::Clock;
use crate::policy_source::PolicyHandle;
use refresh::StoredAlerts;

/// Requests waiting for the writer; beyond this, senders get 429.
pub const QUEUE_CAPACITY: usize = 1024;
/// Requests of new groups' reports only waiting for their own writer; beyond
/// this they queue with the rest.
pub const NEW_GROUPS_CAPACITY: usize = 256;
/// Most alerts committed in one transaction.
const MAX_BATCH_ALERTS: usize = 10_000;
/// Reports logged but not merged yet beyond which senders get 429: about half
/// a minute of merging on a small machine, so an alert's incident is never
/// further behind than that however hard senders push.
pub const MAX_BACKLOG: u64 = 1_000_000;
/// Reports of new groups only still taken past [`MAX_BACKLOG`]: a new
/// problem is heard during the worst flood, and a flood of nothing but new
/// groups is still bounded.
pub const URGENT_MARGIN: u64 = 100_000;
/// Reports merged per transaction while appends are waiting: small enough
/// that an append (and so a sender's 2xx) never waits long behind a merge on
/// SQLite's single writer.
pub const MERGE_CHUNK: usize = 1_000;
/// Failed merges of one log row, each on its own, before it is set aside
/// (see [`crate::set_aside`]).
pub const MAX_TRIES: u32 = 5;
/// Reports merged per transaction when no append is waiting: larger
/// transactions mean fewer fsyncs and fewer rewrites of the same index pages,
/// but a page's write waits for the one in flight (about 35 µs a report).
const MERGE_CHUNK_QUIET: usize = 2_000;
/// Reports merged per transaction on PostgreSQL, where appends never wait
/// for a merge: fewer, larger transactions.
const MERGE_CHUNK_SHARED: usize = 5_000;
/// Longest a merge waits for a moment without appends in flight (see
/// [`IngestQueue::quiet`]): under a continuous flood merging still gets the
/// writer this often, so the first alerts of a storm become an incident
/// within about this long.
const MERGE_DEFER: Duration = Duration::from_millis(200);
/// How long a read waits for the log to be merged before answering anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);
/// Keys of urgent alerts waiting for the processor, at most.
const MAX_URGENT_KEYS: usize = 10_000;
/// Alert groups remembered as seen; past this the memory starts afresh (the
/// first report of each group is urgent once more), bounding it to a few
/// tens of megabytes whatever senders invent.
const MAX_SEEN_GROUPS: usize = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest queue is full; retry shortly")]
    Full,
    #[error("{0} alerts are waiting to be merged; retry shortly")]
    Backlog(u64),
    #[error("ingest is shutting down")]
    Closed,
    #[error("could not store alerts: {0}")]
    Store(String),
    /// Text no backend may store (see [`firebell_core::alert::NUL_REFUSED`]).
    #[error("alerts[{index}].{field} {}", firebell_core::alert::NUL_REFUSED)]
    Unstorable { index: usize, field: String },
}

struct Job {
    entry: LogEntry,
    /// Refreshes whose `endsAt` is written in place ([`refresh::Door::Extend`]).
    extensions: Vec<(Extension, refresh::Ticket)>,
    /// Reports of groups not seen before (see the module's docs).
    urgent: Option<LogEntry>,
    /// Their groups, remembered once committed.
    new_groups: Vec<u64>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The alert groups this process has logged reports of, as hashes of their
/// group keys: a report of any other group is urgent.
#[derive(Default)]
struct SeenGroups {
    hasher: std::hash::RandomState,
    groups: Mutex<HashSet<u64>>,
}

impl SeenGroups {
    fn hash(&self, group_key: &str) -> u64 {
        self.hasher.hash_one(group_key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, new: &[u64]) {
        let mut groups = self.lock();
        if groups.len() + new.len() > MAX_SEEN_GROUPS {
            groups.clear();
        }
        groups.extend(new);
    }
}

/// The sending side, shared by every ingest endpoint.
#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<Job>,
    /// Requests of new groups' reports only, for their own writer.
    new_groups_tx: mpsc::Sender<Job>,
    /// Reports in the log not merged yet, as this process knows it: raised by
    /// its appends and merges, reset from the database every processing round
    /// (other replicas merge too).
    backlog: Arc<AtomicU64>,
    /// Requests queued or being committed, and a signal when that reaches 0:
    /// appends (a sender waiting for its 2xx) go before merges.
    in_flight: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    /// Wakes the merger after an append.
    appended: Arc<Notify>,
    /// Wakes a merger waiting for a quiet moment: an urgent row is in.
    urgent: Arc<Notify>,
    /// Routes reports to their group, to tell new groups from known ones.
    policy: PolicyHandle,
    seen: Arc<SeenGroups>,
    /// Recognises refreshes that change nothing worth a write
    /// ([`refresh`]).
    stored: Arc<StoredAlerts>,
    clock: Arc<dyn Clock>,
}

/// The receiving sides, each handed to a [`run_writer`] when the server
/// starts: every request, and requests of new groups' reports only.
pub struct IngestReceiver {
    pub all: WriterQueue,
    pub new_groups: WriterQueue,
}

/// Requests for one writer task.
pub struct WriterQueue(mpsc::Receiver<Job>);

/// Wakes the processor when new alerts were merged.
pub type ProcessorWake = Arc<Notify>;

/// The alert pipeline's handles: what the ingest writer, the merger and
/// read-your-writes share, and nothing more.
#[derive(Clone)]
pub struct Pipeline {
    pub store: Store,
    pub policy: PolicyHandle,
    pub clock: Arc<dyn Clock>,
    /// Where every alert source hands its alerts (group commit).
    pub ingest: IngestQueue,
    /// Wakes the alert processor after a merge.
    pub wake: ProcessorWake,
    /// Alerts merged from urgent rows, for the processor's fast lane.
    pub urgent: UrgentAlerts,
    /// Wakes the fast lane ([`processor::run_fast_lane`]): an urgent row was
    /// committed, or its alerts merged.
    pub fast_lane: Arc<Notify>,
    /// Where the oldest-first merge records news for open incidents in its
    /// own transaction ([`processor::news_recorder`]).
    pub incidents: crate::command::Incidents,
}

/// What [`merge_logged`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Reports merged into the alerts (0: the log is empty).
    pub reports: usize,
    /// Alerts recorded on their open incidents by the merge itself.
    pub recorded: usize,
    /// Changes those made, one per incident and merge.
    pub incidents: usize,
}

/// Alerts from urgent log rows, merged and waiting for the processor: their
/// group keys and alert keys.
pub type UrgentAlerts = Arc<Mutex<Vec<UrgentAlert>>>;

/// An alert of a new group, as the fast lane takes it.
#[derive(Clone, Debug)]
pub struct UrgentAlert {
    pub group_key: String,
    pub key: String,
}

pub fn queue(policy: PolicyHandle, clock: Arc<dyn Clock>) -> (IngestQueue, IngestReceiver) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let (new_groups_tx, new_groups_rx) = mpsc::channel(NEW_GROUPS_CAPACITY);
    let queue = IngestQueue {
        tx,
        new_groups_tx,
        backlog: Arc::new(AtomicU64::new(0)),
        in_flight: Arc::new(AtomicUsize::new(0)),
        idle: Arc::new(Notify::new()),
        appended: Arc::new(Notify::new()),
        urgent: Arc::new(Notify::new()),
        policy,
        seen: Default::default(),
        stored: Default::default(),
        clock,
    };
    (
        queue,
        IngestReceiver {
            all: WriterQueue(rx),
            new_groups: WriterQueue(new_groups_rx),
        },
    )
}

/// Refused at the door: once logged, an alert no backend can store would
/// stop every merge behind it. `alerts` come with their index in the request.
pub fn check_storable<'a>(
    mut alerts: impl Iterator<Item = (usize, &'a IncomingAlert)>,
) -> Result<(), IngestError> {
    match alerts.find_map(|(i, a)| a.field_with_nul().map(|f| (i, f))) {
        None => Ok(()),
        Some((index, field)) => {
            metrics::counter!("firebell_ingest_rejected_total", "reason" => "unstorable_text")
                .increment(1);
            Err(IngestError::Unstorable { index, field })
        }
    }
}

fn count_absorbed(n: usize) {
    if n > 0 {
        metrics::counter!("firebell_alerts_refreshes_absorbed_total").increment(n as u64);
    }
}

impl IngestQueue {
    /// Wake the merger (a log row was put back, say).
    pub fn wake_merger(&self) {
        self.appended.notify_one();
    }

    /// Commit `alerts` durably; returns once they are in the database.
    pub async fn submit(&self, alerts: Vec<IncomingAlert>) -> Result<(), IngestError> {
        if alerts.is_empty() {
            return Ok(());
        }
        check_storable(alerts.iter().enumerate())?;
        // A refresh that would only move a distant `endsAt` on is answered
        // here: no log row, no merge, and no backlog limit.
        let (alerts, extended, absorbed) =
            self.stored.absorb(alerts, self.clock.now(), self.backlog());
        count_absorbed(absorbed);
        self.submit_weighed(alerts, extended).await
    }

    /// Whether refreshes can be answered at the door at all (anything is
    /// remembered); when not, a request need not be weighed.
    pub fn may_absorb(&self) -> bool {
        !self.stored.is_empty()
    }

    /// A report as [`absorb`](Self::absorb) weighs it, from parts borrowed
    /// from its request.
    pub fn probe<P: firebell_core::alert::Labels + ?Sized>(
        &self,
        content: &refresh::Content<'_, P>,
        ends_at: Option<firebell_core::Timestamp>,
    ) -> refresh::Probe {
        self.stored.probe(content, ends_at)
    }

    /// For each report, what the door does with it: those not absorbed go
    /// to [`submit_weighed`](Self::submit_weighed). See [`refresh`].
    pub fn absorb(&self, probes: &[refresh::Probe]) -> Vec<refresh::Door> {
        let doors = self
            .stored
            .absorb_probes(probes, self.clock.now(), self.backlog());
        count_absorbed(
            doors
                .iter()
                .filter(|d| **d == refresh::Door::Absorbed)
                .count(),
        );
        doors
    }

    /// [`submit`](Self::submit) for reports the door has already weighed
    /// (the rest of a request [`absorb`](Self::absorb) did not answer) and
    /// checked for NUL characters; `extended` are the reports it would
    /// extend in place, with their tickets.
    pub async fn submit_weighed(
        &self,
        alerts: Vec<IncomingAlert>,
        extended: Vec<(IncomingAlert, refresh::Ticket)>,
    ) -> Result<(), IngestError> {
        if alerts.is_empty() && extended.is_empty() {
            return Ok(());
        }
        // Routed and encoded here, in the request's own task (in parallel
        // with other requests), so the single writer only concatenates.
        let (urgent, new_groups, alerts) = self.split_new_groups(alerts);
        // A full backlog refuses reports of known groups; a request of new
        // groups only jumps the queue anyway, so it is taken up to a margin.
        // Extensions are written in place and do not add to it.
        let backlog = self.backlog();
        let limit = match alerts.is_empty() {
            true => MAX_BACKLOG + URGENT_MARGIN,
            false => MAX_BACKLOG,
        };
        if backlog >= limit && (!alerts.is_empty() || !urgent.is_empty()) {
            metrics::counter!("firebell_ingest_rejected_total", "reason" => "backlog").increment(1);
            return Err(IngestError::Backlog(backlog));
        }
        let encode = |alerts: &[IncomingAlert]| {
            LogEntry::encode(alerts).map_err(|e| IngestError::Store(e.to_string()))
        };
        let entry = encode(&alerts)?;
        let urgent = match urgent.is_empty() {
            true => None,
            false => Some(encode(&urgent)?),
        };
        let only_new = alerts.is_empty() && extended.is_empty();
        drop(alerts);
        let extensions = extended
            .into_iter()
            .map(|(report, ticket)| {
                let stored_ends_at = ticket.stored_ends_at;
                (
                    Extension {
                        report,
                        stored_ends_at,
                    },
                    ticket,
                )
            })
            .collect();
        let (reply, done) = oneshot::channel();
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let job = Job {
            entry,
            extensions,
            urgent,
            new_groups,
            reply,
        };
        // New groups only: their own writer, unless it is that far behind.
        let job = match only_new {
            true => match self.new_groups_tx.try_send(job) {
                Ok(()) => None,
                Err(
                    mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job),
                ) => Some(job),
            },
            false => Some(job),
        };
        job.map_or(Ok(()), |job| self.tx.try_send(job))
            .inspect_err(|_| self.done(1))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!("firebell_ingest_rejected_total", "reason" => "queue_full")
                        .increment(1);
                    IngestError::Full
                }
                mpsc::error::TrySendError::Closed(_) => IngestError::Closed,
            })?;
        done.await
            .map_err(|_| IngestError::Closed)?
            .map_err(IngestError::Store)
    }

    /// Reports of groups not seen before (urgent), their groups, and the rest.
    fn split_new_groups(
        &self,
        alerts: Vec<IncomingAlert>,
    ) -> (Vec<IncomingAlert>, Vec<u64>, Vec<IncomingAlert>) {
        let policy = self.policy.policy();
        let hashed: Vec<u64> = alerts
            .iter()
            .map(|a| self.seen.hash(&route(&policy, &a.labels)[0].group_key))
            .collect();
        let mut new_groups = Vec::new();
        {
            let seen = self.seen.lock();
            for g in &hashed {
                if !seen.contains(g) && !new_groups.contains(g) {
                    new_groups.push(*g);
                }
            }
        }
        if new_groups.is_empty() {
            return (Vec::new(), new_groups, alerts);
        }
        let (mut urgent, mut rest) = (Vec::new(), Vec::with_capacity(alerts.len()));
        for (a, g) in alerts.into_iter().zip(hashed) {
            if new_groups.contains(&g) {
                urgent.push(a);
            } else {
                rest.push(a);
            }
        }
        (urgent, new_groups, rest)
    }

    /// `n` requests were answered (or never queued).
    fn done(&self, n: usize) {
        if self.in_flight.fetch_sub(n, Ordering::AcqRel) == n {
            self.idle.notify_waiters();
        }
    }

    /// Wait until no append is queued or being committed, or [`MERGE_DEFER`]
    /// passed. On SQLite appends and merges take turns on the one writer; a
    /// sender's 2xx waits for an append, nobody waits for a merge, so the
    /// merge goes in the gaps, and at least this often under a flood. The
    /// backlog limit bounds how far merging can fall behind.
    /// An urgent row committed meanwhile ends the wait too.
    async fn quiet(&self) {
        let deadline = tokio::time::Instant::now() + MERGE_DEFER;
        let urgent = self.urgent.notified();
        tokio::pin!(urgent);
        urgent.as_mut().enable();
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::select! {
                _ = &mut idle => {}
                _ = &mut urgent => return,
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Reports logged and not merged yet, as far as this process knows.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    fn merged(&self, n: u64) {
        // Saturating: another replica may have merged what this one counted.
        let _ = self
            .backlog
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(n))
            });
        metrics::gauge!("firebell_ingest_backlog").set(self.backlog() as f64);
    }

    fn set_backlog(&self, n: u64) {
        self.backlog.store(n, Ordering::Relaxed);
        metrics::gauge!("firebell_ingest_backlog").set(n as f64);
    }
}

/// Merge up to about `max` of the oldest logged reports into the alerts,
/// each at the instant it was received and routed by the live policy, in
/// transactions of about [`MERGE_CHUNK`], each after a quiet moment
/// ([`IngestQueue::quiet`]): an append never waits behind more than one, and
/// under a flood merging takes a small share of the writer.
/// Alerts of groups with an open incident are recorded there in the
/// merge's own transaction, so their rows are written once: the processor
/// neither reads them back nor marks them (see
/// [`processor::news_recorder`]); the rest stay pending for it.
/// Each batch is read, decoded, routed and merged without holding the
/// writer, the next one ([`ReadAhead`]) while this one is written. Callers
/// call again until the log is drained, so the batch after the last one is
/// read ahead into `ahead` for the next call: a drain in slices never
/// waits for a read.
pub async fn merge_logged(
    state: &Pipeline,
    max: usize,
    ahead: &mut Option<ReadAhead>,
) -> Result<Merged, StoreError> {
    let mut done = Merged::default();
    while done.reports < max {
        done.reports += merge_urgent(state).await;
        state.ingest.quiet().await;
        done.reports += merge_urgent(state).await;
        let chunk = merge_chunk(state)
            .min(max.saturating_sub(done.reports))
            .max(1);
        let batch = match ahead.take() {
            Some(next) => next.batch(state, chunk).await,
            None => read_routed(state.clone(), LogLane::Oldest, chunk, None)
                .await
                .map(|batch| (batch, Vec::new())),
        };
        let merged = match batch {
            Ok((batch, _)) if batch.is_empty() => break,
            Ok((mut batch, learned_ahead)) => {
                // The next batch is read, routed and merged while this one
                // is written: this call's, or the next call's first.
                let left = max.saturating_sub(done.reports + batch.len());
                let next = match left {
                    0 => merge_chunk(state),
                    left => merge_chunk(state).min(left),
                };
                *ahead = Some(ReadAhead::start(state, next, batch.last_seq()));
                let mut learned = Vec::new();
                let fold = fold_routed(&state.ingest.stored, &mut learned);
                let merged = merge_read(state, &mut batch, fold).await;
                if let Ok(m) = &merged {
                    let learned = if m.merged_ahead {
                        learned_ahead
                    } else {
                        learned
                    };
                    state.ingest.stored.learn(learned, state.clock.now());
                }
                merged
            }
            Err(e) => Err(e),
        };
        let MergedBatch {
            reports: merged,
            recorded,
            ..
        } = match merged {
            Ok(merged) => merged,
            // Some row of the batch is at fault: merge the oldest alone, so
            // a row that keeps failing is named, counted and set aside, and
            // the rows behind it go on.
            Err(e) if e.fault() == Fault::Row => {
                *ahead = None;
                match merge_oldest_alone(state).await? {
                    Some(merged) => merged,
                    None => continue,
                }
            }
            Err(e) => return Err(e),
        };
        if merged == 0 {
            // Another merge took these rows: read the oldest afresh.
            *ahead = None;
            continue;
        }
        done.reports += merged;
        state.ingest.merged(merged as u64);
        metrics::counter!("firebell_alerts_merged_total").increment(merged as u64);
        if !recorded.is_empty() {
            let alerts: usize = recorded.iter().map(|a| a.alerts.len()).sum();
            done.recorded += alerts;
            done.incidents += recorded.len();
            metrics::counter!("firebell_alerts_recorded_on_merge_total").increment(alerts as u64);
            state.incidents.recorded(&recorded);
        }
    }
    Ok(done)
}

/// A batch read ahead, with what its merge done ahead taught the door.
type BatchAhead = (LogBatch<RouteMatch>, Vec<refresh::Merged>);

/// The next batch of the log, being read, routed and merged by a task of
/// its own (on another core) while the current one is written. Dropped
/// unused, it is stopped.
pub struct ReadAhead(tokio::task::JoinHandle<Result<BatchAhead, StoreError>>);

impl ReadAhead {
    fn start(state: &Pipeline, max: usize, after: Option<i64>) -> Self {
        Self(tokio::spawn(read_folded(state.clone(), max, after)))
    }

    /// The batch read ahead; read again (`max` reports) if its task failed
    /// to finish.
    async fn batch(mut self, state: &Pipeline, max: usize) -> Result<BatchAhead, StoreError> {
        match (&mut self.0).await {
            Ok(batch) => batch,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => read_routed(state.clone(), LogLane::Oldest, max, None)
                .await
                .map(|batch| (batch, Vec::new())),
        }
    }
}

/// [`read_routed`] of the oldest lane, then merged ahead of its write
/// ([`Store::fold_ahead`]): the merge runs here, beside the write before
/// it, instead of inside its own transaction on SQLite's single writer.
/// Should that fail, the write merges as it would have.
async fn read_folded(
    state: Pipeline,
    max: usize,
    after: Option<i64>,
) -> Result<BatchAhead, StoreError> {
    let mut batch = read_routed(state.clone(), LogLane::Oldest, max, after).await?;
    let mut learned = Vec::new();
    let fold = fold_routed(&state.ingest.stored, &mut learned);
    if let Err(e) = state.store.fold_ahead(&mut batch, fold).await {
        tracing::debug!(error = %e, "merging a log batch ahead failed; its write merges it");
        learned.clear();
    }
    Ok((batch, learned))
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The oldest logged reports of `lane` after `after` (about `max`), read
/// without taking the writer and each routed by the live policy.
async fn read_routed(
    state: Pipeline,
    lane: LogLane,
    max: usize,
    after: Option<i64>,
) -> Result<LogBatch<RouteMatch>, StoreError> {
    let batch = state.store.read_logged_alerts(lane, max, after).await?;
    let policy = state.policy.policy();
    // `route` always answers at least the tree's root.
    Ok(batch.prepare(|report| route(&policy, &report.labels).swap_remove(0)))
}

/// Merge a batch read ahead, recording news for open incidents when this
/// replica may process ([`processor::news_recorder`]).
async fn merge_read<F>(
    state: &Pipeline,
    batch: &mut LogBatch<RouteMatch>,
    fold: F,
) -> Result<MergedBatch, StoreError>
where
    F: FnMut(
            Option<&Alert>,
            &IncomingAlert,
            &RouteMatch,
            firebell_core::Timestamp,
        ) -> (Alert, bool)
        + Send,
{
    match processor::news_recorder(&state.incidents) {
        Some(mut record) => {
            state
                .store
                .merge_read_alerts(batch, fold, Some(&mut record))
                .await
        }
        None => state.store.merge_read_alerts(batch, fold, None).await,
    }
}

/// Merge the oldest log row alone (a batch holding it failed), so that a
/// row at fault is named and its try counted ([`MAX_TRIES`], then set
/// aside). `None`: it was set aside, and the merge goes on behind it.
async fn merge_oldest_alone(state: &Pipeline) -> Result<Option<MergedBatch>, StoreError> {
    let merged = match read_routed(state.clone(), LogLane::Oldest, 1, None).await {
        Ok(mut batch) => {
            let mut learned = Vec::new();
            let merged = merge_read(
                state,
                &mut batch,
                fold_routed(&state.ingest.stored, &mut learned),
            )
            .await;
            if merged.is_ok() {
                state.ingest.stored.learn(learned, state.clock.now());
            }
            merged
        }
        Err(e) => Err(e),
    };
    match merged {
        Ok(merged) => Ok(Some(merged)),
        Err(StoreError::Row { item, source, .. }) => {
            let seq = item
                .parse::<i64>()
                .map_err(|_| StoreError::Corrupt(format!("ingest log seq {item:?}")))?;
            let tried = state
                .store
                .log_row_failed(seq, &source.to_string(), state.clock.now(), MAX_TRIES)
                .await?;
            crate::set_aside::tried(Queue::IngestLog, &item, &source, tried);
            if matches!(tried, Tried::SetAside { .. }) {
                refresh_backlog(state).await?;
                return Ok(None);
            }
            Err(StoreError::Row {
                queue: Queue::IngestLog,
                item,
                source,
            })
        }
        Err(e) => Err(e),
    }
}

/// How a logged report folds into its stored alert: routed by `policy`,
/// merged at the instant it was received. Each outcome goes to `learned`,
/// for [`StoredAlerts::learn`] once the merge commits.
fn fold_with<'a>(
    policy: &'a firebell_core::policy::Policy,
    stored: &'a StoredAlerts,
    learned: &'a mut Vec<refresh::Merged>,
) -> impl FnMut(Option<&Alert>, &IncomingAlert, firebell_core::Timestamp) -> (Alert, bool) + Send + 'a
{
    let mut fold = fold_routed(stored, learned);
    move |existing, incoming, received_at| {
        fold(
            existing,
            incoming,
            &route(policy, &incoming.labels)[0],
            received_at,
        )
    }
}

/// [`fold_with`] for a report routed already ([`read_routed`]).
fn fold_routed<'a>(
    stored: &'a StoredAlerts,
    learned: &'a mut Vec<refresh::Merged>,
) -> impl FnMut(Option<&Alert>, &IncomingAlert, &RouteMatch, firebell_core::Timestamp) -> (Alert, bool)
+ Send
+ 'a {
    move |existing, incoming, routed, received_at| {
        let (alert, pending) = merge(existing, incoming, routed, received_at);
        learned.push(stored.merged(incoming, received_at, &alert));
        (alert, pending)
    }
}

/// Merge the urgent log rows (new groups' first reports) and hand their
/// alerts to the processor's fast lane, waking it. Returns how many reports. A failure
/// is left to the oldest-first merge, which reaches the same row in order and
/// counts its tries there.
pub async fn merge_urgent(state: &Pipeline) -> usize {
    let mut learned = Vec::new();
    let merged = match read_routed(state.clone(), LogLane::Urgent, MERGE_CHUNK, None).await {
        // Written as they are, pending: the fast lane declares them next.
        Ok(mut batch) => {
            let fold = fold_routed(&state.ingest.stored, &mut learned);
            state.store.merge_read_alerts(&mut batch, fold, None).await
        }
        Err(e) => Err(e),
    };
    match merged {
        Ok(merged) if merged.reports == 0 => 0,
        Ok(merged) => {
            state.ingest.stored.learn(learned, state.clock.now());
            let n = merged.reports;
            state.ingest.merged(n as u64);
            hand_to_fast_lane(state, merged.alerts);
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "merging urgent log rows failed; they merge in log order instead");
            0
        }
    }
}

/// Alerts of new groups, merged: count them, and hand them to the
/// processor's fast lane, waking it.
fn hand_to_fast_lane(state: &Pipeline, merged: Vec<Alert>) {
    if merged.is_empty() {
        // An append of extensions only: nothing for the fast lane.
        return;
    }
    let n = merged.len() as u64;
    metrics::counter!("firebell_alerts_merged_total").increment(n);
    metrics::counter!("firebell_alerts_merged_urgent_total").increment(n);
    // Bounded: past it (a processor that is held, a flood of new groups)
    // the alerts still wait, pending, for its next batch.
    let mut urgent = state.urgent.lock().unwrap_or_else(|e| e.into_inner());
    let room = MAX_URGENT_KEYS.saturating_sub(urgent.len());
    urgent.extend(merged.into_iter().take(room).map(|a| UrgentAlert {
        group_key: a.group_key,
        key: a.key,
    }));
    state.fast_lane.notify_one();
}

/// Commit a writer's batch. New groups' reports, when there are few
/// enough to keep the append short, are merged in the same transaction
/// (returned: the fast lane takes them without a write of its own);
/// otherwise, and where the store does not merge on append (see
/// [`Store::log_alerts_merging_urgent`]), they are only logged (`None`).
/// Refreshes' extensions are written in place in the same transaction,
/// where the store can; those it does not write are logged.
async fn log_batch(
    state: &Pipeline,
    now: firebell_core::Timestamp,
    entries: &[LogEntry],
    urgent: &[LogEntry],
    urgent_count: usize,
    extensions: &[Extension],
) -> Result<Appended, StoreError> {
    if urgent.is_empty() && extensions.is_empty() {
        state.store.log_alerts(now, entries, urgent).await?;
        return Ok(Appended::default());
    }
    if urgent_count > MERGE_CHUNK {
        // Too many new groups' reports to merge in an append: all logged.
        let rest = Extension::log_entry(extensions)?;
        let all: Vec<LogEntry> = entries.iter().cloned().chain([rest]).collect();
        state.store.log_alerts(now, &all, urgent).await?;
        return Ok(Appended {
            merged: None,
            extended: vec![false; extensions.len()],
        });
    }
    let policy = state.policy.policy();
    let mut learned = Vec::new();
    let fold = fold_with(&policy, &state.ingest.stored, &mut learned);
    let appended = state
        .store
        .log_alerts_merging_urgent(now, entries, urgent, extensions, fold)
        .await?;
    if appended.merged.is_some() {
        state.ingest.stored.learn(learned, state.clock.now());
    }
    Ok(appended)
}

/// How much to merge in the next transaction: less while senders wait.
fn merge_chunk(state: &Pipeline) -> usize {
    if state.store.backend() == firebell_store::Backend::Postgres {
        return MERGE_CHUNK_SHARED;
    }
    if state.ingest.in_flight.load(Ordering::Acquire) > 0 {
        MERGE_CHUNK
    } else {
        MERGE_CHUNK_QUIET
    }
}

/// Read-your-writes for alert reads: merge what the log holds before reading,
/// for at most [`SETTLE_LIMIT`] (under a storm the read then answers with
/// what is merged so far rather than wait for senders to stop). A log row
/// at fault stops the settling, not the read: its try is counted, and the
/// read answers with what is merged.
pub async fn settle(state: &Pipeline) -> Result<(), StoreError> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut ahead = None;
    loop {
        match merge_logged(state, processor::CLAIM as usize, &mut ahead).await {
            Ok(Merged { reports: 0, .. }) => return Ok(()),
            Ok(_) => state.wake.notify_one(),
            Err(e) if e.fault() == Fault::Row => return Ok(()),
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Ok(());
        }
    }
}

/// How often the merger looks at the log without being woken (rows appended
/// by other replicas).
const MERGE_POLL: Duration = Duration::from_secs(1);

/// The merger task: fold the ingest log into the alerts as it grows, waking
/// the processor after each slice. A task of its own, so merging the next
/// slice overlaps with processing the last one. Runs until dropped.
pub async fn run_merger(state: Pipeline) {
    // Ready before the first merge needs it; the server answers meanwhile.
    if let Err(e) = state.store.open_alerts().await {
        tracing::error!(error = %e, "could not read where the alerts are; the first merge tries again");
    }
    // What the log holds at start (a restart's backlog) is merged at once,
    // not after the first poll.
    loop {
        let mut ahead = None;
        loop {
            match merge_logged(&state, processor::CLAIM as usize, &mut ahead).await {
                Ok(Merged { reports: 0, .. }) => break,
                Ok(_) => state.wake.notify_one(),
                Err(e) => {
                    tracing::error!(error = %e, "merging the ingest log failed; retrying next round");
                    metrics::counter!("firebell_alert_processing_errors_total").increment(1);
                    break;
                }
            }
        }
        if let Err(e) = refresh_backlog(&state).await {
            tracing::warn!(error = %e, "could not read the ingest backlog");
        }
        tokio::select! {
            _ = state.ingest.appended.notified() => {}
            _ = tokio::time::sleep(MERGE_POLL) => {}
        }
    }
}

/// Set the backlog from the database (at start, and after each processing
/// round, since other replicas merge this one's rows too).
pub async fn refresh_backlog(state: &Pipeline) -> Result<(), StoreError> {
    let n = state.store.logged_alert_backlog().await?;
    state.ingest.set_backlog(n);
    Ok(())
}

/// A writer task: drain, route, merge, commit, answer. Runs until every
/// sender is gone. Two run: one for every request, one for requests of new
/// groups' reports only (see the module's docs).
pub async fn run_writer(state: Pipeline, WriterQueue(mut rx): WriterQueue) {
    while let Some(first) = rx.recv().await {
        let size = |job: &Job| {
            job.entry.len() + job.extensions.len() + job.urgent.as_ref().map_or(0, LogEntry::len)
        };
        let mut count = size(&first);
        let mut jobs = vec![first];
        while count < MAX_BATCH_ALERTS {
            match rx.try_recv() {
                Ok(job) => {
                    count += size(&job);
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut entries = Vec::with_capacity(jobs.len());
        let mut urgent = Vec::new();
        let mut new_groups = Vec::new();
        let (mut extensions, mut tickets) = (Vec::new(), Vec::new());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            entries.push(job.entry);
            for (extension, ticket) in job.extensions {
                extensions.push(extension);
                tickets.push(ticket);
            }
            urgent.extend(job.urgent);
            new_groups.extend(job.new_groups);
            replies.push(job.reply);
        }
        let now = state.clock.now();
        let urgent_count: usize = urgent.iter().map(LogEntry::len).sum();
        let result = log_batch(&state, now, &entries, &urgent, urgent_count, &extensions).await;
        drop(entries);
        drop(extensions);
        metrics::histogram!("firebell_ingest_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("firebell_ingest_batch_alerts").record(count as f64);
        let outcome = match result {
            Ok(Appended { merged, extended }) => {
                let in_place = extended.iter().filter(|w| **w).count();
                metrics::counter!("firebell_alerts_received_total")
                    .increment((count - in_place) as u64);
                if in_place > 0 {
                    metrics::counter!("firebell_alerts_refreshes_extended_total")
                        .increment(in_place as u64);
                }
                state.ingest.stored.extended(&tickets, &extended);
                let logged = match merged {
                    Some(merged) => {
                        hand_to_fast_lane(&state, merged);
                        count - urgent_count - in_place
                    }
                    None => count - in_place,
                };
                state
                    .ingest
                    .backlog
                    .fetch_add(logged as u64, Ordering::Relaxed);
                if !urgent.is_empty() {
                    state.ingest.seen.remember(&new_groups);
                    state.ingest.urgent.notify_one();
                    state.fast_lane.notify_one();
                }
                // Extensions written in place log nothing: woken, the merger
                // would only read an empty log and count it.
                if logged > 0 {
                    state.ingest.appended.notify_one();
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, alerts = count, "ingest batch failed; senders get 503");
                Err(e.to_string())
            }
        };
        let answered = replies.len();
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
        state.ingest.done(answered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use firebell_core::alert::AlertSource;

    fn report() -> IncomingAlert {
        IncomingAlert {
            source: AlertSource::Alertmanager,
            key: "k".into(),
            labels: [("alertname".to_string(), "A".to_string())].into(),
            annotations: Default::default(),
            starts_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            ends_at: None,
            generator_url: None,
            service: None,
            severity: None,
        }
    }

    fn demo_policy() -> PolicyHandle {
        PolicyHandle::load(
            crate::PolicySource::Demo,
            "2026-11-23T10:00:00Z".parse().unwrap(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_full_backlog_refuses_with_429_and_queues_nothing() {
        let (
            queue,
            IngestReceiver {
                all: WriterQueue(mut rx),
                ..
            },
        ) = queue(demo_policy(), Arc::new(crate::clock::SystemClock));
        // The report's group is known: the limit applies to it.
        let (_, groups, _) = queue.split_new_groups(vec![report()]);
        queue.seen.remember(&groups);
        queue.set_backlog(MAX_BACKLOG);
        let refused = queue.submit(vec![report()]).await;
        assert!(
            matches!(refused, Err(IngestError::Backlog(MAX_BACKLOG))),
            "{refused:?}"
        );
        assert!(rx.try_recv().is_err(), "nothing was queued");
        // Except a new group's report, past the limit up to a margin.
        let (
            queue2,
            IngestReceiver {
                new_groups: WriterQueue(mut rx2),
                ..
            },
        ) = super::queue(demo_policy(), Arc::new(crate::clock::SystemClock));
        queue2.set_backlog(MAX_BACKLOG);
        let taken = tokio::spawn({
            let queue2 = queue2.clone();
            async move { queue2.submit(vec![report()]).await }
        });
        let job = loop {
            if let Ok(job) = rx2.try_recv() {
                break job;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(job.entry.len(), 0);
        assert_eq!(
            job.urgent.as_ref().map(LogEntry::len),
            Some(1),
            "a group not seen before is urgent"
        );
        job.reply.send(Ok(())).unwrap();
        queue2.done(1);
        taken.await.unwrap().unwrap();
        queue2.seen.remember(&job.new_groups);
        assert!(
            matches!(
                queue2.submit(vec![report()]).await,
                Err(IngestError::Backlog(_))
            ),
            "once its group is known, the limit applies"
        );
        queue2.set_backlog(MAX_BACKLOG + URGENT_MARGIN);
        let other = IncomingAlert {
            labels: [("alertname".to_string(), "B".to_string())].into(),
            ..report()
        };
        assert!(matches!(
            queue2.submit(vec![other]).await,
            Err(IngestError::Backlog(_))
        ));
        assert_eq!(queue.in_flight.load(Ordering::Acquire), 0);
        let response = crate::error::ApiError::from(refused.unwrap_err()).into_response();
        assert_eq!(response.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "5");

        // Below the limit it is queued (and counted in flight until answered).
        queue.set_backlog(MAX_BACKLOG - 1);
        let pending = tokio::spawn({
            let queue = queue.clone();
            async move { queue.submit(vec![report()]).await }
        });
        let job = loop {
            if let Ok(job) = rx.try_recv() {
                break job;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(job.entry.len(), 1);
        assert!(job.urgent.is_none(), "a known group is not urgent");
        assert_eq!(queue.in_flight.load(Ordering::Acquire), 1);
        job.reply.send(Ok(())).unwrap();
        queue.done(1);
        pending.await.unwrap().unwrap();
        assert_eq!(queue.in_flight.load(Ordering::Acquire), 0);
    }
}
