//! `POST /api/v1/webhooks/{name}` through the router, the signature check,
//! the field mapping, the ingest queue and the store. Bodies are signed
//! correctly unless the input says otherwise, so the fuzzer reaches the
//! parser; a bad signature must be a 401. Never a 5xx or a panic; after a
//! 2xx the log merges and a processing round runs.
#![no_main]
use axum::body::Body;
use axum::http::Request;
use firebell_fuzz::{
    FuzzJson, MAPPED_SECRET, Name, PLAIN_SECRET, Text, Time, harness, object, signature,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Hook {
    /// The minimal schema.
    Plain,
    /// `[webhooks.fields]` and `[webhooks.status_map]`.
    Mapped,
    Unknown,
}

#[derive(Arbitrary, Debug)]
enum Signature {
    Good,
    /// Signed this many seconds off the server's clock, either way.
    Skewed(i16),
    /// Signed with the other webhook's secret.
    WrongSecret,
    Missing,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Status {
    Firing,
    Resolved,
    Alerting,
    Ok,
    Other(FuzzJson),
}

#[derive(Arbitrary, Debug)]
struct Event {
    key: Option<Text>,
    title: Option<Text>,
    status: Option<Status>,
    severity: Option<Text>,
    description: Option<String>,
    labels: Option<Vec<(Name, Text)>>,
    annotations: Option<Vec<(Name, Text)>>,
    starts_at: Option<Time>,
    ends_at: Option<Time>,
    url: Option<String>,
    /// Put in place of one field, whatever its type should be.
    odd: Option<(u8, FuzzJson)>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        hook: Hook,
        signature: Signature,
        body: Vec<u8>,
    },
    Event {
        hook: Hook,
        signature: Signature,
        event: Box<Event>,
    },
}

/// The event in the shape `hook` reads.
fn body(hook: Hook, e: &Event) -> Vec<u8> {
    let mapped = matches!(hook, Hook::Mapped);
    let name = |plain: &'static str, mapped_name: &'static str| {
        if mapped { mapped_name } else { plain }
    };
    let mut fields = Map::new();
    let mut put = |field: &str, v: Option<Value>| {
        if let Some(v) = v {
            fields.insert(field.into(), v);
        }
    };
    put(name("key", "id"), e.key.as_ref().map(|t| json!(t.text())));
    put(
        name("title", "name"),
        e.title.as_ref().map(|t| json!(t.text())),
    );
    put(
        name("status", "state"),
        e.status.as_ref().map(|s| match s {
            Status::Firing => json!("firing"),
            Status::Resolved => json!("resolved"),
            Status::Alerting => json!("alerting"),
            Status::Ok => json!("ok"),
            Status::Other(v) => v.json(),
        }),
    );
    put(
        name("severity", "level"),
        e.severity.as_ref().map(|t| json!(t.text())),
    );
    put(
        name("description", "message"),
        e.description.as_ref().map(|d| json!(d)),
    );
    put(name("labels", "tags"), e.labels.as_deref().map(object));
    if !mapped {
        put("annotations", e.annotations.as_deref().map(object));
        put("ends_at", e.ends_at.as_ref().map(Time::json));
    }
    put(
        name("starts_at", "since"),
        e.starts_at.as_ref().map(Time::json),
    );
    put(name("url", "link"), e.url.as_ref().map(|u| json!(u)));
    if let Some((at, v)) = &e.odd {
        let names = [
            "key",
            "title",
            "status",
            "labels",
            "starts_at",
            "id",
            "name",
            "state",
            "tags",
            "since",
        ];
        fields.insert(names[usize::from(*at) % names.len()].into(), v.json());
    }
    let value = if mapped {
        json!({ "alert": fields })
    } else {
        Value::Object(fields)
    };
    serde_json::to_vec(&value).expect("JSON")
}

fuzz_target!(|input: Input| {
    let h = harness();
    let (hook, signature_kind, body) = match input {
        Input::Raw {
            hook,
            signature,
            body,
        } => (hook, signature, body),
        Input::Event {
            hook,
            signature,
            event,
        } => (hook, signature, body(hook, &event)),
    };
    let (path, secret, other) = match hook {
        Hook::Plain => ("/api/v1/webhooks/plain", PLAIN_SECRET, MAPPED_SECRET),
        Hook::Mapped => ("/api/v1/webhooks/mapped", MAPPED_SECRET, PLAIN_SECRET),
        Hook::Unknown => ("/api/v1/webhooks/nosuch", PLAIN_SECRET, MAPPED_SECRET),
    };
    // The harness moves its clock a second forward before sending.
    let t = h.now_secs() + 1;
    let header = match &signature_kind {
        Signature::Good => Some(signature(secret, t, &body)),
        Signature::Skewed(by) => Some(signature(secret, t + i64::from(*by), &body)),
        Signature::WrongSecret => Some(signature(other, t, &body)),
        Signature::Missing => None,
        Signature::Raw(s) => Some(s.clone()),
    };
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(header) = header.filter(|h| axum::http::HeaderValue::from_str(h).is_ok()) {
        request = request.header("x-firebell-signature", header);
    }
    let status = h.send(request.body(Body::from(body)).expect("a valid request"));
    let must_refuse = match signature_kind {
        Signature::WrongSecret | Signature::Missing => true,
        Signature::Skewed(by) => i64::from(by).abs() > 300,
        _ => false,
    };
    match hook {
        Hook::Unknown => assert_eq!(status.as_u16(), 404, "no such webhook"),
        _ if must_refuse => assert_eq!(status.as_u16(), 401, "a bad signature is refused"),
        _ => {}
    }
});
