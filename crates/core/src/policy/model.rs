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
use crate::alert::{LabelSet, Labels, Matcher, MatcherError, parse_matchers};

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
    /// Jobs that must check in on a schedule; silence opens an alert.
    pub heartbeats: Vec<Heartbeat>,
    /// HTTP and TCP health checks Firebell runs itself.
    pub checks: Vec<HealthCheck>,
    /// PagerDuty Events API v2 senders, each known by its routing key.
    pub integrations: Vec<Integration>,
    /// Generic JSON webhooks, authenticated by an HMAC signature.
    pub webhooks: Vec<Webhook>,
    /// On-call rotations; see [`crate::schedule`] for who is on call when.
    pub schedules: Vec<Schedule>,
    /// Step policies: who is paged first, and who next if nobody acknowledges.
    pub escalation_policies: Vec<EscalationPolicy>,
    /// Condition rules: "P0 unresolved 30 min → Engineering Lead", "tagged
    /// security → at once". They compose with the step policy.
    pub escalation_rules: Vec<EscalationRule>,
    /// Who is reminded of overdue status updates and a missing commander.
    pub reminders: Reminders,
    /// How each kind of contact is reached, keyed by contact kind (`email`,
    /// `slack`, `sms`, `phone`, `webhook`).
    pub notifiers: BTreeMap<String, Notifier>,
    /// How long resolved alerts, expired silences, ended maintenance windows
    /// and change records are kept.
    pub retention: Retention,
    /// Rules for maintenance windows: notice, and the watch afterwards.
    pub maintenance: MaintenancePolicy,
    /// The one-click acknowledge links in pages: how long they work.
    pub ack_links: AckLinks,
    /// What customers see at `/status`.
    pub status_page: StatusPage,
    /// Several incidents open at once is itself a flag (003 "When to
    /// Escalate: multiple incidents simultaneously").
    pub concurrent_incidents: ConcurrentIncidents,
    /// How a required postmortem is owned, written, reminded and reviewed.
    pub postmortems: Postmortems,
    /// Follow-up work from incidents: reminders, and the issue tracker.
    pub action_items: ActionItems,
    /// Recurring duties: restore tests, game days, policy reviews, key
    /// rotation, the monthly monitoring check.
    pub duties: Vec<RecurringDuty>,
    /// Which recorded changes an incident shows and suspects.
    pub changes: Changes,
    /// When deploys are frozen.
    pub freeze: Freeze,
    /// The rollback advisor: criteria, windows, the decision clock, the hook.
    pub rollback: Rollback,
    /// Runbooks: steps attached to incidents as a checklist.
    pub runbooks: Vec<Runbook>,
    /// Upstream providers whose Statuspage-format status Firebell polls.
    pub providers: BTreeMap<String, Provider>,
    /// A file beside the policy (path relative to it) holding people,
    /// teams, schedules and escalation policies: names and phones kept
    /// out of the committed policy (s000.private-roster).
    pub roster: Option<String>,
}

// --- Change safety -------------------------------------------------------------

/// `[changes]`: which recorded changes an incident shows, and which it suspects.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Changes {
    /// How long before an incident began its services' changes are shown
    /// on it (s002.recent-changes).
    #[serde(deserialize_with = "duration")]
    pub recent_within: Duration,
    /// A change that took effect this shortly before the incident began, or
    /// during it, is suspect (s000.rollback-suspect-deploy).
    #[serde(deserialize_with = "duration")]
    pub suspect_within: Duration,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            recent_within: Duration::from_hours(24),
            suspect_within: Duration::from_hours(2),
        }
    }
}

/// `[freeze]` (s000.freeze-until-green).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Freeze {
    /// An open incident of these severities freezes deploys to its
    /// services' environments.
    pub severities: Vec<String>,
    /// Until the incident is `resolved` (default) or `mitigated`.
    pub until: FreezeUntil,
    /// Scheduled freezes: a holiday, a launch.
    pub windows: Vec<FreezeWindow>,
}

/// When an incident's freeze lifts.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FreezeUntil {
    #[default]
    Resolved,
    Mitigated,
}

/// `[[freeze.windows]]`: no deploys from `start` to `end` in these
/// environments and services (none named: all).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct FreezeWindow {
    pub name: String,
    pub reason: String,
    /// RFC 3339 instants, e.g. `2026-12-24T00:00:00+03:00` (checked at load).
    pub start: String,
    pub end: String,
    pub environments: Vec<String>,
    pub services: Vec<String>,
}

impl FreezeWindow {
    /// `[start, end)`, when both parse.
    pub fn span(&self) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
        Some((self.start.parse().ok()?, self.end.parse().ok()?))
    }
}

/// `[rollback]`: the advisor's criteria and clocks.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Rollback {
    /// What makes a rollback due (s003.rollback-criteria).
    pub criteria: Vec<RollbackCriterion>,
    /// Decide within this of the first criterion met; a reminder then.
    #[serde(deserialize_with = "opt_duration")]
    pub decide_within: Option<Duration>,
    /// Verify this long after a rollback; a reminder then.
    #[serde(deserialize_with = "opt_duration")]
    pub verify_after: Option<Duration>,
    /// Who those reminders go to; by default the update reminder's targets.
    pub notify: Vec<String>,
    /// A migration older than this is advised fix-forward
    /// (s000.rollback-window-24h)…
    #[serde(deserialize_with = "opt_duration")]
    pub migration_window: Option<Duration>,
    /// …unless the incident is one of these severities.
    pub migration_window_except: Vec<String>,
    /// The tag a recorded rollback adds; checklists on it open
    /// (s003.post-rollback).
    pub tag: String,
    /// Called with the change to undo, only on a person's confirmation.
    pub hook: Option<RollbackHook>,
}

