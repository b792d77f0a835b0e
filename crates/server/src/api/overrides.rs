//! `/api/v1/schedules/{name}/overrides` and `/api/v1/overrides`: on-call
//! overrides ("Sara covers Omar from Tue 18:00 to Wed 09:00"). An override
//! wins over every layer of its schedule during `[starts_at, ends_at)`; it is
//! stored, shown by `GET /api/v1/oncall`, and removed with a soft delete.
//!
//! A new override is checked against the policy in force: the schedule must
//! exist (404), `person` and `covering` must be keys of `[people]` (when the
//! policy lists people at all, as for schedule participants), and the window
//! must end after it starts, last at most [`MAX_WINDOW_DAYS`] days, and not
//! be over already (422).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use firebell_core::{Policy, Timestamp};
use firebell_store::{NewOverride, OverrideRecord};
use jiff::SignedDuration;

use super::Body;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::wire::{
    CreateOverride, OverrideList, OverrideView, OverridesQuery, ScheduleOverridesQuery,
};

/// The longest override accepted, in days.
pub const MAX_WINDOW_DAYS: i64 = 90;

fn view(policy: &Policy, r: OverrideRecord, now: Timestamp) -> OverrideView {
    let state = if now < r.starts_at {
        "scheduled"
    } else if now < r.ends_at {
        "active"
    } else {
        "ended"
    };
    OverrideView {
        name: firebell_core::incident::display_name(policy, &r.person),
        id: r.id,
        schedule: r.schedule,
        person: r.person,
        covering: r.covering,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        reason: r.reason,
        created_by: r.created_by,
        created_at: r.created_at,
        state: state.into(),
    }
}

/// The policy's name of schedule `name` (matched case-insensitively), or 404.
pub(crate) fn schedule_name(policy: &Policy, name: &str) -> Result<String, ApiError> {
    policy
        .schedules
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            let known: Vec<_> = policy.schedules.iter().map(|s| s.name.as_str()).collect();
            ApiError::NotFound {
                code: "schedule_not_found",
                message: format!(
                    "no schedule {name:?}; the policy defines {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            }
        })
}

/// `person` must be a key of `[people]`, unless the policy lists nobody (as
/// for schedule participants).
fn check_person(policy: &Policy, field: &str, person: &str) -> Result<(), ApiError> {
    if policy.people.is_empty() || policy.people.contains_key(person) {
        return Ok(());
    }
    let known: Vec<_> = policy.people.keys().map(String::as_str).collect();
    Err(ApiError::Unprocessable {
        code: "unknown_person",
        message: format!(
            "{field}: unknown person {person:?}; the policy's [people] are {}",
            known.join(", ")
        ),
    })
}

/// An instant as the store keeps it (whole milliseconds), so what is
/// checked is what is stored.
fn to_ms(t: Timestamp) -> Result<Timestamp, ApiError> {
    Timestamp::from_millisecond(t.as_millisecond()).map_err(|e| {
        ApiError::bad_request("invalid_body", format!("instant {t} out of range: {e}"))
    })
}

#[utoipa::path(post, path = "/schedules/{name}/overrides", tag = "on-call", operation_id = "create_schedule_override",
    params(("name" = String, Path, description = "Schedule name")),
    request_body = CreateOverride,
    responses((status = 201, body = OverrideView), (status = 400), (status = 403), (status = 404), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(req): Body<CreateOverride>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let now = state.clock.now();
    let policy = state.policy.policy();
    let schedule = schedule_name(&policy, &name)?;
    let person = req.person.trim().to_string();
    if person.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "person must not be empty",
        ));
    }
    check_person(&policy, "person", &person)?;
    let covering = req
        .covering
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = &covering {
        check_person(&policy, "covering", c)?;
    }
    let (starts_at, ends_at) = (to_ms(req.starts_at)?, to_ms(req.ends_at)?);
    if ends_at <= starts_at {
        return Err(ApiError::Unprocessable {
            code: "invalid_window",
            message: format!("ends_at ({ends_at}) must be after starts_at ({starts_at})"),
        });
    }
    let max = SignedDuration::from_hours(24 * MAX_WINDOW_DAYS);
    if ends_at.duration_since(starts_at) > max {
        return Err(ApiError::Unprocessable {
            code: "window_too_long",
            message: format!(
                "an override lasts at most {MAX_WINDOW_DAYS} days; {starts_at} to {ends_at} is longer"
            ),
        });
    }
    if ends_at <= now {
        return Err(ApiError::Unprocessable {
            code: "window_in_past",
            message: format!("ends_at ({ends_at}) is not in the future (now is {now})"),
        });
    }
    let record = state
        .store
        .create_override(&NewOverride {
            id: uuid::Uuid::new_v4().to_string(),
            schedule,
            person,
            covering,
            starts_at,
            ends_at,
            reason: req.reason.unwrap_or_default().trim().to_string(),
            created_by: caller.name,
            created_at: now,
        })
        .await?;
    tracing::info!(
        id = %record.id, schedule = %record.schedule, person = %record.person,
        starts_at = %record.starts_at, ends_at = %record.ends_at, by = %record.created_by,
        "on-call override created"
    );
    let location = format!(
        "/api/v1/schedules/{}/overrides/{}",
        super::path_segment(&record.schedule),
        record.id
    );
    Ok(super::created(location, view(&policy, record, now)))
}

