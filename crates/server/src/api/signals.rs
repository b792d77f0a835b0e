//! `/api/v1/alerts`, `/api/v1/silences`, `/api/v1/maintenance`: Firebell's own
//! views of alerts and of what suppresses paging, in the same JSON and error
//! format as the rest of `/api/v1` (the Alertmanager-shaped API is `/api/v2`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use firebell_core::Timestamp;
use firebell_core::alert::Alert;
use firebell_core::alert::{
    MaintenanceKind, MaintenanceReview, MaintenanceWindow, Matcher, Silence, SilenceState,
    parse_matchers,
};
use firebell_store::{AlertCursor, AlertFilter, Store, StoreError};

use super::Body;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::wire::{
    AlertQuery, AlertView, AlertViewList, CreateMaintenance, CreateSilence, MaintenanceList,
    MaintenanceView, ReviewMaintenance, SilenceList, SilenceView,
};

#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = AlertViewList), (status = 400)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AlertViewList>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(500);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1-10000, got {limit}"),
        ));
    }
    let matchers = match q.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(f) => parse_matchers(f)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("filter {f:?}: {e}")))?,
        None => Vec::new(),
    };
    crate::ingest::settle(&state.pipeline).await?;
    let now = state.clock.now();
    let silences = active_silences(&state, now).await?;
    let alerts = matching_alerts(
        &state.store,
        (!q.all).then_some(now),
        limit as usize,
        &matchers,
    )
    .await?;
    let items = alerts
        .into_iter()
        .map(|a| AlertView {
            firing: a.is_firing(now),
            silenced_by: silences
                .iter()
                .filter(|s| s.matches(&a.labels))
                .map(|s| s.id.clone())
                .collect(),
            alert: a,
        })
        .collect();
    Ok(Json(AlertViewList {
        items,
        next_cursor: None,
    }))
}

/// Alerts read per query while scanning (see [`matching_alerts`]).
const SCAN_PAGE: u32 = 5_000;

/// Every stored alert (firing at `firing_at`, if given) that `matchers`
/// accept, newest start first, at most `limit`. The table is read page by
/// page, so the filter comes before the limit and no match past the first
/// page is missed, however many alerts there are. Equality matchers and
/// regexes with literal prefixes narrow each read in SQL
/// ([`Matcher::value_test`]), so the rows decoded are mostly matches.
pub(crate) async fn matching_alerts(
    store: &Store,
    firing_at: Option<Timestamp>,
    limit: usize,
    matchers: &[Matcher],
) -> Result<Vec<Alert>, StoreError> {
    let labels: Vec<_> = matchers
        .iter()
        .filter_map(|m| Some((m.name.clone(), m.value_test()?)))
        .collect();
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_alerts(&AlertFilter {
                incident_id: None,
                firing_at,
                limit: SCAN_PAGE,
                after: after.take(),
                labels: labels.clone(),
            })
            .await?;
        let more = page.len() == SCAN_PAGE as usize;
        after = page.last().map(AlertCursor::of);
        for a in page {
            if matchers.iter().all(|m| m.matches(&a.labels)) {
                found.push(a);
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
        if !more {
            return Ok(found);
        }
    }
}

async fn active_silences(state: &AppState, now: Timestamp) -> Result<Vec<Silence>, ApiError> {
    Ok(state
        .store
        .list_silences()
        .await?
        .into_iter()
        .filter(|s| s.state(now) == SilenceState::Active)
        .collect())
}

fn silence_view(s: Silence, now: Timestamp) -> SilenceView {
    SilenceView {
        state: serde_json::to_value(s.state(now))
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        matchers: s.matchers.iter().map(Matcher::to_string).collect(),
        id: s.id,
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
        updated_at: s.updated_at,
    }
}

fn end_of(
    start: Timestamp,
    ends_at: Option<Timestamp>,
    duration: Option<&str>,
) -> Result<Timestamp, ApiError> {
    match (ends_at, duration) {
        (Some(end), None) => Ok(end),
        (None, Some(d)) => {
            let d: firebell_core::Duration =
                d.parse()
                    .map_err(|e: firebell_core::duration::DurationError| {
                        ApiError::bad_request("invalid_body", e.to_string())
                    })?;
            start.checked_add(d.as_signed()).map_err(|e| {
                ApiError::bad_request("invalid_body", format!("duration {d} is too long: {e}"))
            })
        }
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_body",
            "give either `ends_at` or `duration`, not both",
        )),
        (None, None) => Err(ApiError::bad_request(
            "invalid_body",
            "give `ends_at` or `duration`",
        )),
    }
}

