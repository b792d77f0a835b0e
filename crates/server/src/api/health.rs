//! `/api/v1/heartbeats/{name}` (a job checks in) and `/api/v1/checks` (is
//! every check and heartbeat polling, and how is it doing?) — the latter is
//! what a monthly monitoring review looks at.

use axum::Json;
use axum::extract::{Path, State};
use firebell_core::Timestamp;
use firebell_core::alert::health::{CheckPhase, missing_since};
use firebell_core::policy::{CheckKind, Heartbeat};

use crate::AppState;
use crate::error::ApiError;
use crate::wire::{CheckView, HeartbeatView, MonitorsView};

fn heartbeat_view(
    hb: &Heartbeat,
    last_seen_at: Option<Timestamp>,
    waiting_since: Timestamp,
    now: Timestamp,
) -> HeartbeatView {
    let grace = hb.grace();
    let since = last_seen_at.unwrap_or(waiting_since);
    let due_at = hb
        .interval
        .and_then(|i| since.checked_add(i.as_signed()).ok());
    let missing_at = due_at.and_then(|d| d.checked_add(grace.as_signed()).ok());
    let missing = hb
        .interval
        .and_then(|i| missing_since(since, i, grace, now))
        .is_some();
    let state = match (missing, last_seen_at) {
        (true, _) => "missing",
        (false, None) => "waiting",
        (false, Some(_)) => "up",
    };
    HeartbeatView {
        name: hb.name.clone(),
        interval: hb.interval.map(|i| i.to_string()).unwrap_or_default(),
        grace: grace.to_string(),
        service: hb.service.clone(),
        severity: hb.severity.clone(),
        state: state.into(),
        last_seen_at,
        due_at,
        missing_at,
    }
}

#[utoipa::path(post, path = "/heartbeats/{name}", tag = "monitors", operation_id = "ping_heartbeat",
    params(("name" = String, Path, description = "The heartbeat's name in the policy")),
    responses((status = 200, body = HeartbeatView), (status = 404, description = "no such heartbeat")))]
pub async fn ping(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<HeartbeatView>, ApiError> {
    let policy = state.policy.policy();
    let hb = policy
        .heartbeats
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| ApiError::NotFound {
            code: "heartbeat_not_found",
            message: format!(
                "no heartbeat named {name:?} in the policy; add it under [[heartbeats]]"
            ),
        })?;
    let now = state.clock.now();
    state.store.record_heartbeat(&hb.name, now).await?;
    metrics::counter!("firebell_heartbeat_pings_total", "heartbeat" => hb.name.clone())
        .increment(1);
    Ok(Json(heartbeat_view(hb, Some(now), now, now)))
}

#[utoipa::path(get, path = "/checks", tag = "monitors", operation_id = "list_checks",
    responses((status = 200, body = MonitorsView)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<MonitorsView>, ApiError> {
    let policy = state.policy.policy();
    let now = state.clock.now();
    let pings = if policy.heartbeats.is_empty() {
        Vec::new()
    } else {
        state.store.heartbeats().await?
    };
    let heartbeats = policy
        .heartbeats
        .iter()
        .map(|hb| {
            let last = pings
                .iter()
                .find(|p| p.name == hb.name)
                .map(|p| p.last_seen_at);
            let waiting_since = state
                .monitors
                .health
                .heartbeat_waiting_since(&hb.name)
                .unwrap_or(state.started_at);
            heartbeat_view(hb, last, waiting_since, now)
        })
        .collect();
    let checks = policy
        .checks
        .iter()
        .map(|c| {
            let entry = state.monitors.health.check(&c.name);
            let tracker = &entry.tracker;
            let last = entry.last.as_ref();
            let phase = match tracker.phase() {
                CheckPhase::Healthy if last.is_none() => "pending",
                CheckPhase::Healthy => "healthy",
                CheckPhase::Failing => "failing",
                CheckPhase::Firing => "firing",
            };
            CheckView {
                name: c.name.clone(),
                kind: match c.kind {
                    Some(CheckKind::Tcp) => "tcp",
                    _ => "http",
                }
                .into(),
                target: c.target(),
                interval: c.interval().to_string(),
                timeout: c.timeout().to_string(),
                failure_threshold: c.failure_threshold(),
                service: c.service.clone(),
                severity: c.severity.clone(),
                state: phase.into(),
                consecutive_failures: tracker.consecutive_failures,
                failing_since: tracker.failing_since,
                last_checked_at: last.map(|l| l.at),
                last_result: last.map(|l| if l.result.is_ok() { "up" } else { "down" }.into()),
                last_failure: last.and_then(|l| l.result.as_ref().err().map(ToString::to_string)),
                last_duration_ms: last
                    .map(|l| u64::try_from(l.duration.as_millis()).unwrap_or(u64::MAX)),
            }
        })
        .collect();
    Ok(Json(MonitorsView { checks, heartbeats }))
}
