//! The policy file's data model: what a runbook says, as types.
//!
//! Structs here do not use `deny_unknown_fields` or `flatten`: the loader
//! ([`super::load`]) collects *every* unknown key with `serde_ignored` and reports
//! them all with line:column, which serde's own denial (first error only) cannot.
//! New sections are added as new optional fields, so old files keep loading.
//!
//! Duration fields carry `#[serde(deserialize_with = "opt_duration")]` (or
//! `durations` for lists) so that `update_every = 15` is reported as "expected
//! a duration string like \"15m\"" rather than "expected a string"; new
//! duration fields should do the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, de};

use crate::Duration;
use crate::alert::{LabelSet, Matcher, MatcherError, parse_matchers};

/// The whole policy. Top-level sections are all optional except `severities`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Policy {
    /// Schema version of the policy language; only `1` exists today.
    pub version: u32,
    pub organization: Organization,
    pub calendar: Calendar,
    pub incident_ids: IncidentIds,
    /// Ordered from most to least severe: index 0 is the top of the ladder.
    pub severities: Vec<Severity>,
    /// Incident roles in the order they are shown.
    pub roles: Vec<Role>,
    pub checklists: Vec<Checklist>,
    /// Message templates by name (`initial`, `update`, `resolution`, `customer`, ...).
    pub templates: BTreeMap<String, Template>,
    pub services: BTreeMap<String, Service>,
    pub teams: BTreeMap<String, Team>,
    pub people: BTreeMap<String, Person>,
    /// Deadlines owed to someone outside the team (e.g. PDPL: notify SDAIA within 72 h).
    pub obligations: Vec<Obligation>,
    /// The root of the alert routing tree; without it every alert takes the
    /// default route (see [`crate::alert::routing`]).
    pub routing: Option<Route>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Organization {
    pub name: String,
    /// Where the incident is worked, e.g. `#incidents`; templates can use it.
    pub incident_channel: Option<String>,
    pub status_page_url: Option<String>,
    /// Locale used when a template is rendered without one; defaults to `en`.
    pub default_locale: Option<String>,
}

/// Business calendar: when "business hours" and "business days" are.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Calendar {
    /// IANA time zone name, e.g. `Asia/Riyadh`.
    pub time_zone: String,
    /// Working days as three-letter lowercase names: `sun`, `mon`, ... `sat`.
    pub working_days: Vec<String>,
    /// Business hours on a working day, local time `HH:MM`.
    pub working_hours: WorkingHours,
    /// Non-working dates, `YYYY-MM-DD` in the calendar's zone.
    pub holidays: Vec<String>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            time_zone: "UTC".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            working_hours: WorkingHours::default(),
            holidays: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WorkingHours {
    pub start: String,
    pub end: String,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            start: "09:00".into(),
            end: "17:00".into(),
        }
    }
}

/// How incident ids are minted: `{prefix}-{YYYYMMDD}-{NNN}`, numbered per day.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct IncidentIds {
    pub prefix: String,
    /// Zone whose calendar day the date part and the daily counter follow.
    pub time_zone: String,
    /// Minimum digits of the daily sequence (zero-padded); more are used if needed.
    pub digits: u8,
}

impl Default for IncidentIds {
    fn default() -> Self {
        IncidentIds {
            prefix: "INC".into(),
            time_zone: "UTC".into(),
            digits: 3,
        }
    }
}

/// When a severity may page people.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Paging {
    /// Page at any hour.
    #[default]
    Always,
    /// Page only inside the calendar's business hours; otherwise wait for them.
    BusinessHours,
    /// Never page (backlog / ticket only).
    Never,
}

/// What happens when every alert of an incident has resolved.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnAlertsResolved {
    /// Say so on the timeline; people decide when it is over.
    #[default]
    Note,
    /// Resolve the incident automatically.
    Resolve,
}

