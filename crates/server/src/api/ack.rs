//! The one-click acknowledge link in every page: `GET /ack/{token}` shows
//! the incident and one button; the button `POST`s to the same address and
//! acknowledges as the person the page went to. The signed token is the
//! credential (see [`crate::notify::links`]); GET never changes anything, so
//! link scanners and unfurlers cannot acknowledge a page nobody read.
//!
//! A genuine link works until its expiry (`[ack_links] valid_for` after the
//! page was sent) and only in the acknowledgement round it was sent in: a
//! reopen starts a new round, so a page about the earlier outage cannot
//! acknowledge the new one. The POST checks both on the state it writes
//! over (inside the command path's version-checked retry), so a reopen
//! racing the click cannot slip through.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use firebell_core::incident::{self, Status};
use firebell_core::{Command, Incident, Timestamp};

use crate::AppState;
use crate::command::{ChangeError, Decision};
use crate::error::ApiError;
use crate::notify::links::AckTarget;

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

fn html(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
         button{{font-size:1.2rem;padding:.8rem 1.6rem;background:#b42318;color:#fff;border:0;border-radius:.4rem}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    ))
}

fn page(title: &str, body: &str) -> Response {
    (StatusCode::OK, html(title, body)).into_response()
}

/// A refusal as a page; its status comes from the error, like every other.
fn refused(title: &str, e: ApiError) -> Response {
    let body = format!("<p>{}</p>", escape(&e.public_message()));
    e.respond(html(title, &body))
}

fn invalid() -> Response {
    refused(
        "Link not valid",
        ApiError::NotFound {
            code: "invalid_ack_link",
            message: "This acknowledge link is not valid: it was altered, or it belongs to \
                      another Firebell."
                .into(),
        },
    )
}

/// Where a genuine link stands against the incident and the clock.
#[derive(Clone, Debug, PartialEq)]
enum Standing {
    /// Past its expiry.
    Expired,
    /// Sent in an earlier acknowledgement round (the incident was reopened).
    Superseded,
    AlreadyAcknowledged {
        by: String,
        at: Timestamp,
    },
    AlreadyResolved,
    /// Acknowledging is what it may do now.
    Usable,
}

fn standing(target: &AckTarget, incident: &Incident, now: Timestamp) -> Standing {
    if now >= target.expires_at {
        Standing::Expired
    } else if target.ack_round != incident.ack_round {
        Standing::Superseded
    } else if let (Some(by), Some(at)) = (&incident.acknowledged_by, incident.acknowledged_at) {
        Standing::AlreadyAcknowledged { by: by.clone(), at }
    } else if incident.status == Status::Resolved {
        Standing::AlreadyResolved
    } else {
        Standing::Usable
    }
}

fn summary(incident: &Incident) -> String {
    format!(
        "<p><strong>{}</strong> [{}] {}</p><p>Status: {}</p>",
        escape(&incident.id),
        escape(&incident.severity),
        escape(&incident.title),
        incident.status
    )
}

/// The page a link shows for its standing: nothing left to do is a 200
/// saying who did it; a link that no longer works is 410 Gone; a usable one
/// shows the button (what GET answers; POST acknowledges instead).
fn standing_page(standing: &Standing, target: &AckTarget, incident: &Incident) -> Response {
    match standing {
        Standing::Expired => refused(
            "Link expired",
            ApiError::Gone {
                code: "ack_link_expired",
                message: format!(
                    "This acknowledge link expired at {}. Acknowledge {} in Firebell, or with the \
                     link in a newer page.",
                    target.expires_at, incident.id
                ),
            },
        ),
        Standing::Superseded => refused(
            "Link superseded",
            ApiError::Gone {
                code: "ack_link_superseded",
                message: format!(
                    "{} was reopened after this page was sent, so this link no longer \
                     acknowledges it. Use the link in the newest page.",
                    incident.id
                ),
            },
        ),
        Standing::AlreadyAcknowledged { by, at } => page(
            "Already acknowledged",
            &format!(
                "{}<p>Acknowledged by {} at {at}.</p>",
                summary(incident),
                escape(by)
            ),
        ),
        Standing::AlreadyResolved => page(
            "Already resolved",
            &format!("{}<p>Nothing to acknowledge.</p>", summary(incident)),
        ),
        Standing::Usable => page(
            "Acknowledge this incident?",
            &format!(
                "{}<form method=\"post\"><button type=\"submit\">Acknowledge as {}</button></form>",
                summary(incident),
                escape(&target.person)
            ),
        ),
    }
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
    let standing = standing(&target, &incident, state.clock.now());
    standing_page(&standing, &target, &incident)
}

async fn acknowledge(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(target) = state.links.verify(&token) else {
        return invalid();
    };
    // Decided on the state the acknowledgement is written over: a reopen or
    // another ack committed meanwhile makes the append conflict, and this is
    // decided again on what they left.
    let mut seen = Standing::Usable;
    let result = state
        .incidents
        .change(
            &target.incident_id,
            &target.person,
            None,
            &[],
            |inc, ctx| {
                seen = standing(&target, inc, ctx.now);
                if seen != Standing::Usable {
                    return Ok(Decision::default());
                }
                incident::decide(inc, &Command::Acknowledge, ctx).map(Decision::from)
            },
        )
        .await;
    match result {
        Ok(done) if seen == Standing::Usable => {
            metrics::counter!("firebell_commands_total", "command" => Command::Acknowledge.name())
                .increment(1);
            tracing::info!(incident = %done.incident.id, actor = %target.person, version = done.incident.version, "acknowledged by link");
            page(
                "Acknowledged",
                &format!(
                    "<p>{} is acknowledged by {}. Escalation has stopped.</p>",
                    escape(&done.incident.id),
                    escape(&target.person)
                ),
            )
        }
        Ok(done) => standing_page(&seen, &target, &done.incident),
        Err(ChangeError::NotFound(_)) => invalid(),
        Err(e) => {
            let e = ApiError::from(e);
            match e {
                ApiError::Conflict { .. } => refused("Not acknowledged", e),
                e => e.into_response(),
            }
        }
    }
}
