//! `/status`: the public status page, open without a login.
//!
//! - `/status` — the page (HTML; `?lang=ar` or `Accept-Language` picks the
//!   locale), `/status/feed.atom` — public updates as Atom, and
//!   `/status/api/v2/*.json` — Statuspage's JSON API.
//! - A request never reads the database: every format is rendered into
//!   bytes on a rebuild, and requests clone those. A rebuild happens when
//!   this replica committed a change since the last one, when the policy
//!   was reloaded, or when the last one is a second old (other replicas'
//!   changes, and time passing: a window starting). One request rebuilds;
//!   the others serve the previous rendering meanwhile.
//! - If the database is down, the last rendering keeps being served: a
//!   status page that fails with the outage it should report is no use.

mod html;
mod model;
mod statuspage;
mod strings;
pub mod subscribers;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use firebell_core::status_page::Span;
use firebell_core::{Policy, Timestamp};
use serde::Deserialize;

use crate::error::ApiError;
use crate::{AppState, Shared};

/// How long a rendering stands without a local change.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long the uptime history stands while no incident opens or resolves.
const HISTORY_FOR: Duration = Duration::from_secs(60);
/// How far back uptime looks.
const UPTIME_DAYS: i64 = 90;

/// The rendered page in every format, and what it was rendered from.
pub struct Rendered {
    changes: u64,
    policy: Arc<Policy>,
    built: Instant,
    now: Timestamp,
    /// What was rendered (subscribers are told of its new posts).
    model: Arc<model::Model>,
    /// Locale → page; the policy's locales, the default first.
    pages: BTreeMap<String, Bytes>,
    locales: Vec<String>,
    /// Locale → the Atom feed in it.
    feeds: BTreeMap<String, Bytes>,
    json: BTreeMap<Document, Bytes>,
}

impl Rendered {
    fn is_fresh(&self, changes: u64, policy: &Arc<Policy>, now: Timestamp) -> bool {
        self.changes == changes
            && Arc::ptr_eq(&self.policy, policy)
            && self.built.elapsed() < FRESH_FOR
            && now.duration_since(self.now).unsigned_abs() < FRESH_FOR
    }
}

/// The Statuspage JSON documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Document {
    Summary,
    Status,
    Components,
    Incidents,
    Unresolved,
    Maintenances,
    Upcoming,
    Active,
    Uptime,
}

/// The uptime input, read less often than the rest.
#[derive(Default)]
struct History {
    spans: Arc<Vec<Span>>,
    /// When it was read, by the machine's clock and by the server's.
    read_at: Option<(Instant, Timestamp)>,
    /// The public open incidents when it was read: one opening or
    /// resolving makes it stale.
    open: Vec<String>,
}

/// The status page's cache of renderings.
pub struct StatusPages {
    env: minijinja::Environment<'static>,
    current: RwLock<Option<Arc<Rendered>>>,
    /// Held by the one request rebuilding.
    rebuild: tokio::sync::Mutex<History>,
}

impl Default for StatusPages {
    fn default() -> Self {
        StatusPages {
            env: html::environment(),
            current: RwLock::new(None),
            rebuild: tokio::sync::Mutex::new(History::default()),
        }
    }
}

impl StatusPages {
    /// A small page beside the status page (a subscription's confirmation,
    /// say): a heading, a message, and optionally one button posting
    /// `token` to `action`.
    pub fn render_message(
        &self,
        locale: &str,
        words: &'static strings::Strings,
        title: &str,
        message: &str,
        button: Option<(&str, &str, &str)>,
    ) -> Result<String, minijinja::Error> {
        self.env
            .get_template("message.html")?
            .render(minijinja::context! {
                lang => locale,
                dir => words.dir,
                t => minijinja::Value::from(minijinja::value::Serde(words)),
                title => title,
                message => message,
                button => button.map(|(action, token, label)| minijinja::context! {
                    action => action, token => token, label => label }),
            })
    }