/// One rung of the severity ladder.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Severity {
    /// What people type and see: `P0`, `SEV-1`.
    pub name: String,
    /// Short label: `Critical`.
    pub label: Option<String>,
    /// What qualifies, in the runbook's words.
    pub description: String,
    /// Someone must acknowledge within this long.
    #[serde(deserialize_with = "opt_duration")]
    pub ack_within: Option<Duration>,
    /// Response target (first responder engaged); a breach is visible and escalates.
    #[serde(deserialize_with = "opt_duration")]
    pub respond_within: Option<Duration>,
    /// Or: respond within this many business days of the calendar (`1` =
    /// "next business day"); see [`Calendar::add_business_days`].
    pub respond_within_business_days: Option<u32>,
    /// An incident commander must be assigned within this long.
    #[serde(deserialize_with = "opt_duration")]
    pub commander_within: Option<Duration>,
    /// Status updates are due at this cadence while open.
    #[serde(deserialize_with = "opt_duration")]
    pub update_every: Option<Duration>,
    /// Target time to resolution.
    #[serde(deserialize_with = "opt_duration")]
    pub resolve_within: Option<Duration>,
    pub paging: Paging,
    /// Channels to use for this severity, in order; one of [`super::CHANNELS`].
    pub channels: Vec<String>,
    pub postmortem: Option<PostmortemRule>,
    /// When all alerts of an incident resolve: `note` (default) or `resolve`.
    pub on_alerts_resolved: OnAlertsResolved,
}

/// "A postmortem is due N after resolution."
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct PostmortemRule {
    pub required: bool,
    /// Due this long after resolution (wall-clock), e.g. `48h`.
    #[serde(deserialize_with = "opt_duration")]
    pub within: Option<Duration>,
    /// Or due this many business days after resolution (calendar-aware).
    pub within_business_days: Option<u32>,
    /// Path pattern the export follows, e.g. `docs/incidents/{date}-{slug}.md`.
    pub path: Option<String>,
    /// Headings the document must have, in order (timeline, root cause, ...).
    pub sections: Vec<String>,
}

/// An incident role, e.g. Incident Commander.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Role {
    /// Stable identifier used by the API and CLI: `incident_commander`.
    pub key: String,
    /// Display name: `Incident Commander`.
    pub name: String,
    /// Abbreviation also accepted on input: `IC`.
    pub short: Option<String>,
    pub description: String,
}

/// A checklist opened on incidents of the listed severities.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Checklist {
    /// Stable identifier: `first-10-minutes`.
    pub key: String,
    pub title: String,
    /// Severities that get this checklist at declaration. Empty = none automatically.
    pub severities: Vec<String>,
    /// Only incidents carrying one of these tags get it (empty = no tag condition).
    pub tags: Vec<String>,
    /// Default deadline for items, measured from declaration.
    #[serde(deserialize_with = "opt_duration")]
    pub within: Option<Duration>,
    pub items: Vec<ChecklistItem>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ChecklistItem {
    /// Unique within the checklist: `freeze`.
    pub key: String,
    pub text: String,
    /// Overrides the checklist's deadline for this item.
    #[serde(deserialize_with = "opt_duration")]
    pub within: Option<Duration>,
}

/// Who a message is for.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    #[default]
    Internal,
    Public,
}

/// A message template, one body per locale (minijinja syntax).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Template {
    pub description: String,
    pub audience: Audience,
    /// Locale (`en`, `ar`, ...) → template body.
    pub body: BTreeMap<String, String>,
}

