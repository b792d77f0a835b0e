//! What the HTTP fuzz targets share: one real server (temp SQLite database,
//! the demo policy plus a PagerDuty integration and two signed webhooks,
//! background processing off) built once per process, and a way to send it
//! a request and check what follows.
//!
//! Each input is one request through the whole router (auth, body limits,
//! content type, parsing, the ingest queue and its writer); after a 2xx the
//! ingest log is merged and a processing round runs, as the background tasks
//! would. A panic, a 5xx, or a failing merge or round is a finding.
//!
//! The database outlives each input (rebuilding it costs more than a
//! request), so later inputs meet the alerts and incidents earlier ones made:
//! a crash may need the run's history to reproduce, but the state is what a
//! long-running server would hold.

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use firebell_server::ingest::{self, processor};
use firebell_server::{AppState, ManualClock, PolicySource, Server, ServerConfig};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tower::ServiceExt;

/// The routing key of the `fuzz` integration.
pub const ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";
/// A routing key no integration has.
pub const UNKNOWN_ROUTING_KEY: &str = "ffffffffffffffffffffffffffffffff";
/// Secrets of the `plain` (minimal schema) and `mapped` (field mapping)
/// webhooks.
pub const PLAIN_SECRET: &str = "fuzz-plain-secret";
pub const MAPPED_SECRET: &str = "fuzz-mapped-secret";

/// The harness clock's start: a Monday in business hours.
const START: &str = "2026-11-23T10:00:00Z";

/// Where the fuzz senders come from: appended to the demo policy.
const SENDERS: &str = r#"
[[integrations]]
name = "fuzz"
routing_key = "0123456789abcdef0123456789abcdef"
service = "api"
severity_map = { warning = "P2" }

[[webhooks]]
name = "plain"
secret = "fuzz-plain-secret"
service = "api"
severity = "P2"

[[webhooks]]
name = "mapped"
secret = "fuzz-mapped-secret"

[webhooks.fields]
key = "alert.id"
title = "alert.name"
description = "alert.message"
status = "alert.state"
severity = "alert.level"
labels = "alert.tags"
starts_at = "alert.since"
url = "alert.link"

[webhooks.status_map]
alerting = "firing"
ok = "resolved"
"#;

/// The server every input of a process talks to.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    router: Router,
    state: AppState,
    clock: ManualClock,
    /// An admin token, for the endpoints behind bearer auth.
    pub token: String,
}

/// The database's directory, removed when the run ends normally.
static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// libFuzzer ends a run with `exit`, which drops no statics: remove the
/// database then. After a crash (an abort) it stays, to be looked at.
extern "C" fn remove_database() {
    if let Some(dir) = DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The harness, built on first use.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::build)
}

impl Harness {
    fn build() -> Harness {
        let dir = tempfile::Builder::new()
            .prefix("firebell-fuzz-")
            .tempdir()
            .expect("a temp directory")
            .keep();
        eprintln!("firebell-fuzz: database in {}", dir.display());
        DIR.set(dir.clone()).expect("built once");
        // SAFETY: registers a plain function with no arguments.
        unsafe { atexit(remove_database) };
        let policy = dir.join("policy.toml");
        std::fs::write(
            &policy,
            format!("{}\n{SENDERS}", firebell_core::policy::DEMO_POLICY),
        )
        .expect("the policy is written");
        let config = ServerConfig {
            database_url: format!("sqlite:{}", dir.join("firebell.db").display()),
            policy: PolicySource::File(policy),
            // The file never changes: look rarely.
            policy_poll: std::time::Duration::from_secs(3600),
            background_processing: false,
            public_url: Some("http://127.0.0.1".into()),
            connections: Default::default(),
            max_clock_skew: firebell_server::skew::DEFAULT_MAX_SKEW,
        };
        let clock = ManualClock::new(START.parse().expect("valid instant"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (router, state, token) = rt.block_on(async {
            let server = Server::open(&config, Arc::new(clock.clone()))
                .await
                .expect("the server opens");
            let token = server
                .bootstrap_admin_token()
                .await
                .expect("a token")
                .expect("the database is new");
            let router = server.router();
            let state = server.state.clone();
            // `serve` starts the ingest writer the router's requests wait
            // for; the listener itself is never used. Its tasks run whenever
            // an input is being handled (a current-thread runtime).
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            tokio::spawn(server.serve(listener, config.policy_poll, std::future::pending()));
            (router, state, token)
        });
        Harness {
            rt,
            router,
            state,
            clock,
            token,
        }
    }

    /// The server's "now" in Unix seconds (for webhook signatures).
    pub fn now_secs(&self) -> i64 {
        use firebell_server::Clock;
        self.clock.now().as_second()
    }

    /// Send `request`; panic on a 5xx, or if after a 2xx the ingest log does
    /// not merge or a processing round fails. Returns the status.
    pub fn send(&self, request: Request<Body>) -> StatusCode {
        // A second per input: alerts whose `endsAt` passes get swept, times
        // in bodies land on both sides of "now".
        self.clock.advance(jiff::SignedDuration::from_secs(1));
        self.rt.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the answer is readable");
            assert!(
                !status.is_server_error(),
                "{status}: {}",
                String::from_utf8_lossy(&body)
            );
            if status.is_success() {
                ingest::settle(&self.state.pipeline)
                    .await
                    .expect("the ingest log merges");
                processor::process_pending(&self.state.processor)
                    .await
                    .expect("a processing round succeeds");
            }
            status
        })
    }
}

/// A POST of `body` to `path` with an optional content type and bearer token.
pub fn post(
    path: &str,
    content_type: Option<&str>,
    token: Option<&str>,
    body: Vec<u8>,
) -> Request<Body> {
    let mut request = Request::post(path);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::from(body)).expect("a valid request")
}