#[utoipa::path(get, path = "/schedules/{name}/overrides", tag = "on-call", operation_id = "list_schedule_overrides",
    params(("name" = String, Path, description = "Schedule name"), ScheduleOverridesQuery),
    responses((status = 200, body = OverrideList), (status = 400), (status = 404)))]
pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<ScheduleOverridesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OverrideList>, ApiError> {
    let Query(q) = query?;
    let policy = state.policy.policy();
    let schedule = schedule_name(&policy, &name)?;
    list_views(&state, &policy, Some(&schedule), q.include_past).await
}

/// Every schedule's overrides (what `firebell override list` shows).
#[utoipa::path(get, path = "/overrides", tag = "on-call", operation_id = "list_overrides", params(OverridesQuery),
    responses((status = 200, body = OverrideList), (status = 400), (status = 404)))]
pub async fn list_all(
    State(state): State<AppState>,
    query: Result<Query<OverridesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OverrideList>, ApiError> {
    let Query(q) = query?;
    let policy = state.policy.policy();
    let schedule = q
        .schedule
        .as_deref()
        .map(|name| schedule_name(&policy, name))
        .transpose()?;
    list_views(&state, &policy, schedule.as_deref(), q.include_past).await
}

async fn list_views(
    state: &AppState,
    policy: &Policy,
    schedule: Option<&str>,
    include_past: bool,
) -> Result<Json<OverrideList>, ApiError> {
    let now = state.clock.now();
    let records = state
        .store
        .list_overrides(schedule, (!include_past).then_some(now))
        .await?;
    Ok(Json(OverrideList {
        items: records.into_iter().map(|r| view(policy, r, now)).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/schedules/{name}/overrides/{id}", tag = "on-call", operation_id = "get_override",
    params(("name" = String, Path, description = "Schedule name"), ("id" = String, Path)),
    responses((status = 200, body = OverrideView)))]
pub async fn get(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<OverrideView>, ApiError> {
    let policy = state.policy.policy();
    let schedule = schedule_name(&policy, &name)?;
    let record = state
        .store
        .get_override(&id)
        .await?
        .filter(|o| o.deleted_at.is_none() && o.schedule.eq_ignore_ascii_case(&schedule))
        .ok_or_else(|| ApiError::NotFound {
            code: "override_not_found",
            message: format!("no override {id:?} on schedule {schedule:?}"),
        })?;
    Ok(Json(view(&policy, record, state.clock.now())))
}

#[utoipa::path(delete, path = "/schedules/{name}/overrides/{id}", tag = "on-call", operation_id = "delete_override",
    params(("name" = String, Path, description = "Schedule name"), ("id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    let policy = state.policy.policy();
    let schedule = schedule_name(&policy, &name)?;
    let not_found = || ApiError::NotFound {
        code: "override_not_found",
        message: format!("no override {id:?} on schedule {schedule:?}"),
    };
    let found = state.store.get_override(&id).await?;
    let ours = found
        .as_ref()
        .is_some_and(|o| o.deleted_at.is_none() && o.schedule.eq_ignore_ascii_case(&schedule));
    if !ours || !state.store.delete_override(&id, now).await? {
        return Err(not_found());
    }
    tracing::info!(id = %id, schedule = %schedule, by = %caller.name, "on-call override removed");
    Ok(StatusCode::NO_CONTENT)
}
