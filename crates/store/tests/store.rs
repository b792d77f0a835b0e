//! The store's contract, checked once and run against both backends.
//!
//! Each test body is an `async fn(&TestDb)`; `store_tests!` turns it into
//! `sqlite::<name>` (a temporary file) and `postgres::<name>` (a fresh schema in
//! the database named by `FIREBELL_TEST_DATABASE_URL`; without that variable the
//! PostgreSQL variants say SKIPPED and pass). Same bodies, same expectations:
//! that is what "both backends pass the same suite" means.

use std::collections::BTreeSet;
use std::sync::Arc;

use firebell_core::incident::Visibility;
use firebell_core::{Event, EventKind, Incident, Status};
use firebell_store::{Backend, IncidentFilter, NewToken, Store, StoreError};
use jiff::{Timestamp, ToSpan};
use sqlx::{AssertSqlSafe, Connection};

const PG_ENV: &str = "FIREBELL_TEST_DATABASE_URL";

/// One test's database: where it is, and how to clean it up.
struct TestDb {
    url: String,
    /// Keeps the SQLite file's directory alive for the test.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the test's schema, dropped afterwards.
    pg: Option<(String, String)>,
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("firebell.db").display());
        TestDb {
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    fn postgres(test: &str) -> Option<TestDb> {
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

    async fn connect(&self) -> Store {
        Store::connect(&self.url).await.expect("connect")
    }

    /// Best effort: drop the test's schema.
    async fn teardown(&self) {
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
async fn run<F, Fut>(db: TestDb, body: F)
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

store_tests!(
    roundtrip,
    daily_numbering,
    concurrent_creates,
    two_stores_one_database,
    append_sequential_conflict,
    append_concurrent_conflict,
    append_not_found,
    append_refuses_gaps,
    list_filters,
    list_pagination,
    invalid_cursor,
    count_by_status,
    tokens,
    survives_reopen,
);

// --- building incidents from real core events ------------------------------

fn t0() -> Timestamp {
    "2026-11-23T09:00:00Z".parse().expect("instant")
}

fn declared(at: Timestamp, title: &str, severity: &str, services: &[&str]) -> Event {
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
        },
    }
}

fn next(incident: &Incident, at: Timestamp, actor: &str, kind: EventKind) -> Event {
    Event {
        seq: incident.version + 1,
        at,
        actor: actor.into(),
        kind,
    }
}

/// A `build` closure for `create_incident`: state folded from `events`.
fn build(events: Vec<Event>) -> impl FnOnce(String) -> (Incident, Vec<Event>) + Send {
    move |id| {
        let incident = Incident::from_events(&id, &events).expect("log starts with Declared");
        (incident, events)
    }
}

async fn create(
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
            build(vec![declared(at, "Checkout down", severity, services)]),
        )
        .await
        .expect("create")
}

/// Append `kinds` as the next events of `incident`; returns the new state.
async fn append(
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
        .append_events(&state, incident.version, &events)
        .await
        .expect("append");
    state
}

fn resolve() -> EventKind {
    EventKind::Resolved {
        summary: "rolled back".into(),
    }
}

// --- the tests ---------------------------------------------------------------

