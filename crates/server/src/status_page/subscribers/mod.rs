//! Status page subscribers: customers sign up for the page's public updates
//! by email or webhook, per component or for the whole page.
//!
//! - **Double opt-in.** A sign-up stores a pending subscriber and queues a
//!   confirmation request; nothing else is sent until its link is followed
//!   (within `confirm_within`). The confirm and unsubscribe links carry an
//!   HMAC of the subscriber id (the ack links' key), so nothing secret is
//!   stored for them and a guessed id is useless.
//! - **One-click unsubscribe.** Every message carries the link; mail also
//!   carries RFC 8058's `List-Unsubscribe` headers, so a mail client's
//!   button unsubscribes with one POST. A browser following the link gets a
//!   page with one button: security scanners that open every link in a mail
//!   must not unsubscribe (or confirm) anyone.
//! - **Limits.** Sign-ups are counted per address and per client (the
//!   peer's IP, or the first `X-Forwarded-For` hop when the peer is a proxy
//!   on loopback) over the last hour, in the database, so replicas share
//!   them.
//! - **Webhooks** are signed like Firebell's own (`X-Firebell-Signature`)
//!   with a secret shown once at sign-up. Endpoints on loopback, private or
//!   link-local addresses are refused unless the policy allows them.
//!
//! [`fanout`] turns each new post on the page into messages, [`deliver`]
//! sends them.

pub mod deliver;
pub mod fanout;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use firebell_core::Policy;
use firebell_core::status_page::{SubscriberChannel, SubscriberState};
use firebell_store::{NewSubscriberMessage, SignUp, Subscriber};
use serde::{Deserialize, Serialize};

use super::strings::{self, Strings};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::{AppState, Shared};

const CONFIRM: &str = "subscriber-confirm";
const UNSUBSCRIBE: &str = "subscriber-unsubscribe";
/// Longest address accepted (RFC 5321's path limit; URLs alike).
const MAX_ADDRESS: usize = 254;
const MAX_URL: usize = 2048;

/// The public sign-up and its links, under `/status`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status/subscriptions", post(sign_up))
        .route(
            "/status/subscriptions/{id}/confirm",
            get(confirm_page).post(confirm),
        )
        .route(
            "/status/subscriptions/{id}/unsubscribe",
            get(unsubscribe_page).post(unsubscribe),
        )
}

/// A sign-up, as JSON or as the page's form.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// An email address, or
    pub email: Option<String>,
    /// a webhook URL (exactly one of the two).
    pub webhook: Option<String>,
    /// Component ids (`<service>.<slug>`, as `components.json` lists
    /// them); empty: the whole page.
    #[serde(default)]
    pub components: Vec<String>,
    /// One of the page's locales; default its first.
    pub locale: Option<String>,
}

/// What a sign-up answers (the same whether the address was new or known,
/// so the answer tells nobody who subscribes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignUpAnswer {
    pub state: &'static str,
    #[schema(value_type = String)]
    pub channel: SubscriberChannel,
    pub message: &'static str,
    /// A new webhook subscription's id and signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The client a sign-up is counted against.
fn client_of(peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let peer_ip = peer.map(|p| p.ip());
    if peer_ip.is_some_and(|ip| ip.is_loopback())
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return forwarded.to_string();
    }
    peer_ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// Whether a request wants HTML back (the page's form) rather than JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let accepts_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    is_form && !accepts_json
}

fn parse_request(headers: &HeaderMap, body: &[u8]) -> Result<SignUpRequest, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut req = SignUpRequest::default();
        for (key, value) in form_urlencoded::parse(body) {
            let value = value.trim().to_string();
            match key.as_ref() {
                "email" if !value.is_empty() => req.email = Some(value),
                "webhook" if !value.is_empty() => req.webhook = Some(value),
                "component" if !value.is_empty() => req.components.push(value),
                "locale" if !value.is_empty() => req.locale = Some(value),
                _ => {}
            }
        }
        return Ok(req);
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send application/json or a form, not {content_type:?}"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the sign-up is not valid JSON: {e}"),
        )
    })
}

