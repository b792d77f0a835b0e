//! The pure half of the store: the encodings of ids, instants, events,
//! cursors, alerts, silences, maintenance windows and changes; the checks made
//! before writing; the alert batch merge and the statements built row by row
//! (`QueryBuilder` writes each backend's placeholders); and the latency metric.
//!
//! Keeping these in one place is what makes the two backends agree byte for
//! byte: an event, a cursor, an alert or an id written by one reads the same
//! in the other.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebell_core::alert::silence::MaintenanceKind;
use firebell_core::alert::{
    Alert, IncomingAlert, MaintenanceReview, MaintenanceWindow, Matcher, Silence, ValueTest,
};
use firebell_core::change::ManualFreeze;
use firebell_core::{Event, Incident, Status, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::alert_ids::KeyLookup;
use crate::{
    AlertFilter, Backend, ChangeRecord, IncidentFilter, IncidentPage, ProcessedAlert, StoreError,
};

/// Page size when the filter says 0.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// Largest page served, whatever the filter asks.
pub(crate) const MAX_LIMIT: u32 = 500;

/// Records how long one store operation took into
/// `firebell_store_operation_seconds{op, backend}` when dropped, so every exit
/// path (including `?`) is measured. Without an installed recorder this is a no-op.
pub(crate) struct OpTimer {
    op: &'static str,
    backend: Backend,
    started: Instant,
}

impl OpTimer {
    pub(crate) fn start(backend: Backend, op: &'static str) -> OpTimer {
        OpTimer {
            op,
            backend,
            started: Instant::now(),
        }
    }
}

impl Drop for OpTimer {
    fn drop(&mut self) {
        metrics::histogram!(
            "firebell_store_operation_seconds",
            "op" => self.op,
            "backend" => self.backend.as_str(),
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

/// An instant as stored: milliseconds since the epoch.
pub(crate) fn to_ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

/// A stored millisecond count back to an instant.
pub(crate) fn from_ms(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Corrupt(format!("instant {ms} ms out of range: {e}")))
}

/// A version or sequence number as stored (BIGINT).
pub(crate) fn to_i64(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::Corrupt(format!("{what} {n} does not fit in a BIGINT")))
}

/// A stored version or sequence number back to `u64`.
pub(crate) fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} {n} is negative")))
}

/// `INC-20261123` + 3 digits + 7 → `INC-20261123-007`. Numbers wider than
/// `digits` are written in full rather than truncated.
pub(crate) fn format_id(stem: &str, digits: u8, n: i64) -> String {
    let width = usize::from(digits);
    format!("{stem}-{n:0width$}")
}

/// The page size to use for a requested `limit`.
pub(crate) fn effective_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// The position after which the next page starts: the last row's sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) declared_at_ms: i64,
    pub(crate) id: String,
}

impl Cursor {
    /// Opaque to clients: base64url (no padding) of `"{declared_at_ms}:{id}"`.
    pub(crate) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.declared_at_ms, self.id))
    }

    pub(crate) fn decode(cursor: &str) -> Result<Cursor, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidCursor(reason.to_string());
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .map_err(|_| invalid("not base64url"))?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
        let (ms, id) = text.split_once(':').ok_or_else(|| invalid("malformed"))?;
        let declared_at_ms = ms
            .parse::<i64>()
            .map_err(|_| invalid("malformed instant"))?;
        if id.is_empty() {
            return Err(invalid("missing incident id"));
        }
        Ok(Cursor {
            declared_at_ms,
            id: id.to_string(),
        })
    }
}

/// The incident list's query: newest first, `fetch` rows at most.
///
/// A filter on statuses or severities is one arm per value (per pair, when
/// both are given), each walking its own index range newest first and
/// stopping at `fetch`, merged at the end: an `IN` list over one index would
/// have to gather and sort every match, and a status that is rare within a
/// service, or among a severity's incidents, would be found only by walking
/// all of them.
pub(crate) fn list_query<'a, DB>(
    filter: &'a IncidentFilter,
    fetch: u32,
) -> Result<QueryBuilder<DB>, StoreError>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    let cursor = filter.cursor.as_deref().map(Cursor::decode).transpose()?;
    // One arm per status, per severity, or per pair of both: each is one
    // range of an index that has both as its leading columns.
    let statuses: BTreeSet<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let mut severities: BTreeSet<&str> = filter.severities.iter().map(String::as_str).collect();
    // Past the cap (a long list of severities), severities are a plain
    // filter within each status's arm instead.
    if statuses.len().max(1) * severities.len() > MAX_ARMS {
        severities.clear();
    }
    let or_any = |values: BTreeSet<&'a str>| match values.is_empty() {
        true => vec![None],
        false => values.into_iter().map(Some).collect(),
    };
    let (statuses, severities) = (or_any(statuses), or_any(severities));
    let arms: Vec<Arm> = statuses
        .iter()
        .flat_map(|&status| {
            severities
                .iter()
                .map(move |&severity| Arm { status, severity })
        })
        .collect();
    if let [arm] = arms[..] {
        let mut qb = QueryBuilder::<DB>::new("");
        push_arm(&mut qb, filter, arm, cursor.as_ref(), fetch);
        return Ok(qb);
    }
    let mut qb = QueryBuilder::<DB>::new("SELECT declared_at_ms, id, state FROM (");
    for (n, arm) in arms.iter().enumerate() {
        if n > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push("SELECT declared_at_ms, id, state FROM (");
        push_arm(&mut qb, filter, *arm, cursor.as_ref(), fetch);
        qb.push(format!(") AS arm{n}"));
    }
    qb.push(") AS arms ORDER BY declared_at_ms DESC, id DESC LIMIT ")
        .push_bind(i64::from(fetch));
    Ok(qb)
}

/// Status and severity pairs one incident list may be split into.
const MAX_ARMS: usize = 64;

/// Which index range one arm of [`list_query`] walks: a status, a severity,
/// both, or neither.
#[derive(Clone, Copy)]
struct Arm<'a> {
    status: Option<&'a str>,
    severity: Option<&'a str>,
}

