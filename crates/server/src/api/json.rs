//! [`FastJson`]: axum's `Json` for the ingest hot path.
//!
//! axum's `Json` deserializes through `serde_path_to_error`, which gives the
//! precise error paths our 400s quote (`[3].startsAt: …`) but costs about a
//! third more CPU on every body. `FastJson` parses with plain `serde_json`
//! and, only when that fails, parses again through axum's `Json`, so errors
//! (and every rejection: content type, body size) are exactly axum's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

pub struct FastJson<T>(pub T);

impl<T, S> FromRequest<S> for FastJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = JsonRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !plain_json(&req) {
            // Anything but a plain `application/json`: axum decides.
            let Json(value) = Json::<T>::from_request(req, state).await?;
            return Ok(Self(value));
        }
        let bytes = Bytes::from_request(req, state).await?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Self(value)),
            Err(_) => Json::<T>::from_bytes(&bytes).map(|Json(value)| Self(value)),
        }
    }
}

/// What axum's `Json` takes as JSON: `application/json` or any
/// `application/*+json`, with or without parameters.
pub fn says_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// `Content-Type: application/json`, with or without parameters: a strict
/// subset of what axum's `Json` accepts.
fn plain_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        req.body(Body::from(body.to_string())).expect("request")
    }

    async fn parse(content_type: Option<&str>, body: &str) -> Result<Vec<u32>, String> {
        FastJson::<Vec<u32>>::from_request(request(content_type, body), &())
            .await
            .map(|FastJson(v)| v)
            .map_err(|e| e.body_text())
    }

    async fn axum_parse(content_type: Option<&str>, body: &str) -> Result<Vec<u32>, String> {
        Json::<Vec<u32>>::from_request(request(content_type, body), &())
            .await
            .map(|Json(v)| v)
            .map_err(|e| e.body_text())
    }

    #[tokio::test]
    async fn same_answers_as_axum_json() {
        for (ct, body) in [
            (Some("application/json"), "[1, 2, 3]"),
            (Some("application/json; charset=utf-8"), "[1]"),
            (Some("Application/JSON"), "[]"),
            (Some("application/problem+json"), "[4]"),
            (Some("application/json"), "[1, \"two\"]"),
            (Some("application/json"), "[1,"),
            (Some("application/json"), "[1] trailing"),
            (Some("text/plain"), "[1]"),
            (None, "[1]"),
        ] {
            assert_eq!(
                parse(ct, body).await,
                axum_parse(ct, body).await,
                "{ct:?} {body:?}"
            );
        }
        let err = parse(Some("application/json"), "[1, \"two\"]")
            .await
            .expect_err("a string is no u32");
        assert!(err.contains("[1]"), "the error names the element: {err}");
    }
}
