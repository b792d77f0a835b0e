//! Firebell's persistence: one interface, two backends.
//!
//! - SQLite (the default): one file, WAL, `synchronous=FULL`, one writer
//!   connection so writers never fight over the lock, a small pool of readers.
//! - PostgreSQL (`postgres://…`): the same schema, for several replicas.
//!
//! [`Store`] is an enum rather than a trait object: two backends are known at
//! compile time, and `match` keeps async simple. Every statement is written
//! once, under `src/sql/`, and compiled against each backend's concrete types
//! (see `backend/mod.rs`). Each backend has forward-only migrations under
//! `migrations/<backend>/`: the DDL is where their dialects really differ.
//! Instants are INTEGER milliseconds since the epoch (text does not sort).
//!
//! What it keeps: incidents (an event log plus a projection for lists), API
//! tokens, alerts and the mapping from alert groups to their open incident,
//! silences, maintenance windows, change events, and on-call schedule
//! overrides.
//!
//! The alert pipeline is shaped by its transactions, so nothing acknowledged
//! is lost and nothing is done twice:
//!
//! 1. Ingest: [`Store::log_alerts`] appends a whole batch of reports from
//!    many requests to the ingest log in one statement (group commit);
//!    senders get their 2xx after it. [`Store::merge_logged_alerts`] then
//!    folds the oldest log rows into `alerts` and deletes them in one
//!    transaction. A change the processor must see marks the alert `pending`.
//!    New groups' first reports may instead be merged as they are logged,
//!    in the append's transaction ([`Store::log_alerts_merging_urgent`]).
//! 2. Processing: [`Store::pending_alerts`], then per group either
//!    [`Store::create_incident_for_group`], [`Store::append`] (with the
//!    alerts) or [`Store::mark_alerts_processed`]: the incident write and "these alerts
//!    are processed" commit together. An alert re-reported meanwhile stays
//!    pending (its `updated_at` moved), so the next round sees the news.
//! 3. Expiry: [`Store::sweep_expired_alerts`] makes alerts whose `ends_at`
//!    passed pending again, since a resolved Prometheus alert simply stops
//!    being refreshed; [`Store::repend_unattached_firing_alerts`] does the
//!    same for firing alerts a lapsed silence or maintenance window held back.
//! 4. Resolution: resolving an incident releases its group in the same
//!    transaction, so the group's next firing alert opens a new incident.

mod alert_ids;
mod backend;
mod codec;
mod error;
mod outbox;
mod overrides;
mod retention;
mod set_aside;
mod types;

pub use backend::{Lane, in_lane};
pub use codec::{AlertGroup, Appended, Extension, LogBatch, LogEntry, MergedBatch};
pub use error::{Fault, Outage, StoreError};
pub use outbox::{Completion, Notification, NotificationState};
pub use overrides::{NewOverride, OverrideRecord};
pub use retention::{PruneBefore, Pruned};
pub use types::*;

use firebell_core::alert::{Alert, IncomingAlert, MaintenanceWindow, Silence};
use firebell_core::escalation::Due;
use firebell_core::{Event, Incident, Timestamp};

/// The database behind Firebell.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(backend::sqlite::SqliteStore),
    Postgres(backend::postgres::PgStore),
}

/// Dispatch a call to whichever backend this store is.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

/// Define each `pub async fn name(&self, args…) -> R;` on [`Store`] as a
/// call of the same method on whichever backend this store is. The
/// backends' methods are written once, under `src/sql/`.
macro_rules! forward {
    ($($(#[$doc:meta])* pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    dispatch!(self, s => s.$name($($arg),*).await)
                }
            )*
        }
    };
}