async fn roundtrip(db: &TestDb) {
    let store = db.connect().await;
    store.ping().await.expect("ping");
    let first = declared(
        t0(),
        "Paiement indisponible — الدفع متوقف 💳",
        "SEV1",
        &["checkout", "payments"],
    );
    let second = Event {
        seq: 2,
        at: t0() + 1.minute(),
        actor: "bob".into(),
        kind: EventKind::RoleAssigned {
            role: "commander".into(),
            person: "bob".into(),
        },
    };
    // Sub-millisecond instants and odd text must come back exactly.
    let third = Event {
        seq: 3,
        at: Timestamp::new(t0().as_second() + 120, 123_456_789).expect("instant"),
        actor: "token:ci".into(),
        kind: EventKind::StatusUpdated {
            status: Status::Identified,
            visibility: Visibility::Public,
            message: "quotes \" backslash \\ nul \u{0} newline \n".into(),
            template: Some("identified".into()),
            locale: Some("ar".into()),
            direction: firebell_core::incident::Direction::Rtl,
        },
    };
    let events = vec![first, second, third];
    let created = store
        .create_incident("INC-20261123", 3, build(events.clone()))
        .await
        .expect("create");
    assert_eq!(created.id, "INC-20261123-001");
    assert_eq!(created.version, 3);
    assert_eq!(created.status, Status::Identified);

    assert_eq!(store.load_events(&created.id).await.expect("load"), events);
    assert_eq!(
        store.get_incident(&created.id).await.expect("get"),
        Some(created.clone())
    );
    assert_eq!(
        Incident::from_events(
            &created.id,
            &store.load_events(&created.id).await.expect("load")
        ),
        Some(created.clone())
    );

    assert_eq!(
        store.load_events("INC-20261123-999").await.expect("load"),
        vec![]
    );
    assert_eq!(
        store.get_incident("INC-20261123-999").await.expect("get"),
        None
    );
    store.close().await;
}

async fn daily_numbering(db: &TestDb) {
    let store = db.connect().await;
    let a = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    let b = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    let c = create(&store, "INC-20261124", t0(), "SEV2", &[]).await;
    let d = store
        .create_incident(
            "OPS-20261123",
            5,
            build(vec![declared(t0(), "x", "SEV3", &[])]),
        )
        .await
        .expect("create");
    let e = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    let ids: Vec<&str> = [&a, &b, &c, &d, &e].iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "INC-20261123-001",
            "INC-20261123-002",
            "INC-20261124-001",
            "OPS-20261123-00001",
            "INC-20261123-003"
        ]
    );
    // The returned state carries the id it was stored under.
    assert_eq!(
        store
            .get_incident("OPS-20261123-00001")
            .await
            .expect("get")
            .map(|i| i.id),
        Some(d.id)
    );

    // A create that fails writes nothing and does not use up a number.
    let no_events = |id: String| {
        let state = Incident::from_events(&id, &[declared(t0(), "x", "SEV2", &[])]).expect("state");
        (state, vec![])
    };
    let failed = store.create_incident("INC-20261123", 3, no_events).await;
    assert!(matches!(failed, Err(StoreError::Corrupt(_))), "{failed:?}");
    let f = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    assert_eq!(f.id, "INC-20261123-004");
    store.close().await;
}

