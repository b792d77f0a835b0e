//! `POST /api/v2/alerts` through the router, the ingest queue and the store:
//! raw bodies, well-formed alerts, and requests without a token. Never a
//! 5xx or a panic; after a 2xx the log merges and a processing round runs.
#![no_main]
use firebell_fuzz::{ContentType, FuzzAlert, harness, post};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        content_type: ContentType,
        body: Vec<u8>,
    },
    Alerts {
        content_type: ContentType,
        alerts: Vec<FuzzAlert>,
    },
    NoToken(Vec<u8>),
}

const PATH: &str = "/api/v2/alerts";

fuzz_target!(|input: Input| {
    let h = harness();
    match input {
        Input::Raw { content_type, body } => {
            h.send(post(PATH, content_type.header(), Some(&h.token), body));
        }
        Input::Alerts {
            content_type,
            alerts,
        } => {
            let body: Vec<_> = alerts.iter().map(|a| a.json(false)).collect();
            let body = serde_json::to_vec(&body).expect("JSON");
            h.send(post(PATH, content_type.header(), Some(&h.token), body));
        }
        Input::NoToken(body) => {
            let status = h.send(post(PATH, Some("application/json"), None, body));
            assert_eq!(status.as_u16(), 401, "no token, no entry");
        }
    }
});