impl Default for Rollback {
    fn default() -> Self {
        Rollback {
            criteria: Vec::new(),
            decide_within: None,
            verify_after: None,
            notify: Vec::new(),
            migration_window: None,
            migration_window_except: Vec::new(),
            tag: "rolled-back".into(),
            hook: None,
        }
    }
}

/// `[[rollback.criteria]]`: met by an alert its matchers hold for (or that
/// carries `rollback_criterion="<name>"`), or by a check-in value above
/// `above`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RollbackCriterion {
    pub name: String,
    pub description: String,
    pub matchers: Vec<MatcherList>,
    /// A value a deploy check-in may post, e.g. `error_rate`.
    pub metric: Option<String>,
    pub above: Option<f64>,
    /// The severity of the incident a check-in opens when none is open.
    pub severity: Option<String>,
}

impl RollbackCriterion {
    /// Whether an alert with `labels` shows this criterion.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        labels.get(ROLLBACK_CRITERION_LABEL).map(String::as_str) == Some(self.name.as_str())
            || (!self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels)))
    }
}

/// The label that names a rollback criterion on an alert.
pub const ROLLBACK_CRITERION_LABEL: &str = "rollback_criterion";

/// `[rollback.hook]`: a signed POST of the rollback to make.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RollbackHook {
    pub url: String,
    /// Environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: Option<String>,
}

/// `[[services.<key>.rollback]]`: how to undo one kind of change to the
/// service (s000.rollback-kinds).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RollbackProcedure {
    pub kind: crate::change::ChangeKind,
    pub title: String,
    /// Commands and instructions, shown as text.
    pub steps: Vec<String>,
}

/// `[[runbooks]]`: steps for a scenario, attached to incidents as a checklist.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Runbook {
    pub key: String,
    pub title: String,
    /// The runbook's own numbering or name for it, e.g. `2.1`.
    pub scenario: Option<String>,
    pub description: String,
    /// Attach when an alert these hold for joins the incident (its route).
    pub matchers: Vec<MatcherList>,
    /// Attach to incidents on these services.
    pub services: Vec<String>,
    /// Attach when the incident carries one of these tags.
    pub tags: Vec<String>,
    /// Keys of people to contact, shown with the runbook.
    pub contacts: Vec<String>,
    /// Told when a step's phase begins (the long-outage steps).
    pub notify: Vec<String>,
    pub steps: Vec<RunbookStep>,
}

impl Runbook {
    pub fn matches_alert(&self, labels: &LabelSet) -> bool {
        !self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// One step of a runbook.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RunbookStep {
    pub key: String,
    pub text: String,
    /// A command to copy, shown as text; Firebell never runs it.
    pub command: Option<String>,
    pub link: Option<String>,
    /// Applies only once the outage is this old (s003: "> 5 minutes").
    #[serde(deserialize_with = "opt_duration")]
    pub after: Option<Duration>,
    /// Applies only while the outage is younger (s003: "< 5 minutes").
    #[serde(deserialize_with = "opt_duration")]
    pub before: Option<Duration>,
    /// A deadline, counted from attachment.
    #[serde(deserialize_with = "opt_duration")]
    pub within: Option<Duration>,
}

/// `[providers.<key>]`: an upstream whose Statuspage-format status is polled.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Provider {
    pub name: String,
    /// `https://status.openai.com/api/v2/status.json`.
    pub status_url: String,
    #[serde(deserialize_with = "duration")]
    pub poll_every: Duration,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            name: String::new(),
            status_url: String::new(),
            poll_every: Duration::from_mins(1),
        }
    }
}

/// `[[duties]]`: something owed on a calendar, with an owner, reminders,
/// and a record of each run (s000.recurring-duties, s003.review-cycle).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RecurringDuty {
    /// Unique; lowercase letters, digits, `-` (part of URLs).
    pub key: String,
    pub title: String,
    pub description: String,
    /// Who owns it: the first target (`person:`, `team:`, `schedule:`)
    /// that names someone.
    pub owner: Vec<String>,
    /// How often: `weekly`, `monthly` or `quarterly`.
    pub every: Option<Cadence>,
    /// Weekly: a weekday (`sun` … `sat`); monthly and quarterly: the day of
    /// the month, 1–28 (quarterly: in January, April, July and October).
    pub day: Option<String>,
    /// Local time in the calendar's time zone, `HH:MM`; default 10:00.
    pub at: Option<String>,
    /// Or a cron expression (minute hour day-of-month month day-of-week,
    /// 0 or 7 = Sunday) in the calendar's time zone, instead of `every`.
    pub cron: Option<String>,
    /// The owner is reminded this long before each occurrence (each once).
    #[serde(deserialize_with = "durations")]
    pub remind_before: Vec<Duration>,
    /// An occurrence without a recorded run this long after it was due is
    /// overdue: the owner hears so, and it is loud in `/metrics`.
    #[serde(deserialize_with = "duration")]
    pub overdue_after: Duration,
    /// `task` (people do it and record the run) or `monitoring_check`
    /// (Firebell sends a test through every notification channel when it is
    /// due and records which arrived).
    pub kind: DutyKind,
    /// Also owed after each incident of these severities is resolved
    /// (004: "Update triggers: after major incidents"), until a run is
    /// recorded after its resolution.
    pub after_incidents: Vec<String>,
}

impl Default for RecurringDuty {
    fn default() -> Self {
        RecurringDuty {
            key: String::new(),
            title: String::new(),
            description: String::new(),
            owner: Vec::new(),
            every: None,
            day: None,
            at: None,
            cron: None,
            remind_before: vec![Duration::from_hours(24)],
            overdue_after: Duration::from_hours(24),
            kind: DutyKind::Task,
            after_incidents: Vec::new(),
        }
    }
}

/// How often a recurring duty comes round.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Weekly,
    Monthly,
    Quarterly,
}

/// What a recurring duty is.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DutyKind {
    #[default]
    Task,
    MonitoringCheck,
}

