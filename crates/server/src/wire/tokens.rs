//! `/api/v1/tokens`.

use firebell_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// Unique name; it is the actor recorded on the timeline.
    pub name: String,
    pub role: Role,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: firebell_core::Timestamp,
    pub revoked_at: Option<firebell_core::Timestamp>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// The secret. Shown once; only its hash is stored.
    pub secret: String,
}

/// `GET /tokens` (and `firebell token list --json`); `next_cursor` is always
/// `null`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
    pub next_cursor: Option<String>,
}
