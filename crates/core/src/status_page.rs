//! The public status page, in Statuspage's terms: components from the
//! policy's services, each in the worst state an open incident or a running
//! maintenance window puts it in; uptime from the incident history; and an
//! incident's public face (its public updates, never its notes).
//!
//! Pure: the server gathers incidents and windows, this decides what a
//! customer sees.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::alert::MaintenanceWindow;
use crate::incident::{Direction, Event, EventKind, Status, Visibility};
use crate::policy::{Digits, Impact};
use crate::{Incident, Policy, Timestamp};

/// A component's state, in Statuspage's words. Ordered from best to worst:
/// an outage outranks maintenance, so a customer is told when a planned
/// window went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl std::str::FromStr for ComponentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [
            ComponentStatus::Operational,
            ComponentStatus::UnderMaintenance,
            ComponentStatus::DegradedPerformance,
            ComponentStatus::PartialOutage,
            ComponentStatus::MajorOutage,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown component status {s:?}; expected operational, under_maintenance, \
                 degraded_performance, partial_outage, major_outage (or auto)"
            )
        })
    }
}

impl ComponentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    fn of_impact(impact: Impact) -> ComponentStatus {
        match impact {
            Impact::None => ComponentStatus::Operational,
            Impact::DegradedPerformance => ComponentStatus::DegradedPerformance,
            Impact::PartialOutage => ComponentStatus::PartialOutage,
            Impact::MajorOutage => ComponentStatus::MajorOutage,
        }
    }
}

/// The page's overall indicator (Statuspage's `status.indicator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    /// The indicator for the worst component state on the page.
    pub fn of(worst: ComponentStatus) -> Indicator {
        match worst {
            ComponentStatus::Operational => Indicator::None,
            ComponentStatus::UnderMaintenance => Indicator::Maintenance,
            ComponentStatus::DegradedPerformance => Indicator::Minor,
            ComponentStatus::PartialOutage => Indicator::Major,
            ComponentStatus::MajorOutage => Indicator::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::None => "none",
            Indicator::Maintenance => "maintenance",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }
}

/// An incident's impact as Statuspage names it (`incident.impact`).
pub fn impact_name(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "none",
        Impact::DegradedPerformance => "minor",
        Impact::PartialOutage => "major",
        Impact::MajorOutage => "critical",
    }
}

/// An incident's status as Statuspage names it: it has no "mitigated", and
/// "monitoring" is what a customer reads as "fixed, watching".
pub fn incident_status_name(status: Status) -> &'static str {
    match status {
        Status::Investigating => "investigating",
        Status::Identified => "identified",
        Status::Mitigated | Status::Monitoring => "monitoring",
        Status::Resolved => "resolved",
    }
}

/// How a subscriber is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberChannel {
    Email,
    /// A signed JSON POST to the subscriber's URL.
    Webhook,
}

/// Where a subscription is in its life: double opt-in, then until the
/// one-click unsubscribe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberState {
    /// Signed up, the confirmation link not yet followed: sent nothing else.
    Pending,
    Confirmed,
    Unsubscribed,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(<$t>::$v),)*
                    _ => Err(format!(
                        "unknown {} {s:?}; expected {}",
                        stringify!($t),
                        [$($s),*].join(", ")
                    )),
                }
            }
        }
    };
}
text_enum!(SubscriberChannel { Email => "email", Webhook => "webhook" });
text_enum!(SubscriberState {
    Pending => "pending",
    Confirmed => "confirmed",
    Unsubscribed => "unsubscribed",
});

/// Whether a subscriber to `wanted` components (empty: the whole page)
/// hears about a post on `affected` ones (empty: page-wide).
pub fn subscriber_wants(wanted: &[String], affected: &[String]) -> bool {
    wanted.is_empty() || affected.is_empty() || wanted.iter().any(|w| affected.contains(w))
}

/// One component on the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Stable across policy reloads: `<service>.<slug of the name>`.
    pub id: String,
    pub name: String,
    /// The service whose group it is shown in.
    pub service: String,
}

/// The page's components, grouped by service in the policy's order.
pub fn components(policy: &Policy) -> Vec<Component> {
    let mut out = Vec::new();
    for (service, s) in &policy.services {
        for name in &s.components {
            out.push(Component {
                id: format!("{service}.{}", slug(name)),
                name: name.clone(),
                service: service.clone(),
            });
        }
    }
    out
}

/// Lowercase ASCII letters and digits, runs of anything else as one `-`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        // A name with no ASCII at all (Arabic): its bytes keep it unique.
        out = name.bytes().map(|b| format!("{b:02x}")).collect();
    }
    out
}

