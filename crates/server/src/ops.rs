//! Operations endpoints, open without a token: `/health` (the process is up),
//! `/ready` (database reachable, a policy loaded, no queue stalled, the clock
//! agreeing with the database's), `/metrics` (Prometheus).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let policy = state.policy.current();
    let database = match state.store.ping().await {
        Ok(()) => Ok(state.store.backend().as_str()),
        Err(e) => Err(e.to_string()),
    };
    // A queue that stopped draining makes the server not ready: it takes
    // alerts but would not page on them.
    let queues = match &database {
        Ok(_) => crate::set_aside::queue_health(&state.store, state.clock.now())
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let stalled: Vec<&str> = queues
        .iter()
        .filter(|q| q.stalled)
        .map(|q| q.queue.as_str())
        .collect();
    // A replica with a wrong clock claims no timed work (see `skew`):
    // the load balancer should send people elsewhere.
    let (clock_ok, clock) = state.clock_guard.report();
    let ok = database.is_ok() && stalled.is_empty() && clock_ok;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "database": match &database { Ok(b) => json!({"ok": true, "backend": b}), Err(e) => json!({"ok": false, "error": e}) },
        "policy": { "ok": true, "source": policy.source, "sha256": policy.sha256 },
        "queues": queues,
        "stalled": stalled,
        "clock": clock,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Incident counts are read at scrape time: always true, never drifting.
    if let Ok(counts) = state.store.count_incidents_by_status().await {
        for status in firebell_core::Status::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map(|(_, n)| *n)
                .unwrap_or(0);
            metrics::gauge!("firebell_incidents", "status" => status.as_str()).set(n as f64);
        }
    }
    // Emergency maintenance owes a review (s003.maintenance-emergency).
    if let Ok(windows) = state.store.list_maintenance().await {
        let now = state.clock.now();
        let overdue = windows
            .iter()
            .filter(|w| w.review_state(now) == firebell_core::alert::ReviewState::Overdue)
            .count();
        metrics::gauge!("firebell_maintenance_reviews_overdue").set(overdue as f64);
    }
    // Legal clocks missed (s000.pdpl-breach-72h): open incidents and those
    // resolved in the last 30 days (a clock outlives its incident).
    if let Ok(overdue) = overdue_obligations(&state).await {
        metrics::gauge!("firebell_obligations_overdue").set(overdue as f64);
    }
    // The learning loop, late (s000.postmortem-3-business-days and friends).
    if let Ok((postmortems, items)) = state
        .store
        .count_overdue_follow_ups(state.clock.now())
        .await
    {
        metrics::gauge!("firebell_postmortems_overdue").set(postmortems as f64);
        metrics::gauge!("firebell_action_items_overdue").set(items as f64);
    }
    if let Ok(duties) = crate::duties::views(&state).await {
        let overdue = duties.iter().filter(|d| d.overdue).count();
        metrics::gauge!("firebell_duties_overdue").set(overdue as f64);
    }
    if let Ok(queues) = crate::set_aside::queue_health(&state.store, state.clock.now()).await {
        crate::set_aside::publish(&queues);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
}

/// Obligations past due and not met, on incidents open or resolved in the
/// last 30 days.
async fn overdue_obligations(state: &AppState) -> Result<usize, firebell_store::StoreError> {
    let now = state.clock.now();
    let mut count = 0;
    for filter in [
        firebell_store::IncidentFilter {
            statuses: firebell_core::Status::ALL
                .into_iter()
                .filter(|s| s.is_open())
                .collect(),
            limit: 500,
            ..Default::default()
        },
        firebell_store::IncidentFilter {
            statuses: vec![firebell_core::Status::Resolved],
            since: Some(now - jiff::SignedDuration::from_hours(24 * 30)),
            limit: 500,
            ..Default::default()
        },
    ] {
        for i in state.store.list_incidents(&filter).await?.items {
            count += i
                .obligations
                .iter()
                .filter(|o| {
                    !i.obligations_met.contains_key(&o.key) && o.due_at.is_some_and(|d| d <= now)
                })
                .count();
        }
    }
    Ok(count)
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        code: "not_found",
        message: format!("no route for {}", uri.path()),
    }
}
