//! Heartbeats and health checks: Firebell's own monitors, decided here and
//! run by the server.
//!
//! A cron job that stopped pinging or a `/health` endpoint answering 503 must
//! page through the same pipeline as a Prometheus alert — the same routing,
//! grouping, silences, maintenance windows and incidents — so both monitors
//! end in an [`IncomingAlert`]. The server owns the sockets and the clock;
//! what it saw goes through the pure functions here, so every transition is
//! tested without a network or a sleep.
//!
//! - A **check** is probed every `interval`. [`observe_check`] counts failures
//!   in a row: healthy → failing → firing once `failure_threshold` is reached
//!   (one alert) → healthy at the first success (the alert resolves).
//! - A **heartbeat** is missing once `interval + grace` has passed since its
//!   last ping ([`missing_since`]); [`observe_heartbeat`] fires then and
//!   resolves at the next ping.
//!
//! Alerts are keyed `check:<name>` and `heartbeat:<name>`: a repeated report
//! merges into the same alert, so a restart that reports a firing alert again
//! changes nothing. Their `service` and `severity` are the monitor's policy
//! entry's ([`IncomingAlert::service`]), which win over the route tree's; the
//! route tree still decides the group and the runbook.

use std::fmt;

use super::{AlertSource, IncomingAlert, LabelSet};
use crate::policy::{CheckKind, HealthCheck, Heartbeat};
use crate::{Duration, Policy, Timestamp};

/// `alertname` of a heartbeat that stopped.
pub const HEARTBEAT_ALERTNAME: &str = "HeartbeatMissing";
/// `alertname` of a failing health check.
pub const CHECK_ALERTNAME: &str = "HealthCheckFailed";

/// The alert key of a heartbeat.
pub fn heartbeat_key(name: &str) -> String {
    format!("heartbeat:{name}")
}

/// The alert key of a health check.
pub fn check_key(name: &str) -> String {
    format!("check:{name}")
}

/// Why a probe failed, in terms a responder reads in the alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with a status the check does not accept.
    Status { code: u16, expected: String },
    /// No complete answer within the check's timeout.
    Timeout { after: Duration },
    /// Nothing listens at the address.
    ConnectionRefused,
    /// The status was fine, the body lacked the expected text.
    BodyMismatch { code: u16, expected: String },
    /// Anything else: DNS, TLS, a reset connection, a redirect loop.
    Error { message: String },
}

impl Failure {
    /// A short stable name, for metrics: `status`, `timeout`, `refused`,
    /// `body_mismatch` or `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Status { .. } => "status",
            Failure::Timeout { .. } => "timeout",
            Failure::ConnectionRefused => "refused",
            Failure::BodyMismatch { .. } => "body_mismatch",
            Failure::Error { .. } => "error",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status { code, expected } => {
                write!(f, "answered HTTP {code}, expected {expected}")
            }
            Failure::Timeout { after } => write!(f, "timed out after {after}"),
            Failure::ConnectionRefused => f.write_str("connection refused"),
            Failure::BodyMismatch { code, expected } => write!(
                f,
                "answered HTTP {code} but the body does not contain {expected:?}"
            ),
            Failure::Error { message } => f.write_str(message),
        }
    }
}

/// What one probe saw: `Ok` when the check passed.
pub type ProbeResult = Result<(), Failure>;

/// Where a check stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckPhase {
    /// The last probe passed (or none has run).
    Healthy,
    /// Failing, but fewer times in a row than the threshold: nobody paged yet.
    Failing,
    /// The alert is firing.
    Firing,
}

/// A check's memory between probes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckTracker {
    /// Failures in a row; 0 after a success.
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    /// Its alert is firing (reported and not yet resolved).
    pub firing: bool,
}

impl CheckTracker {
    /// A check whose alert was found firing in the store (after a restart):
    /// its next success resolves it.
    pub fn restored_firing() -> CheckTracker {
        CheckTracker {
            firing: true,
            ..CheckTracker::default()
        }
    }

    pub fn phase(&self) -> CheckPhase {
        if self.firing {
            CheckPhase::Firing
        } else if self.consecutive_failures > 0 {
            CheckPhase::Failing
        } else {
            CheckPhase::Healthy
        }
    }
}

/// A check after one probe: its new tracker and the alert to report, if the
/// probe changed whether it fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    pub tracker: CheckTracker,
    pub alert: Option<IncomingAlert>,
}