/// A service people are paged for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Service {
    pub description: String,
    /// Key of the owning team in `[teams]`.
    pub owner_team: Option<String>,
    /// Deployment environment this service runs in: `production`.
    pub environment: Option<String>,
    /// Components shown on the status page.
    pub components: Vec<String>,
    pub runbooks: Vec<RunbookLink>,
    /// Keys of services this one depends on.
    pub dependencies: Vec<String>,
    /// Keys of people (often vendors' support desks) to contact about this
    /// service, shown on its incidents.
    pub contacts: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RunbookLink {
    pub title: String,
    pub url: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Team {
    pub name: String,
    /// Keys of people in `[people]`.
    pub members: Vec<String>,
    /// Team chat channel, e.g. `#platform`.
    pub channel: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Person {
    pub name: String,
    /// Who they are and when to call them: `Founder, on call 24/7`.
    pub description: String,
    /// Locale for messages to this person: `en`, `ar`.
    pub locale: Option<String>,
    /// IANA zone; defaults to the calendar's.
    pub time_zone: Option<String>,
    pub contacts: Vec<Contact>,
}

/// A way to reach a person.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Contact {
    /// One of [`super::CONTACT_KINDS`]: `email`, `phone`, `sms`, `slack`, `webhook`.
    pub kind: String,
    pub address: String,
}

/// A deadline owed outside the team, started by tagging an incident.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Obligation {
    /// Stable identifier: `pdpl-sdaia-72h`.
    pub key: String,
    pub title: String,
    pub description: String,
    /// An incident tagged with any of these starts the clock.
    pub tags: Vec<String>,
    /// Time allowed, measured from detection. Required.
    #[serde(deserialize_with = "opt_duration")]
    pub within: Option<Duration>,
    /// Remind this long before the deadline (each one once).
    #[serde(deserialize_with = "durations")]
    pub remind_before: Vec<Duration>,
    /// Steps the obligation carries, in order (e.g. contain, assess scope, notify).
    pub steps: Vec<String>,
}

/// A node of the alert routing tree, Alertmanager-style: `[routing]` is the
/// root, `[[routing.routes]]` its children, `[[routing.routes.routes]]`
/// theirs, to any depth. Unset settings are inherited from the parent.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Route {
    /// Alertmanager receiver name reported for compatibility; root default `firebell`.
    pub receiver: Option<String>,
    /// Label names alerts are grouped by; `["..."]` means all labels.
    /// Root default `["alertname"]`.
    pub group_by: Option<Vec<String>>,
    /// Key of the service in `[services]` that matching alerts are about.
    pub service: Option<String>,
    /// Name of the severity (in `[[severities]]`) matching alerts open incidents at.
    pub severity: Option<String>,
    /// Runbook attached to incidents opened by matching alerts.
    pub runbook: Option<RunbookLink>,
    /// After matching this route, keep trying its later siblings (the root ignores it).
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Matchers in Alertmanager syntax, all of which must hold (the root has none).
    pub matchers: Vec<MatcherList>,
    /// Child routes, tried in order.
    pub routes: Vec<Route>,
}

/// One entry of a route's `matchers`: the text as written (one matcher, or
/// several separated by commas, all of which must hold) and what it parsed
/// to. Parsing happens once, at load; a syntax error is kept, not thrown, so
/// validation can report it at the string's line and column along with every
/// other problem in the file.
#[derive(Clone, Debug)]
pub struct MatcherList {
    text: String,
    parsed: Result<Vec<Matcher>, MatcherError>,
}

impl MatcherList {
    pub fn new(text: &str) -> MatcherList {
        MatcherList {
            text: text.to_string(),
            parsed: parse_matchers(text),
        }
    }

    /// The text as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed matchers, or why the text is not valid matcher syntax.
    pub fn matchers(&self) -> Result<&[Matcher], &MatcherError> {
        self.parsed.as_deref()
    }

    /// Whether every matcher holds for `labels`; text that did not parse
    /// matches nothing (a validated policy has none).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.parsed
            .as_ref()
            .is_ok_and(|ms| ms.iter().all(|m| m.matches(labels)))
    }
}

impl PartialEq for MatcherList {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for MatcherList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MatcherList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = MatcherList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a matcher string like 'severity=\"critical\"'")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MatcherList, E> {
                Ok(MatcherList::new(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// A [`Duration`] read with an error that shows the expected format
/// (`Duration`'s own impl only says "expected a string").
struct DurationField(Duration);

impl<'de> Deserialize<'de> for DurationField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DurationField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string like \"15m\", \"1h30m\" or \"3d\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DurationField, E> {
                s.parse().map(DurationField).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    DurationField::deserialize(d).map(|f| Some(f.0))
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<DurationField>::deserialize(d).map(|v| v.into_iter().map(|f| f.0).collect())
}