/// `[postmortems]`: what every required postmortem shares. Which
/// severities need one, by when, and where it is filed is each severity's
/// `postmortem` rule.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Postmortems {
    /// Who owns it: the first target that names someone (targets as in
    /// escalation steps).
    pub owner: Vec<String>,
    /// Its owner is reminded this long before it is due (each once); one
    /// more reminder goes out when it is overdue.
    #[serde(deserialize_with = "durations")]
    pub remind_before: Vec<Duration>,
    /// The document's Markdown, a minijinja template (see docs/policy.md);
    /// a layout after the seed PIR template when unset.
    pub template: Option<String>,
    /// The review meeting each postmortem gets, if any.
    pub review: Option<ReviewRule>,
}

impl Default for Postmortems {
    fn default() -> Self {
        Postmortems {
            owner: vec!["role:incident_commander".into(), "paged".into()],
            remind_before: vec![Duration::from_hours(24)],
            template: None,
            review: None,
        }
    }
}

/// `[postmortems.review]`: "schedule a postmortem review with owners".
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ReviewRule {
    /// The meeting is first set this long after resolution (people move it).
    #[serde(deserialize_with = "opt_duration")]
    pub within: Option<Duration>,
    /// Or this many business days later, on the calendar.
    pub within_business_days: Option<u32>,
    /// Where it happens: "weekly team sync", "architecture meeting".
    pub place: Option<String>,
    /// Who is invited, besides the action items' owners (all who resolve).
    pub participants: Vec<String>,
    /// Participants are reminded this long before it starts (each once).
    #[serde(deserialize_with = "durations")]
    pub remind_before: Vec<Duration>,
}

impl Default for ReviewRule {
    fn default() -> Self {
        ReviewRule {
            within: None,
            within_business_days: None,
            place: None,
            participants: vec!["role:incident_commander".into(), "paged".into()],
            remind_before: vec![Duration::from_hours(1)],
        }
    }
}

/// `[action_items]`: follow-up work from incidents.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ActionItems {
    /// An overdue item's owner is reminded at its due time and again this
    /// often until it is complete.
    #[serde(deserialize_with = "duration")]
    pub remind_every: Duration,
    /// Where items are filed as issues (s004.action-items-to-issues).
    pub tracker: Option<Tracker>,
}

impl Default for ActionItems {
    fn default() -> Self {
        ActionItems {
            remind_every: Duration::from_hours(24),
            tracker: None,
        }
    }
}

/// `[action_items.tracker]`: an issue tracker with GitHub's issues API
/// (`POST {url}` creates, `GET {url}/{number}` reads back the state).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Tracker {
    /// The issues collection, e.g. `https://api.github.com/repos/o/r/issues`.
    pub url: String,
    /// Bearer token from this environment variable.
    pub token_env: Option<String>,
    /// Labels every filed issue carries.
    pub labels: Vec<String>,
    /// How often open issues are read back for their state; default 5m.
    #[serde(deserialize_with = "opt_duration")]
    pub poll_every: Option<Duration>,
}

/// `[concurrent_incidents]`: when this many incidents are open at once,
/// Firebell raises `tag` on each of them, so rules can act on it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ConcurrentIncidents {
    /// Open incidents (the new one included) that make the flag; 0: off.
    pub at_least: u32,
    pub tag: String,
}

impl Default for ConcurrentIncidents {
    fn default() -> Self {
        ConcurrentIncidents {
            at_least: 0,
            tag: "concurrent-incidents".into(),
        }
    }
}

/// `[status_page]`: the public page. Its components are the services'
/// `components`; an open incident puts them in the state its severity's
/// impact names, a running maintenance window in `under_maintenance`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StatusPage {
    /// Page title; the organization's name when unset.
    pub title: Option<String>,
    /// Uptime target in percent (`99.9`), shown beside each component's 30-
    /// and 90-day uptime (s004.uptime-target).
    pub uptime_target: Option<f64>,
    /// Severity name → what an open incident of it does to its components.
    /// Severities not named follow the ladder: the top one `major_outage`,
    /// the second `partial_outage`, the rest `degraded_performance`. `none`
    /// keeps a severity's incidents off the page.
    pub impact: BTreeMap<String, Impact>,
    /// Locales the page is offered in; the first is the default. Empty: the
    /// organization's default locale.
    pub locales: Vec<String>,
    /// Locale → the digits numbers are written in: `latin` (default) or
    /// `arabic` (Arabic-Indic, ٠١٢٣).
    pub digits: BTreeMap<String, Digits>,
    /// Resolved incidents listed under "past incidents", by days since
    /// declaration.
    pub history_days: u32,
    /// Who may subscribe to the page's updates, and how.
    pub subscriptions: Subscriptions,
}

/// `[status_page.subscriptions]`: customers sign up on the page for its
/// public updates by email or webhook, confirm (double opt-in), and can
/// leave with one click.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Subscriptions {
    /// The `[notifiers.<name>]` (an email notifier with `smtp`) subscriber
    /// mail goes through. Unset: no email sign-ups.
    pub email_notifier: Option<String>,
    /// Accept webhook sign-ups (deliveries signed with a per-subscriber
    /// secret).
    pub webhooks: bool,
    /// Accept webhook endpoints on loopback and private addresses. Off by
    /// default: an anonymous sign-up must not make the server call inside
    /// its own network.
    pub allow_private_webhooks: bool,
    /// Sign-ups per address per hour, and per client (IP) per hour.
    pub per_address_per_hour: u32,
    pub per_client_per_hour: u32,
    /// An unconfirmed sign-up lapses after this long.
    #[serde(deserialize_with = "duration")]
    pub confirm_within: Duration,
    /// Subscribers are reminded this long before a scheduled window
    /// starts. 0: no reminder.
    #[serde(deserialize_with = "duration")]
    pub maintenance_reminder: Duration,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions {
            email_notifier: None,
            webhooks: false,
            allow_private_webhooks: false,
            per_address_per_hour: 3,
            per_client_per_hour: 20,
            confirm_within: Duration::from_hours(48),
            maintenance_reminder: Duration::from_hours(1),
        }
    }
}