/// Fold one probe result into a check's tracker.
///
/// - A failure counts; the one that reaches the threshold while the alert is
///   not firing fires it, starting when the run of failures began. Failures
///   while firing report nothing more (the alert is open-ended).
/// - A success resets the count and, if the alert was firing, resolves it.
///
/// The caller should keep the new tracker only once the alert is stored: if
/// storing fails, the old tracker makes the next probe report it again.
pub fn observe_check(
    policy: &Policy,
    check: &HealthCheck,
    before: &CheckTracker,
    result: &ProbeResult,
    now: Timestamp,
) -> CheckOutcome {
    match result {
        Err(failure) => {
            let tracker = CheckTracker {
                consecutive_failures: before.consecutive_failures.saturating_add(1),
                failing_since: Some(before.failing_since.unwrap_or(now)),
                firing: before.firing,
            };
            if before.firing || tracker.consecutive_failures < check.failure_threshold() {
                return CheckOutcome {
                    tracker,
                    alert: None,
                };
            }
            let alert = check_firing(policy, check, &tracker, failure, now);
            CheckOutcome {
                tracker: CheckTracker {
                    firing: true,
                    ..tracker
                },
                alert: Some(alert),
            }
        }
        Ok(()) => CheckOutcome {
            tracker: CheckTracker::default(),
            alert: before
                .firing
                .then(|| check_resolved(policy, check, before, now)),
        },
    }
}

fn check_firing(
    policy: &Policy,
    check: &HealthCheck,
    tracker: &CheckTracker,
    failure: &Failure,
    now: Timestamp,
) -> IncomingAlert {
    let starts_at = tracker.failing_since.unwrap_or(now);
    let times = match tracker.consecutive_failures {
        1 => "once".to_string(),
        n => format!("{n} times in a row"),
    };
    let description = with_intro(
        &check.description,
        format!(
            "{} failed {times} since {}: {failure}.",
            check.target(),
            short_time(starts_at)
        ),
    );
    IncomingAlert {
        source: AlertSource::Check,
        key: check_key(&check.name),
        labels: check_labels(policy, check),
        annotations: annotations(format!("Health check {} failing", check.name), description),
        starts_at,
        ends_at: None,
        generator_url: check_url(check),
        service: check.service.clone(),
        severity: severity_name(policy, check.severity.as_deref()),
    }
}

fn check_resolved(
    policy: &Policy,
    check: &HealthCheck,
    before: &CheckTracker,
    now: Timestamp,
) -> IncomingAlert {
    let description = with_intro(
        &check.description,
        format!("{} passed again at {}.", check.target(), short_time(now)),
    );
    IncomingAlert {
        source: AlertSource::Check,
        key: check_key(&check.name),
        labels: check_labels(policy, check),
        annotations: annotations(format!("Health check {} failing", check.name), description),
        starts_at: before.failing_since.unwrap_or(now).min(now),
        ends_at: Some(now),
        generator_url: check_url(check),
        service: check.service.clone(),
        severity: severity_name(policy, check.severity.as_deref()),
    }
}

fn check_labels(policy: &Policy, check: &HealthCheck) -> LabelSet {
    monitor_labels(
        policy,
        CHECK_ALERTNAME,
        ("check", &check.name),
        check.service.as_deref(),
        check.severity.as_deref(),
        &check.labels,
    )
}

fn check_url(check: &HealthCheck) -> Option<String> {
    match check.kind {
        Some(CheckKind::Http) => check.url.clone(),
        _ => None,
    }
}

/// When a heartbeat last pinged at `last_seen` counts as missing: from
/// `last_seen + interval` (the ping that did not come), reported once
/// `grace` more has passed. `None` while it is not missing at `now`.
pub fn missing_since(
    last_seen: Timestamp,
    interval: Duration,
    grace: Duration,
    now: Timestamp,
) -> Option<Timestamp> {
    let due = last_seen.checked_add(interval.as_signed()).ok()?;
    let alarm = due.checked_add(grace.as_signed()).ok()?;
    (now >= alarm).then_some(due)
}

/// What is known about a heartbeat's pings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastPing {
    /// It pinged at this instant.
    At(Timestamp),
    /// It never pinged; Firebell has been waiting since this instant.
    Never { waiting_since: Timestamp },
}

impl LastPing {
    /// The instant the heartbeat's clock runs from.
    pub fn since(self) -> Timestamp {
        match self {
            LastPing::At(t) | LastPing::Never { waiting_since: t } => t,
        }
    }
}