impl Store {
    /// Open (creating if needed) and migrate the database at `url`:
    /// `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:` or `postgres://…`.
    /// A `postgres` URL may carry `?schema=NAME` (created if missing) so tests
    /// can each have their own schema.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(
                backend::postgres::PgStore::connect(url).await?,
            ))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(
                backend::sqlite::SqliteStore::connect(url).await?,
            ))
        } else {
            Err(StoreError::InvalidUrl(format!(
                "unsupported database URL {url:?}: expected sqlite:PATH or postgres://…"
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Fault injection for tests that cannot fill a real disk: a SQLite
    /// database answers `SQLITE_FULL` once it would grow past `pages` pages
    /// (`None`: no limit again). Nothing on PostgreSQL.
    #[cfg(feature = "fault-injection")]
    pub async fn limit_sqlite_pages(&self, pages: Option<u32>) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.limit_pages(pages).await,
            Store::Postgres(_) => Ok(()),
        }
    }

    /// Close the pools, waiting for in-flight work.
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// Merge the oldest ingest-log rows (whole rows, at least one, about
    /// `max_alerts` reports) into the alerts, and delete them, in ONE
    /// transaction (on PostgreSQL under the `alerts` lock, so replicas merge
    /// one at a time and never the same row twice). The stored alerts with
    /// the batch's keys are loaded, then for each report in log order
    /// `merge(stored, report, received_at)` returns the merged alert and
    /// whether the processor must look at it (`pending`); a key reported
    /// twice merges into the batch's own earlier result. Every merged alert
    /// is written with multi-row upserts.
    ///
    /// Returns one alert per report, in log order: what that report merged
    /// into (for a repeated key, the last is what is stored); empty when the
    /// log is. Instants are kept to the millisecond, as everywhere in the
    /// store; the returned alerts are already truncated, so they equal what a
    /// later read returns. `pending` is sticky: a report whose merge says
    /// `false` never clears a change the processor has not seen yet. A merge
    /// that changes the key is refused ([`StoreError::Corrupt`]) and nothing
    /// is written or deleted. `merge` runs inside the write transaction, so
    /// it should be pure and quick.
    pub async fn merge_logged_alerts<F>(
        &self,
        max_alerts: usize,
        merge: F,
    ) -> Result<Vec<Alert>, StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
    {
        dispatch!(self, s => s.merge_logged_alerts(max_alerts, merge).await)
    }

    /// The oldest ingest-log rows of `lane` after `after` (whole rows, at
    /// least one, about `max_alerts` reports), read and decoded without
    /// taking the writer or claiming them: for [`Store::merge_read_alerts`],
    /// which merges those that are still there. Empty when there are none.
    /// A row read alone that cannot be decoded is named ([`StoreError::Row`]).
    pub async fn read_logged_alerts(
        &self,
        lane: LogLane,
        max_alerts: usize,
        after: Option<i64>,
    ) -> Result<LogBatch, StoreError> {
        dispatch!(self, s => s.read_logged_alerts(lane, max_alerts, after).await)
    }

    /// Merge a batch read ahead before its write, without taking the
    /// writer: against the stored alerts a read sees now, with no results
    /// kept. Its write ([`Store::merge_read_alerts`]) keeps it if nothing
    /// it started from changed meanwhile, so the merge runs beside the
    /// write before it rather than inside its own transaction. `merge` must
    /// be the write's: a pure function of the stored alert and the report.
    pub async fn fold_ahead<P, F>(
        &self,
        batch: &mut LogBatch<P>,
        merge: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, &P, Timestamp) -> (Alert, bool) + Send,
    {
        dispatch!(self, s => s.fold_ahead(batch, merge).await)
    }

    /// [`Store::merge_logged_alerts`] for rows read ahead
    /// ([`Store::read_logged_alerts`]): in one transaction, it deletes those
    /// of `batch`'s rows that are still in the log (another merge may have
    /// taken some meanwhile) and merges their reports, each with what the
    /// caller prepared from it. Urgent rows are written in the pipeline's
    /// lane, the rest as bulk.
    ///
    /// On PostgreSQL, a batch whose reports name their groups
    /// ([`AlertGroup`], a few groups) locks only those: merges and
    /// declarations of other groups run beside it. Should a stored alert
    /// lie in another group (it moved with a policy change), the merge is
    /// undone and done again under the whole `alerts` lock.
    ///
    /// With `record`, the news for open incidents is written in the same
    /// transaction: for each alert group with pending alerts in the batch
    /// and an open incident, `record` is asked for that incident's change
    /// ([`RecordNews`]), and it is written with its alerts written already
    /// processed: once, instead of merged, read back and marked by a second
    /// write. A change that cannot be written (its incident moved on, say)
    /// is left out and its alerts stay pending: this never fails the merge.
    ///
    /// A merge done ahead ([`Store::fold_ahead`]) is kept, rather than
    /// calling `merge`, when every row of the batch is still logged, news
    /// is recorded, and the alerts stored now are those it started from
    /// ([`MergedBatch::merged_ahead`]).
    pub async fn merge_read_alerts<P, F>(
        &self,
        batch: &mut LogBatch<P>,
        merge: F,
        record: Option<RecordNews<'_>>,
    ) -> Result<MergedBatch, StoreError>
    where
        P: AlertGroup + Sync,
        F: FnMut(Option<&Alert>, &IncomingAlert, &P, Timestamp) -> (Alert, bool) + Send,
    {
        dispatch!(self, s => s.merge_read_alerts(batch, merge, record).await)
    }

    /// [`Store::log_alerts`], with the `urgent` entries (new groups' first
    /// reports) merged into `alerts` in the same transaction, so a new
    /// group's alerts are pending for the processor when senders get their
    /// 2xx and its incident waits for no second write; and the
    /// `extensions` (refreshes that only move a firing alert's `endsAt`
    /// later) written in place, each a narrow update instead of a log row,
    /// a merge and a rewrite of the whole row.
    ///
    /// The urgent alerts merged are `None` when they were only logged, for
    /// a merge of the urgent lane ([`LogLane::Urgent`]) to take; an
    /// extension whose stored `endsAt` is not the one given is logged
    /// instead. Nothing is merged or extended in place on PostgreSQL, whose
    /// appends never wait for the alerts lock (and where another replica
    /// may be merging the same alert); on SQLite while the key map loads at
    /// start; or when the merge failed (the log's merge then counts the
    /// fault against the row, and the append still commits).
    pub async fn log_alerts_merging_urgent<F>(
        &self,
        received_at: Timestamp,
        entries: &[LogEntry],
        urgent: &[LogEntry],
        extensions: &[Extension],
        merge: F,
    ) -> Result<Appended, StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
    {
        dispatch!(self, s => s.log_alerts_merging_urgent(received_at, entries, urgent, extensions, merge).await)
    }
}

/// What a declaring write also writes once the new incident has its id
/// (which its notifications name): the duties already due, above all the
/// first page, as an [`Append`] to the new state. One commit then takes a
/// new incident all the way to a queued page, instead of a second and third
/// write by the scheduler's next round. `None`: nothing is due.
pub type FirstDuties<'a> = &'a (dyn Fn(&Incident) -> Option<Append> + Sync);

/// Asked, inside a merge's transaction, for the change an open incident
/// records for its group's alerts that the merge made pending (see
/// [`Store::merge_read_alerts`]): the incident as stored, and
/// those alerts as merged. `None`: nothing to write, the alerts stay pending.
/// The change's `alerts` are the marks written with it.
pub type RecordNews<'a> = &'a mut (dyn FnMut(&Incident, &[&Alert]) -> Option<Append> + Send);

/// Which log rows a merge takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLane {
    /// The oldest rows, urgent or not.
    Oldest,
    /// Only rows flagged urgent.
    Urgent,
}

