//! The web console, at the server's root: sign in with an API token, the
//! incident list, and the incident room with its live timeline and actions.
//!
//! Server-rendered HTML (minijinja templates compiled into the binary), a
//! little plain JavaScript for live updates and the update preview, no
//! build step. Pages need a session (see [`session`]); every form carries
//! the session's CSRF token; viewers see, responders act.

mod pages;
mod reports;
pub mod session;
mod signals;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;

/// The console's compiled templates.
pub struct Console {
    env: minijinja::Environment<'static>,
    /// Recent failed password sign-ins (see [`session::Failures`]).
    failures: session::Failures,
}

impl Default for Console {
    fn default() -> Self {
        let mut env = minijinja::Environment::new();
        for (name, source) in [
            ("base.html", include_str!("assets/base.html")),
            ("login.html", include_str!("assets/login.html")),
            ("incidents.html", include_str!("assets/incidents.html")),
            ("incident.html", include_str!("assets/incident.html")),
            ("timeline.html", include_str!("assets/timeline.html")),
            ("preview.html", include_str!("assets/preview.html")),
            ("oncall.html", include_str!("assets/oncall.html")),
            ("alerts.html", include_str!("assets/alerts.html")),
            ("maintenance.html", include_str!("assets/maintenance.html")),
            ("subscribers.html", include_str!("assets/subscribers.html")),
            ("reports.html", include_str!("assets/reports.html")),
            ("duties.html", include_str!("assets/duties.html")),
        ] {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("console template {name}: {e}"));
        }
        Console {
            env,
            failures: Default::default(),
        }
    }
}

/// The headers every HTML page of ours carries (the console's and the
/// status page's): a strict Content-Security-Policy (no inline code exists
/// to allow; scripts and styles are files of their own), never framed, no
/// content sniffing.
pub fn harden_page(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// Routes: `/login` open, the rest behind a session.
pub fn router(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(pages::incidents))
        .route("/incidents", get(pages::incidents).post(pages::declare))
        .route("/incidents/{id}", get(pages::incident_room))
        .route("/incidents/{id}/events", get(pages::incident_events))
        .route("/incidents/{id}/preview", post(pages::preview))
        .route("/incidents/{id}/{action}", post(pages::act))
        .route("/oncall", get(signals::oncall_page))
        .route("/alerts", get(signals::alerts_page))
        .route("/silences", post(signals::create_silence))
        .route("/silences/{id}/expire", post(signals::expire_silence))
        .route(
            "/maintenance",
            get(signals::maintenance_page).post(signals::create_maintenance),
        )
        .route("/maintenance/{id}/end", post(signals::end_maintenance))
        .route(
            "/maintenance/{id}/review",
            post(signals::review_maintenance),
        )
        .route("/reports", get(reports::reports_page))
        .route("/duties", get(reports::duties_page))
        .route("/duties/{key}/runs", post(reports::record_run))
        .route("/subscribers", get(signals::subscribers_page))
        .route("/subscribers/{id}/remove", post(signals::remove_subscriber))
        .route("/logout", post(pages::logout))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            session::require_session,
        ));
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/console/console.css", get(css))
        .route("/console/console.js", get(script))
        .merge(signed_in)
        .layer(axum::middleware::from_fn(headers))
}

/// Every console answer: [`harden_page`]'s headers, no referrer to other
/// sites, never cached by a shared cache.
async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    harden_page(h);
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private, no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Bytes::from_static(body),
    )
        .into_response()
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_bytes!("assets/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("assets/console.js"),
    )
}