/// A heartbeat at `now`: whether its alert fires, and the alert to report if
/// that changed since `was_firing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    pub firing: bool,
    pub alert: Option<IncomingAlert>,
}

/// Decide a heartbeat: missing for `interval + grace` fires (starting when
/// the ping was due); a ping after that resolves.
pub fn observe_heartbeat(
    policy: &Policy,
    heartbeat: &Heartbeat,
    was_firing: bool,
    last: LastPing,
    now: Timestamp,
) -> HeartbeatOutcome {
    let Some(interval) = heartbeat.interval else {
        // Validation requires an interval; without one nothing is ever due.
        return HeartbeatOutcome {
            firing: was_firing,
            alert: None,
        };
    };
    let grace = heartbeat.grace();
    let missing = missing_since(last.since(), interval, grace, now);
    let alert = match (missing, was_firing) {
        (Some(due), false) => {
            let seen = match last {
                LastPing::At(t) => format!("No ping since {}", short_time(t)),
                LastPing::Never { waiting_since } => format!(
                    "No ping at all since Firebell began waiting at {}",
                    short_time(waiting_since)
                ),
            };
            Some(heartbeat_alert(
                policy,
                heartbeat,
                with_intro(
                    &heartbeat.description,
                    format!(
                        "{seen}; it pings every {interval} and was due at {} (grace {grace}).",
                        short_time(due)
                    ),
                ),
                due,
                None,
            ))
        }
        (None, true) => Some(heartbeat_alert(
            policy,
            heartbeat,
            with_intro(
                &heartbeat.description,
                format!("Pinged again at {}.", short_time(last.since())),
            ),
            now,
            Some(now),
        )),
        _ => None,
    };
    HeartbeatOutcome {
        firing: missing.is_some(),
        alert,
    }
}

fn heartbeat_alert(
    policy: &Policy,
    heartbeat: &Heartbeat,
    description: String,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
) -> IncomingAlert {
    IncomingAlert {
        source: AlertSource::Heartbeat,
        key: heartbeat_key(&heartbeat.name),
        labels: monitor_labels(
            policy,
            HEARTBEAT_ALERTNAME,
            ("heartbeat", &heartbeat.name),
            heartbeat.service.as_deref(),
            heartbeat.severity.as_deref(),
            &heartbeat.labels,
        ),
        annotations: annotations(format!("Heartbeat {} missing", heartbeat.name), description),
        starts_at,
        ends_at,
        generator_url: None,
        service: heartbeat.service.clone(),
        severity: severity_name(policy, heartbeat.severity.as_deref()),
    }
}

/// `alertname`, the monitor's own name label, `service`, `severity` (in the
/// ladder's spelling) and the configured extra labels.
fn monitor_labels(
    policy: &Policy,
    alertname: &str,
    (kind, name): (&str, &str),
    service: Option<&str>,
    severity: Option<&str>,
    extra: &LabelSet,
) -> LabelSet {
    let mut labels = extra.clone();
    labels.insert("alertname".into(), alertname.into());
    labels.insert(kind.into(), name.into());
    if let Some(service) = service {
        labels.insert("service".into(), service.into());
    }
    if let Some(severity) = severity_name(policy, severity) {
        labels.insert("severity".into(), severity);
    }
    labels
}

/// A severity in the ladder's spelling (`sev-1` → `SEV-1`).
fn severity_name(policy: &Policy, severity: Option<&str>) -> Option<String> {
    let severity = severity?;
    Some(
        policy
            .severity(severity)
            .map_or(severity, |s| s.name.as_str())
            .to_string(),
    )
}

fn annotations(summary: String, description: String) -> LabelSet {
    LabelSet::from([
        ("summary".to_string(), summary),
        ("description".to_string(), description),
    ])
}

/// The policy entry's description, then what happened.
fn with_intro(intro: &str, what: String) -> String {
    let intro = intro.trim();
    if intro.is_empty() {
        what
    } else if intro.ends_with(['.', '!', '?']) {
        format!("{intro} {what}")
    } else {
        format!("{intro}. {what}")
    }
}

