//! Alerts: what monitoring tells Firebell, before any person looks at it.
//!
//! Every source (Alertmanager's API and webhooks, PagerDuty Events, signed
//! webhooks, heartbeats, health checks) is normalised into an [`IncomingAlert`].
//! Its identity is a [`fingerprint`] of its labels, computed exactly as
//! Alertmanager does, or the sender's own dedup key. Repeats merge into the
//! stored [`Alert`]; they never make a second one.
//!
//! - [`matcher`]: label matchers (`=`, `!=`, `=~`, `!~`) in Alertmanager syntax.
//! - [`routing`]: the policy's route tree — which service, severity and group.
//! - [`silence`]: silences and maintenance windows — suppress paging, keep the record.
//! - [`health`]: heartbeats and health checks — when they fire and resolve.
//! - [`opening`]: what a group of alerts means for an incident (declare, record).

pub mod health;
pub mod matcher;
pub mod opening;
pub mod routing;
pub mod silence;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

pub use matcher::{MatchOp, Matcher, MatcherError, ValueTest, parse_matchers};
pub use routing::{RouteMatch, route};
pub use silence::{
    MaintenanceKind, MaintenanceReview, MaintenanceWindow, ReviewState, Silence, SilenceState,
};

/// Label name → value. Ordered, so iteration and serialisation are stable.
pub type LabelSet = BTreeMap<String, String>;

/// Label (or annotation) pairs sorted by name, however they are held: a
/// [`LabelSet`], or pairs borrowed from a request's bytes.
pub trait Labels {
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)>;
    fn label(&self, name: &str) -> Option<&str>;
}

impl Labels for LabelSet {
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// Where an alert came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// `POST /api/v2/alerts` (Prometheus, amtool).
    Alertmanager,
    /// An Alertmanager `webhook_configs` receiver.
    AlertmanagerWebhook,
    /// PagerDuty Events API v2 (`/v2/enqueue`).
    Pagerduty,
    /// A generic signed webhook.
    Webhook,
    /// A heartbeat that stopped.
    Heartbeat,
    /// An HTTP/TCP health check run by Firebell.
    Check,
    /// A deploy check-in whose values met a rollback criterion.
    Deploy,
}

/// One alert as a sender states it, normalised. `ends_at` in the past means
/// resolved; `None` means open-ended (firing until told otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingAlert {
    pub source: AlertSource,
    /// Identity: the label fingerprint (16 hex digits) or the sender's dedup key.
    pub key: String,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
    pub generator_url: Option<String>,
    /// Service fixed by the source's own policy entry (a PagerDuty
    /// integration's, a signed webhook's, a heartbeat's or a health check's
    /// `service`). It takes precedence
    /// over the routing tree's: the entry names the sender, which is more
    /// specific than any label matcher. `None`: the routing tree decides.
    #[serde(default)]
    pub service: Option<String>,
    /// Severity fixed by the source (an integration's `severity_map`, a
    /// webhook's, heartbeat's or check's `severity`), in the policy's
    /// spelling; same precedence.
    #[serde(default)]
    pub severity: Option<String>,
}

/// Why text with a NUL is refused: PostgreSQL cannot store it in a text
/// column, and one such alert in the ingest log would stop every merge
/// behind it. Every ingest endpoint refuses it at the door, on both
/// backends, so the rule does not depend on where Firebell runs.
pub const NUL_REFUSED: &str =
    "contains a NUL character (U+0000), which Firebell does not store; remove it";

impl IncomingAlert {
    /// The first field holding a NUL character, named as in the stored
    /// alert (`labels["instance"]`), if any; see [`NUL_REFUSED`].
    pub fn field_with_nul(&self) -> Option<String> {
        let nul = |s: &str| s.contains('\0');
        if nul(&self.key) {
            return Some("key".into());
        }
        for (what, set) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            for (name, value) in set {
                if nul(name) || nul(value) {
                    return Some(format!("{what}[{name:?}]"));
                }
            }
        }
        [
            ("generator_url", &self.generator_url),
            ("service", &self.service),
            ("severity", &self.severity),
        ]
        .into_iter()
        .find(|(_, v)| v.as_deref().is_some_and(nul))
        .map(|(field, _)| field.to_string())
    }
}

/// An alert as stored: the merge of every report about one identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub key: String,
    pub source: AlertSource,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub labels: LabelSet,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub annotations: LabelSet,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
    pub generator_url: Option<String>,
    /// When Firebell first and last heard about it.
    pub first_seen_at: Timestamp,
    pub updated_at: Timestamp,
    /// Routing outcome, fixed when the alert was (re)opened.
    pub service: Option<String>,
    pub severity: Option<String>,
    pub group_key: String,
    /// The incident this alert is attached to, once processed.
    pub incident_id: Option<String>,
}

impl Alert {
    /// Firing at `now`: no end, or an end still in the future.
    pub fn is_firing(&self, now: Timestamp) -> bool {
        self.ends_at.is_none_or(|end| end > now)
    }
}

/// Alertmanager's label-set fingerprint: FNV-1a 64 over the label names in
/// sorted order, each name and value followed by the separator byte `0xff`.
/// Same labels, same fingerprint, whichever system computes it.
pub fn fingerprint(labels: &(impl Labels + ?Sized)) -> u64 {
    // Pairs come in byte order of names, which is Go's sort.Strings order.
    fingerprint_sorted(labels.pairs())
}