/// Check a sign-up against the policy; the subscriber it would make.
pub fn validate(
    policy: &Policy,
    req: &SignUpRequest,
    client: &str,
    now: firebell_core::Timestamp,
) -> Result<Subscriber, ApiError> {
    let subs = &policy.status_page.subscriptions;
    let unprocessable = |code, message: String| ApiError::Unprocessable { code, message };
    let (channel, address) = match (&req.email, &req.webhook) {
        (Some(email), None) => {
            if subs.email_notifier.is_none() {
                return Err(unprocessable(
                    "email_subscriptions_off",
                    "this status page takes no email sign-ups".into(),
                ));
            }
            (SubscriberChannel::Email, email_address(email)?)
        }
        (None, Some(url)) => {
            if !subs.webhooks {
                return Err(unprocessable(
                    "webhook_subscriptions_off",
                    "this status page takes no webhook sign-ups".into(),
                ));
            }
            (
                SubscriberChannel::Webhook,
                webhook_url(url, subs.allow_private_webhooks)?,
            )
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give exactly one of `email` and `webhook`",
            ));
        }
    };
    let known = firebell_core::status_page::components(policy);
    let mut components = Vec::new();
    for c in &req.components {
        if !known.iter().any(|k| k.id == *c) {
            let ids: Vec<&str> = known.iter().map(|k| k.id.as_str()).collect();
            return Err(unprocessable(
                "unknown_component",
                format!("unknown component {c:?}; the page has {}", ids.join(", ")),
            ));
        }
        if !components.contains(c) {
            components.push(c.clone());
        }
    }
    let locales = policy.status_locales();
    let locale = match &req.locale {
        None => locales.first().copied().unwrap_or("en").to_string(),
        Some(l) if locales.iter().any(|k| k.eq_ignore_ascii_case(l)) => l.to_ascii_lowercase(),
        Some(l) => {
            return Err(unprocessable(
                "unknown_locale",
                format!(
                    "unknown locale {l:?}; the page offers {}",
                    locales.join(", ")
                ),
            ));
        }
    };
    Ok(Subscriber {
        id: uuid::Uuid::new_v4().to_string(),
        channel,
        address,
        components,
        locale,
        state: SubscriberState::Pending,
        secret: (channel == SubscriberChannel::Webhook)
            .then(|| format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>()))),
        client: client.to_string(),
        created_at: now,
        confirmed_at: None,
        ended_at: None,
    })
}

/// A mailbox address, lowercased; a display name or anything lettre cannot
/// send to is refused.
fn email_address(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim();
    let bad = |why: String| ApiError::Unprocessable {
        code: "invalid_email",
        message: format!("{email:?} is not an email address we can send to: {why}"),
    };
    if email.len() > MAX_ADDRESS {
        return Err(bad(format!("longer than {MAX_ADDRESS} bytes")));
    }
    let address: lettre::Address = email.parse().map_err(|e| bad(format!("{e}")))?;
    Ok(address.to_string().to_lowercase())
}

/// An absolute http(s) URL; with `allow_private` false, not one naming
/// localhost or a loopback, private, link-local or unspecified address.
/// (Names are resolved and checked again at each delivery.)
fn webhook_url(raw: &str, allow_private: bool) -> Result<String, ApiError> {
    let raw = raw.trim();
    let bad = |why: &str| ApiError::Unprocessable {
        code: "invalid_webhook",
        message: format!("{raw:?} is not a webhook URL we accept: {why}"),
    };
    if raw.len() > MAX_URL {
        return Err(bad("too long"));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL are not accepted"));
    }
    let host = url.host().ok_or_else(|| bad("no host"))?;
    if !allow_private {
        let private = match host {
            url::Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost")
            }
            url::Host::Ipv4(ip) => is_private(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_private(IpAddr::V6(ip)),
        };
        if private {
            return Err(bad("it names a loopback or private address"));
        }
    }
    Ok(url.to_string())
}

/// Loopback, private, link-local, unspecified, or shared (CGNAT) space.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// The links a subscriber's messages carry.
pub struct SubscriberLinks {
    pub confirm: String,
    pub unsubscribe: String,
}

pub fn links_of(state: &Shared, id: &str) -> SubscriberLinks {
    let base = format!("{}/status/subscriptions/{id}", state.links.base());
    SubscriberLinks {
        confirm: format!("{base}/confirm?token={}", state.links.sign(CONFIRM, id)),
        unsubscribe: format!(
            "{base}/unsubscribe?token={}",
            state.links.sign(UNSUBSCRIBE, id)
        ),
    }
}