/// `2026-11-23T10:00:05Z`: seconds are precise enough for people.
fn short_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Where in its interval a check is first probed, in milliseconds: a stable
/// hash of its name, so thousands of checks with the same interval spread
/// over it instead of all firing in the same millisecond, and a restart
/// keeps each one's rhythm.
pub fn spread_offset_ms(name: &str, interval: Duration) -> u64 {
    let interval_ms = u64::try_from(interval.as_signed().as_millis()).unwrap_or(0);
    if interval_ms == 0 {
        return 0;
    }
    // FNV-1a 64.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h % interval_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{merge, route};

    const POLICY: &str = r#"
[[severities]]
name = "SEV-1"
description = "Down"

[[severities]]
name = "SEV-3"
description = "Minor"

[services.api]
description = "API"

[[heartbeats]]
name = "nightly-backup"
description = "pg_dump to S3"
interval = "1h"
grace = "10m"
service = "api"
severity = "sev-3"
labels = { team = "platform" }

[[checks]]
name = "api-healthz"
kind = "http"
url = "https://api.example.com/healthz"
service = "api"
severity = "SEV-1"
failure_threshold = 2

[[checks]]
name = "db"
kind = "tcp"
address = "db.internal:5432"
failure_threshold = 1
"#;

    fn policy() -> Policy {
        Policy::parse(POLICY, "p.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn down() -> ProbeResult {
        Err(Failure::Status {
            code: 503,
            expected: "2xx".into(),
        })
    }

    #[test]
    fn a_check_fires_at_the_threshold_and_resolves_on_the_first_success() {
        let p = policy();
        let check = &p.checks[0];
        let t0 = t("2026-11-23T10:00:00Z");
        let t1 = t("2026-11-23T10:00:30Z");
        let t2 = t("2026-11-23T10:01:00Z");
        let t3 = t("2026-11-23T10:01:30Z");

        let first = observe_check(&p, check, &CheckTracker::default(), &down(), t0);
        assert_eq!(first.alert, None, "one failure is below the threshold of 2");
        assert_eq!(first.tracker.phase(), CheckPhase::Failing);

        let second = observe_check(&p, check, &first.tracker, &down(), t1);
        let alert = second.alert.expect("the second failure in a row fires");
        assert_eq!(second.tracker.phase(), CheckPhase::Firing);
        assert_eq!(alert.key, "check:api-healthz");
        assert_eq!(alert.source, AlertSource::Check);
        assert_eq!(alert.starts_at, t0, "the alert starts at the first failure");
        assert_eq!(alert.ends_at, None, "firing is open-ended");
        assert_eq!(alert.labels["alertname"], CHECK_ALERTNAME);
        assert_eq!(alert.labels["check"], "api-healthz");
        assert_eq!(alert.labels["service"], "api");
        assert_eq!(alert.labels["severity"], "SEV-1");
        assert_eq!(
            alert.annotations["summary"],
            "Health check api-healthz failing"
        );
        let description = &alert.annotations["description"];
        assert!(
            description.contains("GET https://api.example.com/healthz failed 2 times in a row")
                && description.contains("answered HTTP 503, expected 2xx"),
            "{description}"
        );

        let third = observe_check(&p, check, &second.tracker, &down(), t2);
        assert_eq!(third.alert, None, "still failing: nothing new to report");
        assert_eq!(third.tracker.consecutive_failures, 3);

        let back = observe_check(&p, check, &third.tracker, &Ok(()), t3);
        let resolved = back.alert.expect("the first success resolves");
        assert_eq!(back.tracker, CheckTracker::default());
        assert_eq!(resolved.key, "check:api-healthz");
        assert_eq!((resolved.starts_at, resolved.ends_at), (t0, Some(t3)));
        assert_eq!(resolved.labels, alert.labels, "same labels, same alert");

        let calm = observe_check(&p, check, &back.tracker, &Ok(()), t3);
        assert_eq!(calm.alert, None, "healthy stays quiet");
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let p = policy();
        let check = &p.checks[0];
        let now = t("2026-11-23T10:00:00Z");
        let one = observe_check(&p, check, &CheckTracker::default(), &down(), now);
        let ok = observe_check(&p, check, &one.tracker, &Ok(()), now);
        assert_eq!(ok.alert, None, "never fired, so nothing resolves");
        let again = observe_check(&p, check, &ok.tracker, &down(), now);
        assert_eq!(again.alert, None);
        assert_eq!(again.tracker.consecutive_failures, 1);
    }

    #[test]
    fn a_threshold_of_one_fires_at_once_and_reasons_are_described() {
        let p = policy();
        let db = &p.checks[1];
        let now = t("2026-11-23T10:00:00Z");
        for (failure, text) in [
            (Failure::ConnectionRefused, "connection refused"),
            (
                Failure::Timeout {
                    after: Duration::from_secs(5),
                },
                "timed out after 5s",
            ),
            (
                Failure::Error {
                    message: "dns error: no such host".into(),
                },
                "dns error: no such host",
            ),
        ] {
            let out = observe_check(&p, db, &CheckTracker::default(), &Err(failure), now);
            let alert = out.alert.expect("threshold 1 fires on the first failure");
            let description = &alert.annotations["description"];
            assert!(
                description.starts_with("TCP db.internal:5432 failed once")
                    && description.contains(text),
                "{description}"
            );
            assert!(!alert.labels.contains_key("severity"), "none configured");
            assert_eq!(alert.generator_url, None);
        }
        let body = Failure::BodyMismatch {
            code: 200,
            expected: "ok".into(),
        };
        assert_eq!(
            body.to_string(),
            "answered HTTP 200 but the body does not contain \"ok\""
        );
        assert_eq!(body.kind(), "body_mismatch");
    }

    #[test]
    fn a_restored_firing_check_resolves_on_success_and_does_not_fire_twice() {
        let p = policy();
        let check = &p.checks[0];
        let now = t("2026-11-23T10:00:00Z");
        let restored = CheckTracker::restored_firing();
        let failing = observe_check(&p, check, &restored, &down(), now);
        assert_eq!(failing.alert, None, "already firing: no second report");
        let ok = observe_check(&p, check, &restored, &Ok(()), now);
        let alert = ok.alert.expect("resolves");
        assert_eq!(alert.ends_at, Some(now));
        assert_eq!(
            alert.starts_at, now,
            "unknown start: merge keeps the stored one"
        );
    }

    #[test]
    fn missing_since_is_due_time_once_the_grace_has_passed() {
        let last = t("2026-11-23T10:00:00Z");
        let hour = Duration::from_hours(1);
        let grace = Duration::from_mins(10);
        assert_eq!(
            missing_since(last, hour, grace, t("2026-11-23T11:09:59Z")),
            None
        );
        assert_eq!(
            missing_since(last, hour, grace, t("2026-11-23T11:10:00Z")),
            Some(t("2026-11-23T11:00:00Z"))
        );
        assert_eq!(
            missing_since(last, hour, Duration::ZERO, t("2026-11-23T11:00:00Z")),
            Some(t("2026-11-23T11:00:00Z"))
        );
        assert_eq!(
            missing_since(Timestamp::MAX, hour, grace, Timestamp::MAX),
            None,
            "overflow is never due"
        );
    }

    #[test]
    fn a_heartbeat_fires_when_missing_and_resolves_on_the_next_ping() {
        let p = policy();
        let hb = &p.heartbeats[0];
        let last = LastPing::At(t("2026-11-23T10:00:00Z"));

        let early = observe_heartbeat(&p, hb, false, last, t("2026-11-23T11:05:00Z"));
        assert_eq!((early.firing, early.alert), (false, None));

        let late = observe_heartbeat(&p, hb, false, last, t("2026-11-23T11:10:00Z"));
        assert!(late.firing);
        let alert = late.alert.expect("fires");
        assert_eq!(alert.key, "heartbeat:nightly-backup");
        assert_eq!(alert.source, AlertSource::Heartbeat);
        assert_eq!(
            alert.starts_at,
            t("2026-11-23T11:00:00Z"),
            "from when it was due"
        );
        assert_eq!(alert.ends_at, None);
        assert_eq!(alert.labels["alertname"], HEARTBEAT_ALERTNAME);
        assert_eq!(alert.labels["heartbeat"], "nightly-backup");
        assert_eq!(alert.labels["severity"], "SEV-3", "the ladder's spelling");
        assert_eq!(alert.labels["team"], "platform", "configured labels");
        let description = &alert.annotations["description"];
        assert!(
            description.starts_with("pg_dump to S3. No ping since 2026-11-23T10:00:00Z")
                && description.contains("every 1h"),
            "{description}"
        );

        let still = observe_heartbeat(&p, hb, true, last, t("2026-11-23T12:00:00Z"));
        assert_eq!((still.firing, still.alert), (true, None), "no repeat");

        let pinged = LastPing::At(t("2026-11-23T12:01:00Z"));
        let now = t("2026-11-23T12:01:01Z");
        let back = observe_heartbeat(&p, hb, true, pinged, now);
        assert!(!back.firing);
        let resolved = back.alert.expect("resolves");
        assert_eq!(resolved.ends_at, Some(now));
        assert_eq!(resolved.labels, alert.labels);
    }

    #[test]
    fn a_heartbeat_that_never_pinged_counts_from_when_firebell_started_waiting() {
        let p = policy();
        let hb = &p.heartbeats[0];
        let last = LastPing::Never {
            waiting_since: t("2026-11-23T10:00:00Z"),
        };
        let out = observe_heartbeat(&p, hb, false, last, t("2026-11-23T11:10:00Z"));
        let alert = out.alert.expect("fires");
        assert!(
            alert.annotations["description"]
                .contains("No ping at all since Firebell began waiting"),
            "{:?}",
            alert.annotations
        );
    }

    #[test]
    fn default_grace_is_a_tenth_of_the_interval_but_at_least_a_minute() {
        let hb = |interval: Duration| Heartbeat {
            interval: Some(interval),
            ..Heartbeat::default()
        };
        assert_eq!(
            hb(Duration::from_hours(24)).grace(),
            Duration::from_mins(144)
        );
        assert_eq!(hb(Duration::from_hours(1)).grace(), Duration::from_mins(6));
        assert_eq!(hb(Duration::from_mins(5)).grace(), Duration::from_mins(1));
    }

    #[test]
    fn service_and_severity_are_the_entrys_and_the_route_tree_keeps_the_group() {
        let p = policy();
        let hb = &p.heartbeats[0];
        let alert = observe_heartbeat(
            &p,
            hb,
            false,
            LastPing::At(t("2026-11-23T10:00:00Z")),
            t("2026-11-23T12:00:00Z"),
        )
        .alert
        .expect("fires");
        assert_eq!(alert.service.as_deref(), Some("api"));
        assert_eq!(
            alert.severity.as_deref(),
            Some("SEV-3"),
            "the ladder's spelling"
        );
        let routed = route(&p, &alert.labels).swap_remove(0);
        let (stored, _) = merge(None, &alert, &routed, t("2026-11-23T12:00:00Z"));
        assert_eq!(stored.service.as_deref(), Some("api"));
        assert_eq!(stored.severity.as_deref(), Some("SEV-3"));
        assert_eq!(
            stored.group_key, routed.group_key,
            "grouping is the route's"
        );

        let db = observe_check(
            &p,
            &p.checks[1],
            &CheckTracker::default(),
            &Err(Failure::ConnectionRefused),
            t("2026-11-23T12:00:00Z"),
        )
        .alert
        .expect("fires");
        assert_eq!((db.service, db.severity), (None, None), "the routes decide");
    }

    #[test]
    fn probes_spread_over_the_interval_stably() {
        let interval = Duration::from_secs(30);
        let offsets: Vec<u64> = (0..1000)
            .map(|i| spread_offset_ms(&format!("check-{i}"), interval))
            .collect();
        assert!(offsets.iter().all(|o| *o < 30_000));
        assert_eq!(offsets[7], spread_offset_ms("check-7", interval), "stable");
        // Roughly uniform: every 3-second tenth of the interval gets some.
        for tenth in 0..10 {
            let n = offsets.iter().filter(|o| **o / 3_000 == tenth).count();
            assert!(n > 50, "tenth {tenth} has only {n} of 1000");
        }
        assert_eq!(spread_offset_ms("x", Duration::ZERO), 0);
    }

    #[test]
    fn status_patterns_and_defaults() {
        let p = policy();
        let check = &p.checks[0];
        assert!(check.accepts_status(204) && !check.accepts_status(301));
        assert_eq!(check.expected_status_text(), "2xx");
        assert_eq!(check.interval(), Duration::from_secs(30));
        assert_eq!(check.timeout(), Duration::from_secs(5));
        assert_eq!(check.method(), "GET");
        let custom = Policy::parse(
            "[[severities]]\nname = \"P0\"\n[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"http://x/\"\nexpected_status = [200, \"3xx\"]\n",
            "p.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c = &custom.checks[0];
        assert!(c.accepts_status(200) && c.accepts_status(302));
        assert!(!c.accepts_status(201) && !c.accepts_status(500));
        assert_eq!(c.expected_status_text(), "200, 3xx");
        assert_eq!(c.failure_threshold(), 2, "default");
    }
}
