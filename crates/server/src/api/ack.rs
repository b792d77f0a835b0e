//! The one-click acknowledge link in every page: `GET /ack/{token}` shows
//! the incident and one button; the button `POST`s to the same address and
//! acknowledges as the person the page went to. The signed token is the
//! credential (see [`crate::notify::links`]); GET never changes anything, so
//! link scanners and unfurlers cannot acknowledge a page nobody read.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use firebell_core::Command;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/ack/{token}", get(show).post(acknowledge))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
         button{{font-size:1.2rem;padding:.8rem 1.6rem;background:#b42318;color:#fff;border:0;border-radius:.4rem}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (status, Html(html)).into_response()
}

fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This acknowledge link is not valid: it was altered, or it belongs to another Firebell.</p>",
    )
}

async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(target) = state.links.verify(&token) else {
        return invalid();
    };
    let incident = match state.store.get_incident(&target.incident_id).await {
        Ok(Some(i)) => i,
        Ok(None) => return invalid(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let summary = format!(
        "<p><strong>{}</strong> [{}] {}</p><p>Status: {}</p>",
        escape(&incident.id),
        escape(&incident.severity),
        escape(&incident.title),
        incident.status
    );
    if let Some(by) = &incident.acknowledged_by {
        return page(
            StatusCode::OK,
            "Already acknowledged",
            &format!("{summary}<p>Acknowledged by {}.</p>", escape(by)),
        );
    }
    page(
        StatusCode::OK,
        "Acknowledge this incident?",
        &format!(
            "{summary}<form method=\"post\"><button type=\"submit\">Acknowledge as {}</button></form>",
            escape(&target.person)
        ),
    )
}

async fn acknowledge(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(target) = state.links.verify(&token) else {
        return invalid();
    };
    match super::incidents::execute(
        &state,
        &target.person,
        &target.incident_id,
        None,
        Command::Acknowledge,
    )
    .await
    {
        Ok(done) => page(
            StatusCode::OK,
            "Acknowledged",
            &format!(
                "<p>{} is acknowledged by {}. Escalation has stopped.</p>",
                escape(&done.incident.id),
                escape(&target.person)
            ),
        ),
        Err(ApiError::Conflict { message, .. }) => page(
            StatusCode::CONFLICT,
            "Not acknowledged",
            &format!("<p>{}</p>", escape(&message)),
        ),
        Err(ApiError::NotFound { .. }) => invalid(),
        Err(e) => e.into_response(),
    }
}
