//! PagerDuty Events v2 (`POST /v2/enqueue`, `/v2/change/enqueue`) through the
//! router, the ingest queue, the store and, for `acknowledge`, the command
//! path: raw bodies, raw JSON with a valid routing key put in, and events
//! built field by field. Never a 5xx or a panic; after a 2xx the log merges
//! and a processing round runs.
#![no_main]
use firebell_fuzz::{FuzzJson, ROUTING_KEY, Text, Time, UNKNOWN_ROUTING_KEY, harness, post};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[derive(Arbitrary, Debug)]
enum Key {
    Valid,
    Unknown,
    Missing,
    Other(FuzzJson),
}

#[derive(Arbitrary, Debug)]
enum Action {
    Trigger,
    Acknowledge,
    Resolve,
    Missing,
    Other(FuzzJson),
}

#[derive(Arbitrary, Debug)]
enum Dedup {
    /// One of a few, so acknowledges and resolves meet earlier triggers.
    Few(u8),
    Missing,
    Other(FuzzJson),
}

#[derive(Arbitrary, Debug)]
enum Severity {
    Critical,
    Error,
    Warning,
    Info,
    Missing,
    Other(FuzzJson),
}

#[derive(Arbitrary, Debug)]
struct Event {
    change: bool,
    key: Key,
    action: Action,
    dedup: Dedup,
    summary: Option<Text>,
    source: Option<Text>,
    severity: Severity,
    timestamp: Option<Time>,
    component: Option<Text>,
    group: Option<Text>,
    class: Option<Text>,
    custom_details: Option<FuzzJson>,
    client: Option<String>,
    client_url: Option<String>,
    links: Option<FuzzJson>,
    payload_not_object: Option<FuzzJson>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        change: bool,
        body: Vec<u8>,
    },
    /// A JSON object from the fuzzer, given the valid routing key.
    WithKey {
        change: bool,
        body: Vec<u8>,
    },
    Event(Box<Event>),
}

fn path(change: bool) -> &'static str {
    if change {
        "/v2/change/enqueue"
    } else {
        "/v2/enqueue"
    }
}

fn event(e: &Event) -> Value {
    let mut event = Map::new();
    let put = |map: &mut Map<String, Value>, name: &str, v: Option<Value>| {
        if let Some(v) = v {
            map.insert(name.into(), v);
        }
    };
    put(
        &mut event,
        "routing_key",
        match &e.key {
            Key::Valid => Some(json!(ROUTING_KEY)),
            Key::Unknown => Some(json!(UNKNOWN_ROUTING_KEY)),
            Key::Missing => None,
            Key::Other(v) => Some(v.json()),
        },
    );
    put(
        &mut event,
        "event_action",
        match &e.action {
            Action::Trigger => Some(json!("trigger")),
            Action::Acknowledge => Some(json!("acknowledge")),
            Action::Resolve => Some(json!("resolve")),
            Action::Missing => None,
            Action::Other(v) => Some(v.json()),
        },
    );
    put(
        &mut event,
        "dedup_key",
        match &e.dedup {
            Dedup::Few(n) => Some(json!(format!("dedup-{}", n % 4))),
            Dedup::Missing => None,
            Dedup::Other(v) => Some(v.json()),
        },
    );
    put(&mut event, "client", e.client.as_ref().map(|c| json!(c)));
    put(
        &mut event,
        "client_url",
        e.client_url.as_ref().map(|c| json!(c)),
    );
    put(&mut event, "links", e.links.as_ref().map(FuzzJson::json));
    let mut payload = Map::new();
    put(
        &mut payload,
        "summary",
        e.summary.as_ref().map(|t| json!(t.text())),
    );
    put(
        &mut payload,
        "source",
        e.source.as_ref().map(|t| json!(t.text())),
    );
    put(
        &mut payload,
        "severity",
        match &e.severity {
            Severity::Critical => Some(json!("critical")),
            Severity::Error => Some(json!("error")),
            Severity::Warning => Some(json!("warning")),
            Severity::Info => Some(json!("info")),
            Severity::Missing => None,
            Severity::Other(v) => Some(v.json()),
        },
    );
    put(
        &mut payload,
        "timestamp",
        e.timestamp.as_ref().map(Time::json),
    );
    put(
        &mut payload,
        "component",
        e.component.as_ref().map(|t| json!(t.text())),
    );
    put(
        &mut payload,
        "group",
        e.group.as_ref().map(|t| json!(t.text())),
    );
    put(
        &mut payload,
        "class",
        e.class.as_ref().map(|t| json!(t.text())),
    );
    put(
        &mut payload,
        "custom_details",
        e.custom_details.as_ref().map(FuzzJson::json),
    );
    let payload = match &e.payload_not_object {
        Some(v) => v.json(),
        None => Value::Object(payload),
    };
    event.insert("payload".into(), payload);
    Value::Object(event)
}

fuzz_target!(|input: Input| {
    let h = harness();
    let (change, body) = match input {
        Input::Raw { change, body } => (change, body),
        Input::WithKey { change, body } => {
            let body = match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(mut event)) => {
                    event.insert("routing_key".into(), json!(ROUTING_KEY));
                    serde_json::to_vec(&event).expect("JSON")
                }
                _ => body,
            };
            (change, body)
        }
        Input::Event(e) => {
            let unknown = matches!(e.key, Key::Unknown);
            let change = e.change;
            let status = h.send(post(
                path(change),
                Some("application/json"),
                None,
                serde_json::to_vec(&event(&e)).expect("JSON"),
            ));
            if unknown {
                assert_eq!(status.as_u16(), 400, "an unknown routing key is refused");
            }
            return;
        }
    };
    h.send(post(path(change), Some("application/json"), None, body));
});
