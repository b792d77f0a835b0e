//! Console sign-in: a session cookie made from an API token, or from the
//! password of a person in the policy (Argon2id, set with `firebell
//! password set`; the session acts as that person, with the role stored
//! with the password).
//!
//! The cookie holds a random secret; the database keeps only its SHA-256,
//! the token it acts for, an anti-forgery (CSRF) token and an expiry. A
//! session acts with its token's name and role and ends with it: revoking
//! the token signs out every session made from it. The cookie is HttpOnly
//! and SameSite=Lax, and Secure when the server is reached over HTTPS. The
//! JSON API never accepts the cookie, only bearer tokens, so a forged
//! cross-site request cannot reach it; the console's own forms each carry
//! the session's CSRF token, and a POST without it is refused.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebell_store::{NewSession, PasswordRecord, Role, SessionOwner};
use rand::RngCore;

use crate::AppState;
use crate::auth::{Caller, hash_token};
use crate::error::ApiError;

/// The cookie's name.
pub const COOKIE: &str = "firebell_session";
/// How long a session lasts after sign-in: a working day and a night's
/// on-call, not a week on a shared laptop.
pub const SESSION_HOURS: i64 = 12;

/// The signed-in user of a console request.
#[derive(Clone, Debug)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    id_hash: String,
}

impl Session {
    pub fn can_act(&self) -> bool {
        self.caller.role >= Role::Responder
    }

    /// Refuse a form post whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ApiError> {
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "the form's anti-forgery token is missing or stale; reload the page and try again"
                    .into(),
            ))
        }
    }

    /// Refuse an action to a viewer.
    pub fn require_responder(&self) -> Result<(), ApiError> {
        self.caller.require(Role::Responder)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the browser reached us over HTTPS (directly per the public URL,
/// or through a proxy that says so).
fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.links.base().starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("firebell_session=; Max-Age=0"))
}

/// The session of a request, if its cookie names a live one.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(secret) = cookie(headers, COOKIE).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id_hash = hash_token(secret);
    let record = state
        .store
        .session_by_hash(&id_hash, state.clock.now())
        .await?;
    Ok(record.map(|r| Session {
        caller: Caller {
            name: r.name,
            role: r.role,
        },
        csrf: r.csrf,
        id_hash,
    }))
}