#[utoipa::path(post, path = "/silences", tag = "silences", request_body = CreateSilence,
    responses((status = 201, body = SilenceView), (status = 400), (status = 422)))]
pub async fn create_silence(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<CreateSilence>,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.clock.now();
    let matchers = parse_matchers(&req.matchers).map_err(|e| ApiError::Unprocessable {
        code: "invalid_matchers",
        message: format!("matchers {:?}: {e}", req.matchers),
    })?;
    let starts_at = req.starts_at.unwrap_or(now).max(now);
    let ends_at = end_of(starts_at, req.ends_at, req.duration.as_deref())?;
    let silence = Silence {
        id: uuid::Uuid::new_v4().to_string(),
        matchers,
        starts_at,
        ends_at,
        created_by: caller.name,
        comment: req.comment.trim().to_string(),
        updated_at: now,
    };
    if silence.comment.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "missing_field",
            message: "a silence needs a comment saying why".into(),
        });
    }
    silence.validate().map_err(|e| ApiError::Unprocessable {
        code: "invalid_silence",
        message: e,
    })?;
    if silence.ends_at <= now {
        return Err(ApiError::Unprocessable {
            code: "invalid_silence",
            message: "ends_at must be in the future".into(),
        });
    }
    state.store.upsert_silence(&silence).await?;
    let location = format!("/api/v1/silences/{}", silence.id);
    Ok(super::created(location, silence_view(silence, now)))
}

#[utoipa::path(get, path = "/silences", tag = "silences", responses((status = 200, body = SilenceList)))]
pub async fn list_silences(State(state): State<AppState>) -> Result<Json<SilenceList>, ApiError> {
    let now = state.clock.now();
    let items = state
        .store
        .list_silences()
        .await?
        .into_iter()
        .map(|s| silence_view(s, now))
        .collect();
    Ok(Json(SilenceList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/silences/{id}", tag = "silences", params(("id" = String, Path)),
    responses((status = 200, body = SilenceView)))]
pub async fn get_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SilenceView>, ApiError> {
    let s = state
        .store
        .get_silence(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            code: "silence_not_found",
            message: format!("no silence with id {id:?}"),
        })?;
    Ok(Json(silence_view(s, state.clock.now())))
}

#[utoipa::path(post, path = "/silences/{id}/expire", tag = "silences", params(("id" = String, Path)),
    responses((status = 200, body = SilenceView), (status = 404)))]
pub async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SilenceView>, ApiError> {
    let now = state.clock.now();
    let not_found = || ApiError::NotFound {
        code: "silence_not_found",
        message: format!("no silence with id {id:?}"),
    };
    state.store.get_silence(&id).await?.ok_or_else(not_found)?;
    state.store.expire_silence(&id, now).await?;
    let s = state.store.get_silence(&id).await?.ok_or_else(not_found)?;
    Ok(Json(silence_view(s, now)))
}

#[utoipa::path(post, path = "/maintenance", tag = "maintenance", request_body = CreateMaintenance,
    responses((status = 201, body = MaintenanceWindow, description = "The window"), (status = 400), (status = 422)))]
pub async fn create_maintenance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<CreateMaintenance>,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.clock.now();
    let policy = state.policy.policy();
    for s in &req.services {
        if !policy.services.is_empty() && !policy.services.contains_key(s) {
            let known: Vec<_> = policy.services.keys().map(String::as_str).collect();
            return Err(ApiError::Unprocessable {
                code: "unknown_service",
                message: format!(
                    "unknown service {s:?}; the policy defines {}",
                    known.join(", ")
                ),
            });
        }
    }
    let starts_at = match req.kind {
        MaintenanceKind::Scheduled => req.starts_at.ok_or_else(|| {
            ApiError::bad_request("invalid_body", "a scheduled window needs `starts_at`")
        })?,
        _ => req.starts_at.unwrap_or(now).max(now),
    };
    let notice = policy.maintenance.notice;
    if req.kind == MaintenanceKind::Scheduled && starts_at.duration_since(now) < notice.as_signed()
    {
        let lead =
            firebell_core::Duration::from_secs(starts_at.duration_since(now).as_secs().max(0));
        return Err(ApiError::Unprocessable {
            code: "insufficient_notice",
            message: format!(
                "a scheduled window needs {notice} notice (policy [maintenance] notice); \
                 this one starts at {starts_at}, {lead} from now. Maintenance that cannot \
                 wait is kind \"emergency\""
            ),
        });
    }
    let ends_at = match (req.kind, req.ends_at, req.duration.as_deref()) {
        (MaintenanceKind::Mode, None, None) => None,
        (_, end, dur) => Some(end_of(starts_at, end, dur)?),
    };
    let window = MaintenanceWindow {
        id: uuid::Uuid::new_v4().to_string(),
        title: req.title.trim().to_string(),
        kind: req.kind,
        services: req.services,
        starts_at,
        ends_at,
        created_by: caller.name,
        created_at: now,
        planned_starts_at: Some(starts_at),
        planned_ends_at: ends_at,
        review_due_at: MaintenanceWindow::review_due(
            req.kind,
            starts_at,
            ends_at,
            policy.maintenance.emergency_review_within,
        ),
        review: None,
    };
    window.validate().map_err(|e| ApiError::Unprocessable {
        code: "invalid_maintenance",
        message: e,
    })?;
    state.store.create_maintenance(&window).await?;
    state.incidents.changed();
    let location = format!("/api/v1/maintenance/{}", window.id);
    Ok(super::created(location, window))
}