impl Subscriptions {
    /// Whether the page offers any way to subscribe.
    pub fn enabled(&self) -> bool {
        self.email_notifier.is_some() || self.webhooks
    }
}

impl Default for StatusPage {
    fn default() -> Self {
        StatusPage {
            title: None,
            uptime_target: None,
            impact: BTreeMap::new(),
            locales: Vec::new(),
            digits: BTreeMap::new(),
            history_days: 15,
            subscriptions: Subscriptions::default(),
        }
    }
}

/// What an open incident does to the components of its services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Not shown on the status page at all.
    None,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

/// How numbers are written on the status page for a locale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Digits {
    #[default]
    Latin,
    /// Arabic-Indic digits (U+0660–U+0669).
    Arabic,
}

/// `[ack_links]`: a page's acknowledge link is a credential anyone holding
/// the message can use, so it lapses.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AckLinks {
    /// How long after a page is sent its link still acknowledges.
    #[serde(deserialize_with = "duration")]
    pub valid_for: Duration,
}

impl Default for AckLinks {
    fn default() -> Self {
        AckLinks {
            valid_for: Duration::from_hours(24),
        }
    }
}

/// `[maintenance]` (s003.maintenance-scheduled).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MaintenancePolicy {
    /// Least notice for a `scheduled` window: one starting sooner is refused
    /// (maintenance that cannot wait is `emergency`). 0: any future start.
    #[serde(deserialize_with = "duration")]
    pub notice: Duration,
    /// After a window ends, incidents opened for its services within this
    /// long are tagged `maintenance-watch` and say which window: what broke
    /// may be the maintenance. 0: no watch.
    #[serde(deserialize_with = "duration")]
    pub watch_after: Duration,
    /// While a scheduled or emergency window runs, the status page posts
    /// "still in progress" this often (s003.maintenance-scheduled: "update
    /// status page every 30 minutes"). 0: only start and completion.
    #[serde(deserialize_with = "duration")]
    pub post_every: Duration,
    /// An emergency window must be reviewed within this long after it ends
    /// (s003.maintenance-emergency: "requires a review within 24 h").
    /// 0: no review asked.
    #[serde(deserialize_with = "duration")]
    pub emergency_review_within: Duration,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        MaintenancePolicy {
            notice: Duration::from_secs(0),
            watch_after: Duration::from_secs(0),
            post_every: Duration::from_secs(0),
            emergency_review_within: Duration::from_hours(24),
        }
    }
}

/// How long records that stop mattering are kept. Incidents, their
/// timelines and notifications are never pruned: they are the history.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Retention {
    /// Resolved alerts not attached to an open incident, after they ended.
    #[serde(deserialize_with = "duration")]
    pub alerts: Duration,
    /// Expired silences and ended maintenance windows, after they ended.
    #[serde(deserialize_with = "duration")]
    pub silences: Duration,
    /// Deploy and change records (PagerDuty change events), after they happened.
    #[serde(deserialize_with = "duration")]
    pub changes: Duration,
    /// Messages sent to status page subscribers (delivered or given up).
    #[serde(deserialize_with = "duration")]
    pub subscriber_messages: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            alerts: Duration::from_hours(24 * 30),
            silences: Duration::from_hours(24 * 30),
            changes: Duration::from_hours(24 * 90),
            subscriber_messages: Duration::from_hours(24 * 30),
        }
    }
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
    /// People told when a notification cannot be delivered (dead letter).
    pub admins: Vec<String>,
    /// Escalation policy for incidents no route, service or severity names one for.
    pub escalation_policy: Option<String>,
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
    /// The investigation's timebox: the cause should be identified (the
    /// status past `investigating`) within this long of declaration.
    #[serde(deserialize_with = "opt_duration")]
    pub investigate_within: Option<Duration>,
    /// Target time to resolution.
    #[serde(deserialize_with = "opt_duration")]
    pub resolve_within: Option<Duration>,
    pub paging: Paging,
    /// Channels to use for this severity, in order; one of [`super::CHANNELS`].
    pub channels: Vec<String>,
    pub postmortem: Option<PostmortemRule>,
    /// When all alerts of an incident resolve: `note` (default) or `resolve`.
    pub on_alerts_resolved: OnAlertsResolved,
    /// Escalation policy for incidents of this severity when their route or
    /// service names none (P0 and P1 may climb at different speeds).
    pub escalation_policy: Option<String>,
    /// A public template Firebell posts itself when an incident opens at (or
    /// is raised to) this severity, so the status page and its subscribers
    /// hear at once (001: "SEV-1: immediate Slack + email customers").
    pub customer_notice: Option<String>,
}

impl Severity {
    /// Whether its `channels` let a contact of `kind` be paged: `chat`
    /// means Slack, and no channels listed allows every contact.
    pub fn allows(&self, kind: ContactKind) -> bool {
        self.channels.is_empty()
            || self
                .channels
                .iter()
                .any(|ch| ch == kind.as_str() || (ch == "chat" && kind == ContactKind::Slack))
    }
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
    /// Several people may hold it at once (responders, subject experts).
    /// Otherwise one does, and assigning someone else hands it over.
    pub multiple: bool,
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
    /// Ticked by itself when this happens ("assign a commander" is done
    /// when one is assigned, however that came about).
    pub done_when: Option<DoneWhen>,
}