/// The confirmation request a new subscriber gets.
fn confirmation(state: &Shared, title: &str, s: &Subscriber) -> NewSubscriberMessage {
    let words = strings::of(&s.locale);
    let links = links_of(state, &s.id);
    let subject = format!("{title}: {}", words.confirm_subject);
    NewSubscriberMessage {
        subscriber_id: s.id.clone(),
        body: format!("{}\n\n{}\n", words.confirm_body, links.confirm),
        payload: serde_json::json!({
            "type": "subscription.confirm",
            "subscriber_id": s.id,
            "page": {"name": title, "url": format!("{}/status", state.links.base())},
            "confirm_url": links.confirm,
            "unsubscribe_url": links.unsubscribe,
            "components": s.components,
        })
        .to_string(),
        subject,
    }
}

/// The page's title, as messages name it.
pub fn page_title(policy: &Policy) -> String {
    policy
        .status_page
        .title
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| policy.organization.name.clone())
}

async fn sign_up(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let html = wants_html(&headers);
    let policy = state.policy.policy();
    let req = parse_request(&headers, &body);
    let req_locale = req
        .as_ref()
        .ok()
        .and_then(|r| r.locale.clone())
        .unwrap_or_else(|| super::locale_for(&policy, &headers));
    let outcome = sign_up_inner(&state, &policy, peer.map(|c| c.0.0), &headers, req).await;
    if !html {
        return outcome.map(|a| (StatusCode::ACCEPTED, Json(a)).into_response());
    }
    let words = strings::of(&req_locale);
    match outcome {
        Ok(a) => Ok((
            StatusCode::ACCEPTED,
            message_page(
                &state,
                &req_locale,
                words.subscribe,
                a.message_in(words),
                None,
            ),
        )
            .into_response()),
        Err(e) => {
            let status = e.status();
            let mut response = (
                status,
                message_page(&state, &req_locale, words.subscribe, &e.to_string(), None),
            )
                .into_response();
            if let ApiError::Overloaded { retry_after, .. } = e {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after.into());
            }
            Ok(response)
        }
    }
}