/// One arm: `declared_at_ms, id, state` of the incidents `filter` and `arm`
/// select, newest first, `fetch` at most.
fn push_arm<DB>(
    qb: &mut QueryBuilder<DB>,
    filter: &IncidentFilter,
    arm: Arm<'_>,
    cursor: Option<&Cursor>,
    fetch: u32,
) where
    DB: Database,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    // With a service, the walk goes down that service's index (which
    // carries status and severity, kept with each write), newest first, and
    // stops at the page's end; `CROSS JOIN` keeps SQLite's planner to that
    // order rather than gathering the service's incidents and sorting.
    let (t, at, id) = match &filter.service {
        Some(service) => {
            qb.push(
                "SELECT i.declared_at_ms, i.id, i.state \
                 FROM incident_services s CROSS JOIN incidents i \
                 WHERE i.id = s.incident_id AND s.service = ",
            )
            .push_bind(service.clone());
            ("s", "s.declared_at_ms", "s.incident_id")
        }
        None => {
            qb.push("SELECT i.declared_at_ms, i.id, i.state FROM incidents i WHERE TRUE");
            ("i", "i.declared_at_ms", "i.id")
        }
    };
    if let Some(status) = arm.status {
        qb.push(format!(" AND {t}.status = "))
            .push_bind(status.to_string());
    }
    match arm.severity {
        Some(severity) => {
            qb.push(format!(" AND {t}.severity = "))
                .push_bind(severity.to_string());
        }
        None if !filter.severities.is_empty() => {
            qb.push(format!(" AND {t}.severity IN ("));
            let mut list = qb.separated(", ");
            for severity in &filter.severities {
                list.push_bind(severity.clone());
            }
            qb.push(")");
        }
        None => {}
    }
    if let Some(since) = filter.since {
        qb.push(format!(" AND {at} >= ")).push_bind(to_ms(since));
    }
    if let Some(until) = filter.until {
        qb.push(format!(" AND {at} < ")).push_bind(to_ms(until));
    }
    if let Some(after) = cursor {
        qb.push(format!(" AND ({at} < "))
            .push_bind(after.declared_at_ms)
            .push(format!(" OR ({at} = "))
            .push_bind(after.declared_at_ms)
            .push(format!(" AND {id} < "))
            .push_bind(after.id.clone())
            .push("))");
    }
    qb.push(format!(" ORDER BY {at} DESC, {id} DESC LIMIT "))
        .push_bind(i64::from(fetch));
}

/// Turn the rows of [`list_query`] (`limit + 1` of them at most) into a page.
pub(crate) fn into_page(
    rows: Vec<(i64, String, String)>,
    limit: u32,
) -> Result<IncidentPage, StoreError> {
    let limit = limit as usize;
    let more = rows.len() > limit;
    let mut items = Vec::with_capacity(rows.len().min(limit));
    let mut last = None;
    for (declared_at_ms, id, state) in rows.into_iter().take(limit) {
        items.push(decode_incident(&id, &state)?);
        last = Some(Cursor { declared_at_ms, id });
    }
    let next_cursor = if more { last.map(|c| c.encode()) } else { None };
    Ok(IncidentPage { items, next_cursor })
}

/// The distinct services of an incident, for `incident_services` (a state may
/// list one twice; the table's key may not).
pub(crate) fn distinct_services(incident: &Incident) -> BTreeSet<&str> {
    incident.services.iter().map(String::as_str).collect()
}

/// Refuse a log that would break the store's invariant "`seq` starts at 1, has
/// no gaps, and the incident's version is its last `seq`". Such a write is a
/// bug in the caller; storing it would corrupt the incident, hence the error kind.
fn check_continues(after: u64, state: &Incident, events: &[Event]) -> Result<(), StoreError> {
    for (i, event) in events.iter().enumerate() {
        let want = after + 1 + i as u64;
        if event.seq != want {
            return Err(StoreError::Corrupt(format!(
                "refusing to write incident {}: event seq {} where {want} was due",
                state.id, event.seq
            )));
        }
    }
    let last = after + events.len() as u64;
    if state.version != last {
        return Err(StoreError::Corrupt(format!(
            "refusing to write incident {}: state version {} but the log ends at {last}",
            state.id, state.version
        )));
    }
    Ok(())
}

/// Checks for a new incident's first events: at least one, numbered from 1.
pub(crate) fn check_new(state: &Incident, events: &[Event]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "refusing to create incident {} without events",
            state.id
        )));
    }
    check_continues(0, state, events)
}

/// Checks for events appended at `expected_version`.
pub(crate) fn check_append(
    state: &Incident,
    expected_version: u64,
    events: &[Event],
) -> Result<(), StoreError> {
    check_continues(expected_version, state, events)
}

/// An event as stored in `payload`: the JSON of the whole event.
pub(crate) fn encode_event(event: &Event) -> Result<String, StoreError> {
    serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode event {}: {e}", event.seq)))
}

/// A stored event, checked against the `seq` column it was stored under.
pub(crate) fn decode_event(id: &str, seq: i64, payload: &str) -> Result<Event, StoreError> {
    let event: Event = serde_json::from_str(payload)
        .map_err(|e| StoreError::Corrupt(format!("event {seq} of incident {id}: {e}")))?;
    if i64::try_from(event.seq).ok() != Some(seq) {
        return Err(StoreError::Corrupt(format!(
            "event {seq} of incident {id} says it is event {}",
            event.seq
        )));
    }
    Ok(event)
}

/// An incident projection as stored in `state`.
pub(crate) fn encode_incident(incident: &Incident) -> Result<String, StoreError> {
    serde_json::to_string(incident)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode incident {}: {e}", incident.id)))
}

pub(crate) fn decode_incident(id: &str, state: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(state)
        .map_err(|e| StoreError::Corrupt(format!("state of incident {id}: {e}")))
}

/// Counts per status with every known status present (zero if none), in
/// lifecycle order, followed by any unknown status found in the table, so a
/// gauge built from it drops to zero instead of keeping its last value.
pub(crate) fn status_counts(rows: Vec<(String, i64)>) -> Vec<(String, i64)> {
    let mut counts: Vec<(String, i64)> = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    for (status, n) in rows {
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some(entry) => entry.1 += n,
            None => counts.push((status, n)),
        }
    }
    counts
}

