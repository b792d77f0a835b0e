//! Test harness: start the real server on an ephemeral port with a fresh
//! database (a temp SQLite file, or a fresh PostgreSQL schema when
//! `FIREBELL_TEST_DATABASE_URL` is set) and a manual clock.

#![allow(dead_code)]

pub mod proxy;
pub mod receiver;

use std::sync::Arc;

use firebell_server::{
    AppState, ConnectionLimits, ManualClock, PolicySource, Server, ServerConfig,
};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One of the seed policies in `examples/`.
pub fn example(name: &str) -> PolicySource {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    assert!(path.exists(), "{path:?}");
    PolicySource::File(path)
}

/// The server on the seed policy `policy` (in `examples/`), its clock at `now`.
pub async fn example_at(backend: Backend, policy: &str, now: &str) -> TestApp {
    let app = TestApp::spawn_with_policy(backend, example(policy)).await;
    app.clock.set(now.parse().unwrap());
    app
}

/// POST as admin and insist on a 2xx; the answer.
pub async fn ok(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, v) = app.post(path, body).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// Monday 23 November 2026, 10:00 UTC: the tests' "now" unless they move it.
pub const T0: &str = "2026-11-23T10:00:00Z";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generate one `#[tokio::test]` per backend for each `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if !$crate::common::postgres_configured(stringify!($name)) { return; }
                super::$name($crate::common::Backend::Postgres).await
            }
            )*
        }
    };
}

/// Whether PostgreSQL tests can run; says so loudly when they cannot.
pub fn postgres_configured(test: &str) -> bool {
    let set = std::env::var("FIREBELL_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty());
    if !set {
        eprintln!(
            "SKIPPED postgres::{test}: set FIREBELL_TEST_DATABASE_URL to run PostgreSQL tests"
        );
    }
    set
}

/// A database URL that no other test shares.
pub fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("firebell.db").display()),
        Backend::Postgres => {
            let base = std::env::var("FIREBELL_TEST_DATABASE_URL")
                .expect("checked by postgres_configured");
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}schema=t_{:016x}", rand_u64())
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// Run `sql` on a test's database behind the server's back (to plant rows
/// no sender could write). `?schema=` is honoured on PostgreSQL.
pub async fn raw_sql(database_url: &str, sql: &str) {
    use sqlx::Connection;
    if let Some(path) = database_url.strip_prefix("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{path}"))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
        return;
    }
    let (url, schema) = match database_url.split_once("schema=") {
        Some((head, schema)) => (head.trim_end_matches(['?', '&']), Some(schema)),
        None => (database_url, None),
    };
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    if let Some(schema) = schema {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

pub struct TestApp {
    pub base: String,
    pub admin_token: String,
    pub clock: ManualClock,
    state: Option<AppState>,
    pub http: reqwest::Client,
    pub database_url: String,
    pub policy: PolicySource,
    pub dir: tempfile::TempDir,
    bootstrap: Option<String>,
    /// Whether the alert processor runs by itself (tests that drive it by
    /// hand turn it off).
    pub background_processing: bool,
    /// Real clock instead of the manual one.
    live: bool,
    /// A clock of the test's own instead of either (a wrong one).
    own_clock: Option<Arc<dyn firebell_server::Clock>>,
    /// Timeouts and connection limit of the server (the defaults unless a
    /// test about slow clients shortens them).
    pub connections: ConnectionLimits,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with_policy(backend, PolicySource::Demo).await
    }

    /// A server on the real clock with the alert processor running, for tests
    /// against real programs (Prometheus, amtool) that stamp real times.
    pub async fn spawn_live(backend: Backend) -> TestApp {
        Self::spawn_inner(backend, PolicySource::Demo, true).await
    }

    pub async fn spawn_with_policy(backend: Backend, policy: PolicySource) -> TestApp {
        Self::spawn_inner(backend, policy, false).await
    }

    /// [`TestApp::spawn_live`] with a policy of the test's own.
    pub async fn spawn_live_with_policy(backend: Backend, policy: PolicySource) -> TestApp {
        Self::spawn_inner(backend, policy, true).await
    }

    /// A server with the test's own connection timeouts and limit.
    pub async fn spawn_with_connections(
        backend: Backend,
        connections: ConnectionLimits,
    ) -> TestApp {
        Self::spawn_full(backend, PolicySource::Demo, false, connections).await
    }

    async fn spawn_inner(backend: Backend, policy: PolicySource, live: bool) -> TestApp {
        Self::build(
            backend,
            policy,
            live,
            live,
            ConnectionLimits::default(),
            |url| url,
        )
        .await
    }

    /// A server with the test's own connection timeouts and limit.
    async fn spawn_full(
        backend: Backend,
        policy: PolicySource,
        live: bool,
        connections: ConnectionLimits,
    ) -> TestApp {
        Self::build(backend, policy, live, live, connections, |url| url).await
    }

    /// A server on `clock`, with the workers driven by hand.
    pub async fn spawn_on_clock(
        backend: Backend,
        policy: PolicySource,
        clock: Arc<dyn firebell_server::Clock>,
    ) -> TestApp {
        let mut app = Self::unstarted(
            backend,
            policy,
            false,
            false,
            ConnectionLimits::default(),
            |url| url,
        );
        app.own_clock = Some(clock);
        app.start().await;
        app.admin_token = app.bootstrap.take().unwrap_or_default();
        app
    }

    /// A server on the manual clock with every background worker running
    /// (`background`), on the fresh database's URL as `database` rewrites it
    /// (through a proxy, onto a small disk).
    pub async fn spawn_custom(
        backend: Backend,
        policy: PolicySource,
        background: bool,
        database: impl FnOnce(String) -> String,
    ) -> TestApp {
        Self::build(
            backend,
            policy,
            false,
            background,
            ConnectionLimits::default(),
            database,
        )
        .await
    }

    async fn build(
        backend: Backend,
        policy: PolicySource,
        live: bool,
        background: bool,
        connections: ConnectionLimits,
        database: impl FnOnce(String) -> String,
    ) -> TestApp {
        let mut app = Self::unstarted(backend, policy, live, background, connections, database);
        app.start().await;
        app.admin_token = app.bootstrap.take().unwrap_or_default();
        app
    }

    fn unstarted(
        backend: Backend,
        policy: PolicySource,
        live: bool,
        background: bool,
        connections: ConnectionLimits,
        database: impl FnOnce(String) -> String,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database_url = database(fresh_database(backend, &dir));
        let clock = ManualClock::new(T0.parse().unwrap());
        TestApp {
            base: String::new(),
            admin_token: String::new(),
            clock,
            state: None,
            http: reqwest::Client::new(),
            database_url,
            policy,
            dir,
            bootstrap: None,
            background_processing: background,
            live,
            own_clock: None,
            connections,
            shutdown: None,
            task: None,
        }
    }

    /// The running server's shared state (store, policy, clock).
    pub fn state(&self) -> &AppState {
        self.state.as_ref().expect("the server is running")
    }

    async fn start(&mut self) {
        let config = ServerConfig {
            database_url: self.database_url.clone(),
            policy: self.policy.clone(),
            policy_poll: std::time::Duration::from_millis(50),
            background_processing: self.background_processing,
            public_url: None,
            connections: self.connections,
            max_clock_skew: firebell_server::skew::DEFAULT_MAX_SKEW,
        };
        let clock: Arc<dyn firebell_server::Clock> = if let Some(own) = &self.own_clock {
            own.clone()
        } else if self.live {
            Arc::new(firebell_server::SystemClock)
        } else {
            Arc::new(self.clock.clone())
        };
        let server = Server::open(&config, clock).await.expect("server opens");
        self.bootstrap = server.bootstrap_admin_token().await.unwrap();
        self.state = Some(server.state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(async move {
            server
                .serve(listener, config.policy_poll, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        }));
    }

    /// Stop the server gracefully and start a new one on the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
        assert!(
            self.bootstrap.is_none(),
            "a restarted server must not mint a second admin token"
        );
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/metrics` as Prometheus reads it.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(&self.admin_token, path).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(&self.admin_token, path, body).await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    /// Any method with a JSON body (PUT, PATCH), as admin.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    /// POST raw bytes with a content type, for malformed-input tests.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.admin_token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        decode(resp).await
    }

    /// Declare an incident and return its id.
    pub async fn declare(&self, body: Value) -> String {
        let (status, v) = self.post("/api/v1/incidents", body).await;
        assert_eq!(status, StatusCode::CREATED, "declare failed: {v}");
        v["incident"]["id"].as_str().unwrap().to_string()
    }

    /// Create a token with a role through the API; returns its secret.
    pub async fn token(&self, name: &str, role: &str) -> String {
        let (status, v) = self
            .post(
                "/api/v1/tokens",
                serde_json::json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["secret"].as_str().unwrap().to_string()
    }

    /// Run the alert processor once, as the background task would.
    pub async fn process(&self) -> firebell_server::ingest::processor::Round {
        firebell_server::ingest::processor::process_pending(&self.state().processor)
            .await
            .expect("processing succeeds")
    }

    /// Incidents as the list endpoint returns them, newest first.
    pub async fn incidents(&self) -> Vec<Value> {
        self.get("/api/v1/incidents").await.1["items"]
            .as_array()
            .expect("a list")
            .clone()
    }

    /// Run the scheduler once (fire due timers), as the background task would.
    pub async fn tick(&self) -> firebell_server::scheduler::Round {
        firebell_server::scheduler::run_once(&self.state().scheduler)
            .await
            .expect("the scheduler round succeeds")
    }

    /// Run the notification dispatcher once.
    pub async fn deliver(&self) -> firebell_server::notify::dispatch::Round {
        firebell_server::notify::dispatch::run_once(&self.state().dispatcher)
            .await
            .expect("the delivery round succeeds")
    }

    /// Hand new status page posts to subscribers, then send what is due,
    /// as the background loop does.
    pub async fn tell_subscribers(
        &self,
    ) -> (
        firebell_server::status_page::subscribers::fanout::FanOut,
        firebell_server::status_page::subscribers::deliver::Sent,
    ) {
        let fanned = firebell_server::status_page::subscribers::fanout::run_once(self.state())
            .await
            .expect("the fan-out round succeeds");
        let sent = firebell_server::status_page::subscribers::deliver::run_once(self.state())
            .await
            .expect("the subscriber delivery round succeeds");
        (fanned, sent)
    }

    /// The incident's timeline events of one `type`.
    pub async fn events_of(&self, id: &str, kind: &str) -> Vec<Value> {
        let (_, v) = self.get(&format!("/api/v1/incidents/{id}")).await;
        v["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    }

    /// Notifications of an incident, oldest first.
    pub async fn notifications(&self, id: &str) -> Vec<Value> {
        let (status, v) = self
            .get(&format!("/api/v1/incidents/{id}/notifications"))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let mut items = v["items"].as_array().expect("a list").clone();
        items.reverse();
        items
    }

    /// A console page as the admin sees it: signed in with the admin token
    /// (a fresh session each time), then `path`.
    pub async fn console_page(&self, path: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = http
            .post(self.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs([("token", self.admin_token.as_str()), ("next", "/")])
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let resp = http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::OK, "{path}");
        resp.text().await.unwrap()
    }

    pub fn advance_mins(&self, mins: i64) {
        self.clock.advance(jiff::SignedDuration::from_mins(mins));
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The demo policy with `extra` TOML appended, as a file in a directory the
/// caller keeps alive as long as the server runs (the server re-reads it).
/// The demo policy without its paging (schedule, escalation policy, `log`
/// notifiers), for tests that bring the paging they test.
pub fn demo_without_paging() -> String {
    let demo = firebell_core::policy::DEMO_POLICY;
    let start = demo
        .find("# --- paging ---")
        .expect("the demo marks its paging");
    let end = demo.find("# --- end of paging ---").expect("and its end");
    let demo = format!("{}{}", &demo[..start], &demo[end..]);
    demo.lines()
        .filter(|l| !l.ends_with("# paging"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn demo_policy_with(extra: &str) -> (tempfile::TempDir, PolicySource) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, format!("{}\n{extra}", demo_without_paging())).unwrap();
    (dir, PolicySource::File(path))
}

/// A two-step ladder paging by SMS through `recv`: L1 pages alice at once,
/// L2 pages sara after 30 minutes; `extra` TOML is appended (a `[routing]`
/// that sends alerts up it, say). Kept as a file, as [`demo_policy_with`].
pub fn sms_ladder(recv: &receiver::Receiver, extra: &str) -> (tempfile::TempDir, PolicySource) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        format!(
            r#"
version = 1
[organization]
name = "Test"
admins = ["alice"]

[[severities]]
name = "P0"
channels = ["sms"]

[people.alice]
name = "Alice"
contacts = [{{ kind = "sms", address = "+44 20 7946 0001" }}]

[people.sara]
name = "Sara"
contacts = [{{ kind = "sms", address = "+44 20 7946 0002" }}]

[[escalation_policies]]
name = "ladder"
[[escalation_policies.steps]]
name = "L1"
targets = ["person:alice"]
[[escalation_policies.steps]]
name = "L2"
after = "30m"
targets = ["person:sara"]

[notifiers.sms]
url = "{url}/sms"
{extra}
"#,
            url = recv.url
        ),
    )
    .unwrap();
    (dir, PolicySource::File(path))
}

pub async fn decode(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// Assert an error response's status and code; returns its message.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    assert_eq!(got.0, status, "unexpected status; body {}", got.1);
    assert_eq!(
        got.1["error"]["code"], code,
        "unexpected error code; body {}",
        got.1
    );
    let msg = got.1["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!msg.is_empty(), "error without a message: {}", got.1);
    msg
}
