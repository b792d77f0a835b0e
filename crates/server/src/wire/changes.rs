//! Bodies of change safety: deploys and changes, freezes, rollback, runbooks.

use firebell_core::Timestamp;
use firebell_core::change::{ChangeKind, FreezeAnswer, ManualFreeze};
use firebell_core::incident::RollbackDecision;
use firebell_store::{ChangeRecord, ProviderStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A deploy check-in from CI (`firebell deploy record`), or any change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Your id for it; a retry with the same id replaces the record.
    /// Without one, an id is derived from the fields.
    pub id: Option<String>,
    /// Key of the service in the policy.
    pub service: String,
    /// Defaults to the service's environment in the policy.
    pub environment: Option<String>,
    /// `app` (default), `migration`, `feature_flag` or `config`.
    pub kind: Option<ChangeKind>,
    pub version: Option<String>,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub summary: Option<String>,
    /// Who reports it; defaults to the token's name.
    pub source: Option<String>,
    pub started_at: Option<Timestamp>,
    /// When it took effect; defaults to now.
    pub finished_at: Option<Timestamp>,
}

/// The change as recorded, and the freeze it met.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeployResponse {
    pub change: ChangeRecord,
    /// A deploy recorded during a freeze is flagged (`change.frozen`), not refused.
    pub freeze: FreezeAnswer,
}

/// Values measured after a deploy (`error_rate`, `crashloop_ratio`,
/// `p95_increase`): the `[[rollback.criteria]]` with a `metric` judge them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    pub values: std::collections::BTreeMap<String, f64>,
}

/// What the check-in met, and where it was recorded.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CheckInResponse {
    pub checked: Vec<firebell_core::change::CheckedCriterion>,
    /// Open incidents of the service that record the criteria met.
    pub recorded_on: Vec<String>,
    /// With none open, the alerts raised (their keys): the routing opens
    /// the incident, which records the criterion.
    pub alerted: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    pub service: Option<String>,
    /// `app`, `migration`, `feature_flag` or `config`.
    pub kind: Option<ChangeKind>,
    /// RFC 3339; default 7 days ago.
    pub since: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ChangeList {
    pub items: Vec<ChangeRecord>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FreezeQuery {
    pub service: Option<String>,
    pub environment: Option<String>,
}

/// Freeze deploys by hand, or (admins, at `/freeze/overrides`) let them
/// through the freezes in force. No scope: everywhere.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    pub environment: Option<String>,
    pub service: Option<String>,
    pub reason: String,
    /// How long, e.g. `2h`; or give `until`.
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub until: Option<Timestamp>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FreezeList {
    pub items: Vec<ManualFreeze>,
    pub next_cursor: Option<String>,
}

/// An override made, and the incidents whose timelines record it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OverrideResponse {
    pub freeze: ManualFreeze,
    pub recorded_on: Vec<String>,
}

/// Roll back, or fix forward.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub decision: RollbackDecision,
    /// The change undone (its id); defaults to the advice's first.
    pub change: Option<String>,
    #[serde(default)]
    pub note: String,
    /// Resolve the incident with it: "Incident resolved via rollback".
    #[serde(default)]
    pub resolve: bool,
    /// Call the policy's rollback hook: a person's explicit confirmation.
    #[serde(default)]
    pub confirm_hook: bool,
    pub expected_version: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookRequest {
    pub runbook: String,
    pub expected_version: Option<u64>,
}

/// A provider an incident's services depend on, and its last status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Upstream {
    pub provider: String,
    pub name: String,
    pub status_url: String,
    pub services: Vec<String>,
    /// `None` until first polled.
    pub status: Option<ProviderStatus>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    pub items: Vec<Upstream>,
    pub next_cursor: Option<String>,
}