/// Whether a database error is a unique-key violation (both backends).
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

// --- alerts ------------------------------------------------------------------

/// Keys per `IN (…)` list when loading alerts: far below both backends' bind
/// limits (SQLite 32,766, PostgreSQL 65,535) and short enough to plan fast.
pub(crate) const KEYS_PER_QUERY: usize = 500;
/// Rows per multi-row statement. With at most 14 binds a row that is 14,000
/// binds, under SQLite's 32,766 and PostgreSQL's 65,535.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;
/// Most alerts one list or pending read returns.
pub(crate) const MAX_ALERTS: u32 = 10_000;

/// The row limit for an alert read: 0 means the cap, anything else is capped.
pub(crate) fn alert_limit(limit: u32) -> i64 {
    i64::from(match limit {
        0 => MAX_ALERTS,
        n => n.min(MAX_ALERTS),
    })
}

/// The columns [`AlertRow`] reads, in its order, as a literal for `concat!`
/// (queries must be `&'static str` to count as SQL-safe).
macro_rules! alert_columns {
    () => {
        "key, source, labels, annotations, starts_at_ms, ends_at_ms, generator_url, \
         first_seen_at_ms, updated_at_ms, service, severity, group_key, incident_id"
    };
}
pub(crate) use alert_columns;

/// An `alerts` row as read, before its JSON and instants are checked.
#[derive(sqlx::FromRow)]
pub(crate) struct AlertRow {
    /// Selected on SQLite only, where rows are found by it (see
    /// [`crate::alert_ids`]).
    #[sqlx(default)]
    id: Option<i64>,
    key: String,
    source: String,
    labels: String,
    annotations: String,
    starts_at_ms: i64,
    ends_at_ms: Option<i64>,
    generator_url: Option<String>,
    first_seen_at_ms: i64,
    updated_at_ms: i64,
    service: Option<String>,
    severity: Option<String>,
    group_key: String,
    incident_id: Option<String>,
}

impl AlertRow {
    /// The row's id, where it was selected.
    pub(crate) fn id(&self) -> Option<i64> {
        self.id
    }

    pub(crate) fn into_alert(self) -> Result<Alert, StoreError> {
        // Named only on failure, not formatted for every row read.
        let named = |e: StoreError| StoreError::Corrupt(format!("alert {}: {e}", self.key));
        Ok(Alert {
            source: decode_enum(&self.source, "source").map_err(named)?,
            labels: decode_json(&self.labels, "labels").map_err(named)?,
            annotations: decode_json(&self.annotations, "annotations").map_err(named)?,
            starts_at: from_ms(self.starts_at_ms)?,
            ends_at: self.ends_at_ms.map(from_ms).transpose()?,
            generator_url: self.generator_url,
            first_seen_at: from_ms(self.first_seen_at_ms)?,
            updated_at: from_ms(self.updated_at_ms)?,
            service: self.service,
            severity: self.severity,
            group_key: self.group_key,
            incident_id: self.incident_id,
            key: self.key,
        })
    }
}

pub(crate) fn into_alerts(rows: Vec<AlertRow>) -> Result<Vec<Alert>, StoreError> {
    rows.into_iter().map(AlertRow::into_alert).collect()
}

/// JSON text of a value we are about to store.
pub(crate) fn encode_json<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

/// A stored JSON column back to its type.
pub(crate) fn decode_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A unit enum as stored: its serde name (`alertmanager_webhook`, `scheduled`),
/// so the column reads the same as the API.
pub(crate) fn encode_enum<T: Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(StoreError::Corrupt(format!(
            "cannot encode {what}: {other} is not a name"
        ))),
        Err(e) => Err(StoreError::Corrupt(format!("cannot encode {what}: {e}"))),
    }
}

fn decode_enum<T: DeserializeOwned>(name: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// An instant as the store keeps it: to the millisecond, like every instant
/// column. Alerts are normalised this way before they are written and
/// returned, so what a caller gets back equals what a later read returns
/// (which the processed guard's `updated_at` comparison relies on).
fn stored_instant(ts: Timestamp) -> Result<Timestamp, StoreError> {
    from_ms(to_ms(ts))
}

fn stored_alert(mut alert: Alert) -> Result<Alert, StoreError> {
    alert.starts_at = stored_instant(alert.starts_at)?;
    alert.ends_at = alert.ends_at.map(stored_instant).transpose()?;
    alert.first_seen_at = stored_instant(alert.first_seen_at)?;
    alert.updated_at = stored_instant(alert.updated_at)?;
    Ok(alert)
}

/// One report from the ingest log with the instant it was received (the
/// "now" it merges at), and what the merger prepared from it ahead of the
/// merge ([`LogBatch::prepare`]).
pub(crate) type Logged<P = ()> = (Timestamp, IncomingAlert, P);

/// Reports of whole ingest-log rows, oldest first, read without taking the
/// writer ([`crate::Store::read_logged_alerts`]), each with what the caller
/// prepares from it (its route, say). Decoding and preparing them does not
/// hold SQLite's single writer, and can run while the previous batch is
/// written ([`crate::Store::merge_read_alerts`]).
pub struct LogBatch<P = ()> {
    /// Which rows it was read from: its merge writes in that lane.
    lane: crate::LogLane,
    /// `(seq, reports)` of each row, in order.
    rows: Vec<(i64, usize)>,
    reports: Vec<Logged<P>>,
    /// Its merge, done ahead of the write ([`crate::Store::fold_ahead`]).
    ahead: Option<FoldedAhead>,
}

/// A batch merged before its write, against the stored alerts a read saw
/// ([`crate::Store::fold_ahead`]). The merge is a pure function of the
/// stored alerts and the reports, so the write keeps it when it finds the
/// same stored alerts and still holds every row.
pub(crate) struct FoldedAhead {
    /// The stored alerts the merge started from, by key.
    pub(crate) seen: HashMap<String, Alert>,
    pub(crate) folded: FoldedReports,
}

/// What a prepared report tells its merge: the alert group it lands in, if
/// the caller routed it. On PostgreSQL a batch whose reports all name their
/// groups (a few of them) is merged holding only those groups' locks, so
/// writes of other groups run beside it.
pub trait AlertGroup {
    fn group_key(&self) -> Option<&str>;
}

impl AlertGroup for () {
    fn group_key(&self) -> Option<&str> {
        None
    }
}

impl AlertGroup for firebell_core::alert::RouteMatch {
    fn group_key(&self) -> Option<&str> {
        Some(&self.group_key)
    }
}

/// A refresh that moves only a firing alert's `endsAt` later, to be written
/// in place rather than logged and merged
/// ([`crate::Store::log_alerts_merging_urgent`]). Its caller knows the
/// stored alert is firing and identical to the report in all else; the
/// write checks the stored `endsAt` is still the one it knows, and logs the
/// report instead when it is not.
#[derive(Debug, Clone)]
pub struct Extension {
    pub report: IncomingAlert,
    /// The stored `endsAt` the caller knows.
    pub stored_ends_at: Timestamp,
}

impl Extension {
    /// The reports of `extensions`, encoded for the log: what is logged of
    /// those not written in place.
    pub fn log_entry<'a>(
        extensions: impl IntoIterator<Item = &'a Extension>,
    ) -> Result<LogEntry, StoreError> {
        let reports: Vec<IncomingAlert> =
            extensions.into_iter().map(|e| e.report.clone()).collect();
        LogEntry::encode(&reports)
    }
}