// Every other operation: the same signature on each backend's handle.
forward! {
    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError>;

    /// The database server's clock: the reference replicas measure their
    /// own clocks against (see the server's clock guard).
    pub async fn database_time(&self) -> Result<Timestamp, StoreError>;

    /// Create an incident in one transaction: allocate the next number of the
    /// day `id_stem` (e.g. `INC-20261123`), format the id as
    /// `{id_stem}-{n:0digits}`, and write the state (with that id), its first
    /// events and its timers. Ids are gap-free per stem. Returns the state as
    /// stored.
    /// `first` is asked, once the incident has its id, for the duties due at
    /// declaration (see [`FirstDuties`]), written in the same transaction;
    /// the state returned is after them.
    pub async fn create_incident(
        &self,
        id_stem: &str,
        digits: u8,
        new: &NewIncident,
        first: FirstDuties<'_>,
    ) -> Result<Incident, StoreError>;

    /// Write one change to an incident ([`Append`]) if it is still at
    /// `expected_version`; otherwise nothing is written and
    /// [`StoreError::Conflict`] says the current version. When the state is
    /// resolved, the incident's alert groups are released in the same
    /// transaction (see [`Store::open_incident_for_group`]); alerts it
    /// processed stay pending if the write is refused.
    pub async fn append(&self, append: &Append) -> Result<(), StoreError>;

    /// Many appends in one transaction, written table by table; returns
    /// the indexes of those that lost a race (their incident moved on or is
    /// gone; nothing of them was written).
    pub async fn append_batch(&self, appends: &[Encoded]) -> Result<Vec<usize>, StoreError>;

    /// Replace an incident's timers (after a policy change, or when a due
    /// timer turned out to have nothing to fire) if it is still at
    /// `version`; false if it moved on (its newer write planned its own).
    pub async fn replace_timers(
        &self,
        id: &str,
        version: u64,
        timers: &[Due],
    ) -> Result<bool, StoreError>;

    /// Claim, for `token` until `lease`, the incidents of the `limit`
    /// earliest due timers, with all their timers; incidents another
    /// scheduler or a command holds are skipped. Empty when nothing is due.
    pub async fn claim_due_incidents(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<String>, StoreError>;

    /// Ids of every incident not resolved (to rewrite their timers after a
    /// policy change).
    pub async fn open_incident_ids(&self) -> Result<Vec<String>, StoreError>;

    /// Open incidents, and resolved ones with timers or follow-ups still to
    /// do: those whose timers a policy change may move.
    pub async fn incident_ids_with_duties(&self) -> Result<Vec<String>, StoreError>;

    /// When a recurring duty is owed from (recorded the first time asked).
    pub async fn duty_since(&self, duty: &str, now: Timestamp) -> Result<Timestamp, StoreError>;

    /// When a recurring duty is owed from, if it was ever asked (a read).
    pub async fn known_duty_since(&self, duty: &str) -> Result<Option<Timestamp>, StoreError>;

    /// Record a run of a recurring duty, for `occurrence`.
    pub async fn record_duty_run(
        &self,
        duty: &str,
        occurrence: Timestamp,
        outcome: DutyOutcome,
        notes: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<DutyRun, StoreError>;

    /// Runs of one duty (or all), newest occurrence first.
    pub async fn duty_runs(&self, duty: Option<&str>, limit: u32) -> Result<Vec<DutyRun>, StoreError>;

    /// Queue duty messages, each once per `intent_key`; how many were new.
    pub async fn queue_duty_messages(&self, messages: &[NewDutyMessage], now: Timestamp) -> Result<u64, StoreError>;

    /// Whether a duty message with this key was ever queued.
    pub async fn duty_message_queued(&self, intent_key: &str) -> Result<bool, StoreError>;

    /// Claim duty messages due at `now` until `lease`.
    pub async fn claim_duty_messages(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<DutyMessage>, StoreError>;

    /// How a claimed duty message went; false if the claim was lost.
    pub async fn complete_duty_message(
        &self,
        id: &str,
        token: &str,
        completion: &Completion,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// A duty's messages, of one occurrence or all, newest first.
    pub async fn duty_messages(
        &self,
        duty: &str,
        occurrence: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<DutyMessage>, StoreError>;

    /// Postmortems past due and unpublished, action items past due and open.
    pub async fn count_overdue_follow_ups(&self, now: Timestamp) -> Result<(i64, i64), StoreError>;

    /// Action items across incidents, soonest due first.
    pub async fn list_action_items(&self, filter: &ActionItemFilter) -> Result<Vec<ActionItemRow>, StoreError>;

    /// Postmortems across incidents, soonest due first.
    pub async fn list_postmortems(&self, filter: &PostmortemFilter) -> Result<Vec<PostmortemRow>, StoreError>;

    /// Each service of each incident resolved since `since`, with its
    /// severity and span: the history status-page uptime is computed from
    /// (open incidents are read live).
    pub async fn incident_spans(&self, since: Timestamp) -> Result<Vec<firebell_core::status_page::Span>, StoreError>;

    /// Take or renew the lease `name` for `holder` until `until`; false if
    /// another holder's lease is still running at `now`. Singleton duties
    /// (health checks, the heartbeat monitor) run only on the holder.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Give up the lease `name` if `holder` holds it, so another replica
    /// takes the duty at once instead of when the lease runs out.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Delete resolved alerts (not holding an open incident's history),
    /// expired silences, ended maintenance windows and change records that
    /// ended before the cutoffs, in chunks.
    pub async fn prune(&self, before: &PruneBefore) -> Result<Pruned, StoreError>;

    /// The earliest timer, claimed or not.
    pub async fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Count a failed merge of log row `seq` (it failed alone, see
    /// [`StoreError::Row`]); at `max_tries` the row is set aside and no
    /// longer holds up the log.
    pub async fn log_row_failed(
        &self,
        seq: i64,
        error: &str,
        now: Timestamp,
        max_tries: u32,
    ) -> Result<Tried, StoreError>;

    /// Count a failed firing of an incident's timers claimed under `token`,
    /// and hold them until `retry_at`; at `max_tries` they are set aside. A
    /// later write of the incident plans its timers afresh.
    pub async fn timers_failed(
        &self,
        incident_id: &str,
        token: &str,
        error: &str,
        now: Timestamp,
        retry_at: Timestamp,
        max_tries: u32,
    ) -> Result<Tried, StoreError>;

    /// Set aside a claimed notification whose outcome cannot be recorded
    /// (trying again would page again): at once, whatever its attempts.
    pub async fn notification_failed(
        &self,
        id: &str,
        token: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<Tried, StoreError>;

    /// When the oldest row of each queue was due: the earliest unmerged
    /// report, the earliest timer, the earliest notification due or whose
    /// claim lapses. `None` for an empty queue.
    pub async fn queue_heads(&self) -> Result<Vec<(Queue, Option<Timestamp>)>, StoreError>;

    /// Set-aside rows, oldest first, of one queue or all.
    pub async fn list_set_aside(
        &self,
        queue: Option<Queue>,
        limit: u32,
    ) -> Result<Vec<SetAside>, StoreError>;

    /// Rows set aside, per queue (every queue, zeros included).
    pub async fn count_set_aside(&self) -> Result<Vec<(Queue, u64)>, StoreError>;

    /// Put a set-aside row back in its queue, due now (a log row at the end
    /// of the log, keeping its receive time); `None` if there is no such row.
    pub async fn retry_set_aside(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<SetAside>, StoreError>;

    /// Drop a set-aside row for good; false if there is no such row.
    pub async fn discard_set_aside(&self, id: i64) -> Result<bool, StoreError>;

    /// Claim notifications due for delivery (and ones whose sender's lease lapsed).
    pub async fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Record a delivery's outcome with its timeline event and follow-up
    /// intents; `false` if the claim was lost meanwhile. A page that failed
    /// and would be retried is cancelled if the incident was acknowledged
    /// meanwhile. The event does not change the incident's agenda, so its
    /// timers stay as they are.
    pub async fn complete_notification(
        &self,
        n: &Notification,
        token: &str,
        completion: &Completion,
        follow_up: &[firebell_core::escalation::Intent],
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Notifications, newest first, of one incident or of all.
    pub async fn list_notifications(
        &self,
        incident_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// A server-wide setting, set to `value` by whoever asks first.
    pub async fn setting_or_init(&self, key: &str, value: &str) -> Result<String, StoreError>;

    /// Every event of an incident in `seq` order; empty if there is no such incident.
    pub async fn load_events(&self, id: &str) -> Result<Vec<Event>, StoreError>;

    /// The stored projection of an incident (what lists show).
    pub async fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError>;

    /// The stored projections of these incidents, by id; missing ones are
    /// left out.
    pub async fn get_incidents(&self, ids: &[String]) -> Result<Vec<Incident>, StoreError>;

    /// Incidents matching `filter`, newest declaration first, `limit` per page.
    pub async fn list_incidents(&self, filter: &IncidentFilter) -> Result<IncidentPage, StoreError>;

    /// Number of incidents per status (for metrics).
    pub async fn count_incidents_by_status(&self) -> Result<Vec<(String, i64)>, StoreError>;

    pub async fn create_token(&self, token: &NewToken) -> Result<TokenRecord, StoreError>;

    /// The live (not revoked) token with this hash.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revoke by id; returns false if no live token had that id.
    pub async fn revoke_token(&self, id: i64, at: jiff::Timestamp) -> Result<bool, StoreError>;

    /// Count of all tokens ever created (revoked included): zero means a fresh
    /// database, which is when the first admin token is minted.
    pub async fn count_tokens(&self) -> Result<i64, StoreError>;

    /// Start a console session.
    pub async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// The session whose secret hashes to `id_hash`, if it has not expired
    /// by `now` and its token is not revoked.
    pub async fn session_by_hash(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>, StoreError>;

    /// Set or replace a person's console password (ending the sessions
    /// made with the old one).
    pub async fn set_password(&self, password: &PasswordRecord) -> Result<(), StoreError>;

    /// A person's console password, if one is set.
    pub async fn password_of(&self, person: &str) -> Result<Option<PasswordRecord>, StoreError>;

    /// Remove a person's console password and their sessions.
    pub async fn remove_password(&self, person: &str) -> Result<bool, StoreError>;

    /// End a session (and forget every session expired by `now`).
    pub async fn delete_session(&self, id_hash: &str, now: Timestamp) -> Result<(), StoreError>;

    // --- alerts --------------------------------------------------------------

    /// Make this process the one that writes the alerts: on SQLite, lock
    /// the file against a second server (see `alert_ids`); a server does it
    /// before serving. Nothing on PostgreSQL.
    pub async fn lock_alerts(&self) -> Result<(), StoreError>;

    /// Get the alerts ready to write: on SQLite, lock as [`Store::lock_alerts`]
    /// and read the key → id map (about 3 s at a million alerts); done on
    /// first use otherwise, and by the merger as it starts.
    pub async fn open_alerts(&self) -> Result<(), StoreError>;

    /// Append encoded reports ([`LogEntry::encode`]) to the ingest log in one
    /// statement: once this returns they are durable, and a sender may be
    /// told so. Nothing is merged yet; [`Store::merge_logged_alerts`] does
    /// that, in log order, and a merge of [`LogLane::Urgent`] takes the
    /// `urgent` entries ahead of it.
    pub async fn log_alerts(
        &self,
        received_at: Timestamp,
        entries: &[LogEntry],
        urgent: &[LogEntry],
    ) -> Result<(), StoreError>;

    /// Those of these alerts that are pending, least recently updated first
    /// (the processor takes a new group's alerts ahead of the rest).
    pub async fn pending_alerts_by_key(&self, keys: &[String]) -> Result<Vec<Alert>, StoreError>;

    /// Reports in the ingest log not merged yet.
    pub async fn logged_alert_backlog(&self) -> Result<u64, StoreError>;

    /// Up to `limit` pending alerts (0: up to 10,000), least recently updated
    /// first, so a busy alert cannot starve a quiet one.
    pub async fn pending_alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError>;

    /// Mark pending every alert last processed as firing whose `ends_at` is at
    /// or before `now` (and that is not pending already): the sender stopped
    /// refreshing it, so it resolved. Returns how many.
    pub async fn sweep_expired_alerts(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Mark pending every alert firing at `now` that is not attached to an
    /// open incident (no incident, or a resolved one) and is not pending
    /// already. For when a silence or maintenance window lapses: the alerts it
    /// held back are news again. Returns how many.
    pub async fn repend_unattached_firing_alerts(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// The open incident of an alert group, if it has one.
    pub async fn open_incident_for_group(
        &self,
        group_key: &str,
    ) -> Result<Option<String>, StoreError>;

    /// [`Store::create_incident`] for an alert group, in one transaction that
    /// also makes it the group's open incident and marks `alerts` processed
    /// (as [`Store::mark_alerts_processed`], with their `incident_id` set to
    /// the new incident whatever they carry). If the group already has an
    /// open incident nothing is written, no number is used up, and
    /// [`StoreError::GroupTaken`] names it: attach to that one instead.
    pub async fn create_incident_for_group(
        &self,
        id_stem: &str,
        digits: u8,
        group_key: &str,
        new: &NewIncident,
        alerts: &[ProcessedAlert],
        first: FirstDuties<'_>,
    ) -> Result<Incident, StoreError>;

    /// Mark alerts processed that lead to no incident (silenced, in
    /// maintenance, below the paging threshold). Each is updated only if its
    /// `updated_at` is still `seen_updated_at`: an alert re-reported while it
    /// was being processed stays pending. `incident_id: None` keeps the
    /// stored one; `Some` must name an existing incident (a foreign key).
    pub async fn mark_alerts_processed(&self, alerts: &[ProcessedAlert]) -> Result<(), StoreError>;

    /// The alert stored under `key`, if any.
    pub async fn get_alert(&self, key: &str) -> Result<Option<Alert>, StoreError>;

    /// Alerts matching `filter`, latest `starts_at` first, then by key.
    pub async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError>;

    /// `(firing at now, total)` alerts attached to an incident.
    pub async fn alert_counts(
        &self,
        incident_id: &str,
        now: Timestamp,
    ) -> Result<(u64, u64), StoreError>;

    // --- silences --------------------------------------------------------------

    /// Insert a silence, or replace the one with its id.
    pub async fn upsert_silence(&self, silence: &Silence) -> Result<(), StoreError>;

    pub async fn get_silence(&self, id: &str) -> Result<Option<Silence>, StoreError>;

    /// Every silence, expired ones included, latest end first.
    pub async fn list_silences(&self) -> Result<Vec<Silence>, StoreError>;

    /// End a silence at `now` (its record stays). One that had not started
    /// yet gets `starts_at = now` too, so it reads as expired, not pending.
    /// False if there is no such silence or it had already ended.
    pub async fn expire_silence(&self, id: &str, now: Timestamp) -> Result<bool, StoreError>;

    // --- maintenance windows -----------------------------------------------------

    /// Store a new maintenance window; an id already used is a database error.
    pub async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<(), StoreError>;

    /// Every maintenance window, latest start first.
    pub async fn list_maintenance(&self) -> Result<Vec<MaintenanceWindow>, StoreError>;

    /// End a window at `now`: one that is active, or open-ended (maintenance
    /// mode; if it had not started, `starts_at` becomes `now` as well). False
    /// if there is no such window, it is over, or it is scheduled for later.
    pub async fn end_maintenance(&self, id: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Record the review an emergency window owes. False if there is no
    /// such window, it owes none, or it was reviewed already.
    pub async fn review_maintenance(
        &self,
        id: &str,
        review: &firebell_core::alert::MaintenanceReview,
    ) -> Result<bool, StoreError>;

    // --- status page subscribers -------------------------------------------------

    /// Count a sign-up attempt; how many `address` and `client` made since
    /// `since`, this one included.
    pub async fn record_signup(
        &self,
        address: &str,
        client: &str,
        at: Timestamp,
        since: Timestamp,
    ) -> Result<(u64, u64), StoreError>;

    /// Add a pending subscriber (or renew the pending one at that address)
    /// and queue its confirmation request, in one transaction.
    pub async fn sign_up(
        &self,
        new: &Subscriber,
        confirmation: &(dyn Fn(&Subscriber) -> NewSubscriberMessage + Sync),
        now: Timestamp,
    ) -> Result<SignUp, StoreError>;

    /// Confirm a pending subscriber signed up at or after `not_before`.
    pub async fn confirm_subscriber(
        &self,
        id: &str,
        now: Timestamp,
        not_before: Timestamp,
    ) -> Result<Option<Subscriber>, StoreError>;

    /// Unsubscribe and cancel what was waiting; false if not subscribed.
    pub async fn unsubscribe(&self, id: &str, now: Timestamp) -> Result<bool, StoreError>;

    pub async fn get_subscriber(&self, id: &str) -> Result<Option<Subscriber>, StoreError>;

    /// Subscribers in `state` (all when `None`), newest first.
    pub async fn list_subscribers(
        &self,
        state: Option<firebell_core::status_page::SubscriberState>,
    ) -> Result<Vec<Subscriber>, StoreError>;

    /// Those of `keys` already fanned out.
    pub async fn posts_fanned_out(&self, keys: &[String]) -> Result<Vec<String>, StoreError>;

    /// Queue `messages` for `post_key`, once across replicas; false if it
    /// was fanned out before.
    pub async fn fan_out(
        &self,
        post_key: &str,
        at: Timestamp,
        messages: &[NewSubscriberMessage],
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    pub async fn claim_subscriber_messages(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<OutgoingMessage>, StoreError>;

    pub async fn complete_subscriber_message(
        &self,
        id: &str,
        token: &str,
        completion: &Completion,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// A subscriber's messages, newest first.
    pub async fn subscriber_messages(
        &self,
        subscriber_id: &str,
    ) -> Result<Vec<SubscriberMessageRecord>, StoreError>;

    // --- heartbeats --------------------------------------------------------------

    /// Record that heartbeat `name` pinged at `at`: its last ping is now `at`.
    pub async fn record_heartbeat(&self, name: &str, at: Timestamp) -> Result<(), StoreError>;

    /// The last ping of every heartbeat that ever pinged, by name.
    pub async fn heartbeats(&self) -> Result<Vec<HeartbeatPing>, StoreError>;

    // --- changes -----------------------------------------------------------------

    /// Record a change event; a record with the same id is replaced, so a
    /// sender's retry (or a later status of the same deploy) is harmless.
    pub async fn record_change(&self, change: &ChangeRecord) -> Result<(), StoreError>;

    /// Changes at or after `since` (to one service, or all), newest first.
    pub async fn list_changes(
        &self,
        service: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<ChangeRecord>, StoreError>;

    pub async fn get_change(&self, id: &str) -> Result<Option<ChangeRecord>, StoreError>;

    /// Changes to any of `services` at or after `since`, newest first.
    pub async fn changes_of(
        &self,
        services: &[String],
        since: Timestamp,
    ) -> Result<Vec<ChangeRecord>, StoreError>;

    // --- freezes and upstream providers ------------------------------------------

    /// Store a manual freeze or an admin's override; its id must be new.
    pub async fn create_freeze(
        &self,
        freeze: &firebell_core::change::ManualFreeze,
    ) -> Result<(), StoreError>;

    /// Freezes and overrides not lifted that end after `after`, soonest end first.
    pub async fn list_freezes(
        &self,
        after: Timestamp,
    ) -> Result<Vec<firebell_core::change::ManualFreeze>, StoreError>;

    /// Lift a freeze or override in force; `None` if there is none by that id.
    pub async fn lift_freeze(
        &self,
        id: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Option<firebell_core::change::ManualFreeze>, StoreError>;

    /// Store a provider's polled status; true when its indicator moved.
    pub async fn record_provider_status(&self, status: &ProviderStatus) -> Result<bool, StoreError>;

    /// Every provider's last polled status.
    pub async fn provider_statuses(&self) -> Result<Vec<ProviderStatus>, StoreError>;

    // --- schedule overrides --------------------------------------------------------

    /// Store a new on-call override (one statement) and return it as stored
    /// (instants truncated to the millisecond). The caller has validated it
    /// against the policy; `ends_at` must be after `starts_at`, and an id
    /// already used is a database error.
    pub async fn create_override(&self, new: &NewOverride) -> Result<OverrideRecord, StoreError>;

    /// One override by id, removed or not.
    pub async fn get_override(&self, id: &str) -> Result<Option<OverrideRecord>, StoreError>;

    /// Overrides not removed, of one schedule (exact name) or all, that end
    /// after `active_at_or_after` if given (so ended ones are left out),
    /// earliest start first.
    pub async fn list_overrides(
        &self,
        schedule: Option<&str>,
        active_at_or_after: Option<Timestamp>,
    ) -> Result<Vec<OverrideRecord>, StoreError>;

    /// Remove an override at `now` (soft delete: the row keeps `deleted_at`,
    /// and the override no longer applies). False if there is no such
    /// override or it was already removed.
    pub async fn delete_override(&self, id: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Every override not removed that overlaps `[from, to)`, of every
    /// schedule, ready for [`firebell_core::schedule::on_call`]. Newest
    /// created first: where two overlap, the later one wins (the core takes
    /// the first active override in slice order).
    pub async fn overrides_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<firebell_core::schedule::Override>, StoreError>;
}
