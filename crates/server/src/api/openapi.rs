//! The OpenAPI document served at `GET /api/v1/openapi.json`: what the
//! handlers' `#[utoipa::path]` annotations say, completed here in one place
//! with what is true of every operation, so no annotation can forget it:
//!
//! - every error answer is the [`ErrorBody`](crate::wire::ErrorBody) that
//!   [`ApiError`](crate::error::ApiError) writes, with its headers
//!   (`WWW-Authenticate` on 401, `Retry-After` on 429 and 503);
//! - 401 on every operation that takes a token, 403 on those that need more
//!   than a viewer (every write: see [`crate::auth::require_token`]);
//! - 400, 413, 415 and 422 where a JSON body is read, 400 where a query is;
//!   404 where the path names something; 500 and 503 everywhere (the
//!   database can fail under any of them);
//! - a description on every response, and `Location` on every 201.
//!
//! The document is built once and kept.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::ApiDoc;

/// The finished document.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = serde_json::to_value(ApiDoc::openapi())
            .expect("the OpenAPI document serialises to JSON");
        complete(doc)
    })
}

/// The shared error answers: `components/responses/<name>`.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "The request cannot be read: malformed JSON, a wrong or missing field, a bad query or cursor",
    ),
    (
        401,
        "Unauthorized",
        "No token, or an invalid or revoked one",
    ),
    (
        403,
        "Forbidden",
        "The token's role is too low for this operation",
    ),
    (404, "NotFound", "Nothing by that name or id"),
    (
        409,
        "Conflict",
        "Conflicts with the current state (a version, a transition, a duplicate)",
    ),
    (413, "PayloadTooLarge", "The body is over the route's limit"),
    (
        415,
        "UnsupportedMediaType",
        "The body is not `application/json`",
    ),
    (
        422,
        "Unprocessable",
        "Well-formed, but names something the policy does not have or breaks a rule",
    ),
    (
        429,
        "TooManyRequests",
        "Back-pressure: come back after `Retry-After` seconds",
    ),
    (
        500,
        "Internal",
        "A fault on the server's side; the message carries a reference to its log",
    ),
    (
        502,
        "BadGateway",
        "A service Firebell called for the request failed",
    ),
    (
        503,
        "Unavailable",
        "The database is unavailable; retry after `Retry-After` seconds",
    ),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

fn error_content() -> Value {
    json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } })
}

fn error_headers(status: u16) -> Option<Value> {
    match status {
        401 => Some(json!({ "WWW-Authenticate": {
            "description": "The schemes accepted: `Bearer, Basic`",
            "schema": { "type": "string" } } })),
        429 | 503 => Some(json!({ "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": { "type": "integer" } } })),
        _ => None,
    }
}

fn success_description(status: u16) -> &'static str {
    match status {
        201 => "Created",
        202 => "Accepted",
        204 => "Done; no body",
        _ => "OK",
    }
}

/// Fill in what every operation shares (see the module's documentation).
pub fn complete(mut doc: Value) -> Value {
    let components = doc
        .as_object_mut()
        .expect("a document is an object")
        .entry("components")
        .or_insert_with(|| json!({}));
    let responses = components
        .as_object_mut()
        .expect("components is an object")
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for &(status, name, description) in ERRORS {
        let mut response = json!({ "description": description, "content": error_content() });
        if let Some(headers) = error_headers(status) {
            response["headers"] = headers;
        }
        responses.insert(name.to_string(), response);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        for &method in METHODS {
            if let Some(op) = item.get_mut(method) {
                complete_operation(path, method, op);
            }
        }
    }
    doc
}

fn complete_operation(path: &str, method: &str, op: &mut Value) {
    // `security` absent: the document's bearer token applies. `[{}]`: none.
    let authenticated = match op.get("security").and_then(Value::as_array) {
        None => true,
        Some(reqs) => reqs
            .iter()
            .any(|r| r.as_object().is_some_and(|o| !o.is_empty())),
    };
    let has_body = op.get("requestBody").is_some();
    let has_query = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let names_something = path.contains('{');
    let mut owed: Vec<u16> = vec![500, 503];
    if has_body || has_query {
        owed.push(400);
    }
    if authenticated {
        owed.push(401);
        if method != "get" {
            owed.push(403);
        }
    }
    if names_something {
        owed.push(404);
    }
    if has_body {
        owed.extend([413, 415, 422]);
    }
    let responses = op
        .as_object_mut()
        .expect("an operation is an object")
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for status in owed {
        responses.entry(status.to_string()).or_insert(Value::Null);
    }
    for (status, response) in responses.iter_mut() {
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        complete_response(status, response);
    }
}

fn complete_response(status: u16, response: &mut Value) {
    if status >= 400 {
        let shared = ERRORS.iter().find(|(s, ..)| *s == status);
        let described = response
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty());
        match shared {
            // Nothing said beyond the status: the shared answer.
            Some((_, name, _)) if !described => {
                *response = json!({ "$ref": format!("#/components/responses/{name}") });
            }
            // Its own description (what a 404 means here), the shared body.
            _ => {
                let object = as_object(response);
                object
                    .entry("description")
                    .or_insert_with(|| json!("Refused"));
                object.insert("content".into(), error_content());
                if let Some(headers) = error_headers(status) {
                    object.insert("headers".into(), headers);
                }
            }
        }
        return;
    }
    let object = as_object(response);
    let described = object
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.is_empty());
    if !described {
        object.insert("description".into(), json!(success_description(status)));
    }
    if status == 201 {
        let headers = object
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("headers is an object");
        headers.insert(
            "Location".into(),
            json!({ "description": "The URL of what was created",
                    "required": true, "schema": { "type": "string" } }),
        );
    }
}

/// `value` as an object, made one if it was not (a placeholder `null`).
fn as_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = json!({});
    }
    value.as_object_mut().expect("just made an object")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// operationIds are unique, every response is described, every error
    /// answer is the error body, every 201 names its Location.
    #[test]
    fn every_operation_is_complete() {
        let doc = document();
        let mut ids = BTreeSet::new();
        let responses = &doc["components"]["responses"];
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for &method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let id = op["operationId"].as_str().expect("an operationId");
                assert!(ids.insert(id.to_string()), "{id} twice ({method} {path})");
                for (status, response) in op["responses"].as_object().expect("responses") {
                    let response = match response["$ref"].as_str() {
                        Some(r) => &responses[r.rsplit('/').next().unwrap()],
                        None => response,
                    };
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}: no description"
                    );
                    let status: u16 = status.parse().expect("a status");
                    if status >= 400 {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                    if status == 201 {
                        assert!(
                            response["headers"]["Location"].is_object(),
                            "{method} {path}: 201 without Location"
                        );
                    }
                }
                if op.get("security").is_none() {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}: 401");
                }
            }
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }
}