/// One row an extension may write: a candidate id of the alert's key (see
/// `alert_ids`: a key may have several, and only its own row matches), the
/// `endsAt` the caller knows is stored, and the new one, in milliseconds.
pub(crate) struct InPlace<'a> {
    pub id: i64,
    pub key: &'a str,
    pub stored_ends: i64,
    pub new_ends: i64,
}

/// What an append did ([`crate::Store::log_alerts_merging_urgent`]).
#[derive(Debug, Default)]
pub struct Appended {
    /// The urgent entries' alerts, merged in the append's transaction;
    /// `None` when they were only logged.
    pub merged: Option<Vec<Alert>>,
    /// For each extension, whether it was written in place (or logged).
    pub extended: Vec<bool>,
}

/// What a merge of a batch read ahead did ([`crate::Store::merge_read_alerts`]).
#[derive(Debug, Default)]
pub struct MergedBatch {
    /// How many reports it merged: those of the rows still logged.
    pub reports: usize,
    /// What each report merged into, in log order; empty when the merge
    /// recorded news (its caller only counts).
    pub alerts: Vec<Alert>,
    /// The changes recorded for open incidents.
    pub recorded: Vec<crate::Append>,
    /// The merge done ahead ([`crate::Store::fold_ahead`]) was kept, so the
    /// caller's `merge` was not called.
    pub merged_ahead: bool,
}

impl<P> LogBatch<P> {
    /// How many reports it holds.
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// The last row's `seq`: the next batch reads the rows after it.
    pub fn last_seq(&self) -> Option<i64> {
        self.rows.last().map(|(seq, _)| *seq)
    }

    /// The same reports, each with `prepare`'s result for it.
    pub fn prepare<Q>(self, mut prepare: impl FnMut(&IncomingAlert) -> Q) -> LogBatch<Q> {
        LogBatch {
            lane: self.lane,
            rows: self.rows,
            reports: self
                .reports
                .into_iter()
                .map(|(at, report, _)| {
                    let prepared = prepare(&report);
                    (at, report, prepared)
                })
                .collect(),
            // Merged with the preparations it had, if at all.
            ahead: None,
        }
    }

    /// All its reports, in order.
    pub(crate) fn all(&self) -> Vec<&Logged<P>> {
        self.reports.iter().collect()
    }

    pub(crate) fn set_ahead(&mut self, ahead: FoldedAhead) {
        self.ahead = Some(ahead);
    }

    pub(crate) fn take_ahead(&mut self) -> Option<FoldedAhead> {
        self.ahead.take()
    }

    /// Which rows it was read from.
    pub(crate) fn lane(&self) -> crate::LogLane {
        self.lane
    }

    /// The scope of its merge's writes: its reports' groups.
    pub(crate) fn scope(&self) -> crate::backend::AlertScope<'_>
    where
        P: AlertGroup,
    {
        crate::backend::AlertScope::of(self.reports.iter().map(|(_, _, p)| p.group_key()))
    }

    /// The rows' seqs.
    pub(crate) fn seqs(&self) -> Vec<i64> {
        self.rows.iter().map(|(seq, _)| *seq).collect()
    }

    /// The reports of the rows in `claimed` (sorted), in order.
    pub(crate) fn claimed(&self, claimed: &[i64]) -> Vec<&Logged<P>> {
        let mut out = Vec::with_capacity(self.reports.len());
        let mut at = 0;
        for &(seq, n) in &self.rows {
            if claimed.binary_search(&seq).is_ok() {
                out.extend(&self.reports[at..at + n]);
            }
            at += n;
        }
        out
    }
}

/// Most log rows one merge round looks at (each holds a whole group commit).
pub(crate) const LOG_ROWS_PER_ROUND: i64 = 64;

/// Most reports in one ingest-log row: a merge takes whole rows, so this
/// bounds how long one merge holds SQLite's writer (and so how long an
/// append, and a sender's 2xx, can wait behind it).
pub(crate) const LOG_ROW_ALERTS: usize = 1_000;

/// Reports encoded for the ingest log, in pieces of at most
/// [`LOG_ROW_ALERTS`]. Encoding is the costly part of an append, so callers
/// encode where work runs in parallel (a request's own task) and the single
/// ingest writer only concatenates.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `(reports, JSON array of them)`.
    pieces: Vec<(usize, String)>,
}