/// Whether an incident shows on the page: its severity has an impact and it
/// affects a service with components. An incident on no public service
/// (a stolen laptop, an internal tool) never shows, nor does a drill.
pub fn is_public(policy: &Policy, incident: &Incident) -> bool {
    !incident.drill
        && policy.status_impact(&incident.severity) != Impact::None
        && incident.services.iter().any(|s| {
            policy
                .services
                .get(s)
                .is_some_and(|s| !s.components.is_empty())
        })
}

/// The state of each of `components` (same order): what a person set on an
/// open incident, else the worst of what the open incidents of its service
/// and its running maintenance windows say.
pub fn component_states<'a>(
    policy: &Policy,
    components: &[Component],
    open: &[&'a Incident],
    windows: &'a [MaintenanceWindow],
    now: Timestamp,
) -> Vec<ComponentStatus> {
    let mut by_service: BTreeMap<&str, ComponentStatus> = BTreeMap::new();
    let mut worsen = |service: &'a str, status: ComponentStatus| {
        let slot = by_service
            .entry(service)
            .or_insert(ComponentStatus::Operational);
        *slot = (*slot).max(status);
    };
    for w in windows.iter().filter(|w| w.is_active(now)) {
        for s in &w.services {
            worsen(s.as_str(), ComponentStatus::UnderMaintenance);
        }
    }
    for incident in open.iter().filter(|i| i.status.is_open()) {
        let status = ComponentStatus::of_impact(policy.status_impact(&incident.severity));
        for s in &incident.services {
            worsen(s.as_str(), status);
        }
    }
    // A person's word on a component, set on an open incident, replaces
    // what was derived (both ways: "still degraded" and "fine already");
    // two incidents saying different things: the worse.
    let mut set: BTreeMap<&str, ComponentStatus> = BTreeMap::new();
    for incident in open.iter().filter(|i| i.status.is_open()) {
        for (component, status) in &incident.component_states {
            if let Ok(status) = status.parse::<ComponentStatus>() {
                let slot = set.entry(component.as_str()).or_insert(status);
                *slot = (*slot).max(status);
            }
        }
    }
    components
        .iter()
        .map(|c| {
            set.get(c.id.as_str()).copied().unwrap_or_else(|| {
                by_service
                    .get(c.service.as_str())
                    .copied()
                    .unwrap_or(ComponentStatus::Operational)
            })
        })
        .collect()
}

/// A status update customers may read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicUpdate {
    /// The event's `seq`: stable, so feeds and widgets can tell updates apart.
    pub seq: u64,
    pub at: Timestamp,
    pub status: Status,
    pub text: String,
    pub locale: Option<String>,
    pub direction: Direction,
}

/// The public updates in an incident's log, oldest first. Notes, internal
/// updates and everything else on the timeline stay inside.
pub fn public_updates(events: &[Event]) -> Vec<PublicUpdate> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StatusUpdated {
                status,
                visibility: Visibility::Public,
                message,
                locale,
                direction,
                ..
            } => Some(PublicUpdate {
                seq: e.seq,
                at: e.at,
                status: *status,
                text: message.clone(),
                locale: locale.clone(),
                direction: *direction,
            }),
            _ => None,
        })
        .collect()
}

/// When an incident affected a service, and how badly: the uptime input.
/// The severity is the incident's current one (the history keeps no
/// per-severity intervals cheaply; a downgraded incident counts as its
/// final severity for its whole span).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub service: String,
    pub severity: String,
    pub start: Timestamp,
    /// `None`: still open.
    pub end: Option<Timestamp>,
}

/// Uptime weighting, as Statuspage counts it: a major outage is down time,
/// a partial outage counts 30 %, degraded performance not at all.
const PARTIAL_WEIGHT: f64 = 0.3;

/// One day's bar.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayBar {
    /// The calendar date in the policy's time zone.
    pub date: String,
    /// Worst state seen that day.
    pub worst: ComponentStatus,
    /// Seconds of major and partial outage outside maintenance, and of
    /// maintenance, that day.
    pub major_secs: i64,
    pub partial_secs: i64,
    pub maintenance_secs: i64,
    /// Percent of the day up (maintenance excluded from down time).
    pub uptime: f64,
}

/// A component's uptime: 90 daily bars (oldest first) and the 30- and
/// 90-day percentages against the target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Uptime {
    pub days: Vec<DayBar>,
    pub last_30_days: f64,
    pub last_90_days: f64,
    pub target: Option<f64>,
    /// Whether the 30-day figure is below the target.
    pub below_target: bool,
}