/// What ticks a checklist item without anyone ticking it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DoneWhen {
    /// The incident is acknowledged.
    Acknowledged,
    /// An incident commander is assigned (at declaration or later).
    Commander,
    /// A status update is posted.
    Update,
    /// A public status update is posted.
    PublicUpdate,
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
    /// What customers call it, heading its components on the status page;
    /// the service's key when unset.
    pub name: Option<String>,
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
    /// Escalation policy for this service's incidents (a route's wins).
    pub escalation_policy: Option<String>,
    /// Who is told, once, when an incident of this service is mitigated and
    /// once when it is fully resolved (s002.notify-mitigated-and-resolved):
    /// `person:`, `team:`, `schedule:` or `role:` targets.
    pub stakeholders: Vec<String>,
    /// How to undo each kind of change to it (s000.rollback-kinds).
    pub rollback: Vec<RollbackProcedure>,
    /// Keys of `[providers]` it depends on: their status shows on its incidents.
    pub providers: Vec<String>,
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
    /// When set, paging the team pages whoever is on call on this schedule
    /// (nobody on call: nobody paged, and the timeline says so); otherwise
    /// every member is paged.
    pub schedule: Option<String>,
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
    /// A [`ContactKind`]'s name (validated at load, so it parses).
    pub kind: String,
    pub address: String,
}

/// The kinds of contact: a person's contacts, the `[notifiers]` keys and a
/// notification's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ContactKind {
    Email,
    Phone,
    Sms,
    Slack,
    Webhook,
}

impl ContactKind {
    /// A phone number: never shown to viewers (s000.private-roster).
    pub fn is_phone(self) -> bool {
        matches!(self, ContactKind::Phone | ContactKind::Sms)
    }

    /// Whether a contact `kind` as written in the policy is a phone number.
    pub fn is_phone_kind(kind: &str) -> bool {
        matches!(kind.to_ascii_lowercase().as_str(), "phone" | "sms")
    }

    pub const ALL: [ContactKind; 5] = [
        ContactKind::Email,
        ContactKind::Phone,
        ContactKind::Sms,
        ContactKind::Slack,
        ContactKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Phone => "phone",
            ContactKind::Sms => "sms",
            ContactKind::Slack => "slack",
            ContactKind::Webhook => "webhook",
        }
    }

    /// `email, phone, sms, slack, webhook`, for messages.
    pub fn names() -> String {
        ContactKind::ALL.map(ContactKind::as_str).join(", ")
    }
}

impl std::fmt::Display for ContactKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ContactKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ContactKind, String> {
        ContactKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown contact kind `{s}`; expected one of: {}",
                    ContactKind::names()
                )
            })
    }
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

/// A PagerDuty Events API v2 integration. Anything that can page PagerDuty
/// (Alertmanager's `pagerduty_configs`, Grafana, Datadog, CI jobs) can post
/// to Firebell's `/v2/enqueue` instead; the event's `routing_key` names the
/// integration and is its only credential, since such senders cannot send a
/// bearer token.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Integration {
    /// Unique; letters, digits, `-`, `_` and `.`. Part of every alert key
    /// (`pd:<name>:<dedup_key>`) and the `integration` label.
    pub name: String,
    /// The secret senders put in `routing_key`: 1–64 ASCII letters and
    /// digits (PagerDuty's own are 32). Never shown by the API.
    #[serde(serialize_with = "redacted")]
    pub routing_key: String,
    /// Key of the service in `[services]` its alerts are about.
    pub service: Option<String>,
    /// PagerDuty severity (`critical`, `error`, `warning`, `info`) → a
    /// severity of the ladder. Unmapped ones go by position: see
    /// [`Integration::severity_for`].
    pub severity_map: BTreeMap<String, String>,
}

/// PagerDuty's event severities, most severe first.
pub const PAGERDUTY_SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

impl Integration {
    /// The ladder severity a PagerDuty severity opens incidents at: the
    /// `severity_map` entry, else by position — `critical` the top of the
    /// ladder, `error` the second rung, `warning` the third, `info` the
    /// fourth — clamped to the bottom rung on a shorter ladder. `None` only
    /// for a word that is not a PagerDuty severity or an empty ladder.
    pub fn severity_for(&self, policy: &Policy, pagerduty_severity: &str) -> Option<String> {
        if let Some(mapped) = self.severity_map.get(pagerduty_severity) {
            let name = policy.severity(mapped).map_or(mapped, |s| &s.name);
            return Some(name.clone());
        }
        let rank = PAGERDUTY_SEVERITIES
            .iter()
            .position(|s| *s == pagerduty_severity)?;
        let last = policy.severities.len().checked_sub(1)?;
        Some(policy.severities[rank.min(last)].name.clone())
    }
}

/// A generic JSON webhook: `POST /api/v1/webhooks/{name}`, signed with
/// HMAC-SHA256 over the timestamp and the raw body (see `docs/api.md`).
/// For senders that speak neither Alertmanager nor PagerDuty.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Webhook {
    /// Unique; letters, digits, `-` and `_` (it is part of the URL).
    pub name: String,
    /// Name of the environment variable holding the signing secret. Secrets
    /// belong in the environment, not in a policy kept in version control.
    pub secret_env: Option<String>,
    /// The secret itself, for tests and demos; prefer `secret_env`. Never
    /// shown by the API.
    #[serde(serialize_with = "redacted_opt")]
    pub secret: Option<String>,
    /// Key of the service in `[services]` its alerts are about.
    pub service: Option<String>,
    /// Severity its alerts open incidents at, unless an event names one of
    /// the ladder's severities itself.
    pub severity: Option<String>,
    /// Where each field is in the sender's JSON, as dotted paths
    /// (`alert.title`, `items.0.name`); unset fields use the minimal schema.
    pub fields: WebhookFields,
    /// The sender's status words → `firing` or `resolved`, for senders that
    /// say e.g. `alerting`/`ok`. Without it, `status` must be `firing` or
    /// `resolved`.
    pub status_map: BTreeMap<String, String>,
}