impl LogEntry {
    pub fn encode(alerts: &[IncomingAlert]) -> Result<Self, StoreError> {
        let pieces = alerts
            .chunks(LOG_ROW_ALERTS)
            .map(|chunk| Ok((chunk.len(), encode_json(chunk, "ingest log entry")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self { pieces })
    }

    /// How many reports it holds.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(|(n, _)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One `INSERT` of entries into the ingest log: pieces packed, in order, into
/// rows of at most [`LOG_ROW_ALERTS`] reports (JSON arrays joined), the
/// `urgent` ones into rows of their own, flagged. `None` when there is
/// nothing to write.
pub(crate) fn log_insert_query<DB, E: std::borrow::Borrow<LogEntry>>(
    received_at: Timestamp,
    entries: &[E],
    urgent: &[LogEntry],
) -> Option<QueryBuilder<DB>>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut rows: Vec<(usize, String, bool)> = Vec::new();
    let pieces = entries
        .iter()
        .flat_map(|e| e.borrow().pieces.iter().map(|p| (p, false)))
        .chain(
            urgent
                .iter()
                .flat_map(|e| e.pieces.iter().map(|p| (p, true))),
        );
    for ((n, json), is_urgent) in pieces {
        let inner = &json[1..json.len() - 1];
        match rows.last_mut() {
            Some((count, row, u))
                if *u == is_urgent && *count + n <= LOG_ROW_ALERTS && !inner.is_empty() =>
            {
                *count += n;
                row.truncate(row.len() - 1);
                if row.len() > 1 {
                    row.push(',');
                }
                row.push_str(inner);
                row.push(']');
            }
            _ => rows.push((*n, json.clone(), is_urgent)),
        }
    }
    if rows.is_empty() {
        return None;
    }
    let mut qb = QueryBuilder::<DB>::new(
        "INSERT INTO ingest_log (received_at_ms, alert_count, alerts, urgent) ",
    );
    qb.push_values(rows, |mut row, (count, payload, urgent)| {
        row.push_bind(to_ms(received_at))
            .push_bind(count as i64)
            .push_bind(payload)
            .push_bind(urgent);
    });
    Some(qb)
}

/// Which of the oldest log rows `(seq, alert_count)` one merge round takes:
/// in order, at least one, and no more once `max_alerts` would be passed.
pub(crate) fn take_log_rows(rows: &[(i64, i64)], max_alerts: usize) -> Vec<i64> {
    let mut taken = Vec::new();
    let mut alerts = 0usize;
    for &(seq, count) in rows {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if !taken.is_empty() && alerts.saturating_add(count) > max_alerts {
            break;
        }
        alerts = alerts.saturating_add(count);
        taken.push(seq);
    }
    taken
}

/// Log rows `(seq, received_at_ms, alerts)` back to reports, in `seq` order.
pub(crate) fn decode_logged(
    lane: crate::LogLane,
    mut rows: Vec<(i64, i64, String)>,
) -> Result<LogBatch, StoreError> {
    rows.sort_by_key(|(seq, _, _)| *seq);
    let mut batch = LogBatch {
        lane,
        rows: Vec::with_capacity(rows.len()),
        reports: Vec::new(),
        ahead: None,
    };
    for (seq, received_at_ms, payload) in rows {
        let received_at = from_ms(received_at_ms)?;
        let alerts: Vec<IncomingAlert> = decode_json(&payload, &format!("ingest log entry {seq}"))?;
        batch.rows.push((seq, alerts.len()));
        batch
            .reports
            .extend(alerts.into_iter().map(|a| (received_at, a, ())));
    }
    Ok(batch)
}

/// `{verb} FROM ingest_log WHERE seq IN (…)` for these rows.
pub(crate) fn log_rows_query<DB>(verb: &str, seqs: &[i64]) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(verb);
    qb.push(" FROM ingest_log WHERE seq IN (");
    let mut list = qb.separated(", ");
    for seq in seqs {
        list.push_bind(*seq);
    }
    qb.push(")");
    qb
}

/// What one merge of logged reports decided: the alert each report became
/// (in log order), and the rows to write, one per key (sorted), with
/// `pending` set if any report of that key in the batch asked for it.
pub(crate) struct FoldedReports {
    /// One alert per report, when asked for (see [`merge_batch`]).
    pub(crate) results: Vec<Alert>,
    /// How many reports were merged.
    pub(crate) reports: usize,
    pub(crate) rows: Vec<(Alert, bool)>,
}

/// Run `merge` over `incoming` in order against the stored alerts, each at
/// the instant it was received. A key seen twice merges into the batch's own
/// earlier result, so the last report of a key is what gets stored.
/// `results`: keep what each report merged into (a copy of each alert).
pub(crate) fn merge_batch<P, F>(
    incoming: &[&Logged<P>],
    mut stored: HashMap<String, Alert>,
    mut merge: F,
    results: bool,
) -> Result<FoldedReports, StoreError>
where
    F: FnMut(Option<&Alert>, &IncomingAlert, &P, Timestamp) -> (Alert, bool),
{
    let keep = results;
    let mut results = Vec::with_capacity(if keep { incoming.len() } else { 0 });
    let mut pending: BTreeMap<&str, bool> = BTreeMap::new();
    for (received_at, report, prepared) in incoming.iter().copied() {
        let (alert, wants_processing) =
            merge(stored.get(&report.key), report, prepared, *received_at);
        if alert.key != report.key {
            // The rows are keyed by the report's key; storing another would
            // silently move or overwrite an alert.
            return Err(StoreError::Corrupt(format!(
                "refusing to store alert {:?} merged from a report for key {:?}",
                alert.key, report.key
            )));
        }
        let alert = stored_alert(alert)?;
        *pending.entry(report.key.as_str()).or_default() |= wants_processing;
        if keep {
            results.push(alert.clone());
        }
        stored.insert(report.key.clone(), alert);
    }
    let mut rows = Vec::with_capacity(pending.len());
    for (key, wants_processing) in pending {
        let alert = stored
            .remove(key)
            .ok_or_else(|| StoreError::Corrupt(format!("alert {key:?} vanished while merging")))?;
        rows.push((alert, wants_processing));
    }
    Ok(FoldedReports {
        results,
        reports: incoming.len(),
        rows,
    })
}

/// The distinct keys of these reports, sorted.
pub(crate) fn logged_keys<'a, P>(incoming: &[&'a Logged<P>]) -> Vec<&'a str> {
    incoming
        .iter()
        .map(|(_, a, _)| a.key.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `SELECT` the stored alerts with these keys (at most [`KEYS_PER_QUERY`]):
/// by the key index, or by each key's candidate ids, with the `id` column.
/// A candidate may hold another key (see [`crate::alert_ids`]): pass the rows
/// through [`keep_keys`].
pub(crate) fn select_alerts_by_key<DB>(keys: &[&str], lookup: KeyLookup<'_>) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    match lookup {
        KeyLookup::Index => {
            let mut qb = QueryBuilder::<DB>::new(concat!(
                "SELECT ",
                alert_columns!(),
                " FROM alerts WHERE key IN ("
            ));
            let mut list = qb.separated(", ");
            for key in keys {
                list.push_bind(key.to_string());
            }
            qb.push(")");
            qb
        }
        KeyLookup::Ids(ids) => {
            let candidates: Vec<i64> = keys.iter().flat_map(|k| ids.candidates(k)).collect();
            let mut qb = QueryBuilder::<DB>::new(concat!(
                "SELECT id, ",
                alert_columns!(),
                " FROM alerts WHERE "
            ));
            if candidates.is_empty() {
                qb.push("FALSE");
                return qb;
            }
            qb.push("id IN (");
            let mut list = qb.separated(", ");
            for id in candidates {
                list.push_bind(id);
            }
            qb.push(")");
            qb
        }
    }
}

