//! Bodies of the learning loop: postmortems and action items.

use firebell_core::Timestamp;
use firebell_core::incident::{
    ActionStatus, DeadlineStatus, Postmortem, PostmortemState, Priority,
};
use firebell_store::{ActionItemRow, PostmortemRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Save the postmortem's document, change its owner, or both.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemEditRequest {
    /// The whole Markdown document.
    pub document: Option<String>,
    /// A person key.
    pub owner: Option<String>,
    /// The incident's version the edit was made on; a 409 if it moved.
    pub expected_version: Option<u64>,
}

/// Move the postmortem on, or back.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemStateRequest {
    pub state: PostmortemState,
    pub expected_version: Option<u64>,
}

/// Set or move the review meeting.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub at: Timestamp,
    /// "weekly team sync", a meeting link.
    pub place: Option<String>,
    /// Person keys; empty keeps those invited already. The action items'
    /// owners are always invited.
    #[serde(default)]
    pub participants: Vec<String>,
    pub expected_version: Option<u64>,
}

/// A new action item.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItemRequest {
    pub title: String,
    /// A person key (reminded when it is overdue) or a name ("QA").
    pub owner: String,
    pub due_at: Option<Timestamp>,
    pub priority: Option<Priority>,
    pub expected_version: Option<u64>,
}

/// Changes to an action item; absent fields stay.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItemUpdateRequest {
    pub title: Option<String>,
    pub owner: Option<String>,
    pub due_at: Option<Timestamp>,
    pub priority: Option<Priority>,
    pub status: Option<ActionStatus>,
    pub expected_version: Option<u64>,
}

/// An incident's postmortem with its document: as saved, or drafted now
/// from the log.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PostmortemView {
    pub incident_id: String,
    /// The incident's version: send it back as `expected_version` with an edit.
    pub version: u64,
    pub postmortem: Postmortem,
    pub document: String,
    /// Whether `document` is the live draft (never saved).
    pub drafted: bool,
    /// Where `firebell postmortem export` writes it.
    pub path: String,
    /// The deadline's state now.
    pub deadline: Option<DeadlineStatus>,
    /// What keeps it from review: sections still to write.
    pub unfinished: Vec<String>,
    /// Everyone invited to the review (participants and item owners).
    pub invitees: Vec<String>,
}

/// Filters for `GET /action-items`.
#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActionItemQuery {
    /// Only items past their due date and not complete.
    pub overdue: Option<bool>,
    /// Only items not complete.
    pub open: Option<bool>,
    pub status: Option<ActionStatus>,
    pub owner: Option<String>,
    pub incident: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ActionItemList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<ActionItemRowView>,
    /// Always null: the list is cut at `limit`, soonest due first.
    pub next_cursor: Option<String>,
}

/// An action item and its incident.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionItemRowView {
    pub incident_id: String,
    pub incident_title: String,
    #[serde(flatten)]
    pub item: firebell_core::incident::ActionItem,
}

impl From<ActionItemRow> for ActionItemRowView {
    fn from(r: ActionItemRow) -> Self {
        ActionItemRowView {
            incident_id: r.incident_id,
            incident_title: r.incident_title,
            item: r.item,
        }
    }
}

/// Filters for `GET /postmortems`.
#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PostmortemQuery {
    pub state: Option<PostmortemState>,
    /// Only those past due and not published.
    pub overdue: Option<bool>,
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PostmortemList {
    pub items: Vec<PostmortemSummary>,
    pub next_cursor: Option<String>,
}

/// A postmortem in a list (no document).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct PostmortemSummary {
    pub incident_id: String,
    pub title: String,
    pub severity: String,
    pub state: PostmortemState,
    pub owner: Option<String>,
    pub due_at: Option<Timestamp>,
    pub review_at: Option<Timestamp>,
}

impl From<PostmortemRow> for PostmortemSummary {
    fn from(r: PostmortemRow) -> Self {
        PostmortemSummary {
            incident_id: r.incident_id,
            title: r.title,
            severity: r.severity,
            state: r.state,
            owner: r.owner,
            due_at: r.due_at,
            review_at: r.review_at,
        }
    }
}

/// Which report: `since` and `until` are RFC 3339 instants or durations
/// back from now (`90d`); `format` is `json` (default) or `csv`.
#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Default `30d`.
    pub since: Option<String>,
    /// Default now.
    pub until: Option<String>,
    pub format: Option<String>,
}