/// Middleware for the console's pages: no live session, no page — GETs go
/// to the sign-in page (and come back afterwards), anything else is 401.
pub async fn require_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match current(&state, req.headers()).await {
        Ok(Some(session)) => {
            req.extensions_mut().insert(session.caller.clone());
            req.extensions_mut().insert(session);
            next.run(req).await
        }
        Ok(None) if req.method() == axum::http::Method::GET => {
            let back = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let to = format!("/login?next={}", crate::console::pages::url_encode(&back));
            Redirect::to(&to).into_response()
        }
        Ok(None) => ApiError::Unauthorized("your console session has ended; sign in again".into())
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Failed password sign-ins per person before that person's sign-ins are
/// refused for a while (tokens still work).
const MAX_FAILURES: usize = 5;
/// The window failures are counted in, and how long the refusal lasts.
const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// People tracked at most (bounded memory; the table starts over beyond).
const MAX_TRACKED: usize = 10_000;

/// Recent failed password sign-ins, per person: guessing a password costs
/// an Argon2id hash a try, and after a few misses it stops for a while.
#[derive(Default)]
pub struct Failures {
    by_person: std::sync::Mutex<std::collections::HashMap<String, Vec<jiff::Timestamp>>>,
}

impl Failures {
    fn recent(list: &mut Vec<jiff::Timestamp>, now: jiff::Timestamp) {
        list.retain(|at| now.duration_since(*at).as_secs() < FAILURE_WINDOW_SECS);
    }

    /// Seconds until `person` may try again, if they are held back now.
    fn held_back(&self, person: &str, now: jiff::Timestamp) -> Option<i64> {
        let mut map = self.by_person.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.get_mut(person)?;
        Self::recent(list, now);
        (list.len() >= MAX_FAILURES).then(|| {
            let oldest = list.iter().min().copied().unwrap_or(now);
            (FAILURE_WINDOW_SECS - now.duration_since(oldest).as_secs()).max(1)
        })
    }

    fn failed(&self, person: &str, now: jiff::Timestamp) {
        let mut map = self.by_person.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(person) {
            map.clear();
        }
        let list = map.entry(person.to_string()).or_default();
        Self::recent(list, now);
        list.push(now);
    }

    fn succeeded(&self, person: &str) {
        self.by_person
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(person);
    }
}

/// Shortest console password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A password's Argon2id hash (PHC string), for `firebell password set`.
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a console password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the stored hash. Slow on purpose (Argon2id),
/// so it runs off the async workers.
async fn password_matches(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
        None => {
            // No such password: spend the same time, so a wrong name
            // cannot be told from a wrong password.
            let _ = hash_password(&format!("{password:0>12}"));
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Sign in with an API token: a new session, its cookie, and where to go.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    next: &str,
) -> Result<Response, ApiError> {
    let record = state
        .store
        .token_by_hash(&hash_token(token.trim()))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("that token is not valid (or was revoked)".into()))?;
    tracing::info!(token = %record.name, "console sign-in");
    start(state, headers, SessionOwner::Token(record.id), next).await
}

/// Sign in as a person of the policy with the password set for them
/// (`firebell password set`).
pub async fn sign_in_with_password(
    state: &AppState,
    headers: &HeaderMap,
    person: &str,
    password: &str,
    next: &str,
) -> Result<Response, ApiError> {
    let person = person.trim();
    let now = state.clock.now();
    if let Some(wait) = state.console.failures.held_back(person, now) {
        return Err(ApiError::Overloaded {
            message: format!(
                "too many failed sign-ins for {person:?}; try again in {} min, or sign in with an API token",
                (wait + 59) / 60
            ),
            retry_after: u32::try_from(wait).unwrap_or(u32::MAX),
        });
    }
    let known = state.policy.policy().people.contains_key(person);
    let stored: Option<PasswordRecord> = if known {
        state.store.password_of(person).await?
    } else {
        None
    };
    if !password_matches(password.to_string(), stored.map(|p| p.hash)).await {
        state.console.failures.failed(person, now);
        return Err(ApiError::Unauthorized(
            "wrong name or password (a person of the policy, with a password set by `firebell password set`)"
                .into(),
        ));
    }
    state.console.failures.succeeded(person);
    tracing::info!(person = %person, "console sign-in");
    start(
        state,
        headers,
        SessionOwner::Person(person.to_string()),
        next,
    )
    .await
}

/// A new session for `owner`, its cookie, and a redirect to `next`.
async fn start(
    state: &AppState,
    headers: &HeaderMap,
    owner: SessionOwner,
    next: &str,
) -> Result<Response, ApiError> {
    let secret = random_secret();
    let now = state.clock.now();
    state
        .store
        .create_session(&NewSession {
            id_hash: hash_token(&secret),
            owner,
            csrf: random_secret(),
            created_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(SESSION_HOURS),
        })
        .await?;
    let mut response = Redirect::to(safe_next(next)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&secret, SESSION_HOURS * 3600, is_https(state, headers)),
    );
    Ok(response)
}

/// Sign out: the session is deleted and the cookie cleared.
pub async fn sign_out(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
) -> Result<Response, ApiError> {
    state
        .store
        .delete_session(&session.id_hash, state.clock.now())
        .await?;
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, is_https(state, headers)),
    );
    Ok(response)
}

/// Only a path on this server: `//evil.example` and absolute URLs would
/// turn the sign-in page into an open redirect.
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; firebell_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next("/incidents/INC-1"), "/incidents/INC-1");
        assert_eq!(safe_next("//evil.example/x"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
    }

    #[test]
    fn csrf_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
