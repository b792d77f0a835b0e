//! `/api/v1/oncall` and the on-call overrides
//! (`/api/v1/schedules/{name}/overrides`, `/api/v1/overrides`).

use firebell_core::Timestamp;
use firebell_core::schedule::OnCall;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnCallQuery {
    /// One schedule by name (default: all).
    pub schedule: Option<String>,
    /// The instant to ask about (RFC 3339; default: now).
    pub at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Shift {
    #[serde(flatten)]
    pub shift: OnCall,
    /// The person's display name from the policy.
    pub name: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ScheduleOnCall {
    pub schedule: String,
    pub at: Timestamp,
    /// Who is on call at `at`; absent when nobody is.
    pub now: Option<Shift>,
    /// The following shifts.
    pub next: Vec<Shift>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOverride {
    /// Key of the person on call during the override (in `[people]`).
    pub person: String,
    /// Start (RFC 3339, inclusive); may be in the past.
    pub starts_at: Timestamp,
    /// End (RFC 3339, exclusive): after `starts_at`, in the future, and at
    /// most 90 days after `starts_at`.
    pub ends_at: Timestamp,
    /// Key of the person they stand in for.
    pub covering: Option<String>,
    /// Why, for the record.
    pub reason: Option<String>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleOverridesQuery {
    /// Include overrides that have ended (default: only those not ended yet).
    #[serde(default)]
    pub include_past: bool,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverridesQuery {
    /// One schedule by name (default: all).
    pub schedule: Option<String>,
    /// Include overrides that have ended (default: only those not ended yet).
    #[serde(default)]
    pub include_past: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OverrideView {
    pub id: String,
    /// The schedule's name as the policy spells it.
    pub schedule: String,
    pub person: String,
    /// The person's display name from the policy.
    pub name: String,
    pub covering: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// `scheduled` (not started), `active` or `ended`.
    pub state: String,
}

/// `GET /oncall`: one entry per schedule; `next_cursor` is always `null`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OnCallList {
    pub items: Vec<ScheduleOnCall>,
    pub next_cursor: Option<String>,
}

/// `GET /overrides` and `GET /schedules/{name}/overrides`; `next_cursor` is
/// always `null`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OverrideList {
    pub items: Vec<OverrideView>,
    pub next_cursor: Option<String>,
}