type Interval = (i64, i64);

/// Uptime of `service` over the 90 days before `now`, in the calendar's
/// zone. Time under maintenance is planned: not down time, and shown on
/// the bar as maintenance whatever incidents it had.
pub fn uptime(
    policy: &Policy,
    service: &str,
    spans: &[Span],
    windows: &[MaintenanceWindow],
    now: Timestamp,
) -> Uptime {
    let now_s = now.as_second();
    let horizon = now_s - 90 * 86_400;
    let clip = |start: Timestamp, end: Option<Timestamp>| -> Option<Interval> {
        let a = start.as_second().max(horizon);
        let b = end.map_or(now_s, |e| e.as_second()).min(now_s);
        (a < b).then_some((a, b))
    };
    let mut major = Vec::new();
    let mut partial = Vec::new();
    let mut degraded = Vec::new();
    for span in spans.iter().filter(|s| s.service == service) {
        let Some(iv) = clip(span.start, span.end) else {
            continue;
        };
        match policy.status_impact(&span.severity) {
            Impact::MajorOutage => major.push(iv),
            Impact::PartialOutage => partial.push(iv),
            Impact::DegradedPerformance => degraded.push(iv),
            Impact::None => {}
        }
    }
    let maintenance = merge(
        windows
            .iter()
            .filter(|w| w.services.iter().any(|s| s == service))
            .filter_map(|w| clip(w.starts_at, w.ends_at))
            .collect(),
    );
    let major = merge(major);
    // Partial time under a major outage counts once, as major.
    let partial = subtract(&merge(partial), &major);
    let degraded = merge(degraded);
    let major_down = subtract(&major, &maintenance);
    let partial_down = subtract(&partial, &maintenance);
    let degraded_down = subtract(&degraded, &maintenance);

    let down_in = |a: i64, b: i64| -> f64 {
        overlap(&major_down, a, b) as f64 + PARTIAL_WEIGHT * overlap(&partial_down, a, b) as f64
    };
    let percent = |a: i64, b: i64| -> f64 {
        if b <= a {
            return 100.0;
        }
        100.0 * (1.0 - down_in(a, b) / (b - a) as f64)
    };

    let tz = policy.calendar.tz();
    let today = now.to_zoned(tz.clone()).date();
    let mut days = Vec::with_capacity(90);
    for back in (0..90).rev() {
        let Ok(date) = today.checked_sub(jiff::Span::new().days(back)) else {
            continue;
        };
        let start = day_start(date, &tz);
        let end = date
            .tomorrow()
            .ok()
            .map_or(start + 86_400, |d| day_start(d, &tz))
            .min(now_s);
        let (major_secs, partial_secs, degraded_secs, maintenance_secs) = (
            overlap(&major_down, start, end),
            overlap(&partial_down, start, end),
            overlap(&degraded_down, start, end),
            overlap(&maintenance, start, end),
        );
        let worst = if major_secs > 0 {
            ComponentStatus::MajorOutage
        } else if partial_secs > 0 {
            ComponentStatus::PartialOutage
        } else if degraded_secs > 0 {
            ComponentStatus::DegradedPerformance
        } else if maintenance_secs > 0 {
            ComponentStatus::UnderMaintenance
        } else {
            ComponentStatus::Operational
        };
        days.push(DayBar {
            date: date.to_string(),
            worst,
            major_secs,
            partial_secs,
            maintenance_secs,
            uptime: percent(start, end),
        });
    }
    let last_30_days = percent(now_s - 30 * 86_400, now_s);
    let last_90_days = percent(horizon, now_s);
    let target = policy.status_page.uptime_target;
    Uptime {
        days,
        last_30_days,
        last_90_days,
        target,
        below_target: target.is_some_and(|t| last_30_days < t),
    }
}

fn day_start(date: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> i64 {
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_second())
        .unwrap_or_else(|_| {
            date.to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp().as_second())
                .unwrap_or(0)
        })
}

