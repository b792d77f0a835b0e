//! What the store's test files share: a database per test on each backend
//! (`store_tests!`), and incidents built from real core events.
#![allow(dead_code)] // each test file uses its own share of these

use std::sync::Arc;

use firebell_core::{Event, EventKind, Incident};
use firebell_store::{Append, NewIncident, ProcessedAlert, Store};
use jiff::{Timestamp, ToSpan};
use sqlx::{AssertSqlSafe, Connection};

pub(crate) const PG_ENV: &str = "FIREBELL_TEST_DATABASE_URL";

/// One test's database: where it is, and how to clean it up.
pub(crate) struct TestDb {
    pub(crate) url: String,
    /// Keeps the SQLite file's directory alive for the test.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the test's schema, dropped afterwards.
    pub(crate) pg: Option<(String, String)>,
}

impl TestDb {
    pub(crate) fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("firebell.db").display());
        TestDb {
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    pub(crate) fn postgres(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var(PG_ENV) else {
            println!("postgres::{test}: SKIPPED (set {PG_ENV} to run PostgreSQL store tests)");
            return None;
        };
        let schema = format!("t_{:016x}", rand::random::<u64>());
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}schema={schema}");
        Some(TestDb {
            url,
            _dir: None,
            pg: Some((base, schema)),
        })
    }

    pub(crate) async fn connect(&self) -> Store {
        Store::connect(&self.url).await.expect("connect")
    }

    /// Best effort: drop the test's schema.
    pub(crate) async fn teardown(&self) {
        if let Some((base, schema)) = &self.pg
            && let Ok(mut conn) = sqlx::PgConnection::connect(base).await
        {
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            let _ = sqlx::query(AssertSqlSafe(drop)).execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }
}

/// `sqlite::<test>` and `postgres::<test>` for each test body.
macro_rules! store_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::run(super::TestDb::sqlite(), |db| async move { super::$test(&db).await }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(db) = super::TestDb::postgres(stringify!($test)) {
                        super::run(db, |db| async move { super::$test(&db).await }).await;
                    }
                }
            )*
        }
    };
}

/// Run a body, then tear down even if it panicked, then re-raise the panic.
pub(crate) async fn run<F, Fut>(db: TestDb, body: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = Arc::new(db);
    let outcome = tokio::spawn(body(db.clone())).await;
    db.teardown().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
pub(crate) use store_tests;

// --- building incidents from real core events ------------------------------

pub(crate) fn t0() -> Timestamp {
    "2026-11-23T09:00:00Z".parse().expect("instant")
}

pub(crate) fn declared(at: Timestamp, title: &str, severity: &str, services: &[&str]) -> Event {
    Event {
        seq: 1,
        at,
        actor: "alice".into(),
        kind: EventKind::Declared {
            title: title.into(),
            severity: severity.into(),
            summary: "checkout is failing".into(),
            services: services.iter().map(|s| s.to_string()).collect(),
            tags: vec!["customer-facing".into()],
            detected_at: Some(at - 5.minutes()),
            checklist: vec![],
            obligations: vec![],
            escalation_policy: None,
            drill: false,
        },
    }
}

pub(crate) fn next(incident: &Incident, at: Timestamp, actor: &str, kind: EventKind) -> Event {
    Event {
        seq: incident.version + 1,
        at,
        actor: actor.into(),
        kind,
    }
}

/// A new incident for `create_incident`: state folded from `events`, no timers.
pub(crate) fn build(events: Vec<Event>) -> NewIncident {
    NewIncident {
        state: Incident::from_events("", &events).expect("log starts with Declared"),
        events,
        timers: Vec::new(),
    }
}

/// A batch as the scheduler hands it to `append_batch`.
pub(crate) fn encoded(appends: Vec<Append>) -> Vec<firebell_store::Encoded> {
    appends.into_iter().map(|a| a.encode().unwrap()).collect()
}

/// A write of `state` (after `events`) at `expected`, marking `alerts`
/// processed, with no timers or notifications.
pub(crate) fn write(
    state: &Incident,
    expected: u64,
    events: &[Event],
    alerts: &[ProcessedAlert],
) -> Append {
    Append {
        state: state.clone(),
        expected_version: expected,
        events: events.to_vec(),
        timers: Vec::new(),
        intents: Vec::new(),
        alerts: alerts.to_vec(),
    }
}

pub(crate) async fn create(
    store: &Store,
    stem: &str,
    at: Timestamp,
    severity: &str,
    services: &[&str],
) -> Incident {
    store
        .create_incident(
            stem,
            3,
            &build(vec![declared(at, "Checkout down", severity, services)]),
            &|_| None,
        )
        .await
        .expect("create")
}

/// Append `kinds` as the next events of `incident`; returns the new state.
pub(crate) async fn append(
    store: &Store,
    incident: &Incident,
    at: Timestamp,
    kinds: Vec<EventKind>,
) -> Incident {
    let mut state = incident.clone();
    let mut events = Vec::new();
    for kind in kinds {
        let e = next(&state, at, "bob", kind);
        state.apply(&e);
        events.push(e);
    }
    store
        .append(&write(&state, incident.version, &events, &[]))
        .await
        .expect("append");
    state
}

pub(crate) fn resolve() -> EventKind {
    EventKind::Resolved {
        summary: "rolled back".into(),
    }
}