async fn concurrent_creates(db: &TestDb) {
    let store = db.connect().await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                create(&store, "INC-20261123", t0() + i.seconds(), "SEV2", &["api"])
                    .await
                    .id
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for task in tasks {
        assert!(ids.insert(task.await.expect("task")), "duplicate id");
    }
    let want: BTreeSet<String> = (1..=20).map(|n| format!("INC-20261123-{n:03}")).collect();
    assert_eq!(ids, want);
    let page = store
        .list_incidents(&IncidentFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(page.items.len(), 20);
    store.close().await;
}

/// Two stores on one database (two processes on one SQLite file, or two
/// replicas on one PostgreSQL schema) creating and appending at once.
async fn two_stores_one_database(db: &TestDb) {
    let stores = [db.connect().await, db.connect().await];
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let created = create(&store, "INC-20261123", t0(), "SEV2", &["api"]).await;
                append(
                    &store,
                    &created,
                    t0() + 1.minute(),
                    vec![EventKind::Acknowledged],
                )
                .await
                .id
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for task in tasks {
        assert!(ids.insert(task.await.expect("task")), "duplicate id");
    }
    assert_eq!(
        ids,
        (1..=16).map(|n| format!("INC-20261123-{n:03}")).collect()
    );
    for id in &ids {
        assert_eq!(stores[0].load_events(id).await.expect("load").len(), 2);
    }
    for store in stores {
        store.close().await;
    }
}

async fn append_sequential_conflict(db: &TestDb) {
    let store = db.connect().await;
    let v1 = create(&store, "INC-20261123", t0(), "SEV2", &["api"]).await;
    let v2 = append(
        &store,
        &v1,
        t0() + 1.minute(),
        vec![EventKind::Acknowledged],
    )
    .await;
    assert_eq!(v2.version, 2);

    // A second writer that still believes version 1.
    let mut stale = v1.clone();
    let note = next(
        &stale,
        t0() + 2.minutes(),
        "carol",
        EventKind::NoteAdded {
            text: "late".into(),
        },
    );
    stale.apply(&note);
    match store
        .append_events(&stale, 1, std::slice::from_ref(&note))
        .await
    {
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2,
        }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let log = store.load_events(&v1.id).await.expect("load");
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(log[1].kind, EventKind::Acknowledged);
    assert_eq!(
        store.get_incident(&v1.id).await.expect("get"),
        Some(v2.clone())
    );

    // Several events at once, and the projection follows.
    let v4 = append(
        &store,
        &v2,
        t0() + 3.minutes(),
        vec![EventKind::NoteAdded { text: "n".into() }, resolve()],
    )
    .await;
    let stored = store
        .get_incident(&v1.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored, v4);
    assert_eq!(stored.version, 4);
    assert_eq!(stored.status, Status::Resolved);
    assert_eq!(store.load_events(&v1.id).await.expect("load").len(), 4);
    store.close().await;
}

async fn append_concurrent_conflict(db: &TestDb) {
    let store = db.connect().await;
    let mut current = create(&store, "INC-20261123", t0(), "SEV2", &["api"]).await;
    for round in 0..5u64 {
        let contenders: Vec<_> = (0..3)
            .map(|who| {
                let store = store.clone();
                let base = current.clone();
                tokio::spawn(async move {
                    let mut state = base.clone();
                    let e = next(
                        &state,
                        t0() + 1.minute(),
                        "racer",
                        EventKind::NoteAdded {
                            text: format!("{who}"),
                        },
                    );
                    state.apply(&e);
                    store
                        .append_events(&state, base.version, &[e])
                        .await
                        .map(|()| state)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in contenders {
            match task.await.expect("task") {
                Ok(state) => winners.push(state),
                Err(StoreError::Conflict { expected, actual }) => {
                    assert_eq!((expected, actual), (current.version, current.version + 1));
                }
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one append wins");
        current = winners.remove(0);
        let stored = store
            .get_incident(&current.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(stored, current);
    }
    let seqs: Vec<u64> = store
        .load_events(&current.id)
        .await
        .expect("load")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>(), "no gaps, no duplicates");
    store.close().await;
}

async fn append_not_found(db: &TestDb) {
    let store = db.connect().await;
    let mut ghost = Incident::from_events("INC-20261123-404", &[declared(t0(), "x", "SEV2", &[])])
        .expect("state");
    let e = next(&ghost, t0(), "bob", EventKind::Acknowledged);
    ghost.apply(&e);
    match store.append_events(&ghost, 1, &[e]).await {
        Err(StoreError::NotFound(id)) => assert_eq!(id, "INC-20261123-404"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        store.load_events("INC-20261123-404").await.expect("load"),
        vec![]
    );
    store.close().await;
}

async fn append_refuses_gaps(db: &TestDb) {
    let store = db.connect().await;
    let v1 = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    let mut state = v1.clone();
    let mut e = next(&state, t0(), "bob", EventKind::Acknowledged);
    e.seq = 3; // skips 2
    state.apply(&e);
    let refused = store.append_events(&state, 1, &[e]).await;
    assert!(
        matches!(refused, Err(StoreError::Corrupt(_))),
        "{refused:?}"
    );
    assert_eq!(store.load_events(&v1.id).await.expect("load").len(), 1);
    assert_eq!(store.get_incident(&v1.id).await.expect("get"), Some(v1));
    store.close().await;
}

/// Seven incidents, as (stem, minutes after t0, severity, services, resolved).
/// Two share an instant, so the id breaks the tie.
async fn seed(store: &Store) -> Vec<Incident> {
    let spec: [(&str, i64, &str, &[&str], bool); 7] = [
        ("INC-20261120", 0, "SEV1", &["checkout"], false),
        ("INC-20261120", 10, "SEV2", &["search"], true),
        ("INC-20261121", 20, "SEV3", &["checkout", "search"], false),
        ("INC-20261121", 20, "SEV1", &[], true),
        ("INC-20261122", 30, "SEV2", &["checkout"], false),
        ("INC-20261122", 40, "SEV3", &["payments"], false),
        ("INC-20261123", 50, "SEV2", &["checkout"], true),
    ];
    let mut out = Vec::new();
    for (stem, minutes, severity, services, resolved) in spec {
        let at = t0() + minutes.minutes();
        let mut incident = create(store, stem, at, severity, services).await;
        if resolved {
            incident = append(store, &incident, at + 5.minutes(), vec![resolve()]).await;
        }
        out.push(incident);
    }
    out
}

/// The ids `list_incidents` should return for incidents matching `keep`, in order.
fn expected(all: &[Incident], keep: impl Fn(&Incident) -> bool) -> Vec<String> {
    let mut hits: Vec<&Incident> = all.iter().filter(|i| keep(i)).collect();
    hits.sort_by(|a, b| {
        (b.declared_at.as_millisecond(), &b.id).cmp(&(a.declared_at.as_millisecond(), &a.id))
    });
    hits.iter().map(|i| i.id.clone()).collect()
}

async fn ids(store: &Store, filter: IncidentFilter) -> Vec<String> {
    let page = store
        .list_incidents(&IncidentFilter {
            limit: 100,
            ..filter
        })
        .await
        .expect("list");
    assert_eq!(page.next_cursor, None);
    page.items.into_iter().map(|i| i.id).collect()
}

async fn list_filters(db: &TestDb) {
    let store = db.connect().await;
    let all = seed(&store).await;
    let any = IncidentFilter::default;

    assert_eq!(ids(&store, any()).await, expected(&all, |_| true));
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                statuses: vec![Status::Resolved],
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.status == Status::Resolved)
    );
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                statuses: vec![Status::Investigating, Status::Identified],
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.status == Status::Investigating)
    );
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                severities: vec!["SEV1".into(), "SEV3".into()],
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.severity != "SEV2")
    );
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                service: Some("checkout".into()),
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.services.iter().any(|s| s == "checkout"))
    );
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                service: Some("nope".into()),
                ..any()
            }
        )
        .await,
        Vec::<String>::new()
    );
    let since = t0() + 20.minutes();
    let until = t0() + 40.minutes();
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                since: Some(since),
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.declared_at >= since)
    );
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                until: Some(until),
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.declared_at < until)
    );
    // Everything at once.
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                statuses: vec![Status::Investigating],
                severities: vec!["SEV2".into(), "SEV3".into()],
                service: Some("checkout".into()),
                since: Some(since),
                until: Some(until),
                ..any()
            }
        )
        .await,
        expected(&all, |i| {
            i.status == Status::Investigating
                && i.severity != "SEV1"
                && i.services.iter().any(|s| s == "checkout")
                && i.declared_at >= since
                && i.declared_at < until
        })
    );

    // Appends replace the service index with the new state's services.
    let moved = all
        .iter()
        .find(|i| i.services == ["payments"])
        .expect("seeded");
    let mut state = moved.clone();
    let e = next(
        &state,
        t0() + 1.hours(),
        "bob",
        EventKind::NoteAdded {
            text: "moved".into(),
        },
    );
    state.apply(&e);
    state.services = vec!["search".into(), "search".into()];
    store
        .append_events(&state, moved.version, &[e])
        .await
        .expect("append");
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                service: Some("payments".into()),
                ..any()
            }
        )
        .await,
        Vec::<String>::new()
    );
    assert!(
        ids(
            &store,
            IncidentFilter {
                service: Some("search".into()),
                ..any()
            }
        )
        .await
        .contains(&moved.id)
    );
    store.close().await;
}