fn fingerprint_sorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    const OFFSET: u64 = 0xcbf29ce484222325;
    const PRIME: u64 = 0x100000001b3;
    const SEP: u8 = 0xff;
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in pairs {
        feed(name.as_bytes());
        feed(&[SEP]);
        feed(value.as_bytes());
        feed(&[SEP]);
    }
    h
}

/// The fingerprint as Alertmanager prints it: 16 lowercase hex digits.
pub fn fingerprint_hex(labels: &LabelSet) -> String {
    fingerprint_digits(fingerprint(labels)).as_str().to_owned()
}

/// A fingerprint's 16 lowercase hex digits, on the stack: the door that
/// answers refreshes hashes them without allocating.
pub fn fingerprint_digits(fingerprint: u64) -> FingerprintDigits {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = HEX[((fingerprint >> (60 - 4 * i)) & 0xf) as usize];
    }
    FingerprintDigits(out)
}

/// See [`fingerprint_digits`].
pub struct FingerprintDigits([u8; 16]);

impl FingerprintDigits {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A label set in Alertmanager's notation, sorted by name:
/// `{alertname="X",service="api"}` (values escaped like a matcher's; names
/// quoted only when they could not be read back bare).
pub fn format_labels(labels: &LabelSet) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        matcher::push_label_pair(&mut out, name, "=", value);
    }
    out.push('}');
    out
}

/// Alertmanager's "no time": Go's zero `time.Time`, which senders put in
/// JSON for an unset `startsAt`/`endsAt`.
const GO_ZERO_TIME: Timestamp = Timestamp::constant(-62_135_596_800, 0);

/// Whether `t` is before 1970 and is not Go's zero time (which means
/// "unset"): a broken sender's clock, refused rather than stored as an
/// alert that began in the year 1.
pub fn before_epoch(t: Timestamp) -> bool {
    t < Timestamp::UNIX_EPOCH && t != GO_ZERO_TIME
}

/// A sender's `startsAt`/`endsAt`, made usable. A missing time or Go's zero
/// time (`0001-01-01T00:00:00Z`) counts as unset:
///
/// - unset `startsAt` is `now` — or the given end if that is earlier, so a
///   report of an already-resolved alert never starts after it ended;
/// - unset `endsAt` is `None`: open-ended, firing until told otherwise.
pub fn normalize_times(
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    now: Timestamp,
) -> (Timestamp, Option<Timestamp>) {
    let set = |t: Option<Timestamp>| t.filter(|t| *t > GO_ZERO_TIME);
    let ends_at = set(ends_at);
    let starts_at = set(starts_at).unwrap_or_else(|| ends_at.map_or(now, |end| end.min(now)));
    (starts_at, ends_at)
}

/// One report merged into what is stored under its key. Returns the alert to
/// store and whether it needs processing: it is new, or its firing/resolved
/// state at `now` differs from what it was before this report.
///
/// - **New key**, or a stored alert that had resolved (`ends_at <= now`)
///   now reported firing: a new occurrence — `first_seen_at = now`, routing
///   from `routed` (service and severity the report's own when it fixes
///   them), no incident yet; needs processing. (A new key that
///   arrives already resolved is stored and also returned as needing
///   processing; the processor sees it is not firing.)
/// - **Firing, reported again**: `starts_at` is the earlier of the two,
///   `ends_at` the report's (the latest report wins; `None` is open-ended),
///   annotations and generator URL the report's; labels, routing and the
///   incident link are kept. Needs processing only if the report resolves it.
/// - **Resolved, reported resolved again**: stored with the later end (as
///   Alertmanager does: the latest explicit end wins); needs no processing.
/// - **Older than what is stored** (`now` before the stored `updated_at`):
///   changes nothing. Reports of a new alert group are merged ahead of the
///   log's backlog, and replicas commit in their own order, so a report can
///   arrive after a newer one of the same alert; reports carry the whole
///   state, so the newer one already says everything.
pub fn merge(
    existing: Option<&Alert>,
    incoming: &IncomingAlert,
    routed: &RouteMatch,
    now: Timestamp,
) -> (Alert, bool) {
    let incoming_firing = incoming.ends_at.is_none_or(|end| end > now);
    let Some(old) = existing else {
        return (new_occurrence(incoming, routed, now), true);
    };
    if now < old.updated_at {
        return (old.clone(), false);
    }
    let was_firing = old.is_firing(now);
    if !was_firing && incoming_firing {
        return (new_occurrence(incoming, routed, now), true);
    }
    let mut alert = old.clone();
    alert.starts_at = old.starts_at.min(incoming.starts_at);
    alert.ends_at = match (was_firing, old.ends_at, incoming.ends_at) {
        (false, Some(old_end), Some(new_end)) => Some(old_end.max(new_end)),
        _ => incoming.ends_at,
    };
    alert.annotations.clone_from(&incoming.annotations);
    alert.generator_url.clone_from(&incoming.generator_url);
    alert.updated_at = now;
    let pending = was_firing != alert.is_firing(now);
    (alert, pending)
}

fn new_occurrence(incoming: &IncomingAlert, routed: &RouteMatch, now: Timestamp) -> Alert {
    Alert {
        key: incoming.key.clone(),
        source: incoming.source,
        labels: incoming.labels.clone(),
        annotations: incoming.annotations.clone(),
        starts_at: incoming.starts_at,
        ends_at: incoming.ends_at,
        generator_url: incoming.generator_url.clone(),
        first_seen_at: now,
        updated_at: now,
        service: incoming.service.clone().or_else(|| routed.service.clone()),
        severity: incoming
            .severity
            .clone()
            .or_else(|| routed.severity.clone()),
        group_key: routed.group_key.clone(),
        incident_id: None,
    }
}
