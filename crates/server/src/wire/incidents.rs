//! `/api/v1/incidents`: declare, list, show, and one body per command.

use std::collections::BTreeMap;

use firebell_core::Timestamp;
use firebell_core::incident::{Deadline, Event, Incident, Status, Visibility};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    pub title: String,
    /// A severity name from the policy, e.g. `P1`.
    pub severity: String,
    #[serde(default)]
    pub summary: String,
    /// Affected services (keys of the policy's `[services]`).
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the problem was detected, if before now (RFC 3339).
    pub detected_at: Option<Timestamp>,
    /// Person to assign as incident commander at once.
    pub commander: Option<String>,
    /// Escalation policy to page with; default: the first service's, the
    /// severity's, then the organization's.
    #[serde(default)]
    pub escalation_policy: Option<String>,
    /// A drill: it pages and escalates like any incident, but never reaches
    /// the status page, its subscribers or the reports.
    #[serde(default)]
    pub drill: bool,
}

/// State after the command, and the events it appended.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CommandResponse {
    pub incident: Incident,
    pub events: Vec<Event>,
}

/// An incident with its deadlines and its whole timeline (the event log).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// What the policy expects of this incident and when, as of now.
    pub deadlines: Vec<Deadline>,
    pub timeline: Vec<Event>,
    /// Changes to its services in the hours before it began, suspects marked.
    #[serde(default)]
    pub changes: Vec<firebell_core::change::RecentChange>,
    /// The rollback advisor's word, when there is anything to say.
    #[serde(default)]
    pub rollback: Option<firebell_core::change::Advice>,
    /// Whom to contact about its services and runbooks (no phone numbers
    /// for viewers).
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Upstream providers its services depend on, with their status.
    #[serde(default)]
    pub upstreams: Vec<super::Upstream>,
}

/// A person to contact about an incident, and how.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Where from: `service api`, `runbook llm-provider-outage`.
    pub about: String,
    /// `kind: address`, hidden from viewers.
    #[serde(default)]
    pub reach: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentList {
    pub items: Vec<Incident>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentListQuery {
    /// Comma-separated statuses, or `open` for every status but resolved.
    pub status: Option<String>,
    /// Comma-separated severity names.
    pub severity: Option<String>,
    /// Only incidents affecting this service.
    pub service: Option<String>,
    /// Declared at or after this instant (RFC 3339).
    pub since: Option<String>,
    /// Declared before this instant (RFC 3339).
    pub until: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Fields every command body may carry.
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// The version you acted on; a mismatch answers 409 instead of applying.
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Role key or short name (`incident_commander`, `IC`).
    pub role: String,
    /// Person key from the policy.
    pub person: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// New status; omitted keeps the current one. `resolved` resolves.
    pub status: Option<Status>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Free text. Give either this or `template`.
    pub message: Option<String>,
    /// Template name from the policy.
    pub template: Option<String>,
    /// Template locale, e.g. `ar`; defaults to the policy's default locale.
    pub locale: Option<String>,
    /// Values for the template's `vars.*`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityRequest {
    pub severity: String,
    pub reason: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub text: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TickRequest {
    /// Item id (`first-10-minutes.freeze`) or, if unambiguous, its key (`freeze`).
    pub item: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// Person taking over.
    pub to: String,
    /// Role handed over (default: incident commander).
    pub role: Option<String>,
    /// Escalation level of the new owner, e.g. `L2`.
    pub level: Option<String>,
    /// What has been tried.
    pub summary: String,
    #[serde(default)]
    pub metrics: String,
    #[serde(default)]
    pub evidence: String,
    pub next_steps: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    #[serde(default)]
    pub summary: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenRequest {
    pub reason: String,
    pub expected_version: Option<u64>,
}

/// Record an obligation as fulfilled, with its evidence.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObligationRequest {
    /// The obligation's key, e.g. `pdpl-sdaia`.
    pub key: String,
    /// What proves it: a reference number, who was told, how.
    pub evidence: String,
    pub expected_version: Option<u64>,
}

/// Raise or lower an incident's flags at any time.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    /// Flags to raise: `data-loss`, `cannot-rollback`, `security-breach`,
    /// `personal-data-breach`, ... Their escalation rules, checklists and
    /// obligations apply at once.
    #[serde(default)]
    pub add: Vec<String>,
    /// Flags to lower; obligations only they asked for end.
    #[serde(default)]
    pub remove: Vec<String>,
    pub expected_version: Option<u64>,
}

/// Override what the status page shows for a component while this
/// incident is open, with the reason (on the timeline).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentStateRequest {
    /// The component's id, `<service>.<slug>` (see the status page's
    /// `components.json`).
    pub component: String,
    /// `operational`, `under_maintenance`, `degraded_performance`,
    /// `partial_outage`, `major_outage`, or `auto` to go back to the state
    /// derived from incidents and maintenance.
    pub status: String,
    pub reason: String,
    pub expected_version: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    pub template: String,
    pub locale: Option<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentAlertsQuery {
    /// At most this many (1-10000, default 500), newest first.
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<firebell_core::alert::Alert>,
    /// Always `null`: `limit` cuts the list.
    pub next_cursor: Option<String>,
    /// Firing now and ever attached, over all of the incident's alerts.
    pub firing: u64,
    pub total: u64,
}