/// Dotted paths into a webhook's JSON body, one per field of the minimal
/// schema; `None` reads the field of that name at the top level.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WebhookFields {
    /// The sender's identity for the alert (its repeats and resolution).
    pub key: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    /// An object of label name → value.
    pub labels: Option<String>,
    /// An object of annotation name → value.
    pub annotations: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// A link back to the sender's view of the alert.
    pub url: Option<String>,
}

impl WebhookFields {
    /// Every field with its path: the mapping's, or the field's own name.
    pub fn paths(&self) -> [(&'static str, &str); 10] {
        fn p<'a>(field: &'static str, set: &'a Option<String>) -> (&'static str, &'a str) {
            (field, set.as_deref().unwrap_or(field))
        }
        [
            p("key", &self.key),
            p("title", &self.title),
            p("description", &self.description),
            p("status", &self.status),
            p("severity", &self.severity),
            p("labels", &self.labels),
            p("annotations", &self.annotations),
            p("starts_at", &self.starts_at),
            p("ends_at", &self.ends_at),
            p("url", &self.url),
        ]
    }
}

/// An on-call schedule: layers of rotations, a later layer overriding an
/// earlier one wherever it has someone on call. Evaluated by [`crate::schedule`].
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Schedule {
    /// Unique (case-insensitive): `primary`.
    pub name: String,
    pub description: String,
    /// IANA zone the hand-offs are in; defaults to the calendar's.
    pub time_zone: Option<String>,
    /// Bottom first: a later layer wins where it has someone on call.
    pub layers: Vec<ScheduleLayer>,
}

/// How long each shift of a layer is.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// A new person every day at `handoff`.
    Daily,
    /// A new person every week on `handoff_day` at `handoff`.
    Weekly,
    /// A new person every `length` (whole minutes, at least 4h) of local
    /// wall-clock time, starting at `start` + `handoff`.
    Custom,
}

/// One rotation of a schedule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ScheduleLayer {
    /// Unique within the schedule: `weekly`.
    pub name: String,
    pub rotation: Option<Rotation>,
    /// Shift length of a `custom` rotation, e.g. `12h`.
    #[serde(deserialize_with = "opt_duration")]
    pub length: Option<Duration>,
    /// Local time of the hand-off, `HH:MM`.
    pub handoff: String,
    /// Day of the hand-off of a `weekly` rotation: `mon`..`sun`.
    pub handoff_day: Option<String>,
    /// Local date (`YYYY-MM-DD`) the rotation starts on; the first
    /// participant's first shift starts at the first hand-off on or after it.
    pub start: String,
    /// Keys of people, in rotation order.
    pub participants: Vec<String>,
    /// When the layer is on call at all; unrestricted by default.
    pub restrictions: Option<Restrictions>,
}

/// Limits on when a layer has anyone on call.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Restrictions {
    /// Only inside the calendar's business hours (in the calendar's zone).
    pub business_hours: bool,
}

/// When a step policy stops paging.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopOn {
    /// At the first acknowledgement (or resolution): someone is on it.
    #[default]
    Acknowledge,
    /// Only at resolution: the ladder climbs while the incident is unresolved.
    Resolve,
}

/// An ordered escalation: step 1 pages at once, each later step after its
/// delay unless the incident is acknowledged (or resolved, per `stop_on`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct EscalationPolicy {
    /// Unique (case-insensitive): `default`, `p0-ladder`.
    pub name: String,
    pub description: String,
    pub steps: Vec<EscalationStep>,
    /// Run the whole list again this many times after the last step.
    pub repeat: u32,
    /// Wait between the last step and the next round; default `30m`.
    #[serde(deserialize_with = "opt_duration")]
    pub repeat_after: Option<Duration>,
    pub stop_on: StopOn,
}

/// One rung of an escalation policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct EscalationStep {
    /// Shown on the timeline: `L2`.
    pub name: Option<String>,
    /// Delay after the previous step (after declaration for the first);
    /// default `0m`.
    #[serde(deserialize_with = "opt_duration")]
    pub after: Option<Duration>,
    /// The delay instead when the previous step fired outside business hours
    /// ("L2 responds in 30 min in business hours, 1 h off-hours").
    #[serde(deserialize_with = "opt_duration")]
    pub after_off_hours: Option<Duration>,
    /// `person:<key>`, `schedule:<name>`, `team:<key>`, `role:<key>`.
    pub targets: Vec<String>,
}

/// When an escalation rule applies. Every condition given must hold; the
/// time conditions say when (none: at once).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RuleConditions {
    /// Any of these severities.
    pub severities: Vec<String>,
    /// Any of these tags on the incident.
    pub tags: Vec<String>,
    /// Any of these services affected.
    pub services: Vec<String>,
    /// Still unresolved this long after declaration.
    #[serde(deserialize_with = "opt_duration")]
    pub unresolved_for: Option<Duration>,
    /// Still unacknowledged this long after declaration.
    #[serde(deserialize_with = "opt_duration")]
    pub unacknowledged_for: Option<Duration>,
    /// No incident commander this long after declaration.
    #[serde(deserialize_with = "opt_duration")]
    pub no_commander_for: Option<Duration>,
    /// The status update is overdue by this long (re-arms after each update).
    #[serde(deserialize_with = "opt_duration")]
    pub update_overdue_for: Option<Duration>,
    /// Still `investigating` (no cause identified) this long after
    /// declaration: 004's "Investigate (5-30 minutes)" timebox.
    #[serde(deserialize_with = "opt_duration")]
    pub still_investigating_for: Option<Duration>,
}