/// The rows whose key is one of `keys`.
pub(crate) fn keep_keys(mut rows: Vec<AlertRow>, keys: &[&str]) -> Vec<AlertRow> {
    let keys: HashSet<&str> = keys.iter().copied().collect();
    rows.retain(|r| keys.contains(r.key.as_str()));
    rows
}

/// An alert row's columns as an upsert writes them, in the order of its
/// values (after `id`, where rows are found by id).
pub(crate) const ALERT_UPSERT_COLUMNS: &str = "key, source, labels, annotations, starts_at_ms, \
     ends_at_ms, generator_url, first_seen_at_ms, updated_at_ms, service, severity, group_key, \
     incident_id, pending, processed_firing";

/// What an alert upsert does with the row already stored (see
/// [`upsert_alerts_query`]).
fn alert_upsert_conflict(by_id: bool, processed: bool) -> String {
    let mut clause = String::from(match by_id {
        true => " ON CONFLICT (id)",
        false => " ON CONFLICT (key)",
    });
    clause.push_str(
        " DO UPDATE SET source = excluded.source, labels = excluded.labels, \
         annotations = excluded.annotations, starts_at_ms = excluded.starts_at_ms, \
         ends_at_ms = excluded.ends_at_ms, generator_url = excluded.generator_url, \
         first_seen_at_ms = excluded.first_seen_at_ms, updated_at_ms = excluded.updated_at_ms, \
         service = excluded.service, severity = excluded.severity, group_key = excluded.group_key, \
         incident_id = excluded.incident_id, ",
    );
    clause.push_str(match processed {
        true => "pending = FALSE, processed_firing = excluded.processed_firing",
        false => "pending = alerts.pending OR excluded.pending",
    });
    if by_id {
        // An id holding another alert is never overwritten; the caller
        // checks that every row was written.
        clause.push_str(" WHERE alerts.key = excluded.key");
    }
    clause
}

/// Where an alert row goes, where rows are found by id (SQLite, see
/// [`crate::alert_ids`]).
#[derive(Debug)]
pub(crate) enum AlertSlot {
    /// A new alert, given this id now.
    New(i64),
    /// A stored alert's row, and the incident it names as stored.
    Stored {
        id: i64,
        incident_id: Option<String>,
    },
}

impl AlertSlot {
    pub(crate) fn id(&self) -> i64 {
        match self {
            AlertSlot::New(id) | AlertSlot::Stored { id, .. } => *id,
        }
    }
}

/// An alert's columns that are stored encoded.
pub(crate) struct EncodedAlert {
    pub(crate) source: String,
    pub(crate) labels: String,
    pub(crate) annotations: String,
}

impl EncodedAlert {
    pub(crate) fn new(alert: &Alert) -> Result<Self, StoreError> {
        // Named only on failure: formatting it for every row costs more
        // than encoding the row's source.
        let named = |e: StoreError| StoreError::Corrupt(format!("alert {}: {e}", alert.key));
        Ok(Self {
            source: encode_enum(&alert.source, "source").map_err(named)?,
            labels: encode_json(&alert.labels, "labels").map_err(named)?,
            annotations: encode_json(&alert.annotations, "annotations").map_err(named)?,
        })
    }
}

/// An upsert by id found the id holding another alert's row.
pub(crate) fn alert_id_taken() -> StoreError {
    StoreError::InUse(
        "an alert's row id holds another alert: something besides this process \
         writes the SQLite file's alerts"
            .into(),
    )
}

