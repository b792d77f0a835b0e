//! `/api/v1/alerts`, `/api/v1/silences`, `/api/v1/maintenance`.

use firebell_core::Timestamp;
use firebell_core::alert::{Alert, MaintenanceKind, MaintenanceWindow, ReviewState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Matchers in Alertmanager syntax, e.g. `{service="api",severity=~"crit.*"}`.
    pub filter: Option<String>,
    /// Include resolved alerts too (default: firing only).
    #[serde(default)]
    pub all: bool,
    /// 1-10000, default 500.
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    pub firing: bool,
    /// Ids of active silences that match it.
    pub silenced_by: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    /// Matchers in Alertmanager syntax: `alertname="Disk", instance=~"db.*"`.
    pub matchers: String,
    /// Defaults to now.
    pub starts_at: Option<Timestamp>,
    /// Give `ends_at` or `duration` (e.g. `2h`).
    pub ends_at: Option<Timestamp>,
    pub duration: Option<String>,
    pub comment: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    pub matchers: Vec<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
    pub updated_at: Timestamp,
    /// `pending`, `active` or `expired`.
    pub state: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenance {
    pub title: String,
    /// Services whose alerts page nobody during the window.
    pub services: Vec<String>,
    /// `scheduled` (needs notice: starts in the future), `emergency`, or
    /// `mode` (on now, until switched off).
    #[schema(value_type = String)]
    pub kind: MaintenanceKind,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub duration: Option<String>,
}

/// The review an emergency maintenance window owes.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewMaintenance {
    /// What happened, why it could not wait, and what to change.
    pub summary: String,
}

/// `GET /alerts`: one page of alerts. The list does not page yet (`limit`
/// cuts it), so `next_cursor` is always `null`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AlertViewList {
    pub items: Vec<AlertView>,
    pub next_cursor: Option<String>,
}

/// `GET /silences`: every silence; `next_cursor` is always `null`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SilenceList {
    pub items: Vec<SilenceView>,
    pub next_cursor: Option<String>,
}

/// A maintenance window as listed: with where its review stands.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MaintenanceView {
    #[serde(flatten)]
    pub window: MaintenanceWindow,
    /// `not_required`, `due`, `overdue` or `done`.
    #[schema(value_type = String)]
    pub review_state: ReviewState,
}

/// `GET /maintenance`: every window; `next_cursor` is always `null`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MaintenanceList {
    pub items: Vec<MaintenanceView>,
    pub next_cursor: Option<String>,
}