/// "When severity P0 and unresolved for 30 min → Engineering Lead."
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct EscalationRule {
    /// Unique (case-insensitive): `p0-unresolved-30m`.
    pub name: String,
    pub description: String,
    pub when: RuleConditions,
    /// Who is notified: `person:`, `schedule:`, `team:`, `role:` targets.
    pub notify: Vec<String>,
    /// Also move the step policy to its next step now, without waiting.
    pub escalate: bool,
    /// Or jump the step policy to the step of this name now (003: "legal
    /// or public communication → L3"), unless it is there already.
    pub escalate_to: Option<String>,
    /// Whether an acknowledgement stops this rule; default `resolve`, as
    /// "unresolved for" rules are about the outcome, not engagement.
    pub stop_on: Option<StopOn>,
}

/// Recipients of reminders. Targets as in escalation steps; `paged` means
/// the people paged for the incident so far.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Reminders {
    /// Status update overdue; default comms lead, then commander, then paged.
    pub update: Vec<String>,
    /// No commander by `commander_within`; default the people paged.
    pub commander: Vec<String>,
    /// An obligation's `remind_before`; default commander, then paged.
    pub obligation: Vec<String>,
}

impl Default for Reminders {
    fn default() -> Self {
        Reminders {
            update: vec![
                "role:comms_lead".into(),
                "role:incident_commander".into(),
                "paged".into(),
            ],
            commander: vec!["paged".into()],
            obligation: vec!["role:incident_commander".into(), "paged".into()],
        }
    }
}

/// How one kind of contact is reached. The key in `[notifiers]` is the
/// contact kind: `email` needs `smtp`; `slack` posts to an incoming-webhook
/// `url` (the contact's address is mentioned); `sms`, `phone` and `webhook`
/// POST signed JSON to `url` (for `webhook`, the contact's address when no
/// `url` is set). With `log = true` nothing is sent: each message is
/// recorded as delivered and printed in the server's log (the demo, staging).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Notifier {
    /// Print instead of sending: a page is real (acknowledge links work,
    /// the notification log and the console show it) but leaves no machine.
    pub log: bool,
    pub url: Option<String>,
    /// HMAC-SHA256 key for the `X-Firebell-Signature` header, from this
    /// environment variable (preferred) or inline.
    pub secret_env: Option<String>,
    #[serde(serialize_with = "redacted_opt")]
    pub secret: Option<String>,
    pub smtp: Option<SmtpServer>,
    /// Give up (dead-letter) after this many attempts; default 8.
    pub max_attempts: Option<u32>,
    /// Per-attempt timeout; default `10s`.
    #[serde(deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
}

/// An SMTP relay.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SmtpServer {
    pub host: String,
    /// Default 587 with `starttls`, 465 with `tls`, 25 with `none`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none` (local relays only).
    pub tls: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// `Firebell <firebell@example.com>`.
    pub from: String,
}

/// What the policy API shows instead of a secret.
pub const REDACTED: &str = "<redacted>";

fn redacted<S: serde::Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if value.is_empty() { "" } else { REDACTED })
}

fn redacted_opt<S: serde::Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_some(REDACTED),
        None => s.serialize_none(),
    }
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
    /// Escalation policy for incidents opened by matching alerts.
    pub escalation_policy: Option<String>,
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
        self.matches_in(labels)
    }

    /// [`matches`](Self::matches) of labels however they are held.
    pub fn matches_in(&self, labels: &(impl Labels + ?Sized)) -> bool {
        self.parsed.as_ref().is_ok_and(|ms| {
            ms.iter()
                .all(|m| m.matches_value(labels.label(&m.name).unwrap_or("")))
        })
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

/// A job that must check in: `POST /api/v1/heartbeats/{name}` at least every
/// `interval`. No ping for `interval + grace` opens an alert; the next ping
/// resolves it (see [`crate::alert::health`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Heartbeat {
    /// Unique; lowercase letters, digits, `-` and `_` (it is part of the ping URL).
    pub name: String,
    /// What the job is, for the alert's description.
    pub description: String,
    /// How often the job pings. Required.
    #[serde(deserialize_with = "opt_duration")]
    pub interval: Option<Duration>,
    /// Slack after a missed ping before the alert fires; see [`Heartbeat::grace`].
    #[serde(deserialize_with = "opt_duration")]
    pub grace: Option<Duration>,
    /// Key of the service in `[services]` the alert is about.
    pub service: Option<String>,
    /// Severity (in `[[severities]]`) the alert opens an incident at.
    pub severity: Option<String>,
    /// Extra labels on the alert, for routes and silences.
    pub labels: LabelSet,
    /// A watchdog: an always-firing alert (Prometheus's `Watchdog`) whose
    /// every report counts as a ping, and is not an incident. Matchers in
    /// Alertmanager syntax, all of which must hold. Its silence pages:
    /// the alert source itself has stopped (s003.monitor-the-monitor).
    pub watchdog: Vec<MatcherList>,
}

impl Heartbeat {
    /// Whether an alert with `labels` is this heartbeat's watchdog.
    pub fn is_watchdog(&self, labels: &(impl Labels + ?Sized)) -> bool {
        !self.watchdog.is_empty() && self.watchdog.iter().all(|m| m.matches_in(labels))
    }

    /// The grace period: as written, or by default a tenth of the interval
    /// but at least [`DEFAULT_HEARTBEAT_GRACE_SECS`] (a daily job gets 2h24m,
    /// an hourly one 6m, anything more frequent 1m).
    pub fn grace(&self) -> Duration {
        self.grace.unwrap_or_else(|| {
            let tenth = self.interval.map_or(0, |i| i.as_secs() / 10);
            Duration::from_secs(tenth.max(DEFAULT_HEARTBEAT_GRACE_SECS))
        })
    }
}

/// The least default grace of a heartbeat, in seconds.
pub const DEFAULT_HEARTBEAT_GRACE_SECS: i64 = 60;
/// A check's default `interval`, in seconds (seed 000: "/health monitored every 30s").
pub const DEFAULT_CHECK_INTERVAL_SECS: i64 = 30;
/// A check's default `timeout`, in seconds.
pub const DEFAULT_CHECK_TIMEOUT_SECS: i64 = 5;
/// A check's default `failure_threshold`: one failure is confirmed by the
/// next probe before anyone is paged.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 2;
/// An HTTP check's default `method`.
pub const DEFAULT_CHECK_METHOD: &str = "GET";