/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Content types the JSON endpoints may be sent, most of them JSON.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ContentType {
    Json,
    JsonCharset,
    ProblemJson,
    TextPlain,
    Missing,
}

impl ContentType {
    pub fn header(self) -> Option<&'static str> {
        match self {
            ContentType::Json => Some("application/json"),
            ContentType::JsonCharset => Some("application/json; charset=utf-8"),
            ContentType::ProblemJson => Some("application/problem+json"),
            ContentType::TextPlain => Some("text/plain"),
            ContentType::Missing => None,
        }
    }
}

/// A label (or annotation) name: mostly ones the demo policy routes on, so
/// inputs reach routing, grouping and incidents.
#[derive(Arbitrary, Debug)]
pub enum Name {
    Alertname,
    Service,
    Severity,
    Instance,
    Other(String),
}

/// A label value: mostly ones the demo policy's routes match.
#[derive(Arbitrary, Debug)]
pub enum Text {
    Api,
    Web,
    Critical,
    Warning,
    Short(u8),
    Other(String),
}

/// An instant as a body might carry it.
#[derive(Arbitrary, Debug)]
pub enum Time {
    /// Minutes before the server's start.
    Before(u16),
    /// Minutes after it.
    After(u16),
    /// Anything else.
    Raw(String),
    Number(i64),
}

impl Name {
    pub fn text(&self) -> String {
        match self {
            Name::Alertname => "alertname".into(),
            Name::Service => "service".into(),
            Name::Severity => "severity".into(),
            Name::Instance => "instance".into(),
            Name::Other(s) => s.clone(),
        }
    }
}

impl Text {
    pub fn text(&self) -> String {
        match self {
            Text::Api => "api".into(),
            Text::Web => "web".into(),
            Text::Critical => "critical".into(),
            Text::Warning => "warning".into(),
            Text::Short(n) => format!("v{}", n % 8),
            Text::Other(s) => s.clone(),
        }
    }
}

impl Time {
    /// Around the harness clock's start; the clock moves a second per input,
    /// so these fall on both sides of "now" as a run goes on.
    pub fn json(&self) -> Value {
        let start: jiff::Timestamp = START.parse().expect("valid instant");
        let minutes = |m: u16| jiff::SignedDuration::from_mins(i64::from(m));
        match self {
            Time::Before(m) => json!((start - minutes(*m)).to_string()),
            Time::After(m) => json!((start + minutes(*m)).to_string()),
            Time::Raw(s) => json!(s),
            Time::Number(n) => json!(n),
        }
    }
}

/// Pairs as a JSON object (later names win, as JSON readers would differ).
pub fn object(pairs: &[(Name, Text)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(n, v)| (n.text(), Value::String(v.text())))
        .collect();
    Value::Object(map)
}

/// An Alertmanager alert (`postableAlert`, or a webhook payload's alert).
#[derive(Arbitrary, Debug)]
pub struct FuzzAlert {
    pub labels: Vec<(Name, Text)>,
    pub annotations: Vec<(Name, Text)>,
    pub starts_at: Option<Time>,
    pub ends_at: Option<Time>,
    pub generator_url: Option<String>,
    /// Webhook payloads only.
    pub resolved: bool,
    pub fingerprint: Option<String>,
}

impl FuzzAlert {
    pub fn json(&self, webhook: bool) -> Value {
        let mut alert = Map::new();
        alert.insert("labels".into(), object(&self.labels));
        if !self.annotations.is_empty() {
            alert.insert("annotations".into(), object(&self.annotations));
        }
        if let Some(t) = &self.starts_at {
            alert.insert("startsAt".into(), t.json());
        }
        if let Some(t) = &self.ends_at {
            alert.insert("endsAt".into(), t.json());
        }
        if let Some(url) = &self.generator_url {
            alert.insert("generatorURL".into(), json!(url));
        }
        if webhook {
            let status = if self.resolved { "resolved" } else { "firing" };
            alert.insert("status".into(), json!(status));
            if let Some(f) = &self.fingerprint {
                alert.insert("fingerprint".into(), json!(f));
            }
        }
        Value::Object(alert)
    }
}

/// A JSON value of bounded depth, for free-form fields.
#[derive(Arbitrary, Debug)]
pub enum FuzzJson {
    Null,
    Bool(bool),
    Number(f64),
    Int(i64),
    String(String),
    Array(Vec<FuzzLeaf>),
    Object(Vec<(String, FuzzLeaf)>),
}

/// A JSON value one level down.
#[derive(Arbitrary, Debug)]
pub enum FuzzLeaf {
    Null,
    Int(i64),
    String(String),
    Array(Vec<String>),
}

impl FuzzJson {
    pub fn json(&self) -> Value {
        match self {
            FuzzJson::Null => Value::Null,
            FuzzJson::Bool(b) => json!(b),
            FuzzJson::Number(n) => json!(n),
            FuzzJson::Int(n) => json!(n),
            FuzzJson::String(s) => json!(s),
            FuzzJson::Array(items) => Value::Array(items.iter().map(FuzzLeaf::json).collect()),
            FuzzJson::Object(pairs) => {
                Value::Object(pairs.iter().map(|(k, v)| (k.clone(), v.json())).collect())
            }
        }
    }
}

impl FuzzLeaf {
    pub fn json(&self) -> Value {
        match self {
            FuzzLeaf::Null => Value::Null,
            FuzzLeaf::Int(n) => json!(n),
            FuzzLeaf::String(s) => json!(s),
            FuzzLeaf::Array(items) => json!(items),
        }
    }
}
