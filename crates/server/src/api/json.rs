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
        match JsonBody::<T>::from_request(req, state).await? {
            JsonBody::Parsed(value) => Ok(Self(value)),
            JsonBody::Bytes(bytes) => match serde_json::from_slice(&bytes) {
                Ok(value) => Ok(Self(value)),
                Err(_) => Json::<T>::from_bytes(&bytes).map(|Json(value)| Self(value)),
            },
        }
    }
}

/// A plain `application/json` body's bytes, for a handler that parses them
/// without copying (see `alertmanager::PostedAlert`); any other body axum's
/// `Json` accepts, parsed as `T`. Rejections are exactly axum's.
pub enum JsonBody<T> {
    Bytes(Bytes),
    Parsed(T),
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = JsonRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !plain_json(&req) {
            // Anything but a plain `application/json`: axum decides.
            let Json(value) = Json::<T>::from_request(req, state).await?;
            return Ok(Self::Parsed(value));
        }
        Ok(Self::Bytes(Bytes::from_request(req, state).await?))
    }
}

/// Parse JSON into a `Value`, refusing an object that names a key twice
/// (at any depth), as the typed endpoints (`/api/v2/alerts`, declare) do:
/// "the last one wins" would let two readers of one body disagree on it.
pub fn from_slice_strict(bytes: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde::de::DeserializeSeed::deserialize(Strict, &mut de)?;
    de.end()?;
    Ok(value)
}

/// A string map that names no key twice, for typed bodies (the labels and
/// annotations of `/api/v2/alerts`): the same rule as
/// [`from_slice_strict`], at the cost of one comparison per key.
pub fn unique_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = std::collections::BTreeMap<String, String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of strings")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = std::collections::BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, String>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format_args!(
                        "duplicate key {key:?}"
                    )));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

/// A `Value` whose objects have unique keys.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = serde_json::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(out.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {key:?}"
                )));
            }
            let value = map.next_value_seed(Strict)?;
            out.insert(key, value);
        }
        Ok(out.into())
    }
}

/// The media type a request's `Content-Type` names, lower-cased, without
/// parameters.
fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

/// What axum's `Json` takes as JSON: `application/json` or any
/// `application/*+json`, with or without parameters.
pub fn says_json(headers: &axum::http::HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| {
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    })
}

/// `Content-Type: application/json`, with or without parameters: a strict
/// subset of what axum's `Json` accepts.
fn plain_json(req: &Request) -> bool {
    media_type(req.headers()).is_some_and(|m| m == "application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_refuses_a_key_named_twice_at_any_depth() {
        let ok = from_slice_strict(br#"{"a": [1, 2.5, null, true, {"b": "c"}], "d": {}}"#).unwrap();
        assert_eq!(
            ok,
            serde_json::json!({"a": [1, 2.5, null, true, {"b": "c"}], "d": {}})
        );
        for body in [
            &br#"{"a": 1, "a": 2}"#[..],
            br#"{"x": [{"k": 1, "k": 1}]}"#,
            br#"{"payload": {"summary": "s", "summary": "t"}}"#,
        ] {
            let e = from_slice_strict(body).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{e}");
        }
        assert!(from_slice_strict(b"{} x").is_err(), "trailing input");
    }
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