/// One multi-row `INSERT … ON CONFLICT DO UPDATE` for these rows (at most
/// [`ROWS_PER_STATEMENT`]): on the key, or, where `ids` gives each row's id
/// (SQLite, see [`crate::alert_ids`]), on the id. Every field of the merged alert is written;
/// `pending` only ever turns on here (processing turns it off), so a repeat
/// that changes nothing cannot hide a change the processor has not seen yet.
/// `processed_firing` is the processor's and is left alone.
///
/// `processed`: these rows are written already processed, with the change
/// that recorded them (see `Store::merge_read_alerts`): each
/// row's flag is then whether it is firing, and `pending` is cleared.
pub(crate) fn upsert_alerts_query<DB>(
    rows: &[(Alert, bool)],
    ids: Option<&[i64]>,
    processed: bool,
) -> Result<QueryBuilder<DB>, StoreError>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    Option<i64>: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
{
    if ids.is_some_and(|ids| ids.len() != rows.len()) {
        return Err(StoreError::Corrupt(
            "alert rows and their ids differ in number".into(),
        ));
    }
    let encoded = rows
        .iter()
        .enumerate()
        .map(|(i, (alert, pending))| {
            Ok((
                ids.map(|ids| ids[i]),
                alert,
                EncodedAlert::new(alert)?,
                *pending,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let mut qb = QueryBuilder::<DB>::new(match ids {
        Some(_) => "INSERT INTO alerts (id, ",
        None => "INSERT INTO alerts (",
    });
    qb.push(ALERT_UPSERT_COLUMNS).push(") ");
    qb.push_values(encoded, |mut row, (id, a, e, pending)| {
        if let Some(id) = id {
            row.push_bind(id);
        }
        row.push_bind(a.key.clone())
            .push_bind(e.source)
            .push_bind(e.labels)
            .push_bind(e.annotations)
            .push_bind(to_ms(a.starts_at))
            .push_bind(a.ends_at.map(to_ms))
            .push_bind(a.generator_url.clone())
            .push_bind(to_ms(a.first_seen_at))
            .push_bind(to_ms(a.updated_at))
            .push_bind(a.service.clone())
            .push_bind(a.severity.clone())
            .push_bind(a.group_key.clone())
            .push_bind(a.incident_id.clone());
        match processed {
            true => row.push("FALSE").push_bind(pending),
            false => row.push_bind(pending).push("FALSE"),
        };
    });
    qb.push(alert_upsert_conflict(ids.is_some(), processed));
    Ok(qb)
}

/// One report per key (the last wins), sorted by key.
pub(crate) fn distinct_processed(alerts: &[ProcessedAlert]) -> Vec<&ProcessedAlert> {
    let mut by_key: BTreeMap<&str, &ProcessedAlert> = BTreeMap::new();
    for a in alerts {
        by_key.insert(a.key.as_str(), a);
    }
    by_key.into_values().collect()
}

/// Mark these alerts processed (at most [`ROWS_PER_STATEMENT`], distinct keys),
/// each only if its `updated_at` is still the one the processor saw: an alert
/// re-reported meanwhile stays pending. `incident` (the incident just created
/// for them) overrides each alert's own `incident_id`. Each alert comes with
/// a candidate id where rows are found by id (SQLite, see
/// [`crate::alert_ids`]; an alert with several comes once for each), else
/// with none and is found by key.
pub(crate) fn mark_processed_query<DB>(
    alerts: &[(&ProcessedAlert, Option<i64>)],
    incident: Option<&str>,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
{
    let by_id = alerts.iter().any(|(_, id)| id.is_some());
    let mut qb = QueryBuilder::<DB>::new(match by_id {
        true => "WITH processed (id, key, seen_ms, firing, incident_id) AS (",
        false => "WITH processed (key, seen_ms, firing, incident_id) AS (",
    });
    qb.push_values(alerts, |mut row, (a, id)| {
        if by_id {
            row.push_bind(id.unwrap_or(0));
        }
        row.push_bind(a.key.clone())
            .push_bind(to_ms(a.seen_updated_at))
            .push_bind(a.firing)
            .push_bind(
                incident
                    .map(str::to_string)
                    .or_else(|| a.incident_id.clone()),
            );
    });
    qb.push(
        ") UPDATE alerts SET pending = FALSE, processed_firing = processed.firing, \
         incident_id = COALESCE(processed.incident_id, alerts.incident_id) \
         FROM processed WHERE ",
    );
    if by_id {
        qb.push("alerts.id = processed.id AND ");
    }
    qb.push("alerts.key = processed.key AND alerts.updated_at_ms = processed.seen_ms");
    qb
}

/// How a backend reads one label's value in SQL (`NULL` when absent), for
/// narrowing reads of alerts by their labels.
pub(crate) struct LabelSql<DB: Database> {
    /// Whether a label of this name can be read (else it is not narrowed on).
    pub readable: fn(&str) -> bool,
    /// Push the expression for the value of the label named.
    pub push_value: fn(&mut QueryBuilder<DB>, &str),
}

/// The `list_alerts` query: newest start first, then by key.
/// `labels` says how this backend reads a label's value in SQL.
pub(crate) fn list_alerts_query<DB>(filter: &AlertFilter, labels: &LabelSql<DB>) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(concat!(
        "SELECT ",
        alert_columns!(),
        " FROM alerts WHERE TRUE"
    ));
    if let Some(incident) = &filter.incident_id {
        qb.push(" AND incident_id = ").push_bind(incident.clone());
    }
    if let Some(at) = filter.firing_at {
        qb.push(" AND (ends_at_ms IS NULL OR ends_at_ms > ")
            .push_bind(to_ms(at))
            .push(")");
    }
    for (name, test) in filter
        .labels
        .iter()
        .filter(|(name, _)| (labels.readable)(name))
    {
        match test {
            ValueTest::Equals(v) => {
                qb.push(" AND ");
                (labels.push_value)(&mut qb, name);
                qb.push(" = ").push_bind(v.clone());
            }
            ValueTest::StartsWith(prefixes) => {
                qb.push(" AND (FALSE");
                for p in prefixes {
                    qb.push(" OR substr(");
                    (labels.push_value)(&mut qb, name);
                    qb.push(", 1, CAST(")
                        .push_bind(p.chars().count() as i64)
                        .push(" AS INTEGER)) = ")
                        .push_bind(p.clone());
                }
                qb.push(")");
            }
        }
    }
    if let Some(after) = &filter.after {
        let at = to_ms(after.starts_at);
        qb.push(" AND (starts_at_ms < ")
            .push_bind(at)
            .push(" OR (starts_at_ms = ")
            .push_bind(at)
            .push(" AND key > ")
            .push_bind(after.key.clone())
            .push("))");
    }
    qb.push(" ORDER BY starts_at_ms DESC, key LIMIT ")
        .push_bind(alert_limit(filter.limit));
    qb
}

/// `(firing, total)` from the two counts `alert_counts` selects.
pub(crate) fn alert_counts((firing, total): (i64, i64)) -> Result<(u64, u64), StoreError> {
    Ok((
        to_u64(firing, "alert count")?,
        to_u64(total, "alert count")?,
    ))
}

/// The error for a group whose mapping insert found a holder. Writers of
/// `incident_groups` are serialised (SQLite's writer, PostgreSQL's alerts
/// lock), so a holder that vanished in between means the store's own locking
/// is broken.
pub(crate) fn group_taken(group_key: &str, holder: Option<String>) -> StoreError {
    match holder {
        Some(incident_id) => StoreError::GroupTaken { incident_id },
        None => StoreError::Corrupt(format!(
            "alert group {group_key:?} was claimed and released within one locked transaction"
        )),
    }
}

// --- silences, maintenance windows, changes ------------------------------------
// Written by binding each field; read back through these rows.

#[derive(sqlx::FromRow)]
pub(crate) struct SilenceRow {
    id: String,
    matchers: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
    created_by: String,
    comment: String,
    updated_at_ms: i64,
}

impl SilenceRow {
    pub(crate) fn into_silence(self) -> Result<Silence, StoreError> {
        let matchers: Vec<Matcher> =
            decode_json(&self.matchers, &format!("matchers of silence {}", self.id))?;
        Ok(Silence {
            matchers,
            starts_at: from_ms(self.starts_at_ms)?,
            ends_at: from_ms(self.ends_at_ms)?,
            created_by: self.created_by,
            comment: self.comment,
            updated_at: from_ms(self.updated_at_ms)?,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MaintenanceRow {
    id: String,
    title: String,
    kind: String,
    services: String,
    starts_at_ms: i64,
    ends_at_ms: Option<i64>,
    created_by: String,
    created_at_ms: i64,
    planned_starts_at_ms: Option<i64>,
    planned_ends_at_ms: Option<i64>,
    review_due_at_ms: Option<i64>,
    reviewed_at_ms: Option<i64>,
    reviewed_by: Option<String>,
    review: Option<String>,
}

impl MaintenanceRow {
    pub(crate) fn into_window(self) -> Result<MaintenanceWindow, StoreError> {
        let what = |field: &str| format!("{field} of maintenance window {}", self.id);
        let kind: MaintenanceKind = decode_enum(&self.kind, &what("kind"))?;
        let services: Vec<String> = decode_json(&self.services, &what("services"))?;
        let instant = |ms: Option<i64>| ms.map(from_ms).transpose();
        Ok(MaintenanceWindow {
            kind,
            services,
            starts_at: from_ms(self.starts_at_ms)?,
            ends_at: instant(self.ends_at_ms)?,
            created_at: from_ms(self.created_at_ms)?,
            planned_starts_at: instant(self.planned_starts_at_ms)?,
            planned_ends_at: instant(self.planned_ends_at_ms)?,
            review_due_at: instant(self.review_due_at_ms)?,
            review: match (self.reviewed_at_ms, self.reviewed_by, self.review) {
                (Some(at), Some(by), Some(summary)) => Some(MaintenanceReview {
                    at: from_ms(at)?,
                    by,
                    summary,
                }),
                _ => None,
            },
            title: self.title,
            created_by: self.created_by,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChangeRow {
    id: String,
    source: String,
    summary: String,
    service: Option<String>,
    environment: Option<String>,
    at_ms: i64,
    payload: String,
    kind: String,
    details: String,
}

impl ChangeRow {
    pub(crate) fn into_change(self) -> Result<ChangeRecord, StoreError> {
        Ok(ChangeRecord {
            payload: decode_json(&self.payload, &format!("payload of change {}", self.id))?,
            details: decode_json(&self.details, &format!("details of change {}", self.id))?,
            kind: decode_enum(&self.kind, &format!("kind of change {}", self.id))?,
            at: from_ms(self.at_ms)?,
            source: self.source,
            summary: self.summary,
            service: self.service,
            environment: self.environment,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct FreezeRow {
    id: String,
    kind: String,
    environment: Option<String>,
    service: Option<String>,
    reason: String,
    created_by: String,
    created_at_ms: i64,
    until_ms: i64,
    lifted_at_ms: Option<i64>,
    lifted_by: Option<String>,
}

impl FreezeRow {
    pub(crate) fn into_freeze(self) -> Result<ManualFreeze, StoreError> {
        Ok(ManualFreeze {
            kind: self
                .kind
                .parse()
                .map_err(|e: String| StoreError::Corrupt(format!("freeze {}: {e}", self.id)))?,
            created_at: from_ms(self.created_at_ms)?,
            until: from_ms(self.until_ms)?,
            lifted_at: self.lifted_at_ms.map(from_ms).transpose()?,
            environment: self.environment,
            service: self.service,
            reason: self.reason,
            created_by: self.created_by,
            lifted_by: self.lifted_by,
            id: self.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = Cursor {
            declared_at_ms: -12,
            id: "INC:odd-001".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).ok(), Some(c));
    }

    #[test]
    fn bad_cursors_say_why() {
        for (input, reason) in [
            ("***", "not base64url"),
            (URL_SAFE_NO_PAD.encode([0xff, 0xfe]).as_str(), "not UTF-8"),
            (URL_SAFE_NO_PAD.encode("12").as_str(), "malformed"),
            (
                URL_SAFE_NO_PAD.encode("x:INC-1").as_str(),
                "malformed instant",
            ),
            (
                URL_SAFE_NO_PAD.encode("12:").as_str(),
                "missing incident id",
            ),
        ] {
            match Cursor::decode(input) {
                Err(StoreError::InvalidCursor(r)) => assert_eq!(r, reason, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn ids_are_zero_padded_not_truncated() {
        assert_eq!(format_id("INC-20261123", 3, 7), "INC-20261123-007");
        assert_eq!(format_id("INC-20261123", 3, 1234), "INC-20261123-1234");
        assert_eq!(format_id("X", 0, 5), "X-5");
    }

    #[test]
    fn alert_limits_cap_at_ten_thousand() {
        assert_eq!(alert_limit(0), 10_000);
        assert_eq!(alert_limit(7), 7);
        assert_eq!(alert_limit(u32::MAX), 10_000);
    }

    #[test]
    fn enums_are_stored_by_their_serde_names() {
        use firebell_core::alert::AlertSource;
        let name = encode_enum(&AlertSource::AlertmanagerWebhook, "source").ok();
        assert_eq!(name.as_deref(), Some("alertmanager_webhook"));
        let back: Option<AlertSource> = decode_enum("alertmanager_webhook", "source").ok();
        assert_eq!(back, Some(AlertSource::AlertmanagerWebhook));
        assert!(matches!(
            decode_enum::<AlertSource>("carrier_pigeon", "source"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn limits_default_and_clamp() {
        assert_eq!(effective_limit(0), 50);
        assert_eq!(effective_limit(3), 3);
        assert_eq!(effective_limit(10_000), 500);
    }
}
