//! The Reports page: the numbers of a date range with two charts drawn as
//! SVG on the server (no chart library, nothing from another site), and
//! every figure in a table beside them. And the Duties page: the learning
//! loop's recurring work.

use axum::extract::{Extension, Query, State};
use axum::response::{Html, IntoResponse, Response};
use firebell_core::report::{Report, Timing};
use serde::Deserialize;

use super::pages::{chrome, render};
use super::session::Session;
use crate::AppState;
use crate::error::ApiError;

#[derive(Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    since: Option<String>,
}

/// Chart size, in SVG units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;

pub async fn reports_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(form): Query<ReportForm>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let since_text = form
        .since
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "90d".into());
    let since = since_text
        .trim()
        .parse::<firebell_core::Duration>()
        .ok()
        .and_then(|d| now.checked_sub(d.as_signed()).ok())
        .or_else(|| since_text.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("{since_text:?} is neither a duration (90d) nor an RFC 3339 instant"),
            )
        })?;
    let (report, truncated) = crate::api::reports::build(&state, since, now, now).await?;
    Ok(Html(render(
        &state.console,
        "reports.html",
        &serde_json::json!({
            "chrome": chrome(&session),
            "since": since_text,
            "truncated": truncated,
            "report": &report,
            "weeks": week_bars(&report),
            "severities": severity_bars(&report),
            "updates": percent(report.updates.on_time, report.updates.total),
            "postmortems": percent(report.postmortems.on_time, report.postmortems.total),
            "action_items": percent(report.action_items.on_time, report.action_items.total),
            "obligations": percent(report.obligations.on_time, report.obligations.total),
        }),
    )?)
    .into_response())
}

fn percent(part: u32, whole: u32) -> Option<u32> {
    (whole > 0).then(|| part * 100 / whole)
}

/// Incidents per week: one bar each, scaled to the busiest week.
fn week_bars(r: &Report) -> serde_json::Value {
    let max = r
        .by_week
        .iter()
        .map(|w| w.incidents)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = r.by_week.len().max(1) as f64;
    let slot = WIDTH / n;
    let bars: Vec<serde_json::Value> = r
        .by_week
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let h = (HEIGHT - 20.0) * f64::from(w.incidents) / f64::from(max);
            serde_json::json!({
                "x": format!("{:.1}", i as f64 * slot + slot * 0.15),
                "y": format!("{:.1}", HEIGHT - 20.0 - h),
                "w": format!("{:.1}", slot * 0.7),
                "h": format!("{:.1}", h),
                "label_x": format!("{:.1}", i as f64 * slot + slot / 2.0),
                "week": w.week, "count": w.incidents,
            })
        })
        .collect();
    serde_json::json!({ "bars": bars, "width": WIDTH, "height": HEIGHT, "max": max })
}

/// Mean time to acknowledge and to resolve per severity, each against its
/// target (a tick on the bar's scale).
fn severity_bars(r: &Report) -> Vec<serde_json::Value> {
    let scale = |t: &Timing| {
        let top = t.mean.unwrap_or(0).max(t.target.unwrap_or(0)).max(1) as f64;
        let w = |v: i64| format!("{:.1}", (WIDTH - 200.0) * v as f64 / top);
        serde_json::json!({
            "mean": t.mean, "target": t.target, "on_target": t.on_target,
            "with_target": t.with_target,
            "bar": t.mean.map(w), "tick": t.target.map(w),
            "late": matches!((t.mean, t.target), (Some(m), Some(g)) if m > g),
            "text": t.mean.map(span), "target_text": t.target.map(span),
        })
    };
    r.by_severity
        .iter()
        .map(|s| {
            serde_json::json!({
                "severity": s.severity, "incidents": s.incidents,
                "ack": scale(&s.acknowledge), "resolve": scale(&s.resolve),
            })
        })
        .collect()
}

/// `1h 05m`, `3m 20s`, `45s`.
fn span(s: i64) -> String {
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    notes: String,
}

/// Recurring duties: where each stands, its last runs, and a form to
/// record one.
pub async fn duties_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    duties_view(&state, &session, None, axum::http::StatusCode::OK).await
}

async fn duties_view(
    state: &AppState,
    session: &Session,
    error: Option<String>,
    status: axum::http::StatusCode,
) -> Result<Response, ApiError> {
    let items = crate::duties::views(state).await?;
    let mut duties = Vec::new();
    for d in items {
        let runs = state.store.duty_runs(Some(&d.key), 5).await?;
        duties.push(serde_json::json!({ "duty": d, "runs": runs }));
    }
    Ok((
        status,
        Html(render(
            &state.console,
            "duties.html",
            &serde_json::json!({ "chrome": chrome(session), "duties": duties, "error": error }),
        )?),
    )
        .into_response())
}

pub async fn record_run(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::Form(form): axum::Form<RunForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session.require_responder()?;
    if form.notes.len() > 20_000 {
        return duties_view(
            &state,
            &session,
            Some("notes are at most 20000 bytes".into()),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let outcome = match form.outcome.parse::<firebell_store::DutyOutcome>() {
        Ok(o) => o,
        Err(e) => {
            return duties_view(
                &state,
                &session,
                Some(e),
                axum::http::StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    match crate::duties::record_run(
        &state,
        &key,
        outcome,
        form.notes.trim(),
        &session.caller.name,
    )
    .await?
    {
        Some(_) => Ok(axum::response::Redirect::to("/duties").into_response()),
        None => Err(ApiError::NotFound {
            code: "duty_not_found",
            message: format!("no duty {key:?} in the policy"),
        }),
    }
}