    fn last(&self) -> Option<Arc<Rendered>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current rendering: the cached one if fresh, else rebuilt (or,
    /// while another request rebuilds or the database is down, the last).
    pub async fn rendered(&self, state: &Shared) -> Result<Arc<Rendered>, ApiError> {
        let policy = state.policy.policy();
        let now = state.clock.now();
        let changes = state.incidents.changes();
        let last = self.last();
        if let Some(r) = &last
            && r.is_fresh(changes, &policy, now)
        {
            return Ok(r.clone());
        }
        let mut history = match (self.rebuild.try_lock(), &last) {
            (Ok(guard), _) => guard,
            (Err(_), Some(r)) => return Ok(r.clone()),
            (Err(_), None) => self.rebuild.lock().await,
        };
        if let Some(r) = self.last()
            && r.is_fresh(changes, &policy, now)
        {
            return Ok(r);
        }
        let started = Instant::now();
        match self.build(state, &policy, changes, now, &mut history).await {
            Ok(r) => {
                let r = Arc::new(r);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
                metrics::histogram!("firebell_status_page_rebuild_seconds")
                    .record(started.elapsed().as_secs_f64());
                Ok(r)
            }
            Err(e) => {
                metrics::counter!("firebell_status_page_rebuild_failures_total").increment(1);
                match last {
                    Some(r) => {
                        tracing::warn!(error = %e, "status page: cannot rebuild; serving the last rendering");
                        Ok(r)
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn build(
        &self,
        state: &Shared,
        policy: &Arc<Policy>,
        changes: u64,
        now: Timestamp,
        history: &mut History,
    ) -> Result<Rendered, ApiError> {
        let gathered = model::gather(&state.store, policy, now).await?;
        let open: Vec<String> = gathered.open.iter().map(|i| i.id.clone()).collect();
        let stale = history.read_at.is_none_or(|(at, then)| {
            at.elapsed() >= HISTORY_FOR || now.duration_since(then).unsigned_abs() >= HISTORY_FOR
        });
        if stale || history.open != open {
            let since = now - jiff::SignedDuration::from_hours(24 * UPTIME_DAYS);
            history.spans = Arc::new(state.store.incident_spans(since).await?);
            history.read_at = Some((Instant::now(), now));
            history.open = open;
        }
        let model = model::build(policy, &gathered, &history.spans, &state.links.base(), now);
        let locales: Vec<String> = policy
            .status_locales()
            .into_iter()
            .map(String::from)
            .collect();
        let locale_refs: Vec<&str> = locales.iter().map(String::as_str).collect();
        let mut pages = BTreeMap::new();
        let mut feeds = BTreeMap::new();
        for locale in &locales {
            let digits = policy
                .status_page
                .digits
                .get(locale)
                .copied()
                .unwrap_or_default();
            let page = html::page(&self.env, &model, locale, &locale_refs, digits)
                .map_err(|e| ApiError::Internal(format!("status page template: {e}")))?;
            pages.insert(locale.clone(), Bytes::from(page));
            let feed = html::feed(&self.env, &model, locale)
                .map_err(|e| ApiError::Internal(format!("status feed template: {e}")))?;
            feeds.insert(locale.clone(), Bytes::from(feed));
        }
        let default = locales.first().map_or("en", String::as_str);
        let docs = statuspage::render(&model, default);
        let json = BTreeMap::from([
            (Document::Summary, docs.summary),
            (Document::Status, docs.status),
            (Document::Components, docs.components),
            (Document::Incidents, docs.incidents),
            (Document::Unresolved, docs.unresolved),
            (Document::Maintenances, docs.maintenances),
            (Document::Upcoming, docs.upcoming),
            (Document::Active, docs.active),
            (Document::Uptime, docs.uptime),
        ])
        .into_iter()
        .map(|(k, v)| (k, Bytes::from(v)))
        .collect();
        Ok(Rendered {
            model: Arc::new(model),
            changes,
            policy: policy.clone(),
            built: Instant::now(),
            now,
            pages,
            locales,
            feeds,
            json,
        })
    }
}

pub fn router() -> Router<AppState> {
    let json = |doc: Document| {
        get(move |State(state): State<AppState>| async move { serve_json(&state, doc).await })
    };
    Router::new()
        .route("/status", get(page))
        .route("/status/", get(page))
        .route("/status/feed.atom", get(feed))
        .route("/status/status.css", get(css))
        .route("/status/refresh.js", get(script))
        .route("/status/api/v2/summary.json", json(Document::Summary))
        .route("/status/api/v2/status.json", json(Document::Status))
        .route("/status/api/v2/components.json", json(Document::Components))
        .route("/status/api/v2/incidents.json", json(Document::Incidents))
        .route(
            "/status/api/v2/incidents/unresolved.json",
            json(Document::Unresolved),
        )
        .route(
            "/status/api/v2/scheduled-maintenances.json",
            json(Document::Maintenances),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/upcoming.json",
            json(Document::Upcoming),
        )
        .route(
            "/status/api/v2/scheduled-maintenances/active.json",
            json(Document::Active),
        )
        .route("/status/api/v2/uptime.json", json(Document::Uptime))
        .merge(subscribers::router())
}

/// Short enough that a customer refreshing sees news within seconds.
const CACHE_CONTROL: &str = "public, max-age=5";

fn respond(content_type: &'static str, body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
        ],
        body,
    )
        .into_response()
}

async fn serve_json(state: &AppState, doc: Document) -> Result<Response, ApiError> {
    let rendered = state.status_pages.rendered(state).await?;
    let body = rendered.json.get(&doc).cloned().unwrap_or_default();
    let mut response = respond("application/json", body);
    // Widgets on customers' own sites read it from their pages.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rendered = state.status_pages.rendered(&state).await?;
    let locale = requested_locale(&query, &headers, &rendered.locales);
    let body = rendered.pages.get(locale).cloned().unwrap_or_default();
    let mut response = respond("text/html; charset=utf-8", body);
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    crate::console::harden_page(h);
    Ok(response)
}

/// The feed in `?lang=` (or `Accept-Language`'s) locale: its titles and
/// maintenance posts in that language; updates as they were posted.
async fn feed(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rendered = state.status_pages.rendered(&state).await?;
    let locale = requested_locale(&query, &headers, &rendered.locales);
    let mut response = respond(
        "application/atom+xml; charset=utf-8",
        rendered.feeds.get(locale).cloned().unwrap_or_default(),
    );
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    Ok(response)
}

async fn css() -> Response {
    respond(
        "text/css; charset=utf-8",
        Bytes::from_static(include_bytes!("assets/status.css")),
    )
}

async fn script() -> Response {
    respond(
        "text/javascript; charset=utf-8",
        Bytes::from_static(include_bytes!("assets/refresh.js")),
    )
}

/// The page locale a request's `Accept-Language` asks for.
fn locale_for(policy: &Policy, headers: &HeaderMap) -> String {
    let locales: Vec<String> = policy
        .status_locales()
        .into_iter()
        .map(String::from)
        .collect();
    requested_locale(&PageQuery { lang: None }, headers, &locales).to_string()
}

/// The locale a request asks for, among the page's.
fn requested_locale<'a>(query: &PageQuery, headers: &HeaderMap, locales: &'a [String]) -> &'a str {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    choose_locale(query.lang.as_deref(), accept, locales)
}

/// `?lang=` if the page has it, else the first `Accept-Language` entry (by
/// weight) whose language the page has, else the page's default.
fn choose_locale<'a>(query: Option<&str>, accept: Option<&str>, locales: &'a [String]) -> &'a str {
    let default = locales.first().map_or("en", String::as_str);
    let find = |wanted: &str| -> Option<&'a str> {
        let wanted = wanted.trim();
        let lang = wanted.split(['-', '_']).next().unwrap_or("");
        locales
            .iter()
            .find(|l| l.eq_ignore_ascii_case(wanted))
            .or_else(|| {
                locales.iter().find(|l| {
                    l.split(['-', '_'])
                        .next()
                        .is_some_and(|p| p.eq_ignore_ascii_case(lang))
                })
            })
            .map(String::as_str)
    };
    if let Some(found) = query.and_then(find) {
        return found;
    }
    let mut ranked: Vec<(f32, &str)> = accept
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (!tag.is_empty() && tag != "*" && q > 0.0).then_some((q, tag))
        })
        .collect();
    // Stable: equal weights keep the client's order.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked
        .into_iter()
        .find_map(|(_, tag)| find(tag))
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::choose_locale;

    #[test]
    fn the_query_beats_the_header_and_weights_order_the_header() {
        let locales = vec!["en".to_string(), "ar".to_string()];
        assert_eq!(choose_locale(Some("ar"), Some("en"), &locales), "ar");
        assert_eq!(choose_locale(Some("fr"), Some("ar-SA"), &locales), "ar");
        assert_eq!(
            choose_locale(None, Some("fr;q=1, en;q=0.5, ar;q=0.8"), &locales),
            "ar"
        );
        assert_eq!(choose_locale(None, Some("de, *"), &locales), "en");
        assert_eq!(choose_locale(None, None, &locales), "en");
        assert_eq!(choose_locale(None, Some("ar;q=0"), &locales), "en");
    }
}