impl SignUpAnswer {
    fn message_in(&self, words: &'static Strings) -> &'static str {
        match self.channel {
            SubscriberChannel::Webhook => words.check_endpoint,
            SubscriberChannel::Email => words.check_inbox,
        }
    }
}

async fn sign_up_inner(
    state: &AppState,
    policy: &Policy,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    req: Result<SignUpRequest, ApiError>,
) -> Result<SignUpAnswer, ApiError> {
    if !policy.status_page.subscriptions.enabled() {
        return Err(ApiError::NotFound {
            code: "subscriptions_off",
            message: "this status page takes no sign-ups; read its Atom feed instead".into(),
        });
    }
    let req = req?;
    let now = state.clock.now();
    let client = client_of(peer, headers);
    let new = validate(policy, &req, &client, now)?;
    let subs = &policy.status_page.subscriptions;
    let hour = jiff::SignedDuration::from_hours(1);
    let (by_address, by_client) = state
        .store
        .record_signup(&new.address, &client, now, now - hour)
        .await?;
    if by_address > u64::from(subs.per_address_per_hour)
        || by_client > u64::from(subs.per_client_per_hour)
    {
        metrics::counter!("firebell_subscriber_signups_total", "outcome" => "limited").increment(1);
        return Err(ApiError::Overloaded {
            message: "too many sign-ups from here or for this address; try again in an hour".into(),
            retry_after: 3600,
        });
    }
    let title = page_title(policy);
    let shared: &Shared = state;
    let make = |s: &Subscriber| confirmation(shared, &title, s);
    let outcome = state.store.sign_up(&new, &make, now).await?;
    metrics::counter!("firebell_subscriber_signups_total", "outcome" => "accepted").increment(1);
    state.subscriber_wake.notify_one();
    let webhook = new.channel == SubscriberChannel::Webhook;
    let (id, secret) = match outcome {
        SignUp::Created(s) if webhook => (Some(s.id), s.secret),
        _ => (None, None),
    };
    Ok(SignUpAnswer {
        state: "pending",
        channel: new.channel,
        message: strings::of("en").check_inbox_for(new.channel),
        id,
        secret,
    })
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A subscriber named by a link, if the link is genuine.
async fn linked(
    state: &AppState,
    purpose: &str,
    id: &str,
    token: &str,
) -> Result<Option<Subscriber>, ApiError> {
    if !state.links.check(purpose, id, token) {
        return Ok(None);
    }
    Ok(state.store.get_subscriber(id).await?)
}

/// A small page in the subscriber's language: a message, and a button
/// posting back to the same link when there is one to press.
fn message_page(
    state: &AppState,
    locale: &str,
    title: &str,
    message: &str,
    button: Option<(&str, &str, &str)>,
) -> Response {
    let words = strings::of(locale);
    let body = state
        .status_pages
        .render_message(locale, words, title, message, button)
        .unwrap_or_else(|e| format!("{message} ({e})"));
    let mut response = Html(body).into_response();
    crate::console::harden_page(response.headers_mut());
    response
}

async fn confirm_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let Some(s) = linked(&state, CONFIRM, &id, &q.token).await? else {
        return Ok(invalid_link(&state, None));
    };
    let words = strings::of(&s.locale);
    let action = format!("/status/subscriptions/{id}/confirm");
    Ok(message_page(
        &state,
        &s.locale,
        words.confirm_title,
        &s.address,
        Some((&action, &q.token, words.confirm_button)),
    ))
}

fn invalid_link(state: &AppState, locale: Option<&str>) -> Response {
    let policy = state.policy.policy();
    let locale = locale
        .map(str::to_string)
        .unwrap_or_else(|| policy.status_locales()[0].to_string());
    let words = strings::of(&locale);
    let mut r = message_page(state, &locale, words.link_invalid, words.link_invalid, None);
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// The token of a POST: `?token=` (the links) or a form field (the pages'
/// buttons).
fn token_of(query: &TokenQuery, body: &[u8]) -> String {
    if !query.token.is_empty() {
        return query.token.clone();
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn json_wanted(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = token_of(&q, &body);
    let policy = state.policy.policy();
    let now = state.clock.now();
    let confirmed = match linked(&state, CONFIRM, &id, &token).await? {
        Some(_) => {
            let not_before = now - policy.status_page.subscriptions.confirm_within.as_signed();
            state.store.confirm_subscriber(&id, now, not_before).await?
        }
        None => None,
    };
    if json_wanted(&headers) {
        return match confirmed {
            Some(s) => Ok(Json(serde_json::json!({"id": s.id, "state": s.state})).into_response()),
            None => Err(ApiError::NotFound {
                code: "invalid_link",
                message: "this confirmation link is not valid, or it lapsed".into(),
            }),
        };
    }
    match confirmed {
        Some(s) => {
            metrics::counter!("firebell_subscriber_signups_total", "outcome" => "confirmed")
                .increment(1);
            let words = strings::of(&s.locale);
            Ok(message_page(
                &state,
                &s.locale,
                words.confirm_title,
                words.confirmed,
                None,
            ))
        }
        None => Ok(invalid_link(&state, None)),
    }
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let Some(s) = linked(&state, UNSUBSCRIBE, &id, &q.token).await? else {
        return Ok(invalid_link(&state, None));
    };
    let words = strings::of(&s.locale);
    if s.state == SubscriberState::Unsubscribed {
        return Ok(message_page(
            &state,
            &s.locale,
            words.unsubscribe_title,
            words.unsubscribed,
            None,
        ));
    }
    let action = format!("/status/subscriptions/{id}/unsubscribe");
    Ok(message_page(
        &state,
        &s.locale,
        words.unsubscribe_title,
        &s.address,
        Some((&action, &q.token, words.unsubscribe_button)),
    ))
}

/// One POST unsubscribes: a mail client's RFC 8058 one-click, the page's
/// button, or a webhook receiver. Repeating it is harmless.
async fn unsubscribe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = token_of(&q, &body);
    let Some(s) = linked(&state, UNSUBSCRIBE, &id, &token).await? else {
        if json_wanted(&headers) {
            return Err(ApiError::NotFound {
                code: "invalid_link",
                message: "this unsubscribe link is not valid".into(),
            });
        }
        return Ok(invalid_link(&state, None));
    };
    state.store.unsubscribe(&id, state.clock.now()).await?;
    metrics::counter!("firebell_subscriber_signups_total", "outcome" => "unsubscribed")
        .increment(1);
    if json_wanted(&headers) {
        return Ok(Json(serde_json::json!({"id": s.id, "state": "unsubscribed"})).into_response());
    }
    let words = strings::of(&s.locale);
    Ok(message_page(
        &state,
        &s.locale,
        words.unsubscribe_title,
        words.unsubscribed,
        None,
    ))
}

// --- the admin API -------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriberQuery {
    /// `pending`, `confirmed` or `unsubscribed`; all when absent.
    pub state: Option<String>,
}

/// A page of subscribers.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriberPage {
    pub items: Vec<SubscriberView>,
    /// Always null: every subscriber fits one answer.
    pub next_cursor: Option<String>,
}

/// A message to a subscriber, as admins see it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriberMessageView {
    pub id: String,
    /// What it was about: `incident:<id>:<seq>`, `maintenance:<id>:<stage>`
    /// or `confirm:<ms>`.
    pub post_key: String,
    pub subject: String,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriberMessagePage {
    pub items: Vec<SubscriberMessageView>,
    pub next_cursor: Option<String>,
}

/// A subscriber as admins see it (never its webhook secret).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriberView {
    pub id: String,
    #[schema(value_type = String)]
    pub channel: SubscriberChannel,
    pub address: String,
    pub components: Vec<String>,
    pub locale: String,
    #[schema(value_type = String)]
    pub state: SubscriberState,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    pub ended_at: Option<String>,
}

