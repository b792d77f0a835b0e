//! API tokens. A token is `fb_` + 32 random bytes (base64url); only its SHA-256
//! is stored. SHA-256 rather than a password hash is deliberate: tokens are
//! high-entropy secrets, so a slow KDF would add latency to every request
//! without adding security.
//!
//! Roles nest: a responder can do all a viewer can, an admin all a responder can.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebell_store::NewToken;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

pub use firebell_store::Role;

/// Who is calling, as established by their token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "token {:?} has role {}; this needs {}",
                self.name,
                self.role.as_str(),
                role.as_str()
            )))
        }
    }
}

/// A fresh random token secret.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("fb_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Create a token and return its secret (shown once, never stored).
pub async fn create_token(
    store: &firebell_store::Store,
    name: &str,
    role: Role,
    now: firebell_core::Timestamp,
) -> Result<(firebell_store::TokenRecord, String), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_token_name",
            "token name must be 1-100 characters",
        ));
    }
    let secret = generate_token();
    let record = store
        .create_token(&NewToken {
            name: name.to_string(),
            role,
            hash: hash_token(&secret),
            created_at: now,
        })
        .await?;
    Ok((record, secret))
}

/// Middleware for `/api/v1`: every request needs a valid token; reads need a
/// viewer, anything else a responder. Handlers demand more (admin) themselves.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, req.headers()).await?;
    let needed = if matches!(*req.method(), Method::GET | Method::HEAD) {
        Role::Viewer
    } else {
        Role::Responder
    };
    caller.require(needed)?;
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Authorization header is not valid text".into()))?;
    let secret = bearer_or_basic(value).ok_or_else(|| {
        ApiError::Unauthorized(
            "Authorization header must be `Bearer <token>` or Basic auth with the token as password".into(),
        )
    })?;
    let hash = hash_token(&secret);
    if let Some(caller) = state.tokens.get(&hash) {
        return Ok(caller);
    }
    let record = state
        .store
        .token_by_hash(&hash)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("invalid or revoked token".into()))?;
    let caller = Caller {
        name: record.name,
        role: record.role,
    };
    state.tokens.insert(hash, caller.clone());
    Ok(caller)
}

/// Tokens verified in the last few seconds, so a busy sender (Prometheus
/// posting every second, a storm of webhook calls) costs no database read
/// per request. Revoking through the API clears it at once; a revocation
/// written to the database directly (`firebell token revoke`) takes effect
/// within [`TOKEN_CACHE_TTL`].
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Caller, std::time::Instant)>>,
}

/// How long a verified token is trusted without asking the database again.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Beyond this many cached tokens the cache starts over (bounded memory).
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(caller, _)| caller.clone())
    }

    fn insert(&self, hash: String, caller: Caller) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.clear();
        }
        entries.insert(hash, (caller, std::time::Instant::now()));
    }

    /// Forget everything (after a revocation).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// The token from `Bearer <token>`, or the password of `Basic base64(user:token)`
/// — the two forms Prometheus and Alertmanager configs can send.
fn bearer_or_basic(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')?.1.to_string()
    } else {
        return None;
    };
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bearer_and_basic() {
        assert_eq!(bearer_or_basic("Bearer fb_x").as_deref(), Some("fb_x"));
        assert_eq!(bearer_or_basic("bearer  fb_x ").as_deref(), Some("fb_x"));
        let basic = base64::engine::general_purpose::STANDARD.encode("prometheus:fb_y");
        assert_eq!(
            bearer_or_basic(&format!("Basic {basic}")).as_deref(),
            Some("fb_y")
        );
        assert_eq!(bearer_or_basic("Basic !!!"), None);
        assert_eq!(bearer_or_basic("Bearer "), None);
        assert_eq!(bearer_or_basic("Token fb_x"), None);
    }
}