/// Sorted, disjoint intervals covering the same time.
fn merge(mut ivs: Vec<Interval>) -> Vec<Interval> {
    ivs.sort_unstable();
    let mut out: Vec<Interval> = Vec::with_capacity(ivs.len());
    for (a, b) in ivs {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `a` minus `b`, both merged.
fn subtract(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    for &(mut start, end) in a {
        for &(bs, be) in b {
            if be <= start || bs >= end {
                continue;
            }
            if bs > start {
                out.push((start, bs));
            }
            start = start.max(be);
            if start >= end {
                break;
            }
        }
        if start < end {
            out.push((start, end));
        }
    }
    out
}

/// Seconds of merged `ivs` inside `[a, b)`.
fn overlap(ivs: &[Interval], a: i64, b: i64) -> i64 {
    ivs.iter().map(|&(s, e)| (e.min(b) - s.max(a)).max(0)).sum()
}

/// `text` with its ASCII digits written in `digits`.
pub fn localize_digits(text: &str, digits: Digits) -> String {
    match digits {
        Digits::Latin => text.to_string(),
        Digits::Arabic => text
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) if c.is_ascii_digit() => char::from_u32(0x0660 + d).unwrap_or(c),
                _ => c,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracting_and_overlapping_intervals() {
        let a = merge(vec![(0, 10), (5, 20), (30, 40)]);
        assert_eq!(a, vec![(0, 20), (30, 40)]);
        assert_eq!(
            subtract(&a, &[(5, 8), (35, 50)]),
            vec![(0, 5), (8, 20), (30, 35)]
        );
        assert_eq!(overlap(&a, 10, 35), 15);
    }

    #[test]
    fn slugs_are_stable_and_never_empty() {
        assert_eq!(slug("REST API"), "rest-api");
        assert_eq!(slug("  Login / SSO "), "login-sso");
        assert_eq!(slug("واتساب"), "d988d8a7d8aad8b3d8a7d8a8");
    }

    fn riyadh_policy() -> Policy {
        let mut policy = Policy::default();
        policy.calendar.time_zone = "Asia/Riyadh".into();
        policy.severities = ["P0", "P1", "P2"]
            .map(|name| crate::policy::Severity {
                name: name.into(),
                ..Default::default()
            })
            .to_vec();
        policy.status_page.uptime_target = Some(99.9);
        policy
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn an_outage_across_local_midnight_splits_between_the_days() {
        let policy = riyadh_policy();
        // 23:30 to 00:30 in Riyadh (UTC+3).
        let spans = [Span {
            service: "api".into(),
            severity: "P0".into(),
            start: at("2026-11-22T20:30:00Z"),
            end: Some(at("2026-11-22T21:30:00Z")),
        }];
        let u = uptime(&policy, "api", &spans, &[], at("2026-11-23T12:00:00Z"));
        let last_two: Vec<(&str, i64)> = u.days[88..]
            .iter()
            .map(|d| (d.date.as_str(), d.major_secs))
            .collect();
        assert_eq!(last_two, [("2026-11-22", 1800), ("2026-11-23", 1800)]);
        assert!((u.last_30_days - 100.0 * (1.0 - 3600.0 / (30.0 * 86_400.0))).abs() < 1e-9);
        assert!(u.below_target);
        // Another service saw nothing.
        let other = uptime(&policy, "web", &spans, &[], at("2026-11-23T12:00:00Z"));
        assert_eq!(other.last_90_days, 100.0);
        assert!(
            other
                .days
                .iter()
                .all(|d| d.worst == ComponentStatus::Operational)
        );
    }

    #[test]
    fn partial_time_under_a_major_outage_counts_once() {
        let policy = riyadh_policy();
        let span = |severity: &str, from: &str, to: &str| Span {
            service: "api".into(),
            severity: severity.into(),
            start: at(from),
            end: Some(at(to)),
        };
        // P1 10:00–11:00 with a P0 10:30–10:45 inside it: 15 min major,
        // 45 min partial (30 %).
        let spans = [
            span("P1", "2026-11-23T07:00:00Z", "2026-11-23T08:00:00Z"),
            span("P0", "2026-11-23T07:30:00Z", "2026-11-23T07:45:00Z"),
        ];
        let u = uptime(&policy, "api", &spans, &[], at("2026-11-23T12:00:00Z"));
        let today = u.days.last().unwrap();
        assert_eq!((today.major_secs, today.partial_secs), (900, 2700));
        assert_eq!(today.worst, ComponentStatus::MajorOutage);
        let down = 900.0 + 0.3 * 2700.0;
        assert!((u.last_90_days - 100.0 * (1.0 - down / (90.0 * 86_400.0))).abs() < 1e-9);
    }

    #[test]
    fn arabic_digits() {
        assert_eq!(localize_digits("99.95%", Digits::Arabic), "٩٩.٩٥%");
        assert_eq!(localize_digits("99.95%", Digits::Latin), "99.95%");
    }
}
