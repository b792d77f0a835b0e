//! `/api/v1/tokens`: admins create, list and revoke API tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use firebell_store::TokenRecord;

use super::Body;
use crate::AppState;
use crate::auth::{self, Caller, Role};
use crate::error::ApiError;
use crate::wire::{CreateTokenRequest, CreatedToken, TokenList, TokenView};

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            role: t.role,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[utoipa::path(post, path = "/tokens", tag = "tokens", operation_id = "create_token", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400), (status = 401), (status = 403), (status = 409)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<CreateTokenRequest>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    caller.require(Role::Admin)?;
    let (record, secret) =
        auth::create_token(&state.store, &req.name, req.role, state.clock.now()).await?;
    tracing::info!(token = %record.name, role = %record.role, by = %caller.name, "token created");
    let location = format!("/api/v1/tokens/{}", record.id);
    Ok(super::created(
        location,
        CreatedToken {
            token: record.into(),
            secret,
        },
    ))
}

#[utoipa::path(get, path = "/tokens", tag = "tokens", operation_id = "list_tokens", responses((status = 200, body = TokenList), (status = 403)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<TokenList>, ApiError> {
    caller.require(Role::Admin)?;
    let items = state
        .store
        .list_tokens()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(TokenList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/tokens/{id}", tag = "tokens", operation_id = "get_token", params(("id" = i64, Path)),
    responses((status = 200, body = TokenView), (status = 403)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<TokenView>, ApiError> {
    caller.require(Role::Admin)?;
    let Path(id) = id?;
    state
        .store
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .map(|t| Json(t.into()))
        .ok_or_else(|| ApiError::NotFound {
            code: "token_not_found",
            message: format!("no token with id {id}"),
        })
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", operation_id = "revoke_token", params(("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let Path(id) = id?;
    if state.store.revoke_token(id, state.clock.now()).await? {
        // Cached verifications must not outlive the revocation.
        state.tokens.clear();
        tracing::info!(token_id = id, by = %caller.name, "token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            code: "token_not_found",
            message: format!("no live token with id {id}"),
        })
    }
}