/// How a health check probes.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// An HTTP(S) request whose answer is judged by status (and body).
    Http,
    /// A TCP connection that must be accepted.
    Tcp,
}

/// A probe Firebell runs every `interval`. `failure_threshold` failures in a
/// row open an alert; the first success resolves it (see
/// [`crate::alert::health`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct HealthCheck {
    /// Unique; lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// What is being checked, for the alert's description.
    pub description: String,
    /// `http` or `tcp`. Required.
    pub kind: Option<CheckKind>,
    /// http: the URL to request.
    pub url: Option<String>,
    /// http: the request method; default `GET`.
    pub method: Option<String>,
    /// http: acceptable answers, codes (`200`) or classes (`"2xx"`); default `["2xx"]`.
    pub expected_status: Vec<StatusPattern>,
    /// http: text the body must contain.
    pub body_contains: Option<String>,
    /// tcp: `host:port` to connect to.
    pub address: Option<String>,
    /// Longest wait for an answer; default 5s, shorter than `interval`.
    #[serde(deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// How often to probe; default 30s.
    #[serde(deserialize_with = "opt_duration")]
    pub interval: Option<Duration>,
    /// Consecutive failures before the alert fires; default 2.
    pub failure_threshold: Option<u32>,
    /// Key of the service in `[services]` the alert is about.
    pub service: Option<String>,
    /// Severity (in `[[severities]]`) the alert opens an incident at.
    pub severity: Option<String>,
    /// Extra labels on the alert, for routes and silences.
    pub labels: LabelSet,
}

impl HealthCheck {
    pub fn interval(&self) -> Duration {
        self.interval
            .unwrap_or_else(|| Duration::from_secs(DEFAULT_CHECK_INTERVAL_SECS))
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
            .unwrap_or_else(|| Duration::from_secs(DEFAULT_CHECK_TIMEOUT_SECS))
    }

    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold.unwrap_or(DEFAULT_FAILURE_THRESHOLD)
    }

    /// The HTTP method, upper-cased; `GET` unless set.
    pub fn method(&self) -> String {
        self.method
            .as_deref()
            .unwrap_or(DEFAULT_CHECK_METHOD)
            .to_ascii_uppercase()
    }

    /// Whether an HTTP answer with this status passes: any `2xx` unless
    /// `expected_status` says otherwise.
    pub fn accepts_status(&self, code: u16) -> bool {
        if self.expected_status.is_empty() {
            return (200..300).contains(&code);
        }
        self.expected_status.iter().any(|p| p.matches(code))
    }

    /// `expected_status` as people write it: `2xx` by default, else e.g. `200, 3xx`.
    pub fn expected_status_text(&self) -> String {
        if self.expected_status.is_empty() {
            return "2xx".to_string();
        }
        let texts: Vec<&str> = self.expected_status.iter().map(|p| p.as_str()).collect();
        texts.join(", ")
    }

    /// What is probed, for people: `GET https://…/health` or `TCP db:5432`.
    pub fn target(&self) -> String {
        match self.kind {
            Some(CheckKind::Http) => {
                format!("{} {}", self.method(), self.url.as_deref().unwrap_or(""))
            }
            Some(CheckKind::Tcp) => format!("TCP {}", self.address.as_deref().unwrap_or("")),
            None => String::new(),
        }
    }
}

/// One entry of a check's `expected_status`: a code (`200`) or a class
/// (`"2xx"`). Kept as written with its parse result, like [`MatcherList`],
/// so a bad entry is reported at its line and column by validation.
#[derive(Clone, Debug)]
pub struct StatusPattern {
    text: String,
    parsed: Result<StatusMatch, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatusMatch {
    Code(u16),
    /// The hundreds digit: `5` for `5xx`.
    Class(u16),
}

impl StatusPattern {
    pub fn new(text: &str) -> StatusPattern {
        let t = text.trim();
        let bad = || {
            format!(
                "`{text}` is not an HTTP status; write a code from 100 to 599 like 200, or a class like \"2xx\""
            )
        };
        let parsed = match t.as_bytes() {
            [d, b'x' | b'X', b'x' | b'X'] if (b'1'..=b'5').contains(d) => {
                Ok(StatusMatch::Class(u16::from(d - b'0')))
            }
            _ => match t.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Ok(StatusMatch::Code(code)),
                _ => Err(bad()),
            },
        };
        StatusPattern {
            text: text.to_string(),
            parsed,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Why the entry is not a status or class, if it is not.
    pub fn error(&self) -> Option<&str> {
        self.parsed.as_ref().err().map(String::as_str)
    }

    pub fn matches(&self, code: u16) -> bool {
        match self.parsed {
            Ok(StatusMatch::Code(c)) => c == code,
            Ok(StatusMatch::Class(d)) => code / 100 == d,
            Err(_) => false,
        }
    }
}

impl PartialEq for StatusPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.parsed {
            Ok(StatusMatch::Code(code)) => s.serialize_u16(code),
            _ => s.serialize_str(&self.text),
        }
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = StatusPattern;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an HTTP status code like 200 or a class like \"2xx\"")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<StatusPattern, E> {
                Ok(StatusPattern::new(&n.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<StatusPattern, E> {
                Ok(StatusPattern::new(&n.to_string()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StatusPattern, E> {
                Ok(StatusPattern::new(s))
            }
        }
        d.deserialize_any(V)
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

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    opt_duration(d)?.ok_or_else(|| de::Error::custom("expected a duration string like \"30d\""))
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    DurationField::deserialize(d).map(|f| Some(f.0))
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<DurationField>::deserialize(d).map(|v| v.into_iter().map(|f| f.0).collect())
}