#[utoipa::path(get, path = "/maintenance", tag = "maintenance", responses((status = 200, body = MaintenanceList, description = "Every window, with `review_state` (not_required, due, overdue, done)")))]
pub async fn list_maintenance(
    State(state): State<AppState>,
) -> Result<Json<MaintenanceList>, ApiError> {
    let now = state.clock.now();
    let items = state
        .store
        .list_maintenance()
        .await?
        .into_iter()
        .map(|window| MaintenanceView {
            review_state: window.review_state(now),
            window,
        })
        .collect();
    Ok(Json(MaintenanceList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/maintenance/{id}", tag = "maintenance", params(("id" = String, Path)),
    responses((status = 200, body = MaintenanceView)))]
pub async fn get_maintenance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MaintenanceView>, ApiError> {
    let window = state
        .store
        .list_maintenance()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::NotFound {
            code: "maintenance_not_found",
            message: format!("no maintenance window {id:?}"),
        })?;
    Ok(Json(MaintenanceView {
        review_state: window.review_state(state.clock.now()),
        window,
    }))
}

#[utoipa::path(post, path = "/maintenance/{id}/review", tag = "maintenance", params(("id" = String, Path)),
    request_body = ReviewMaintenance,
    responses((status = 200, body = MaintenanceView, description = "The window, reviewed"), (status = 404), (status = 409), (status = 422)))]
pub async fn review_maintenance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(req): Body<ReviewMaintenance>,
) -> Result<Json<MaintenanceView>, ApiError> {
    let summary = req.summary.trim();
    if summary.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "invalid_review",
            message: "a review needs a summary: what happened, why it could not wait, \
                      what to change"
                .into(),
        });
    }
    if summary.chars().count() > 10_000 {
        return Err(ApiError::Unprocessable {
            code: "invalid_review",
            message: "the summary is longer than 10000 characters".into(),
        });
    }
    let now = state.clock.now();
    let find = |windows: Vec<MaintenanceWindow>| windows.into_iter().find(|w| w.id == id);
    let window = find(state.store.list_maintenance().await?).ok_or_else(|| ApiError::NotFound {
        code: "maintenance_not_found",
        message: format!("no maintenance window {id:?}"),
    })?;
    let review = MaintenanceReview {
        at: now,
        by: caller.name,
        summary: summary.to_string(),
    };
    if !state.store.review_maintenance(&id, &review).await? {
        return Err(ApiError::Conflict {
            code: if window.review_due_at.is_none() {
                "review_not_required"
            } else {
                "already_reviewed"
            },
            message: if window.review_due_at.is_none() {
                format!("maintenance window {id:?} is not an emergency window; it owes no review")
            } else {
                format!("maintenance window {id:?} was reviewed already")
            },
        });
    }
    let window = find(state.store.list_maintenance().await?).ok_or_else(|| ApiError::NotFound {
        code: "maintenance_not_found",
        message: format!("no maintenance window {id:?}"),
    })?;
    Ok(Json(MaintenanceView {
        review_state: window.review_state(now),
        window,
    }))
}

#[utoipa::path(post, path = "/maintenance/{id}/end", tag = "maintenance", params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
pub async fn end_maintenance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.end_maintenance(&id, state.clock.now()).await? {
        state.incidents.changed();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            code: "maintenance_not_found",
            message: format!("no active maintenance window {id:?}"),
        })
    }
}