async fn list_pagination(db: &TestDb) {
    let store = db.connect().await;
    let all = seed(&store).await;
    let want = expected(&all, |_| true);

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = Vec::new();
    loop {
        let page = store
            .list_incidents(&IncidentFilter {
                limit: 3,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .expect("list");
        pages.push(page.items.len());
        seen.extend(page.items.into_iter().map(|i| i.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, [3, 3, 1]);
    assert_eq!(seen, want, "every incident once, newest first");

    // An exact multiple of the page size ends without a dangling cursor.
    let six = IncidentFilter {
        until: Some(t0() + 50.minutes()),
        limit: 3,
        ..Default::default()
    };
    let first = store.list_incidents(&six).await.expect("list");
    let second = store
        .list_incidents(&IncidentFilter {
            cursor: first.next_cursor.clone(),
            ..six.clone()
        })
        .await
        .expect("list");
    assert_eq!((first.items.len(), second.items.len()), (3, 3));
    assert_eq!(second.next_cursor, None);

    // Pagination under a filter.
    let checkout = IncidentFilter {
        service: Some("checkout".into()),
        limit: 2,
        ..Default::default()
    };
    let p1 = store.list_incidents(&checkout).await.expect("list");
    let p2 = store
        .list_incidents(&IncidentFilter {
            cursor: p1.next_cursor.clone(),
            ..checkout.clone()
        })
        .await
        .expect("list");
    let got: Vec<String> = p1
        .items
        .iter()
        .chain(&p2.items)
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(
        got,
        expected(&all, |i| i.services.iter().any(|s| s == "checkout"))
    );
    assert_eq!(p2.next_cursor, None);

    // limit 0 means the default page (50), so all seven fit.
    let page = store
        .list_incidents(&IncidentFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 7);
    assert_eq!(page.next_cursor, None);
    store.close().await;
}

async fn invalid_cursor(db: &TestDb) {
    let store = db.connect().await;
    seed(&store).await;
    for bad in ["not base64!", "bm9jb2xvbg", "YWJjOklOQy0x", ""] {
        let result = store
            .list_incidents(&IncidentFilter {
                cursor: Some(bad.into()),
                ..Default::default()
            })
            .await;
        match result {
            Err(StoreError::InvalidCursor(reason)) => assert!(!reason.is_empty()),
            other => panic!("cursor {bad:?}: expected InvalidCursor, got {other:?}"),
        }
    }
    store.close().await;
}

async fn count_by_status(db: &TestDb) {
    let store = db.connect().await;
    let counts = store.count_incidents_by_status().await.expect("count");
    assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    seed(&store).await;
    let counts = store.count_incidents_by_status().await.expect("count");
    let get = |s: &str| counts.iter().find(|(k, _)| k == s).map(|(_, n)| *n);
    assert_eq!(get("investigating"), Some(4));
    assert_eq!(get("resolved"), Some(3));
    assert_eq!(get("mitigated"), Some(0));
    assert_eq!(counts.len(), Status::ALL.len());
    store.close().await;
}

fn token(name: &str, hash: &str) -> NewToken {
    NewToken {
        name: name.into(),
        role: "responder".into(),
        hash: hash.into(),
        created_at: t0(),
    }
}

async fn tokens(db: &TestDb) {
    let store = db.connect().await;
    assert_eq!(store.count_tokens().await.expect("count"), 0);
    let admin = store
        .create_token(&NewToken {
            role: "admin".into(),
            ..token("admin", "h-admin")
        })
        .await
        .expect("token");
    let ci = store
        .create_token(&token("ci", "h-ci"))
        .await
        .expect("token");
    assert_ne!(admin.id, ci.id);
    assert_eq!(
        (
            ci.name.as_str(),
            ci.role.as_str(),
            ci.created_at,
            ci.revoked_at
        ),
        ("ci", "responder", t0(), None)
    );

    match store.create_token(&token("ci", "h-other")).await {
        Err(StoreError::DuplicateToken(name)) => assert_eq!(name, "ci"),
        other => panic!("expected DuplicateToken, got {other:?}"),
    }

    assert_eq!(
        store.token_by_hash("h-ci").await.expect("lookup"),
        Some(ci.clone())
    );
    assert_eq!(store.token_by_hash("h-nope").await.expect("lookup"), None);

    let at = t0() + 1.hours();
    assert!(store.revoke_token(ci.id, at).await.expect("revoke"));
    assert!(!store.revoke_token(ci.id, at).await.expect("revoke twice"));
    assert!(!store.revoke_token(9_999, at).await.expect("revoke unknown"));
    assert_eq!(store.token_by_hash("h-ci").await.expect("lookup"), None);
    assert_eq!(
        store.token_by_hash("h-admin").await.expect("lookup"),
        Some(admin.clone())
    );

    let listed = store.list_tokens().await.expect("list");
    assert_eq!(
        listed,
        vec![
            admin,
            firebell_store::TokenRecord {
                revoked_at: Some(at),
                ..ci
            }
        ]
    );
    assert_eq!(store.count_tokens().await.expect("count"), 2);
    store.close().await;
}

async fn survives_reopen(db: &TestDb) {
    let store = db.connect().await;
    let expected_backend = if db.pg.is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    assert_eq!(store.backend(), expected_backend);
    let v1 = create(&store, "INC-20261123", t0(), "SEV1", &["checkout"]).await;
    let v2 = append(
        &store,
        &v1,
        t0() + 1.minute(),
        vec![EventKind::Acknowledged],
    )
    .await;
    let tok = store
        .create_token(&token("ci", "h-ci"))
        .await
        .expect("token");
    let log = store.load_events(&v1.id).await.expect("load");
    store.close().await;

    // Reconnecting runs the migrations again: they must be no-ops.
    for _ in 0..2 {
        let store = db.connect().await;
        assert_eq!(
            store.get_incident(&v1.id).await.expect("get"),
            Some(v2.clone())
        );
        assert_eq!(store.load_events(&v1.id).await.expect("load"), log);
        assert_eq!(
            store.token_by_hash("h-ci").await.expect("lookup"),
            Some(tok.clone())
        );
        store.close().await;
    }

    // On PostgreSQL everything lives in the test's own schema.
    if let Some((base, schema)) = &db.pg {
        let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'incident%'",
        )
        .bind(schema)
        .fetch_one(&mut conn)
        .await
        .expect("tables");
        assert_eq!(
            tables, 4,
            "incidents, incident_services, incident_events, incident_counters"
        );
        conn.close().await.expect("close");
    }

    // The counter survived too: numbering continues.
    let store = db.connect().await;
    let next = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    assert_eq!(next.id, "INC-20261123-002");
    store.close().await;
}

// --- backend-specific ------------------------------------------------------

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.expect("connect");
    let created = create(&store, "INC-20261123", t0(), "SEV2", &["api"]).await;
    // Reads and writes see the same database.
    assert_eq!(
        store.get_incident(&created.id).await.expect("get"),
        Some(created.clone())
    );
    assert_eq!(
        store
            .list_incidents(&IncidentFilter::default())
            .await
            .expect("list")
            .items,
        vec![created]
    );
    // Another in-memory store is another database.
    let other = Store::connect("sqlite::memory:").await.expect("connect");
    assert_eq!(other.count_tokens().await.expect("count"), 0);
    assert!(
        other
            .list_incidents(&IncidentFilter::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    store.close().await;
    other.close().await;
}

#[tokio::test]
async fn sqlite_url_forms_and_wal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plain.db");
    for url in [
        format!("sqlite:{}", path.display()),
        format!("sqlite://{}", path.display()),
    ] {
        let store = Store::connect(&url).await.expect("connect");
        store.ping().await.expect("ping");
        store.close().await;
    }
    assert!(path.exists(), "the file is created");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in [
        "mysql://localhost/x",
        "",
        "postgres://localhost/x?schema=bad-name",
    ] {
        match Store::connect(url).await {
            Err(StoreError::InvalidUrl(_)) => {}
            other => panic!("{url:?}: expected InvalidUrl, got {other:?}"),
        }
    }
}
