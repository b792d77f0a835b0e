//! `POST /api/v1/alertmanager/webhook` through the router, the ingest queue
//! and the store: raw bodies, and Alertmanager notification payloads around
//! fuzzed alerts. Never a 5xx or a panic; after a 2xx the log merges and a
//! processing round runs.
#![no_main]
use firebell_fuzz::{ContentType, FuzzAlert, FuzzJson, harness, post};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[derive(Arbitrary, Debug)]
enum Version {
    Four,
    Missing,
    Other(FuzzJson),
}

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        content_type: ContentType,
        body: Vec<u8>,
    },
    Payload {
        content_type: ContentType,
        version: Version,
        group_key: Option<String>,
        receiver: Option<String>,
        truncated_alerts: Option<FuzzJson>,
        alerts: Vec<FuzzAlert>,
        /// Fields Firebell ignores (`commonLabels`, `externalURL`, …).
        extra: Vec<(String, FuzzJson)>,
    },
}

const PATH: &str = "/api/v1/alertmanager/webhook";

fuzz_target!(|input: Input| {
    let h = harness();
    let (content_type, body) = match input {
        Input::Raw { content_type, body } => (content_type, body),
        Input::Payload {
            content_type,
            version,
            group_key,
            receiver,
            truncated_alerts,
            alerts,
            extra,
        } => {
            let mut payload: Map<String, Value> =
                extra.iter().map(|(k, v)| (k.clone(), v.json())).collect();
            match version {
                Version::Four => payload.insert("version".into(), json!("4")),
                Version::Missing => payload.remove("version"),
                Version::Other(v) => payload.insert("version".into(), v.json()),
            };
            if let Some(g) = group_key {
                payload.insert("groupKey".into(), json!(g));
            }
            if let Some(r) = receiver {
                payload.insert("receiver".into(), json!(r));
            }
            if let Some(t) = truncated_alerts {
                payload.insert("truncatedAlerts".into(), t.json());
            }
            let alerts: Vec<Value> = alerts.iter().map(|a| a.json(true)).collect();
            payload.insert("alerts".into(), Value::Array(alerts));
            let body = serde_json::to_vec(&payload).expect("JSON");
            (content_type, body)
        }
    };
    h.send(post(PATH, content_type.header(), Some(&h.token), body));
});
