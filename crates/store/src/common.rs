//! What both backends share: the encodings of ids, instants, events and
//! cursors, the checks made before writing, and the latency metric.
//!
//! Keeping these in one place is what makes the two backends agree byte for
//! byte: an event, a cursor or an id written by one reads the same in the other.

use std::collections::BTreeSet;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebell_core::{Event, Incident, Status, Timestamp};

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::{Backend, IncidentFilter, IncidentPage, StoreError};

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

/// The page query for `filter`, the same SQL on both backends (the builder
/// writes `?` or `$n` placeholders as the backend wants). Selects
/// `declared_at_ms, id, state`, newest first, `fetch` rows at most.
pub(crate) fn list_query<DB>(
    filter: &IncidentFilter,
    fetch: u32,
) -> Result<QueryBuilder<DB>, StoreError>
where
    DB: Database,
    DB::Arguments: Default,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut qb =
        QueryBuilder::<DB>::new("SELECT declared_at_ms, id, state FROM incidents WHERE TRUE");
    if !filter.statuses.is_empty() {
        qb.push(" AND status IN (");
        let mut list = qb.separated(", ");
        for status in &filter.statuses {
            list.push_bind(status.as_str().to_string());
        }
        qb.push(")");
    }
    if !filter.severities.is_empty() {
        qb.push(" AND severity IN (");
        let mut list = qb.separated(", ");
        for severity in &filter.severities {
            list.push_bind(severity.clone());
        }
        qb.push(")");
    }
    if let Some(service) = &filter.service {
        qb.push(" AND id IN (SELECT incident_id FROM incident_services WHERE service = ")
            .push_bind(service.clone())
            .push(")");
    }
    if let Some(since) = filter.since {
        qb.push(" AND declared_at_ms >= ").push_bind(to_ms(since));
    }
    if let Some(until) = filter.until {
        qb.push(" AND declared_at_ms < ").push_bind(to_ms(until));
    }
    if let Some(cursor) = filter.cursor.as_deref() {
        let after = Cursor::decode(cursor)?;
        qb.push(" AND (declared_at_ms < ")
            .push_bind(after.declared_at_ms)
            .push(" OR (declared_at_ms = ")
            .push_bind(after.declared_at_ms)
            .push(" AND id < ")
            .push_bind(after.id)
            .push("))");
    }
    qb.push(" ORDER BY declared_at_ms DESC, id DESC LIMIT ")
        .push_bind(i64::from(fetch));
    Ok(qb)
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
    fn limits_default_and_clamp() {
        assert_eq!(effective_limit(0), 50);
        assert_eq!(effective_limit(3), 3);
        assert_eq!(effective_limit(10_000), 500);
    }
}
