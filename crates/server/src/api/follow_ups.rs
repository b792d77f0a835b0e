//! The learning loop: an incident's postmortem (read, write, move on,
//! review meeting) and action items, and both listed across incidents.
//! Every change is a command on the incident, so it is on its timeline.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use firebell_core::incident::{self, ActionItemChange, Command, Priority};
use firebell_store::{ActionItemFilter, PostmortemFilter};

use super::Body;
use super::incidents::{execute, load};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::wire::{
    ActionItemList, ActionItemQuery, ActionItemRequest, ActionItemUpdateRequest, CommandResponse,
    PostmortemEditRequest, PostmortemList, PostmortemQuery, PostmortemStateRequest, PostmortemView,
    ReviewRequest,
};

#[utoipa::path(get, path = "/incidents/{id}/postmortem", tag = "postmortems", operation_id = "show_postmortem",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = PostmortemView), (status = 401), (status = 404, description = "No such incident, or it has no postmortem")))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PostmortemView>, ApiError> {
    let (incident, events) = load(&state, &id).await?;
    let Some(pm) = incident.postmortem.clone() else {
        return Err(ApiError::NotFound {
            code: "no_postmortem",
            message: format!(
                "incident {id} has no postmortem: one opens when an incident whose severity \
                 requires it is resolved"
            ),
        });
    };
    let policy = state.policy.policy();
    let now = state.clock.now();
    let document =
        incident::postmortem_document(&policy, &incident, &events, now, &state.links.base())?;
    let deadline = incident::deadlines(&incident, &policy, now)
        .into_iter()
        .find(|d| d.key == "postmortem")
        .map(|d| d.status);
    Ok(Json(PostmortemView {
        incident_id: incident.id.clone(),
        version: incident.version,
        drafted: pm.document.is_none(),
        unfinished: incident::postmortem_unfinished(&document, &policy, &incident.severity),
        path: incident::postmortem_path(&policy, &incident),
        invitees: incident::review_invitees(&incident, &policy),
        postmortem: pm,
        document,
        deadline,
    }))
}

#[utoipa::path(put, path = "/incidents/{id}/postmortem", tag = "postmortems", request_body = PostmortemEditRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, description = "Version conflict, published, or no postmortem"), (status = 422)))]
pub async fn edit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<PostmortemEditRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let cmd = Command::EditPostmortem {
        document: r.document,
        owner: r.owner,
    };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(post, path = "/incidents/{id}/postmortem/state", tag = "postmortems", request_body = PostmortemStateRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, description = "Unwritten sections, same state, or a version conflict"), (status = 422)))]
pub async fn set_state(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<PostmortemStateRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let cmd = Command::SetPostmortemState { state: r.state };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(post, path = "/incidents/{id}/postmortem/review", tag = "postmortems", request_body = ReviewRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 422)))]
pub async fn schedule_review(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<ReviewRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let cmd = Command::ScheduleReview {
        at: r.at,
        place: r.place,
        participants: r.participants,
    };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(post, path = "/incidents/{id}/action-items", tag = "postmortems", request_body = ActionItemRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 422)))]
pub async fn add_action_item(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<ActionItemRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let cmd = Command::AddActionItem {
        title: r.title,
        owner: r.owner,
        due_at: r.due_at,
        priority: r.priority.unwrap_or(Priority::Medium),
    };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(patch, path = "/incidents/{id}/action-items/{item}", tag = "postmortems", request_body = ActionItemUpdateRequest,
    params(("id" = String, Path, description = "Incident id"), ("item" = u32, Path, description = "Action item number")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409, description = "Nothing changed, or a version conflict"), (status = 422)))]
pub async fn update_action_item(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, item)): Path<(String, u32)>,
    Body(r): Body<ActionItemUpdateRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let cmd = Command::UpdateActionItem {
        id: item,
        change: ActionItemChange {
            title: r.title,
            owner: r.owner,
            due_at: r.due_at,
            priority: r.priority,
            status: r.status,
        },
    };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/action-items", tag = "postmortems", params(ActionItemQuery),
    responses((status = 200, body = ActionItemList), (status = 400), (status = 401)))]
pub async fn list_action_items(
    State(state): State<AppState>,
    query: Result<Query<ActionItemQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ActionItemList>, ApiError> {
    let Query(q) = query?;
    let filter = ActionItemFilter {
        incident: q.incident,
        owner: q.owner,
        status: q.status,
        open_only: q.open.unwrap_or(false),
        overdue_at: q.overdue.unwrap_or(false).then(|| state.clock.now()),
        limit: limit(q.limit)?,
        ..Default::default()
    };
    let items = state.store.list_action_items(&filter).await?;
    Ok(Json(ActionItemList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/postmortems", tag = "postmortems", params(PostmortemQuery),
    responses((status = 200, body = PostmortemList), (status = 400), (status = 401)))]
pub async fn list_postmortems(
    State(state): State<AppState>,
    query: Result<Query<PostmortemQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PostmortemList>, ApiError> {
    let Query(q) = query?;
    let filter = PostmortemFilter {
        state: q.state,
        overdue_at: q.overdue.unwrap_or(false).then(|| state.clock.now()),
        limit: limit(q.limit)?,
    };
    let items = state.store.list_postmortems(&filter).await?;
    Ok(Json(PostmortemList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

fn limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=500) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1-500, got {n}"),
        )),
    }
}