impl From<Subscriber> for SubscriberView {
    fn from(s: Subscriber) -> Self {
        SubscriberView {
            id: s.id,
            channel: s.channel,
            address: s.address,
            components: s.components,
            locale: s.locale,
            state: s.state,
            created_at: s.created_at.to_string(),
            confirmed_at: s.confirmed_at.map(|t| t.to_string()),
            ended_at: s.ended_at.map(|t| t.to_string()),
        }
    }
}

#[utoipa::path(get, path = "/subscribers", tag = "status page", operation_id = "list_subscribers", params(SubscriberQuery),
    responses((status = 200, body = SubscriberPage, description = "Subscribers, newest first (admins only: they are customers' addresses)"), (status = 400), (status = 403)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<SubscriberQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SubscriberPage>, ApiError> {
    caller.require(Role::Admin)?;
    let Query(q) = query?;
    let filter = q
        .state
        .as_deref()
        .map(str::parse::<SubscriberState>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e))?;
    let items: Vec<SubscriberView> = state
        .store
        .list_subscribers(filter)
        .await?
        .into_iter()
        .map(SubscriberView::from)
        .collect();
    Ok(Json(SubscriberPage {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/subscribers/{id}/messages", tag = "status page", operation_id = "list_subscriber_messages", params(("id" = String, Path)),
    responses((status = 200, body = SubscriberMessagePage, description = "What was sent to a subscriber, newest first"), (status = 403), (status = 404)))]
pub async fn messages(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<SubscriberMessagePage>, ApiError> {
    caller.require(Role::Admin)?;
    if state.store.get_subscriber(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    let items = state
        .store
        .subscriber_messages(&id)
        .await?
        .into_iter()
        .map(|m| SubscriberMessageView {
            id: m.id,
            post_key: m.post_key,
            subject: m.subject,
            state: m.state.as_str().to_string(),
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at.to_string(),
            delivered_at: m.delivered_at.map(|t| t.to_string()),
        })
        .collect();
    Ok(Json(SubscriberMessagePage {
        items,
        next_cursor: None,
    }))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "subscriber_not_found",
        message: format!("no subscriber {id:?}"),
    }
}

#[utoipa::path(delete, path = "/subscribers/{id}", tag = "status page", operation_id = "remove_subscriber", params(("id" = String, Path)),
    responses((status = 204, description = "Unsubscribed"), (status = 403), (status = 404)))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    if state.store.unsubscribe(&id, state.clock.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}
