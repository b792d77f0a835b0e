//! The store's contract, checked once and run against both backends.
//!
//! Each test body is an `async fn(&TestDb)`; `store_tests!` turns it into
//! `sqlite::<name>` (a temporary file) and `postgres::<name>` (a fresh schema in
//! the database named by `FIREBELL_TEST_DATABASE_URL`; without that variable the
//! PostgreSQL variants say SKIPPED and pass). Same bodies, same expectations:
//! that is what "both backends pass the same suite" means.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use firebell_core::alert::silence::MaintenanceKind;
use firebell_core::alert::{
    Alert, AlertSource, IncomingAlert, LabelSet, MaintenanceWindow, MatchOp, Matcher, Silence,
};
use firebell_core::incident::Visibility;
use firebell_core::{Event, EventKind, Incident, Status};
use firebell_store::{
    AlertFilter, Append, Backend, ChangeRecord, Completion, Extension, IncidentFilter, LogEntry,
    LogLane, MergedBatch, NewIncident, NewSubscriberMessage, NewToken, ProcessedAlert, SignUp,
    Store, StoreError, Subscriber,
};
use jiff::{Timestamp, ToSpan};
use sqlx::Connection;

mod common;
use common::*;

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
    alerts_roundtrip,
    alerts_same_key_twice_in_a_batch,
    alerts_log_merges_in_order,
    logged_rows_read_ahead_merge_only_while_still_logged,
    a_merge_locks_only_its_groups,
    urgent_log_rows_merge_ahead_of_the_backlog,
    urgent_reports_merge_as_they_are_logged,
    a_refresh_extends_a_firing_alert_in_place,
    a_merge_records_news_for_open_incidents,
    a_merge_done_ahead_stands_only_on_the_alerts_it_saw,
    alerts_log_merges_once_across_two_stores,
    alerts_pending_is_sticky,
    alerts_large_batch,
    alerts_ingest_timing,
    alerts_pending_and_sweep,
    alerts_repend_unattached,
    alerts_processed_guard,
    group_incident_created_once,
    group_concurrent_creates,
    attach_conflict_writes_nothing,
    resolution_releases_group,
    ingest_never_undoes_processing,
    list_alerts_filters,
    list_alerts_narrowed_by_labels,
    silences_crud,
    maintenance_crud,
    subscribers_confirm_fan_out_once_and_lapse,
    changes_crud,
    alerts_survive_reopen,
    alerts_keep_one_row_per_key,
    heartbeats_keep_the_latest_ping,
    fired_batch_rolls_back_only_the_loser,
    fired_batch_refused_row_writes_nothing,
    fired_batch_keeps_the_service_index,
    leases_have_one_holder_until_they_lapse,
    prune_deletes_only_what_ended_before_each_cutoff,
    prune_deletes_in_chunks,
);

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
        .create_incident("INC-20261123", 3, &build(events.clone()), &|_| None)
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
            &build(vec![declared(t0(), "x", "SEV3", &[])]),
            &|_| None,
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
    let no_events = NewIncident {
        state: Incident::from_events("", &[declared(t0(), "x", "SEV2", &[])]).expect("state"),
        events: vec![],
        timers: vec![],
    };
    let failed = store
        .create_incident("INC-20261123", 3, &no_events, &|_| None)
        .await;
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
        .append(&write(&stale, 1, std::slice::from_ref(&note), &[]))
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
                        .append(&write(&state, base.version, &[e], &[]))
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
    match store.append(&write(&ghost, 1, &[e], &[])).await {
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
    let refused = store.append(&write(&state, 1, &[e], &[])).await;
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

    // A service with statuses or severities walks one index range per value
    // (an arm each), and a status changed by an append is found there.
    let checkout = |i: &Incident| i.services.iter().any(|s| s == "checkout");
    for statuses in [
        vec![Status::Resolved],
        vec![Status::Investigating, Status::Resolved],
    ] {
        assert_eq!(
            ids(
                &store,
                IncidentFilter {
                    statuses: statuses.clone(),
                    service: Some("checkout".into()),
                    ..any()
                }
            )
            .await,
            expected(&all, |i| checkout(i) && statuses.contains(&i.status)),
            "{statuses:?}"
        );
    }
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                severities: vec!["SEV1".into(), "SEV2".into()],
                service: Some("checkout".into()),
                ..any()
            }
        )
        .await,
        expected(&all, |i| checkout(i) && i.severity != "SEV3")
    );
    assert_eq!(
        ids(
            &store,
            IncidentFilter {
                statuses: vec![Status::Resolved, Status::Investigating],
                severities: vec!["SEV1".into()],
                ..any()
            }
        )
        .await,
        expected(&all, |i| i.severity == "SEV1")
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
        .append(&write(&state, moved.version, &[e], &[]))
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

    // Pagination over several arms: two statuses, two a page.
    let both = IncidentFilter {
        statuses: vec![Status::Resolved, Status::Investigating],
        limit: 2,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_incidents(&IncidentFilter {
                cursor: cursor.clone(),
                ..both.clone()
            })
            .await
            .expect("list");
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|i| i.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, want, "every incident once, newest first, across arms");

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
        role: firebell_store::Role::Responder,
        hash: hash.into(),
        created_at: t0(),
    }
}

async fn tokens(db: &TestDb) {
    let store = db.connect().await;
    assert_eq!(store.count_tokens().await.expect("count"), 0);
    let admin = store
        .create_token(&NewToken {
            role: firebell_store::Role::Admin,
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
            tables, 5,
            "incidents, incident_services, incident_events, incident_counters, incident_groups"
        );
        conn.close().await.expect("close");
    }

    // The counter survived too: numbering continues.
    let store = db.connect().await;
    let next = create(&store, "INC-20261123", t0(), "SEV2", &[]).await;
    assert_eq!(next.id, "INC-20261123-002");
    store.close().await;
}

// --- alerts: helpers -------------------------------------------------------

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn note(text: &str) -> EventKind {
    EventKind::NoteAdded { text: text.into() }
}

/// A report of alert `key` for `service` (its group), as an ingest adapter
/// would produce it.
fn report(
    key: &str,
    service: &str,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
) -> IncomingAlert {
    IncomingAlert {
        source: AlertSource::Alertmanager,
        key: key.into(),
        labels: labels(&[
            ("alertname", "HighErrorRate"),
            ("service", service),
            ("instance", key),
        ]),
        annotations: labels(&[("summary", "5xx above 5%")]),
        starts_at,
        ends_at,
        generator_url: Some(format!("http://prometheus/graph?g0={key}")),
        service: None,
        severity: None,
    }
}

/// The tests' own merge (core's may still be a stub): a new alert is pending;
/// a repeat takes the report's content, keeps what Firebell decided (first
/// sighting, group, incident), and is pending only if it started or stopped
/// firing as of `now`.
fn merge_at(now: Timestamp) -> impl FnMut(Option<&Alert>, &IncomingAlert) -> (Alert, bool) + Send {
    move |stored, report| {
        let service = report.labels.get("service").cloned();
        let fresh = Alert {
            key: report.key.clone(),
            source: report.source,
            labels: report.labels.clone(),
            annotations: report.annotations.clone(),
            starts_at: report.starts_at,
            ends_at: report.ends_at,
            generator_url: report.generator_url.clone(),
            first_seen_at: now,
            updated_at: now,
            group_key: service.clone().unwrap_or_default(),
            service,
            severity: report.labels.get("severity").cloned(),
            incident_id: None,
        };
        match stored {
            None => (fresh, true),
            Some(prev) => {
                let changed = prev.is_firing(now) != fresh.is_firing(now);
                let merged = Alert {
                    first_seen_at: prev.first_seen_at,
                    group_key: prev.group_key.clone(),
                    incident_id: prev.incident_id.clone(),
                    ..fresh
                };
                (merged, changed)
            }
        }
    }
}

/// Ingest the way the server does: append to the log, then merge the log.
async fn upsert<F>(
    store: &Store,
    now: Timestamp,
    reports: &[IncomingAlert],
    mut merge: F,
) -> Result<Vec<Alert>, StoreError>
where
    F: FnMut(Option<&Alert>, &IncomingAlert) -> (Alert, bool) + Send,
{
    store
        .log_alerts(now, &[LogEntry::encode(reports).expect("encode")], &[])
        .await?;
    store
        .merge_logged_alerts(usize::MAX, move |prev, report, received_at| {
            assert_eq!(received_at, ms(now), "merged at the instant it was logged");
            merge(prev, report)
        })
        .await
}

async fn ingest(store: &Store, now: Timestamp, reports: &[IncomingAlert]) -> Vec<Alert> {
    upsert(store, now, reports, merge_at(now))
        .await
        .expect("upsert")
}

fn processed(alert: &Alert, firing: bool) -> ProcessedAlert {
    ProcessedAlert {
        key: alert.key.clone(),
        seen_updated_at: alert.updated_at,
        firing,
        incident_id: None,
    }
}

async fn pending_keys(store: &Store) -> Vec<String> {
    store
        .pending_alerts(0)
        .await
        .expect("pending")
        .into_iter()
        .map(|a| a.key)
        .collect()
}

async fn get_alert(store: &Store, key: &str) -> Alert {
    store
        .list_alerts(&AlertFilter::default())
        .await
        .expect("list")
        .into_iter()
        .find(|a| a.key == key)
        .unwrap_or_else(|| panic!("alert {key} is stored"))
}

/// An instant with sub-millisecond digits, which the store truncates.
fn fine(at: Timestamp) -> Timestamp {
    Timestamp::new(at.as_second(), 123_456_789).expect("instant")
}

/// Truncated to the millisecond, as stored.
fn ms(at: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(at.as_millisecond()).expect("instant")
}

async fn declare_for_group(
    store: &Store,
    group: &str,
    alerts: &[ProcessedAlert],
) -> Result<Incident, StoreError> {
    store
        .create_incident_for_group(
            "INC-20261123",
            3,
            group,
            &build(vec![declared(
                t0(),
                &format!("{group} alerts"),
                "SEV2",
                &[group],
            )]),
            alerts,
            &|_| None,
        )
        .await
}

// --- alerts: tests -----------------------------------------------------------

async fn alerts_roundtrip(db: &TestDb) {
    let store = db.connect().await;
    let now = fine(t0());
    let sources = [
        AlertSource::Alertmanager,
        AlertSource::AlertmanagerWebhook,
        AlertSource::Pagerduty,
        AlertSource::Webhook,
        AlertSource::Heartbeat,
        AlertSource::Check,
    ];
    let mut reports: Vec<IncomingAlert> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| IncomingAlert {
            source: *source,
            ..report(
                &format!("{i:016x}"),
                "checkout",
                now - (i as i64).minutes(),
                None,
            )
        })
        .collect();
    // Odd text, empty maps, an end, no URL.
    reports[0].labels = labels(&[
        ("alertname", "Paiement indisponible — الدفع متوقف 💳"),
        ("quote", "\" \\ \n nul \u{0}"),
        ("service", "checkout"),
        ("severity", "critical"),
    ]);
    reports[1].labels = LabelSet::new();
    reports[1].annotations = LabelSet::new();
    reports[2].ends_at = Some(fine(t0() + 5.minutes()));
    reports[2].generator_url = None;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut merge = merge_at(now);
    let stored = upsert(&store, now, &reports, move |prev, report| {
        log.lock().expect("log").push(prev.cloned());
        merge(prev, report)
    })
    .await
    .expect("upsert");
    assert!(
        seen.lock().expect("log").iter().all(Option::is_none),
        "nothing was stored before"
    );
    assert_eq!(stored.len(), reports.len());
    for (alert, report) in stored.iter().zip(&reports) {
        assert_eq!(alert.key, report.key);
        assert_eq!(alert.source, report.source);
        assert_eq!(alert.labels, report.labels);
        assert_eq!(alert.annotations, report.annotations);
        assert_eq!(
            alert.starts_at,
            ms(report.starts_at),
            "kept to the millisecond"
        );
        assert_eq!(alert.ends_at, report.ends_at.map(ms));
        assert_eq!(alert.generator_url, report.generator_url);
        assert_eq!((alert.first_seen_at, alert.updated_at), (ms(now), ms(now)));
    }
    assert_eq!(stored[0].severity.as_deref(), Some("critical"));
    assert_eq!(stored[0].service.as_deref(), Some("checkout"));
    assert_eq!(stored[1].service, None);

    // What a read returns is exactly what the upsert returned.
    let mut listed = store
        .list_alerts(&AlertFilter::default())
        .await
        .expect("list");
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(listed, stored);
    assert_eq!(store.pending_alerts(0).await.expect("pending").len(), 6);

    // A repeat sees the stored alert.
    seen.lock().expect("log").clear();
    let later = now + 1.minute();
    let mut again = reports[0].clone();
    again.annotations = labels(&[("summary", "now 7%")]);
    let log = seen.clone();
    let mut merge = merge_at(later);
    let merged = upsert(
        &store,
        later,
        std::slice::from_ref(&again),
        move |prev, report| {
            log.lock().expect("log").push(prev.cloned());
            merge(prev, report)
        },
    )
    .await
    .expect("upsert");
    assert_eq!(*seen.lock().expect("log"), vec![Some(stored[0].clone())]);
    assert_eq!(merged[0].first_seen_at, ms(now));
    assert_eq!(merged[0].updated_at, ms(later));
    assert_eq!(merged[0].annotations, again.annotations);
    assert_eq!(get_alert(&store, &again.key).await, merged[0]);

    // An empty batch is a no-op.
    assert!(
        upsert(&store, now, &[], merge_at(now))
            .await
            .expect("empty")
            .is_empty()
    );
    store.close().await;
}

async fn alerts_same_key_twice_in_a_batch(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let a1 = report("a", "checkout", now - 2.minutes(), None);
    let b = report("b", "checkout", now, None);
    // The same alert again in the same batch, now resolved.
    let a2 = report("a", "checkout", now - 2.minutes(), Some(now - 1.second()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut merge = merge_at(now);
    let results = upsert(&store, now, &[a1, b, a2.clone()], move |prev, report| {
        log.lock().expect("log").push(prev.cloned());
        merge(prev, report)
    })
    .await
    .expect("upsert");
    assert_eq!(results.len(), 3, "one result per report");
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen[0], None);
    assert_eq!(seen[1], None);
    assert_eq!(
        seen[2],
        Some(results[0].clone()),
        "the second report of a key merges into the first's result"
    );
    assert_eq!(results[0].ends_at, None);
    assert_eq!(results[2].ends_at, a2.ends_at);
    assert_eq!(
        get_alert(&store, "a").await,
        results[2],
        "the last report is stored"
    );
    assert_eq!(pending_keys(&store).await.len(), 2);
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .expect("list")
            .len(),
        2
    );

    // A merge that changes the key is refused, and nothing is written.
    let refused = upsert(&store, now, &[report("c", "x", now, None)], |_, r| {
        let (mut alert, pending) = merge_at(now)(None, r);
        alert.key = "d".into();
        (alert, pending)
    })
    .await;
    // One log row merged alone: the error names it, for its tries to count.
    assert!(
        matches!(&refused, Err(StoreError::Row { source, .. }) if matches!(**source, StoreError::Corrupt(_))),
        "{refused:?}"
    );
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .expect("list")
            .len(),
        2
    );
    assert_eq!(
        store.logged_alert_backlog().await.expect("backlog"),
        1,
        "the refused report stays in the log: nothing acknowledged is lost"
    );
    store.close().await;
}

/// Urgent rows (first reports of new groups) merge before older rows, and
/// only they; the rest of the log then merges in order as before.
async fn urgent_log_rows_merge_ahead_of_the_backlog(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let backlog: Vec<IncomingAlert> = (0..50)
        .map(|i| report(&format!("flood-{i}"), "api", now, None))
        .collect();
    store
        .log_alerts(
            now,
            &[LogEntry::encode(&backlog).expect("encode")],
            &[LogEntry::encode(&[report("new-1", "db", now, None)]).expect("encode")],
        )
        .await
        .expect("log");
    store
        .log_alerts(
            now + 1.second(),
            &[LogEntry::encode(&backlog[..10]).expect("encode")],
            &[LogEntry::encode(&[report("new-2", "db", now, None)]).expect("encode")],
        )
        .await
        .expect("log");
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 62);
    let urgent = merge_urgent_alerts(&store, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge urgent");
    let keys: Vec<&str> = urgent.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["new-1", "new-2"], "urgent rows only, oldest first");
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 60);
    assert_eq!(store.pending_alerts(0).await.unwrap().len(), 2);
    assert!(
        merge_urgent_alerts(&store, |_, _, _| unreachable!("none left"))
            .await
            .unwrap()
            .is_empty()
    );
    let rest = store
        .merge_logged_alerts(usize::MAX, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge the rest");
    assert_eq!(rest.len(), 60);
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);
    store.close().await;
}

/// A note on `base` that takes `alerts` (marked attached to `incident`), as
/// a merge's news would be.
fn news_on(
    base: &Incident,
    incident: &str,
    alerts: &[&Alert],
    text: &str,
    now: Timestamp,
) -> Append {
    let (state, events) = base.advance(vec![note(text)], now, "alerts");
    Append {
        state,
        expected_version: base.version,
        events,
        timers: Vec::new(),
        intents: Vec::new(),
        alerts: alerts
            .iter()
            .map(|a| ProcessedAlert {
                incident_id: Some(incident.to_string()),
                ..processed(a, true)
            })
            .collect(),
    }
}

/// A merge that records: alerts of a group with an open incident are
/// written with that incident's change, marked processed, in the merge's
/// transaction; a group without one is left pending. A change that cannot
/// be written (here: a stale version) is undone alone, its alerts stay
/// pending, and the merge still commits.
async fn a_merge_records_news_for_open_incidents(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let opened = declare_for_group(&store, "checkout", &[])
        .await
        .expect("declare");
    let reports = [
        report("c-1", "checkout", now, None),
        report("c-2", "checkout", now, None),
        report("s-1", "search", now, None),
    ];
    store
        .log_alerts(now, &[LogEntry::encode(&reports).expect("encode")], &[])
        .await
        .expect("log");
    let mut asked = Vec::new();
    let mut record = |incident: &Incident, alerts: &[&Alert]| {
        asked.push((incident.id.clone(), alerts.len()));
        Some(news_on(incident, &incident.id, alerts, "2 alerts", now))
    };
    let MergedBatch {
        reports: merged,
        recorded,
        ..
    } = read_and_merge(&store, Some(&mut record))
        .await
        .expect("merge");
    assert_eq!(merged, 3);
    assert_eq!(
        asked,
        [(opened.id.clone(), 2)],
        "only the open incident's group"
    );
    assert_eq!(recorded.len(), 1);
    assert_eq!(pending_keys(&store).await, ["s-1"], "the other group waits");
    assert_eq!(
        get_alert(&store, "c-1").await.incident_id.as_deref(),
        Some(opened.id.as_str())
    );
    let stored = store.get_incident(&opened.id).await.unwrap().unwrap();
    assert_eq!(stored.version, opened.version + 1);
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);

    // Its change is refused: undone alone, the merge stands.
    let again = [report("c-3", "checkout", now, None)];
    store
        .log_alerts(now, &[LogEntry::encode(&again).expect("encode")], &[])
        .await
        .expect("log");
    let mut stale = |incident: &Incident, alerts: &[&Alert]| {
        Some(news_on(&opened, &incident.id, alerts, "stale", now))
    };
    let MergedBatch {
        reports: merged,
        recorded,
        ..
    } = read_and_merge(&store, Some(&mut stale))
        .await
        .expect("the merge commits");
    assert_eq!(merged, 1);
    assert!(recorded.is_empty());
    assert_eq!(pending_keys(&store).await, ["c-3", "s-1"]);
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);
    let events = store.load_events(&opened.id).await.unwrap();
    assert_eq!(
        events.len() as u64,
        stored.version,
        "nothing of the refused change"
    );
    store.close().await;
}

/// A merge done ahead of its write (`fold_ahead`, beside the write before
/// it) is kept only while the alerts it started from are what is stored:
/// one changed meanwhile (here by an urgent report's merge) is merged again
/// in the write's transaction, from what is stored then.
async fn a_merge_done_ahead_stands_only_on_the_alerts_it_saw(db: &TestDb) {
    let mins = jiff::SignedDuration::from_mins;
    let store = db.connect().await;
    let now = t0();
    let opened = declare_for_group(&store, "checkout", &[])
        .await
        .expect("declare");
    let mut record = |incident: &Incident, alerts: &[&Alert]| {
        Some(news_on(incident, &incident.id, alerts, "news", now))
    };
    let log = |at: Timestamp, reports: &[IncomingAlert]| {
        let entry = LogEntry::encode(reports).expect("encode");
        let store = &store;
        async move { store.log_alerts(at, &[entry], &[]).await.expect("log") }
    };
    let read_folded = || async {
        let mut batch = store
            .read_logged_alerts(LogLane::Oldest, usize::MAX, None)
            .await
            .expect("read");
        store
            .fold_ahead(&mut batch, |prev, r, (), at| merge_at(at)(prev, r))
            .await
            .expect("merge ahead");
        batch
    };

    // Nothing changed in between: the write keeps what was merged ahead.
    log(
        now,
        &[
            report("c-1", "checkout", now, None),
            report("c-2", "checkout", now, None),
        ],
    )
    .await;
    let mut batch = read_folded().await;
    let merged = store
        .merge_read_alerts(
            &mut batch,
            |_, _, _, _| unreachable!("merged ahead"),
            Some(&mut record),
        )
        .await
        .expect("write");
    assert!(merged.merged_ahead);
    assert_eq!((merged.reports, merged.recorded.len()), (2, 1));
    assert_eq!(
        get_alert(&store, "c-1").await.incident_id.as_deref(),
        Some(opened.id.as_str())
    );
    assert!(
        pending_keys(&store).await.is_empty(),
        "recorded as processed"
    );
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);

    // c-1 changes after the merge ahead and before its write.
    let resent = now + mins(1);
    log(
        resent,
        &[report("c-1", "checkout", now, Some(now + mins(30)))],
    )
    .await;
    let mut batch = read_folded().await;
    let urgent = report("c-1", "checkout", now, Some(now + mins(10)));
    store
        .log_alerts(resent, &[], &[LogEntry::encode(&[urgent]).expect("encode")])
        .await
        .expect("log urgent");
    merge_urgent_alerts(&store, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge urgent");
    let mut saw = Vec::new();
    let merged = store
        .merge_read_alerts(
            &mut batch,
            |prev, r, (), at| {
                saw.push(prev.and_then(|a| a.ends_at));
                merge_at(at)(prev, r)
            },
            Some(&mut record),
        )
        .await
        .expect("write");
    assert!(!merged.merged_ahead);
    assert_eq!(merged.reports, 1);
    assert_eq!(
        saw,
        [Some(now + mins(10))],
        "merged from what is stored now"
    );
    assert_eq!(get_alert(&store, "c-1").await.ends_at, Some(now + mins(30)));
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);
    store.close().await;
}

/// On SQLite, a refresh that only moves a firing alert's `endsAt` later is
/// written in place by the append: no log row, the row's end and update
/// time moved, nothing else. One whose stored end is not the one given (the
/// row moved on) is logged instead, in the same transaction. On PostgreSQL
/// every extension is logged.
async fn a_refresh_extends_a_firing_alert_in_place(db: &TestDb) {
    let secs = jiff::SignedDuration::from_secs;
    let store = db.connect().await;
    let now = t0();
    let first = |key: &str| report(key, "db", now, Some(now + secs(240)));
    store
        .log_alerts(
            now,
            &[LogEntry::encode(&[first("a"), first("b")]).expect("encode")],
            &[],
        )
        .await
        .expect("log");
    read_and_merge(&store, None).await.expect("merge");
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);
    let stored_a = store.get_alert("a").await.unwrap().expect("a");

    let later = now + secs(160);
    let refresh = |key: &str, stored_ends_at| Extension {
        report: report(key, "db", now, Some(later + secs(240))),
        stored_ends_at,
    };
    let extensions = [
        refresh("a", now + secs(240)),
        // Its stored end is not this one: another write moved it.
        refresh("b", now + secs(200)),
    ];
    let appended = store
        .log_alerts_merging_urgent(later, &[], &[], &extensions, |_, _, _| {
            unreachable!("no urgent report")
        })
        .await
        .expect("append");
    if db.pg.is_some() {
        assert_eq!(appended.extended, [false, false]);
        assert_eq!(store.logged_alert_backlog().await.unwrap(), 2);
        store.close().await;
        return;
    }
    assert_eq!(appended.extended, [true, false]);
    assert_eq!(
        store.logged_alert_backlog().await.unwrap(),
        1,
        "only the refresh not written in place is logged"
    );
    let a = store.get_alert("a").await.unwrap().expect("a");
    assert_eq!(a.ends_at, Some(later + secs(240)));
    assert_eq!(a.updated_at, later);
    assert_eq!(
        Alert {
            ends_at: stored_a.ends_at,
            updated_at: stored_a.updated_at,
            ..a
        },
        stored_a,
        "nothing else moved"
    );
    assert_eq!(
        store.get_alert("b").await.unwrap().expect("b").ends_at,
        Some(now + secs(240)),
        "not yet: logged"
    );
    read_and_merge(&store, None).await.expect("merge");
    assert_eq!(
        store.get_alert("b").await.unwrap().expect("b").ends_at,
        Some(later + secs(240)),
        "merged from the log"
    );
    // An end already passed, or an extension to an earlier end, is logged.
    let past = later + secs(300);
    let appended = store
        .log_alerts_merging_urgent(
            past,
            &[],
            &[],
            &[refresh("a", later + secs(240))],
            |_, _, _| unreachable!("no urgent report"),
        )
        .await
        .expect("append");
    assert_eq!(appended.extended, [false]);
    store.close().await;
}

/// On SQLite, new groups' reports merged in the append's own transaction:
/// they are pending alerts at once and leave no log row, while the rest of
/// the batch is logged as usual. A merge that fails still logs everything,
/// and the log's merge meets the fault in its turn. On PostgreSQL appends
/// never take the alerts lock: everything is logged.
async fn urgent_reports_merge_as_they_are_logged(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let only_logged = store
        .log_alerts_merging_urgent(
            now,
            &[],
            &[LogEntry::encode(&[report("early", "db", now, None)]).expect("encode")],
            &[],
            |_, _, _| unreachable!("not merged while the key map is unread"),
        )
        .await
        .expect("log")
        .merged;
    assert!(only_logged.is_none(), "{only_logged:?}");
    merge_urgent_alerts(&store, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge urgent");
    // The key map is read now (by that merge, as the server does at start).
    if db.pg.is_some() {
        let logged = store
            .log_alerts_merging_urgent(
                now,
                &[],
                &[LogEntry::encode(&[report("new-1", "db", now, None)]).expect("encode")],
                &[],
                |_, _, _| unreachable!("PostgreSQL only logs"),
            )
            .await
            .expect("log")
            .merged;
        assert!(logged.is_none(), "{logged:?}");
        assert_eq!(store.logged_alert_backlog().await.unwrap(), 1);
        store.close().await;
        return;
    }
    let backlog: Vec<IncomingAlert> = (0..20)
        .map(|i| report(&format!("flood-{i}"), "api", now, None))
        .collect();
    let entries = [LogEntry::encode(&backlog).expect("encode")];
    let merged = store
        .log_alerts_merging_urgent(
            now,
            &entries,
            &[LogEntry::encode(&[report("new-1", "db", now, None)]).expect("encode")],
            &[],
            |prev, r, at| merge_at(at)(prev, r),
        )
        .await
        .expect("log");
    let keys: Vec<String> = merged
        .merged
        .expect("merged as logged")
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(keys, ["new-1"]);
    assert_eq!(pending_keys(&store).await, ["early", "new-1"]);
    assert_eq!(
        store.logged_alert_backlog().await.unwrap(),
        20,
        "only the known groups' reports wait in the log"
    );
    assert!(
        merge_urgent_alerts(&store, |_, _, _| unreachable!("no urgent row"))
            .await
            .unwrap()
            .is_empty()
    );

    // The merge fails (it changes the key): the append still commits, with
    // the new group's report in an urgent row of its own.
    let refused = store
        .log_alerts_merging_urgent(
            now,
            &entries,
            &[LogEntry::encode(&[report("new-2", "db", now, None)]).expect("encode")],
            &[],
            |prev, r, at| {
                let (mut alert, pending) = merge_at(at)(prev, r);
                alert.key = "other".into();
                (alert, pending)
            },
        )
        .await
        .expect("logged anyway")
        .merged;
    assert!(refused.is_none(), "{refused:?}");
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 41);
    assert_eq!(
        pending_keys(&store).await,
        ["early", "new-1"],
        "nothing half-written"
    );
    let urgent = merge_urgent_alerts(&store, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge urgent");
    assert_eq!(urgent.len(), 1);
    assert_eq!(urgent[0].key, "new-2");
    let rest = store
        .merge_logged_alerts(usize::MAX, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge the rest");
    assert_eq!(rest.len(), 40);
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 0);
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .expect("list")
            .len(),
        23,
        "one row per key"
    );
    store.close().await;
}

/// The ingest log: rows merge oldest first, whole, each at its own instant;
/// a round stops at its size; merged rows are gone and an empty log merges
/// nothing.
async fn alerts_log_merges_in_order(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let empty = store
        .merge_logged_alerts(10, |_, _, _| unreachable!("the log is empty"))
        .await
        .expect("merge empty");
    assert!(empty.is_empty());
    store
        .log_alerts(
            now,
            &[LogEntry::encode(&[report("a", "checkout", now, None)]).expect("encode")],
            &[],
        )
        .await
        .expect("log 1");
    store
        .log_alerts(
            now + 1.minute(),
            &[LogEntry::encode(&[
                report("a", "checkout", now, Some(now + 1.minute())),
                report("b", "checkout", now + 1.minute(), None),
            ])
            .expect("encode")],
            &[],
        )
        .await
        .expect("log 2");
    store
        .log_alerts(
            now + 2.minutes(),
            &[LogEntry::encode(&[report("c", "search", now, None)]).expect("encode")],
            &[],
        )
        .await
        .expect("log 3");
    assert_eq!(store.logged_alert_backlog().await.expect("backlog"), 4);
    assert!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .expect("list")
            .is_empty()
    );

    // A round of at most one report takes the first row only.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let first = store
        .merge_logged_alerts(1, move |prev, r, at| {
            log.lock().expect("log").push((r.key.clone(), at));
            merge_at(at)(prev, r)
        })
        .await
        .expect("merge 1");
    assert_eq!(first.len(), 1);
    assert_eq!(store.logged_alert_backlog().await.expect("backlog"), 3);
    // At least one whole row even when it is larger than the round.
    let log = seen.clone();
    let second = store
        .merge_logged_alerts(1, move |prev, r, at| {
            log.lock().expect("log").push((r.key.clone(), at));
            merge_at(at)(prev, r)
        })
        .await
        .expect("merge 2");
    assert_eq!(second.len(), 2);
    let log = seen.clone();
    let rest = store
        .merge_logged_alerts(100, move |prev, r, at| {
            log.lock().expect("log").push((r.key.clone(), at));
            merge_at(at)(prev, r)
        })
        .await
        .expect("merge 3");
    assert_eq!(rest.len(), 1);
    assert_eq!(
        *seen.lock().expect("log"),
        [
            ("a".to_string(), now),
            ("a".to_string(), now + 1.minute()),
            ("b".to_string(), now + 1.minute()),
            ("c".to_string(), now + 2.minutes()),
        ],
        "log order, each report at the instant it was logged"
    );
    assert_eq!(store.logged_alert_backlog().await.expect("backlog"), 0);
    let a = get_alert(&store, "a").await;
    assert_eq!(
        a.ends_at,
        Some(now + 1.minute()),
        "the later report merged last"
    );
    assert!(
        store
            .merge_logged_alerts(100, |_, _, _| unreachable!("merged rows are gone"))
            .await
            .expect("merge empty")
            .is_empty()
    );
    assert_eq!(pending_keys(&store).await.len(), 3);

    // A large batch is logged as rows of 1,000, so one merge round (whole
    // rows) stays short.
    let many: Vec<IncomingAlert> = (0..2_500)
        .map(|i| report(&format!("m{i:05}"), "checkout", now, None))
        .collect();
    store
        .log_alerts(now, &[LogEntry::encode(&many).expect("encode")], &[])
        .await
        .expect("log many");
    let round = store
        .merge_logged_alerts(1, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge a row");
    assert_eq!(round.len(), 1_000);
    assert_eq!(round[0].key, "m00000", "in the order they were sent");
    assert_eq!(store.logged_alert_backlog().await.expect("backlog"), 1_500);
    store
        .merge_logged_alerts(usize::MAX, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge the rest");

    // Small entries of one append (several requests' reports) share a row.
    let entries = ["x", "y", "z"]
        .map(|k| LogEntry::encode(&[report(k, "checkout", now, None)]).expect("encode"));
    store
        .log_alerts(now, &entries, &[])
        .await
        .expect("log entries");
    let round = store
        .merge_logged_alerts(1, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge one row");
    let keys: Vec<&str> = round.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["x", "y", "z"], "one row, in order");
    store.close().await;
}

/// A batch read ahead of its merge (`read_logged_alerts`, outside any
/// write) merges only the rows still in the log when its transaction
/// claims them: rows another merge took meanwhile are neither merged twice
/// nor counted. Reading after a batch's last row skips the batch; each
/// report reaches the merge with what was prepared from it.
async fn logged_rows_read_ahead_merge_only_while_still_logged(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let log = |keys: &[&str]| {
        let reports: Vec<IncomingAlert> = keys
            .iter()
            .map(|k| report(k, "checkout", now, None))
            .collect();
        LogEntry::encode(&reports).expect("encode")
    };
    for keys in [&["a"][..], &["b", "c"], &["d"]] {
        store.log_alerts(now, &[log(keys)], &[]).await.expect("log");
    }
    let mut first = store
        .read_logged_alerts(LogLane::Oldest, 1, None)
        .await
        .expect("read");
    assert_eq!(first.len(), 1, "one whole row");
    let mut ahead = store
        .read_logged_alerts(LogLane::Oldest, usize::MAX, first.last_seq())
        .await
        .expect("read ahead")
        .prepare(|r| Prepared(r.key.to_uppercase()));
    assert_eq!(ahead.len(), 3, "the rows after the first batch's");
    assert_eq!(
        store.logged_alert_backlog().await.expect("backlog"),
        4,
        "nothing claimed by reading"
    );

    // Another merge takes the oldest row before the first batch is merged.
    let taken = store
        .merge_logged_alerts(1, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge the oldest");
    assert_eq!(taken.len(), 1);
    let merged = store
        .merge_read_alerts(
            &mut first,
            |_, _, _, _| unreachable!("its row is gone"),
            None,
        )
        .await
        .expect("merge a batch taken meanwhile");
    assert_eq!((merged.reports, merged.recorded.len()), (0, 0));

    // And the next row, out of the batch read ahead: only the last row is
    // still there to merge.
    store
        .log_alerts(now, &[log(&["e"])], &[])
        .await
        .expect("log e");
    let taken = store
        .merge_logged_alerts(1, |prev, r, at| merge_at(at)(prev, r))
        .await
        .expect("merge the next");
    assert_eq!(taken.len(), 2, "b and c");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let merged = store
        .merge_read_alerts(
            &mut ahead,
            |prev, r, prepared: &Prepared, at| {
                seen.lock()
                    .expect("seen")
                    .push((r.key.clone(), prepared.0.clone()));
                merge_at(at)(prev, r)
            },
            None,
        )
        .await
        .expect("merge what is left of the batch");
    assert_eq!(merged.reports, 1);
    assert_eq!(merged.alerts.len(), 1, "not recording: each report's alert");
    assert_eq!(
        *seen.lock().expect("seen"),
        [("d".to_string(), "D".to_string())]
    );
    assert_eq!(get_alert(&store, "d").await.key, "d");
    assert_eq!(store.logged_alert_backlog().await.expect("backlog"), 1);

    // What is left: the row appended later, from either start.
    for after in [None, ahead.last_seq()] {
        let rest = store
            .read_logged_alerts(LogLane::Oldest, 10, after)
            .await
            .expect("read the rest");
        assert_eq!(rest.len(), 1);
    }
    let mut rest = store
        .read_logged_alerts(LogLane::Oldest, 10, None)
        .await
        .expect("read");
    store
        .merge_read_alerts(&mut rest, |prev, r, (), at| merge_at(at)(prev, r), None)
        .await
        .expect("merge e");
    assert!(
        store
            .read_logged_alerts(LogLane::Oldest, 10, None)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(pending_keys(&store).await, ["a", "b", "c", "d", "e"]);
    store.close().await;
}

/// On PostgreSQL a merge locks only its batch's groups: another group's
/// merge (a new group's first alert, during a flood of one) commits while it
/// is under way, and a merge of the same group waits for it. A stored alert
/// in a group its batch does not name (moved by a policy change) makes the
/// merge take every group, without folding anything twice. On SQLite, whose
/// one writer serialises every merge, the same merges give the same rows.
async fn a_merge_locks_only_its_groups(db: &TestDb) {
    let stores = [db.connect().await, db.connect().await];
    let now = t0();
    for (key, service) in [("f-1", "flood"), ("n-1", "new"), ("f-2", "flood")] {
        stores[0]
            .log_alerts(
                now,
                &[LogEntry::encode(&[report(key, service, now, None)]).expect("encode")],
                &[],
            )
            .await
            .expect("log");
    }
    // A batch a row, each report naming its group (its service, as
    // `merge_at` groups them).
    let mut batches = Vec::new();
    let mut after = None;
    for _ in 0..3 {
        let batch = stores[0]
            .read_logged_alerts(LogLane::Oldest, 1, after)
            .await
            .expect("read")
            .prepare(|r| InGroup(r.labels.get("service").cloned()));
        after = batch.last_seq();
        batches.push(batch);
    }
    let mut batches = batches.into_iter();
    let (mut flood, mut new, mut flood_again) = (
        batches.next().expect("f-1"),
        batches.next().expect("n-1"),
        batches.next().expect("f-2"),
    );
    let fold = |prev: Option<&Alert>, r: &IncomingAlert, _: &InGroup, at| merge_at(at)(prev, r);
    if db.pg.is_some() {
        // The flood's merge stops inside its transaction until released.
        let (inside, held) = tokio::sync::oneshot::channel::<()>();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let mut inside = Some(inside);
        let store = stores[0].clone();
        let first = tokio::spawn(async move {
            let mut wait = Some(wait);
            store
                .merge_read_alerts(
                    &mut flood,
                    move |prev, r, _, at| {
                        if let (Some(inside), Some(wait)) = (inside.take(), wait.take()) {
                            let _ = inside.send(());
                            // Handing this worker's queue on, so the
                            // runtime still drives the other merges' I/O.
                            tokio::task::block_in_place(|| wait.recv()).expect("released");
                        }
                        merge_at(at)(prev, r)
                    },
                    None,
                )
                .await
                .expect("merge the flood's row")
                .reports
        });
        held.await.expect("the flood's merge holds its locks");
        // Within the store's fencing of idle transactions (15 s), after
        // which the flood's would be ended and its locks freed anyway.
        let merged = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stores[1].merge_read_alerts(&mut new, fold, None),
        )
        .await
        .expect("another group's merge does not wait for the flood's")
        .expect("merge the new group's row");
        assert_eq!(merged.reports, 1);
        let store = stores[1].clone();
        let mut second = tokio::spawn(async move {
            store
                .merge_read_alerts(&mut flood_again, fold, None)
                .await
                .expect("merge the flood's next row")
                .reports
        });
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(300), &mut second)
                .await
                .is_err(),
            "a merge of the same group waits for the flood's"
        );
        release.send(()).expect("release");
        assert_eq!(first.await.expect("first"), 1);
        assert_eq!(second.await.expect("second"), 1);
    } else {
        for mut batch in [flood, new, flood_again] {
            let merged = stores[1]
                .merge_read_alerts(&mut batch, fold, None)
                .await
                .expect("merge");
            assert_eq!(merged.reports, 1);
        }
    }
    assert_eq!(pending_keys(&stores[0]).await, ["f-1", "f-2", "n-1"]);

    // f-1 again, its report routed to a group of its own now.
    stores[0]
        .log_alerts(
            now + 1.second(),
            &[LogEntry::encode(&[report("f-1", "flood", now, None)]).expect("encode")],
            &[],
        )
        .await
        .expect("log");
    let mut moved = stores[0]
        .read_logged_alerts(LogLane::Oldest, usize::MAX, None)
        .await
        .expect("read")
        .prepare(|_| InGroup(Some("moved".to_string())));
    let mut folds = 0;
    let merged = stores[1]
        .merge_read_alerts(
            &mut moved,
            |prev, r, _, at| {
                folds += 1;
                merge_at(at)(prev, r)
            },
            None,
        )
        .await
        .expect("a stored alert outside the batch's groups");
    assert_eq!((merged.reports, folds), (1, 1), "folded once");
    assert_eq!(get_alert(&stores[0], "f-1").await.group_key, "flood");
    assert_eq!(stores[0].logged_alert_backlog().await.expect("backlog"), 0);
    for store in stores {
        store.close().await;
    }
}

/// Two replicas merging the same log at once: every report is merged exactly
/// once (the `alerts` lock on PostgreSQL, the single writer on SQLite).
async fn alerts_log_merges_once_across_two_stores(db: &TestDb) {
    let stores = [db.connect().await, db.connect().await];
    let now = t0();
    for row in 0..20 {
        let reports: Vec<IncomingAlert> = (0..10)
            .map(|i| report(&format!("r{row:02}-{i}"), "checkout", now, None))
            .collect();
        stores[row % 2]
            .log_alerts(now, &[LogEntry::encode(&reports).expect("encode")], &[])
            .await
            .expect("log");
    }
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| {
            tokio::spawn(async move {
                let mut keys = Vec::new();
                loop {
                    let merged = store
                        .merge_logged_alerts(10, |prev, r, at| merge_at(at)(prev, r))
                        .await
                        .expect("merge");
                    if merged.is_empty() {
                        return keys;
                    }
                    keys.extend(merged.into_iter().map(|a| a.key));
                }
            })
        })
        .collect();
    let mut keys = Vec::new();
    for task in tasks {
        keys.extend(task.await.expect("merger"));
    }
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, 200, "every report merged once, none twice");
    assert_eq!(keys.len(), 200);
    assert_eq!(stores[0].logged_alert_backlog().await.expect("backlog"), 0);
    for store in stores {
        store.close().await;
    }
}

/// One row per alert key however the key comes back: merged again after a
/// reopen (SQLite reads its key → id map back from the table), and firing
/// again after a prune deleted its row. Rows are found by key through that
/// map on SQLite, which has no index on `key` to refuse a second row.
async fn alerts_keep_one_row_per_key(db: &TestDb) {
    use firebell_store::PruneBefore;
    let day = |n: i64| t0() - (24 * n).hours();
    let rows_of = |alerts: &[Alert], key: &str| alerts.iter().filter(|a| a.key == key).count();
    {
        let store = db.connect().await;
        let merged = ingest(
            &store,
            day(10),
            &[
                report("a", "api", day(10), None),
                report("b", "api", day(10), Some(day(9))),
            ],
        )
        .await;
        store
            .mark_alerts_processed(&[processed(&merged[1], false)])
            .await
            .unwrap();
        store.close().await;
    }
    let store = db.connect().await;
    ingest(&store, day(8), &[report("a", "api", day(8), None)]).await;
    let all = store.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(rows_of(&all, "a"), 1, "{all:?}");
    assert_eq!(get_alert(&store, "a").await.starts_at, day(8));
    assert_eq!(
        store.get_alert("a").await.unwrap().map(|a| a.starts_at),
        Some(day(8))
    );

    // `b` ended long ago and was processed: pruned, then it fires again.
    let before = PruneBefore {
        alerts: day(7),
        silences: day(7),
        changes: day(30),
        subscriber_messages: day(30),
        lapsed_signups: day(7),
    };
    assert_eq!(store.prune(&before).await.unwrap().alerts, 1);
    assert_eq!(store.get_alert("b").await.unwrap(), None);
    for n in [6, 5] {
        ingest(&store, day(n), &[report("b", "api", day(n), None)]).await;
    }
    let all = store.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(rows_of(&all, "b"), 1, "{all:?}");
    assert_eq!(rows_of(&all, "a"), 1, "{all:?}");
    assert_eq!(pending_keys(&store).await, ["a", "b"]);
    let b = store.get_alert("b").await.unwrap().expect("b fires again");
    store
        .mark_alerts_processed(&[processed(&b, true)])
        .await
        .unwrap();
    assert_eq!(pending_keys(&store).await, ["a"]);
    store.close().await;
}

/// Only processing clears `pending`: a repeat that changes nothing must not
/// hide a change the processor has not seen yet.
async fn alerts_pending_is_sticky(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let a = &ingest(&store, now, &[report("a", "checkout", now, None)]).await[0];
    // A refresh: nothing changed, the merge says "not pending".
    let refreshed = &ingest(
        &store,
        now + 30.seconds(),
        &[report("a", "checkout", now, None)],
    )
    .await[0];
    assert_ne!(refreshed.updated_at, a.updated_at);
    assert_eq!(pending_keys(&store).await, ["a"]);

    // Within one batch: pending from the first report, not from the second.
    store
        .mark_alerts_processed(&[processed(refreshed, true)])
        .await
        .expect("mark");
    assert!(pending_keys(&store).await.is_empty());
    let mut calls = 0;
    upsert(
        &store,
        now + 1.minute(),
        &[
            report("a", "checkout", now, None),
            report("a", "checkout", now, None),
        ],
        move |prev, r| {
            calls += 1;
            let (alert, _) = merge_at(now + 1.minute())(prev, r);
            (alert, calls == 1)
        },
    )
    .await
    .expect("upsert");
    assert_eq!(pending_keys(&store).await, ["a"]);
    store.close().await;
}

async fn alerts_large_batch(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let reports: Vec<IncomingAlert> = (0..2_000)
        .map(|i| {
            report(
                &format!("{i:016x}"),
                &format!("svc-{}", i % 7),
                now - i.seconds(),
                None,
            )
        })
        .collect();
    let stored = ingest(&store, now, &reports).await;
    assert_eq!(stored.len(), 2_000);
    let listed = store
        .list_alerts(&AlertFilter::default())
        .await
        .expect("list");
    assert_eq!(listed.len(), 2_000);
    // Newest start first.
    assert_eq!(listed[0].key, format!("{:016x}", 0));
    assert_eq!(listed[1_999].key, format!("{:016x}", 1_999));
    assert_eq!(store.pending_alerts(0).await.expect("pending").len(), 2_000);
    // Same `updated_at` everywhere: the key breaks the tie.
    let first: Vec<String> = store
        .pending_alerts(3)
        .await
        .expect("pending")
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(first, [0, 1, 2].map(|i| format!("{i:016x}")));

    // The whole batch again, as updates.
    let again = ingest(&store, now + 1.minute(), &reports).await;
    assert!(
        again
            .iter()
            .all(|a| a.updated_at == now + 1.minute() && a.first_seen_at == now)
    );
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .expect("list")
            .len(),
        2_000
    );
    store.close().await;
}

/// The ingest hot path: 10,000 alerts in batches of 1,000, then the same
/// 10,000 again (updates). Prints the time; the assertion is only about
/// correctness, so a slow CI machine does not fail it.
async fn alerts_ingest_timing(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let reports: Vec<IncomingAlert> = (0..10_000)
        .map(|i| report(&format!("{i:016x}"), &format!("svc-{}", i % 50), now, None))
        .collect();
    let backend = store.backend().as_str();
    for (round, at) in [("insert", now), ("update", now + 1.minute())] {
        let started = Instant::now();
        for batch in reports.chunks(1_000) {
            ingest(&store, at, batch).await;
        }
        let elapsed = started.elapsed();
        println!(
            "{backend}: log + merge {round}: 10,000 alerts in 10 batches of 1,000: {} ms ({:.0} alerts/s)",
            elapsed.as_millis(),
            10_000.0 / elapsed.as_secs_f64()
        );
    }
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .expect("list")
            .len(),
        10_000
    );
    store.close().await;
}

async fn alerts_pending_and_sweep(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    // Arriving one second apart, so the queue order is x, y, z, w.
    let x = ingest(
        &store,
        now,
        &[report("x", "api", now, Some(now + 5.minutes()))],
    )
    .await;
    let y = ingest(
        &store,
        now + 1.second(),
        &[report("y", "api", now, Some(now + 10.minutes()))],
    )
    .await;
    let z = ingest(&store, now + 2.seconds(), &[report("z", "api", now, None)]).await;
    let w = ingest(
        &store,
        now + 3.seconds(),
        &[report("w", "api", now, Some(now - 1.minute()))],
    )
    .await;
    assert_eq!(pending_keys(&store).await, ["x", "y", "z", "w"]);
    let two: Vec<String> = store
        .pending_alerts(2)
        .await
        .expect("pending")
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(two, ["x", "y"], "oldest first, limited");

    store
        .mark_alerts_processed(&[
            processed(&x[0], true),
            processed(&y[0], true),
            processed(&z[0], true),
            processed(&w[0], false),
        ])
        .await
        .expect("mark");
    assert!(pending_keys(&store).await.is_empty());
    assert_eq!(
        store
            .sweep_expired_alerts(now + 4.minutes())
            .await
            .expect("sweep"),
        0
    );
    // `ends_at <= now` counts as ended.
    assert_eq!(
        store
            .sweep_expired_alerts(now + 5.minutes())
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(pending_keys(&store).await, ["x"]);
    // Already pending: not counted again.
    assert_eq!(
        store
            .sweep_expired_alerts(now + 6.minutes())
            .await
            .expect("sweep"),
        0
    );

    let x_now = get_alert(&store, "x").await;
    assert_eq!(x_now, x[0], "the sweep changes nothing but the flag");
    store
        .mark_alerts_processed(&[processed(&x_now, false)])
        .await
        .expect("mark");
    // Processed as resolved: never swept again. Open-ended z never is.
    assert_eq!(
        store
            .sweep_expired_alerts(now + 1.hours())
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(pending_keys(&store).await, ["y"]);
    assert_eq!(
        store
            .sweep_expired_alerts(now + 100.hours())
            .await
            .expect("sweep"),
        0
    );
    store.close().await;
}

/// A lapsed silence: firing alerts with no open incident become pending again.
async fn alerts_repend_unattached(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let reports = [
        report("alone", "a", now, None),
        report("over", "a", now, Some(now - 1.minute())),
        report("open", "b", now, None),
        report("old", "c", now, Some(now + 1.hours())),
        report("queued", "d", now, None),
    ];
    let alerts = ingest(&store, now, &reports).await;
    let marks: Vec<ProcessedAlert> = alerts[..2].iter().map(|a| processed(a, true)).collect();
    store.mark_alerts_processed(&marks).await.expect("mark");
    declare_for_group(&store, "b", &[processed(&alerts[2], true)])
        .await
        .expect("create");
    let old = declare_for_group(&store, "c", &[processed(&alerts[3], true)])
        .await
        .expect("create");
    append(&store, &old, now, vec![resolve()]).await;
    assert_eq!(pending_keys(&store).await, ["queued"]);

    assert_eq!(
        store
            .repend_unattached_firing_alerts(now)
            .await
            .expect("repend"),
        2
    );
    let mut pending = pending_keys(&store).await;
    pending.sort();
    assert_eq!(pending, ["alone", "old", "queued"]);
    assert_eq!(
        store
            .repend_unattached_firing_alerts(now)
            .await
            .expect("repend"),
        0
    );
    store.close().await;
}

async fn alerts_processed_guard(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    ingest(
        &store,
        now,
        &[
            report("a", "checkout", now, None),
            report("b", "checkout", now, None),
        ],
    )
    .await;
    // The processor reads the queue...
    let read = store.pending_alerts(0).await.expect("pending");
    assert_eq!(read.len(), 2);
    // ...while `a` is reported again (re-fired with new annotations, say).
    ingest(
        &store,
        now + 1.minute(),
        &[report("a", "checkout", now, None)],
    )
    .await;

    // Declaring for the group marks only `b`; `a` stays pending.
    let marks: Vec<ProcessedAlert> = read.iter().map(|a| processed(a, true)).collect();
    let incident = declare_for_group(&store, "checkout", &marks)
        .await
        .expect("create");
    assert_eq!(pending_keys(&store).await, ["a"]);
    let a = get_alert(&store, "a").await;
    assert_eq!(a.incident_id, None);
    assert_eq!(a.updated_at, now + 1.minute());
    assert_eq!(
        get_alert(&store, "b").await.incident_id,
        Some(incident.id.clone())
    );

    // Attaching with the stale read: events are written, `a` stays pending.
    let mut state = incident.clone();
    let note = next(
        &state,
        now + 2.minutes(),
        "system",
        EventKind::NoteAdded { text: "a".into() },
    );
    state.apply(&note);
    store
        .append(&write(
            &state,
            incident.version,
            std::slice::from_ref(&note),
            &[ProcessedAlert {
                incident_id: Some(incident.id.clone()),
                ..processed(&read[0], true)
            }],
        ))
        .await
        .expect("attach");
    assert_eq!(
        store.load_events(&incident.id).await.expect("load").len(),
        2
    );
    assert_eq!(pending_keys(&store).await, ["a"]);

    // With what it reads now, it sticks.
    store
        .mark_alerts_processed(&[ProcessedAlert {
            incident_id: Some(incident.id.clone()),
            ..processed(&a, true)
        }])
        .await
        .expect("mark");
    assert!(pending_keys(&store).await.is_empty());
    assert_eq!(
        get_alert(&store, "a").await.incident_id,
        Some(incident.id.clone())
    );

    // `incident_id: None` keeps the stored one; unknown keys are ignored.
    let a = &ingest(
        &store,
        now + 3.minutes(),
        &[report("a", "checkout", now, Some(now))],
    )
    .await[0];
    store
        .mark_alerts_processed(&[
            processed(a, false),
            ProcessedAlert {
                key: "ghost".into(),
                ..processed(a, false)
            },
        ])
        .await
        .expect("mark");
    assert_eq!(get_alert(&store, "a").await.incident_id, Some(incident.id));
    assert!(pending_keys(&store).await.is_empty());
    store.close().await;
}

async fn group_incident_created_once(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    assert_eq!(
        store
            .open_incident_for_group("checkout")
            .await
            .expect("group"),
        None
    );
    let alerts = ingest(
        &store,
        now,
        &[
            report("a1", "checkout", now, None),
            report("a2", "checkout", now, None),
        ],
    )
    .await;
    let marks: Vec<ProcessedAlert> = alerts.iter().map(|a| processed(a, true)).collect();
    let first = declare_for_group(&store, "checkout", &marks)
        .await
        .expect("create");
    assert_eq!(first.id, "INC-20261123-001");
    assert_eq!(
        store.get_incident(&first.id).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .open_incident_for_group("checkout")
            .await
            .expect("group"),
        Some(first.id.clone())
    );
    assert!(pending_keys(&store).await.is_empty());
    let attached = store
        .list_alerts(&AlertFilter {
            incident_id: Some(first.id.clone()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(attached.len(), 2);

    // The group is taken: nothing written, no number used up.
    match declare_for_group(&store, "checkout", &[]).await {
        Err(StoreError::GroupTaken { incident_id }) => assert_eq!(incident_id, first.id),
        other => panic!("expected GroupTaken, got {other:?}"),
    }
    let search = declare_for_group(&store, "search", &[])
        .await
        .expect("create");
    assert_eq!(search.id, "INC-20261123-002");

    // A failed build writes no mapping either.
    let failed = store
        .create_incident_for_group(
            "INC-20261123",
            3,
            "payments",
            &NewIncident {
                state: Incident::from_events("", &[declared(t0(), "x", "SEV2", &[])])
                    .expect("state"),
                events: vec![],
                timers: vec![],
            },
            &[],
            &|_| None,
        )
        .await;
    assert!(matches!(failed, Err(StoreError::Corrupt(_))), "{failed:?}");
    assert_eq!(
        store
            .open_incident_for_group("payments")
            .await
            .expect("group"),
        None
    );
    assert_eq!(
        declare_for_group(&store, "payments", &[])
            .await
            .expect("create")
            .id,
        "INC-20261123-003"
    );
    store.close().await;
}

/// Several processors (two stores: two processes or replicas) declaring for
/// the same group at once: exactly one incident.
async fn group_concurrent_creates(db: &TestDb) {
    let stores = [db.connect().await, db.connect().await];
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { declare_for_group(&store, "payments", &[]).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut taken = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(incident) => winners.push(incident.id),
            Err(StoreError::GroupTaken { incident_id }) => taken.push(incident_id),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one incident: {winners:?}");
    assert_eq!(taken.len(), 5);
    assert!(taken.iter().all(|id| *id == winners[0]), "{taken:?}");
    let page = stores[0]
        .list_incidents(&IncidentFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        stores[1]
            .open_incident_for_group("payments")
            .await
            .expect("group"),
        Some(winners[0].clone())
    );
    for store in stores {
        store.close().await;
    }
}

async fn attach_conflict_writes_nothing(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let first = ingest(&store, now, &[report("a1", "api", now, None)]).await;
    let v1 = declare_for_group(&store, "api", &[processed(&first[0], true)])
        .await
        .expect("create");
    // Someone acknowledges meanwhile.
    let v2 = append(&store, &v1, now + 1.minute(), vec![EventKind::Acknowledged]).await;

    let second = ingest(&store, now + 2.minutes(), &[report("a2", "api", now, None)]).await;
    let mark = ProcessedAlert {
        incident_id: Some(v1.id.clone()),
        ..processed(&second[0], true)
    };
    let note = |base: &Incident| {
        let mut state = base.clone();
        let e = next(
            &state,
            now + 2.minutes(),
            "system",
            EventKind::NoteAdded {
                text: "a2 fired".into(),
            },
        );
        state.apply(&e);
        (state, e)
    };

    let (stale, e) = note(&v1);
    match store
        .append(&write(
            &stale,
            v1.version,
            &[e],
            std::slice::from_ref(&mark),
        ))
        .await
    {
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2,
        }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.load_events(&v1.id).await.expect("load").len(), 2);
    assert_eq!(
        store.get_incident(&v1.id).await.expect("get"),
        Some(v2.clone())
    );
    assert_eq!(pending_keys(&store).await, ["a2"]);
    assert_eq!(get_alert(&store, "a2").await.incident_id, None);

    // A missing incident: NotFound, and the alert stays pending too.
    let mut ghost = stale.clone();
    ghost.id = "INC-20261123-404".into();
    let (ghost, e) = note(&Incident {
        version: 1,
        ..ghost
    });
    match store
        .append(&write(&ghost, 1, &[e], std::slice::from_ref(&mark)))
        .await
    {
        Err(StoreError::NotFound(id)) => assert_eq!(id, "INC-20261123-404"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(pending_keys(&store).await, ["a2"]);

    // At the current version it goes through, all together.
    let (v3, e) = note(&v2);
    store
        .append(&write(&v3, v2.version, &[e], std::slice::from_ref(&mark)))
        .await
        .expect("attach");
    assert_eq!(store.get_incident(&v1.id).await.expect("get"), Some(v3));
    assert!(pending_keys(&store).await.is_empty());
    assert_eq!(
        get_alert(&store, "a2").await.incident_id,
        Some(v1.id.clone())
    );
    assert_eq!(
        store
            .alert_counts(&v1.id, now + 3.minutes())
            .await
            .expect("counts"),
        (2, 2)
    );
    store.close().await;
}

async fn resolution_releases_group(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let first = declare_for_group(&store, "checkout", &[])
        .await
        .expect("create");
    // Other appends keep the group's claim.
    let acked = append(
        &store,
        &first,
        now + 1.minute(),
        vec![EventKind::Acknowledged],
    )
    .await;
    assert_eq!(
        store
            .open_incident_for_group("checkout")
            .await
            .expect("group"),
        Some(first.id.clone())
    );
    let other = declare_for_group(&store, "search", &[])
        .await
        .expect("create");

    // A conflicting resolution releases nothing.
    let mut stale = first.clone();
    let e = next(&stale, now + 2.minutes(), "bob", resolve());
    stale.apply(&e);
    assert!(matches!(
        store.append(&write(&stale, first.version, &[e], &[])).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .open_incident_for_group("checkout")
            .await
            .expect("group"),
        Some(first.id.clone())
    );

    append(&store, &acked, now + 2.minutes(), vec![resolve()]).await;
    assert_eq!(
        store
            .open_incident_for_group("checkout")
            .await
            .expect("group"),
        None
    );
    assert_eq!(
        store
            .open_incident_for_group("search")
            .await
            .expect("group"),
        Some(other.id.clone()),
        "other groups keep theirs"
    );
    let again = declare_for_group(&store, "checkout", &[])
        .await
        .expect("create");
    assert_ne!(again.id, first.id);
    assert_eq!(
        store
            .open_incident_for_group("checkout")
            .await
            .expect("group"),
        Some(again.id)
    );
    store.close().await;
}

/// Ingest refreshing an alert while the processor attaches it: whatever the
/// interleaving, the processor's `incident_id` is never overwritten by a
/// merge computed from an older read, and the alert ends processed.
async fn ingest_never_undoes_processing(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let incident = declare_for_group(&store, "api", &[]).await.expect("create");
    ingest(&store, now, &[report("k", "api", now, None)]).await;

    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 1..=150 {
                ingest(&store, now + i.seconds(), &[report("k", "api", now, None)]).await;
            }
        })
    };
    let mut rounds = 0;
    loop {
        let done = writer.is_finished();
        let pending = store.pending_alerts(0).await.expect("pending");
        if pending.is_empty() && done {
            break;
        }
        let marks: Vec<ProcessedAlert> = pending
            .iter()
            .map(|a| ProcessedAlert {
                incident_id: Some(incident.id.clone()),
                ..processed(a, true)
            })
            .collect();
        store.mark_alerts_processed(&marks).await.expect("mark");
        rounds += 1;
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    let k = get_alert(&store, "k").await;
    assert_eq!(k.updated_at, now + 150.seconds());
    assert_eq!(
        k.incident_id,
        Some(incident.id),
        "after {rounds} processing rounds"
    );
    store.close().await;
}

/// Label tests narrow the read in SQL: equal values, prefixes (counted in
/// characters), names with dots and non-ASCII text, and absent labels
/// (which pass no test).
async fn list_alerts_narrowed_by_labels(db: &TestDb) {
    use firebell_core::alert::ValueTest;
    let store = db.connect().await;
    let now = t0();
    let with = |key: &str, extra: &[(&str, &str)]| {
        let mut r = report(key, "api", now, None);
        r.labels
            .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        r
    };
    ingest(
        &store,
        now,
        &[
            with("node-19", &[("zone", "ünïcode-1")]),
            with("node-190", &[("k8s.pod", "web-1")]),
            with("node-2", &[("zone", "ünïcode-2")]),
            with("other", &[]),
        ],
    )
    .await;
    let keys = |labels: Vec<(&'static str, ValueTest)>| {
        let store = store.clone();
        async move {
            let mut keys: Vec<String> = store
                .list_alerts(&AlertFilter {
                    labels: labels
                        .into_iter()
                        .map(|(n, t)| (n.to_string(), t))
                        .collect(),
                    ..Default::default()
                })
                .await
                .expect("list")
                .into_iter()
                .map(|a| a.key)
                .collect();
            keys.sort();
            keys
        }
    };
    let starts = |p: &[&str]| ValueTest::StartsWith(p.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        keys(vec![("instance", ValueTest::Equals("node-19".into()))]).await,
        ["node-19"]
    );
    assert_eq!(
        keys(vec![("instance", starts(&["node-19"]))]).await,
        ["node-19", "node-190"]
    );
    assert_eq!(
        keys(vec![("instance", starts(&["node-2", "oth"]))]).await,
        ["node-2", "other"]
    );
    assert_eq!(
        keys(vec![("zone", starts(&["ünïcode-"]))]).await,
        ["node-19", "node-2"],
        "prefixes count characters"
    );
    assert_eq!(
        keys(vec![("k8s.pod", ValueTest::Equals("web-1".into()))]).await,
        ["node-190"],
        "a dot is part of the name"
    );
    assert_eq!(
        keys(vec![
            ("instance", starts(&["node-"])),
            ("zone", ValueTest::Equals("ünïcode-2".into())),
        ])
        .await,
        ["node-2"],
        "every test holds"
    );
    assert!(
        keys(vec![("missing", starts(&["x"]))]).await.is_empty(),
        "an absent label passes no test"
    );
    store.close().await;
}

async fn list_alerts_filters(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let reports = [
        report("a", "api", now, None),
        report("b", "api", now + 1.minute(), Some(now + 5.minutes())),
        report("d", "web", now + 2.minutes(), Some(now + 3.minutes())),
        report("c", "web", now + 2.minutes(), None),
    ];
    let alerts = ingest(&store, now, &reports).await;
    let incident = declare_for_group(
        &store,
        "api",
        &[processed(&alerts[0], true), processed(&alerts[1], true)],
    )
    .await
    .expect("create");

    let keys = |filter: AlertFilter| {
        let store = store.clone();
        async move {
            store
                .list_alerts(&filter)
                .await
                .expect("list")
                .into_iter()
                .map(|a| a.key)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        keys(AlertFilter::default()).await,
        ["c", "d", "b", "a"],
        "latest start first, then key"
    );
    let firing = |at| AlertFilter {
        firing_at: Some(at),
        ..Default::default()
    };
    assert_eq!(keys(firing(now + 4.minutes())).await, ["c", "b", "a"]);
    assert_eq!(
        keys(firing(now + 5.minutes())).await,
        ["c", "a"],
        "an end at the instant is not firing"
    );
    let of_incident = AlertFilter {
        incident_id: Some(incident.id.clone()),
        ..Default::default()
    };
    assert_eq!(keys(of_incident.clone()).await, ["b", "a"]);
    let one = store.get_alert("b").await.expect("get").expect("stored");
    assert_eq!(
        (one.ends_at, one.incident_id.as_deref()),
        (alerts[1].ends_at, Some(incident.id.as_str())),
        "one alert by key, with its incident"
    );
    assert_eq!(store.get_alert("nope").await.expect("get"), None);
    assert_eq!(
        keys(AlertFilter {
            firing_at: Some(now + 5.minutes()),
            ..of_incident.clone()
        })
        .await,
        ["a"]
    );
    assert_eq!(
        keys(AlertFilter {
            limit: 2,
            after: None,
            labels: Vec::new(),
            ..Default::default()
        })
        .await,
        ["c", "d"]
    );
    assert_eq!(
        keys(AlertFilter {
            incident_id: Some("INC-nope".into()),
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );

    assert_eq!(
        store
            .alert_counts(&incident.id, now + 4.minutes())
            .await
            .expect("counts"),
        (2, 2)
    );
    assert_eq!(
        store
            .alert_counts(&incident.id, now + 5.minutes())
            .await
            .expect("counts"),
        (1, 2)
    );
    assert_eq!(
        store.alert_counts("INC-nope", now).await.expect("counts"),
        (0, 0)
    );
    store.close().await;
}

fn silence(id: &str, starts_at: Timestamp, ends_at: Timestamp) -> Silence {
    Silence {
        id: id.into(),
        matchers: vec![
            Matcher::new("service", MatchOp::Equal, "checkout").expect("matcher"),
            Matcher::new("instance", MatchOp::Regex, "web-.*\\d+").expect("matcher"),
            Matcher::new("env", MatchOp::NotRegex, "dev|test").expect("matcher"),
            Matcher::new("team", MatchOp::NotEqual, "\"quoted\" — ✓").expect("matcher"),
        ],
        starts_at,
        ends_at,
        created_by: "alice".into(),
        comment: "deploying the fix".into(),
        updated_at: starts_at,
    }
}

async fn silences_crud(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let active = silence("s-active", now - 1.hours(), now + 1.hours());
    let later = silence("s-later", now + 1.hours(), now + 2.hours());
    let old = silence("s-old", now - 2.hours(), now - 1.hours());
    for s in [&active, &later, &old] {
        store.upsert_silence(s).await.expect("upsert");
    }
    assert_eq!(
        store.get_silence("s-active").await.expect("get"),
        Some(active.clone())
    );
    assert_eq!(store.get_silence("nope").await.expect("get"), None);
    let ids = |list: Vec<Silence>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_silences().await.expect("list")),
        ["s-later", "s-active", "s-old"],
        "latest end first"
    );

    // Replace by id.
    let edited = Silence {
        comment: "extended".into(),
        ends_at: now + 3.hours(),
        matchers: vec![],
        updated_at: now,
        ..active.clone()
    };
    store.upsert_silence(&edited).await.expect("upsert");
    assert_eq!(
        store.get_silence("s-active").await.expect("get"),
        Some(edited.clone())
    );
    assert_eq!(store.list_silences().await.expect("list").len(), 3);

    // Expire: active now ends now; expired again or unknown is false.
    let at = now + 10.minutes();
    assert!(store.expire_silence("s-active", at).await.expect("expire"));
    assert_eq!(
        store.get_silence("s-active").await.expect("get"),
        Some(Silence {
            ends_at: at,
            updated_at: at,
            ..edited
        })
    );
    assert!(
        !store
            .expire_silence("s-active", at + 1.minute())
            .await
            .expect("expire")
    );
    assert!(!store.expire_silence("s-old", at).await.expect("expire"));
    assert!(!store.expire_silence("nope", at).await.expect("expire"));
    // One that had not started yet reads as over, not pending.
    assert!(store.expire_silence("s-later", at).await.expect("expire"));
    let expired = store
        .get_silence("s-later")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!((expired.starts_at, expired.ends_at), (at, at));
    store.close().await;
}

fn window(
    id: &str,
    kind: MaintenanceKind,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
) -> MaintenanceWindow {
    MaintenanceWindow {
        id: id.into(),
        title: format!("{id}: database upgrade — ترقية"),
        kind,
        services: vec!["checkout".into(), "payments".into()],
        starts_at,
        ends_at,
        created_by: "alice".into(),
        created_at: t0() - 24.hours(),
        planned_starts_at: Some(starts_at),
        planned_ends_at: ends_at,
        review_due_at: None,
        review: None,
    }
}

async fn maintenance_crud(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let active = window(
        "m-active",
        MaintenanceKind::Scheduled,
        now - 1.hours(),
        Some(now + 1.hours()),
    );
    let mode = window("m-mode", MaintenanceKind::Mode, now - 1.hours(), None);
    let future = window(
        "m-future",
        MaintenanceKind::Scheduled,
        now + 2.hours(),
        Some(now + 3.hours()),
    );
    let past = window(
        "m-past",
        MaintenanceKind::Emergency,
        now - 5.hours(),
        Some(now - 4.hours()),
    );
    let mut empty = window(
        "m-empty",
        MaintenanceKind::Emergency,
        now - 6.hours(),
        Some(now - 5.hours()),
    );
    empty.services.clear();
    for w in [&active, &mode, &future, &past, &empty] {
        store.create_maintenance(w).await.expect("create");
    }
    assert!(
        store.create_maintenance(&active).await.is_err(),
        "an id is used once"
    );
    assert_eq!(
        store.list_maintenance().await.expect("list"),
        vec![
            future.clone(),
            active.clone(),
            mode.clone(),
            past.clone(),
            empty
        ],
        "latest start first, then id"
    );

    let at = now + 10.minutes();
    assert!(store.end_maintenance("m-active", at).await.expect("end"));
    assert!(store.end_maintenance("m-mode", at).await.expect("end"));
    assert!(
        !store
            .end_maintenance("m-active", at + 1.minute())
            .await
            .expect("end again")
    );
    assert!(!store.end_maintenance("m-past", at).await.expect("end past"));
    assert!(
        !store
            .end_maintenance("m-future", at)
            .await
            .expect("end future")
    );
    assert!(
        !store
            .end_maintenance("nope", at)
            .await
            .expect("end unknown")
    );
    let listed = store.list_maintenance().await.expect("list");
    let get = |id: &str| listed.iter().find(|w| w.id == id).cloned();
    assert_eq!(
        get("m-active"),
        Some(MaintenanceWindow {
            ends_at: Some(at),
            ..active
        })
    );
    assert_eq!(
        get("m-mode"),
        Some(MaintenanceWindow {
            ends_at: Some(at),
            ..mode
        })
    );
    assert_eq!(get("m-future"), Some(future));

    // Maintenance mode switched on for later, then off: an empty window.
    let planned = window("m-planned", MaintenanceKind::Mode, now + 1.hours(), None);
    store.create_maintenance(&planned).await.expect("create");
    assert!(store.end_maintenance("m-planned", at).await.expect("end"));
    let planned = store
        .list_maintenance()
        .await
        .expect("list")
        .into_iter()
        .find(|w| w.id == "m-planned")
        .expect("kept");
    assert_eq!((planned.starts_at, planned.ends_at), (at, Some(at)));
    store.close().await;
}

fn change(id: &str, service: Option<&str>, at: Timestamp) -> ChangeRecord {
    ChangeRecord {
        id: id.into(),
        source: "github-actions".into(),
        summary: format!("deploy {id}"),
        service: service.map(str::to_string),
        environment: Some("production".into()),
        kind: firebell_core::change::ChangeKind::Migration,
        at,
        // Every detail round-trips, a freeze reason included.
        details: firebell_core::change::ChangeDetails {
            version: Some("v1.4".into()),
            previous_version: Some("v1.3".into()),
            commit: Some("0123abc".into()),
            author: Some("maria".into()),
            url: Some("https://ci.example/run/1".into()),
            started_at: Some(at),
            frozen: vec![firebell_core::change::FreezeReason {
                source: firebell_core::change::FreezeSource::Incident,
                id: "INC-1".into(),
                reason: "P0 open".into(),
                since: at,
                until: None,
            }],
        },
        payload: serde_json::json!({
            "sha": "0123abc",
            "steps": [1, 2.5, null, true],
            "nested": {"text": "nul \u{0} — ✓", "empty": {}},
        }),
    }
}

/// Heartbeats: one row per name with its latest ping, to the millisecond,
/// listed by name, kept across a reopen.
async fn heartbeats_keep_the_latest_ping(db: &TestDb) {
    let store = db.connect().await;
    assert!(store.heartbeats().await.expect("list").is_empty());
    let at = t0() + 123.milliseconds();
    store
        .record_heartbeat("nightly-backup", at)
        .await
        .expect("ping");
    store
        .record_heartbeat("billing-sync", at + 1.minute())
        .await
        .expect("ping");
    store
        .record_heartbeat("nightly-backup", at + 1.hour())
        .await
        .expect("ping again");
    let expect = vec![
        firebell_store::HeartbeatPing {
            name: "billing-sync".into(),
            last_seen_at: at + 1.minute(),
        },
        firebell_store::HeartbeatPing {
            name: "nightly-backup".into(),
            last_seen_at: at + 1.hour(),
        },
    ];
    assert_eq!(store.heartbeats().await.expect("list"), expect);
    store.close().await;
    let store = db.connect().await;
    assert_eq!(
        store.heartbeats().await.expect("list after reopen"),
        expect,
        "pings survive a restart"
    );
    store.close().await;
}

async fn changes_crud(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let c0 = change("c0", Some("checkout"), now - 1.hours());
    let c1 = change("c1", Some("checkout"), now);
    let c2 = change("c2", Some("search"), now + 1.minute());
    let mut c3 = change("c3", None, now + 2.minutes());
    c3.environment = None;
    c3.payload = serde_json::Value::Null;
    for c in [&c0, &c1, &c2, &c3] {
        store.record_change(c).await.expect("record");
    }
    assert_eq!(
        store.list_changes(None, now).await.expect("list"),
        vec![c3.clone(), c2.clone(), c1.clone()],
        "newest first, since inclusive"
    );
    assert_eq!(
        store
            .list_changes(Some("checkout"), now - 2.hours())
            .await
            .expect("list"),
        vec![c1.clone(), c0.clone()]
    );
    assert!(
        store
            .list_changes(Some("nope"), now - 2.hours())
            .await
            .expect("list")
            .is_empty()
    );

    // A retry or a later status of the same change replaces it.
    let finished = ChangeRecord {
        summary: "deploy c1 finished".into(),
        payload: serde_json::json!({"status": "success"}),
        ..c1
    };
    store.record_change(&finished).await.expect("record");
    assert_eq!(
        store
            .list_changes(Some("checkout"), now)
            .await
            .expect("list"),
        vec![finished]
    );
    store.close().await;
}

async fn alerts_survive_reopen(db: &TestDb) {
    let store = db.connect().await;
    let now = t0();
    let alerts = ingest(
        &store,
        now,
        &[report("a", "api", now, None), report("b", "api", now, None)],
    )
    .await;
    let incident = declare_for_group(&store, "api", &[processed(&alerts[0], true)])
        .await
        .expect("create");
    let s = silence("s", now, now + 1.hours());
    store.upsert_silence(&s).await.expect("silence");
    let w = window("w", MaintenanceKind::Mode, now, None);
    store.create_maintenance(&w).await.expect("maintenance");
    let c = change("c", Some("api"), now);
    store.record_change(&c).await.expect("change");
    let listed = store
        .list_alerts(&AlertFilter::default())
        .await
        .expect("list");
    store.close().await;

    for _ in 0..2 {
        let store = db.connect().await;
        assert_eq!(
            store
                .list_alerts(&AlertFilter::default())
                .await
                .expect("list"),
            listed
        );
        assert_eq!(pending_keys(&store).await, ["b"]);
        assert_eq!(
            store.open_incident_for_group("api").await.expect("group"),
            Some(incident.id.clone())
        );
        assert_eq!(
            store.get_silence("s").await.expect("silence"),
            Some(s.clone())
        );
        assert_eq!(
            store.list_maintenance().await.expect("maintenance"),
            vec![w.clone()]
        );
        assert_eq!(
            store.list_changes(None, now).await.expect("changes"),
            vec![c.clone()]
        );
        store.close().await;
    }

    // The processor picks up where it left off.
    let store = db.connect().await;
    match declare_for_group(&store, "api", &[]).await {
        Err(StoreError::GroupTaken { incident_id }) => assert_eq!(incident_id, incident.id),
        other => panic!("expected GroupTaken, got {other:?}"),
    }
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

/// SQLite: a row another writer put at the id the key map hands out next
/// is never overwritten. The merge that meets it fails whole, with the
/// plain reason, and its report stays logged.
#[tokio::test]
async fn sqlite_merge_refuses_an_id_holding_another_alert() {
    let db = TestDb::sqlite();
    let store = db.connect().await;
    let log = |key: &str| LogEntry::encode(&[report(key, "api", t0(), None)]).unwrap();
    store.log_alerts(t0(), &[log("a")], &[]).await.unwrap();
    let merged = store
        .merge_logged_alerts(10, |p, r, at| merge_at(at)(p, r))
        .await
        .unwrap();
    assert_eq!(merged.len(), 1);
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO alerts (id, key, source, labels, annotations, starts_at_ms, \
         first_seen_at_ms, updated_at_ms, group_key, pending, processed_firing) \
         VALUES (2, 'intruder', 'alertmanager', '{}', '{}', 0, 0, 0, 'api', 0, 0)",
    )
    .execute(&mut other)
    .await
    .unwrap();
    other.close().await.unwrap();

    store.log_alerts(t0(), &[log("b")], &[]).await.unwrap();
    let merge = store
        .merge_logged_alerts(10, |p, r, at| merge_at(at)(p, r))
        .await;
    assert!(matches!(merge, Err(StoreError::InUse(_))), "{merge:?}");
    assert!(store.get_alert("b").await.unwrap().is_none());
    assert_eq!(store.logged_alert_backlog().await.unwrap(), 1);
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let kept: String = sqlx::query_scalar("SELECT key FROM alerts WHERE id = 2")
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(kept, "intruder");
}

/// The write-ahead log is copied back into the file beside the writer, not
/// in its commits: once a few MB are logged, a checkpoint has run although
/// no commit took the log to the writer's own (far larger) threshold.
#[tokio::test]
async fn sqlite_log_is_checkpointed_beside_the_writer() {
    let db = TestDb::sqlite();
    let store = db.connect().await;
    // About 6 MB of reports: 1,500 pages, past the checkpointer's 1,000.
    let pad = "x".repeat(2_000);
    for round in 0..6 {
        let entries: Vec<LogEntry> = (0..500)
            .map(|i| {
                let mut r = report(&format!("k{round}-{i}"), "api", t0(), None);
                r.annotations = labels(&[("description", &pad)]);
                LogEntry::encode(&[r]).unwrap()
            })
            .collect();
        store.log_alerts(t0(), &entries, &[]).await.unwrap();
    }
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    // (busy, pages in the log, pages copied back); `NOOP` only reads them.
    let mut copied = 0_i64;
    for _ in 0..200 {
        let (_, logged, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(NOOP)")
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert!(logged < 8_192, "the log grew to {logged} pages");
        copied = done;
        if copied >= 1_000 {
            break;
        }
        // The checkpointer runs on its own thread: wait for it, not a clock.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(copied >= 1_000, "only {copied} pages were copied back");
    other.close().await.unwrap();
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

/// What a scheduler batch appends for `inc`: one event, and `timers`.
fn fired(inc: &Incident, timers: Vec<firebell_core::escalation::Due>) -> firebell_store::Append {
    let mut state = inc.clone();
    let e = next(
        &state,
        t0(),
        "system",
        EventKind::NoteAdded {
            text: "fired".into(),
        },
    );
    state.apply(&e);
    let mut append = write(&state, inc.version, &[e], &[]);
    append.timers = timers;
    append
}

/// A batch of firings where one incident moved on meanwhile: that one is
/// left out and reported; the rest is written.
async fn fired_batch_rolls_back_only_the_loser(db: &TestDb) {
    let store = &db.connect().await;
    let a = create(store, "INC-20261123", t0(), "P1", &[]).await;
    let b = create(store, "INC-20261123", t0(), "P1", &[]).await;
    let batch = vec![fired(&a, Vec::new()), fired(&b, Vec::new())];
    // `a` moves on before the batch is written.
    append(
        store,
        &a,
        t0(),
        vec![EventKind::NoteAdded {
            text: "by a person".into(),
        }],
    )
    .await;
    let lost = store.append_batch(&encoded(batch)).await.expect("batch");
    assert_eq!(lost, [0]);
    let a_events = store.load_events(&a.id).await.unwrap();
    assert_eq!(a_events.len(), 2, "only the person's note on a");
    let b_events = store.load_events(&b.id).await.unwrap();
    assert_eq!(b_events.len(), 2, "b got its firing");
    assert_eq!(store.get_incident(&b.id).await.unwrap().unwrap().version, 2);
}

/// A batch that moves an incident's services and status keeps the service
/// index (what the service filter reads) with it: a service dropped, one
/// added, and the status restated on the one kept; an incident the batch
/// leaves as it was keeps its rows.
async fn fired_batch_keeps_the_service_index(db: &TestDb) {
    let store = &db.connect().await;
    let a = create(store, "INC-20261123", t0(), "P1", &["api", "db"]).await;
    let b = create(store, "INC-20261123", t0(), "P1", &["api"]).await;
    let mut moved = fired(&a, Vec::new());
    moved.state.services = vec!["api".into(), "web".into()];
    moved.state.status = Status::Mitigated;
    let batch = vec![moved, fired(&b, Vec::new())];
    assert_eq!(
        store.append_batch(&encoded(batch)).await.expect("batch"),
        Vec::<usize>::new()
    );
    let by = |service: &str, statuses: Vec<Status>| IncidentFilter {
        service: Some(service.into()),
        statuses,
        ..IncidentFilter::default()
    };
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    let mut api = ids(store, by("api", Vec::new())).await;
    api.sort();
    assert_eq!(api, both);
    assert_eq!(ids(store, by("db", Vec::new())).await, Vec::<String>::new());
    assert_eq!(ids(store, by("web", Vec::new())).await, [a.id.as_str()]);
    assert_eq!(
        ids(store, by("api", vec![Status::Mitigated])).await,
        [a.id.as_str()]
    );
    assert_eq!(
        ids(store, by("api", vec![Status::Investigating])).await,
        [b.id.as_str()]
    );
}

/// A batch with a row the database refuses (two timers of one duty break
/// the timers' key) fails as that row's fault, which the scheduler answers
/// by firing each incident alone; nothing of the batch is written.
async fn fired_batch_refused_row_writes_nothing(db: &TestDb) {
    let store = &db.connect().await;
    let a = create(store, "INC-20261123", t0(), "P1", &[]).await;
    let b = create(store, "INC-20261123", t0(), "P1", &[]).await;
    let due = firebell_core::escalation::Due {
        duty: firebell_core::escalation::Duty::Step { level: 1 },
        at: t0() + jiff::SignedDuration::from_mins(5),
    };
    let batch = vec![
        fired(&a, vec![due.clone()]),
        fired(&b, vec![due.clone(), due]),
    ];
    let e = store.append_batch(&encoded(batch)).await.unwrap_err();
    assert_eq!(e.fault(), firebell_store::Fault::Row, "{e}");
    for inc in [&a, &b] {
        assert_eq!(store.load_events(&inc.id).await.unwrap().len(), 1, "{e}");
        let stored = store.get_incident(&inc.id).await.unwrap().unwrap();
        assert_eq!(stored.version, inc.version);
    }
}

/// A lease has one holder; the holder renews it; another takes it only once
/// it lapsed — also from a second connection to the same database.
async fn leases_have_one_holder_until_they_lapse(db: &TestDb) {
    let a = db.connect().await;
    let b = db.connect().await;
    let t = t0();
    let until = |mins: i64| t + jiff::SignedDuration::from_mins(mins);
    assert!(a.try_lease("checks", "a", t, until(1)).await.unwrap());
    assert!(!b.try_lease("checks", "b", t, until(1)).await.unwrap());
    // Renewed by its holder.
    assert!(
        a.try_lease("checks", "a", until(0), until(2))
            .await
            .unwrap()
    );
    assert!(
        !b.try_lease("checks", "b", until(1), until(3))
            .await
            .unwrap(),
        "still a's"
    );
    // Lapsed at 2 minutes: b takes over, and a cannot renew.
    assert!(
        b.try_lease("checks", "b", until(2), until(4))
            .await
            .unwrap()
    );
    assert!(
        !a.try_lease("checks", "a", until(3), until(5))
            .await
            .unwrap()
    );
    // Other leases are independent.
    assert!(a.try_lease("heartbeats", "a", t, until(1)).await.unwrap());
}

/// `[retention]`: each kind is pruned by its own cutoff, and nothing an open
/// incident or the processor still needs goes.
async fn prune_deletes_only_what_ended_before_each_cutoff(db: &TestDb) {
    use firebell_store::{PruneBefore, Pruned};
    let store = db.connect().await;
    let day = |n: i64| t0() - (24 * n).hours();

    // Silences and maintenance windows follow the silences' cutoff.
    store
        .upsert_silence(&silence("old", day(10), day(9)))
        .await
        .unwrap();
    store
        .upsert_silence(&silence("recent", day(3), day(2)))
        .await
        .unwrap();
    store
        .upsert_silence(&silence("active", day(1), t0() + 1.hours()))
        .await
        .unwrap();
    store
        .create_maintenance(&window(
            "old-w",
            MaintenanceKind::Scheduled,
            day(10),
            Some(day(9)),
        ))
        .await
        .unwrap();
    store
        .create_maintenance(&window("mode", MaintenanceKind::Mode, day(10), None))
        .await
        .unwrap();
    // Changes by their own instant and cutoff.
    store
        .record_change(&change("c-old", Some("api"), day(40)))
        .await
        .unwrap();
    store
        .record_change(&change("c-new", Some("api"), day(1)))
        .await
        .unwrap();

    // Alerts: resolved long ago with no incident (goes); resolved long ago
    // but held by an open incident (stays); firing (stays); resolved long ago
    // and not yet processed (stays).
    let ended = Some(day(9));
    let alerts = ingest(
        &store,
        day(10),
        &[
            report("gone", "checkout", day(10), ended),
            report("held", "payments", day(10), ended),
            report("firing", "search", day(10), None),
        ],
    )
    .await;
    let open = declare_for_group(&store, "payments", &[processed(&alerts[1], false)])
        .await
        .unwrap();
    assert!(open.is_open());
    store
        .mark_alerts_processed(&[processed(&alerts[0], false), processed(&alerts[2], true)])
        .await
        .unwrap();
    ingest(
        &store,
        day(10),
        &[report("unprocessed", "web", day(10), ended)],
    )
    .await;

    let before = PruneBefore {
        alerts: day(7),
        silences: day(7),
        changes: day(30),
        subscriber_messages: day(30),
        lapsed_signups: day(7),
    };
    let pruned = store.prune(&before).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            alerts: 1,
            silences: 1,
            maintenance_windows: 1,
            changes: 1,
            ..Pruned::default()
        }
    );
    let silences: BTreeSet<String> = store
        .list_silences()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        silences,
        BTreeSet::from(["recent".to_string(), "active".to_string()])
    );
    let windows: Vec<String> = store
        .list_maintenance()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(windows, ["mode"]);
    let changes: Vec<String> = store
        .list_changes(None, day(100))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(changes, ["c-new"]);
    assert!(store.get_alert("gone").await.unwrap().is_none());
    for kept in ["held", "firing", "unprocessed"] {
        assert!(store.get_alert(kept).await.unwrap().is_some(), "{kept}");
    }
    // A second run finds nothing more.
    assert_eq!(store.prune(&before).await.unwrap(), Pruned::default());
    store.close().await;
}

/// More than a chunk (5,000 rows per statement) is deleted in full.
async fn prune_deletes_in_chunks(db: &TestDb) {
    use firebell_store::{PruneBefore, Pruned};
    const EXPIRED: usize = 5_003;
    let store = db.connect().await;
    let long_ago = t0() - 48.hours();
    let mut reports: Vec<IncomingAlert> = (0..EXPIRED)
        .map(|n| {
            report(
                &format!("old-{n:05}"),
                "api",
                long_ago,
                Some(long_ago + 1.hours()),
            )
        })
        .collect();
    reports.push(report("live", "api", long_ago, None));
    let alerts = ingest(&store, long_ago + 2.hours(), &reports).await;
    let done: Vec<ProcessedAlert> = alerts
        .iter()
        .map(|a| processed(a, a.ends_at.is_none()))
        .collect();
    store.mark_alerts_processed(&done).await.unwrap();
    let before = PruneBefore {
        alerts: t0(),
        silences: t0(),
        changes: t0(),
        subscriber_messages: t0(),
        lapsed_signups: t0(),
    };
    assert_eq!(
        store.prune(&before).await.unwrap(),
        Pruned {
            alerts: EXPIRED as u64,
            ..Pruned::default()
        }
    );
    let left: Vec<String> = store
        .list_alerts(&AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(left, ["live"]);
    store.close().await;
}

fn subscriber(id: &str, address: &str, at: Timestamp) -> Subscriber {
    use firebell_core::status_page::{SubscriberChannel, SubscriberState};
    Subscriber {
        id: id.into(),
        channel: SubscriberChannel::Email,
        address: address.into(),
        components: vec!["api.rest-api".into()],
        locale: "ar".into(),
        state: SubscriberState::Pending,
        secret: None,
        client: "192.0.2.7".into(),
        created_at: at,
        confirmed_at: None,
        ended_at: None,
    }
}

/// Sign-up renews a pending subscriber instead of duplicating it and
/// leaves a confirmed one alone; confirmation honours its window; a post is
/// fanned out once; unsubscribing cancels what waits; and prune drops
/// finished messages and sign-ups never confirmed.
async fn subscribers_confirm_fan_out_once_and_lapse(db: &TestDb) {
    use firebell_core::status_page::SubscriberState;
    let store = db.connect().await;
    let now = t0();
    let confirm = |s: &Subscriber| NewSubscriberMessage {
        subscriber_id: s.id.clone(),
        subject: "confirm".into(),
        body: "open the link".into(),
        payload: "{}".into(),
    };
    let first = store
        .sign_up(&subscriber("s1", "a@example.com", now), &confirm, now)
        .await
        .unwrap();
    assert!(matches!(first, SignUp::Created(_)), "{first:?}");
    // The same address again: the pending row is renewed, not duplicated.
    let later = now + 10.minutes();
    let again = store
        .sign_up(
            &subscriber("s1-bis", "a@example.com", later),
            &confirm,
            later,
        )
        .await
        .unwrap();
    let SignUp::Renewed(renewed) = again else {
        panic!("{again:?}")
    };
    assert_eq!((renewed.id.as_str(), renewed.created_at), ("s1", later));
    assert_eq!(store.list_subscribers(None).await.unwrap().len(), 1);
    // Two confirmation requests queued, one per sign-up.
    assert_eq!(store.subscriber_messages("s1").await.unwrap().len(), 2);

    // Confirmation only within its window (signed up at or after not_before).
    assert!(
        store
            .confirm_subscriber("s1", later, later + 1.minutes())
            .await
            .unwrap()
            .is_none()
    );
    let confirmed = store
        .confirm_subscriber("s1", later + 1.minutes(), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(confirmed.state, SubscriberState::Confirmed);
    let third = store
        .sign_up(
            &subscriber("s1-ter", "a@example.com", later),
            &confirm,
            later,
        )
        .await
        .unwrap();
    assert!(matches!(third, SignUp::AlreadyConfirmed(_)));

    // A post is fanned out once, however often it is offered.
    let message = NewSubscriberMessage {
        subscriber_id: "s1".into(),
        subject: "update".into(),
        body: "text".into(),
        payload: "{}".into(),
    };
    let key = "incident:INC-1:3";
    assert!(
        store
            .fan_out(key, later, std::slice::from_ref(&message), later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fan_out(key, later, std::slice::from_ref(&message), later)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .posts_fanned_out(&[key.to_string(), "other".into()])
            .await
            .unwrap(),
        [key]
    );

    // Claimed and delivered: three messages, each once.
    let claimed = store
        .claim_subscriber_messages(later + 2.minutes(), 10, "tok", later + 5.minutes())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    for m in &claimed {
        assert!(
            store
                .complete_subscriber_message(&m.id, "tok", &Completion::Delivered, later)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .claim_subscriber_messages(later + 2.minutes(), 10, "tok2", later + 5.minutes())
            .await
            .unwrap()
            .is_empty()
    );

    // Unsubscribing cancels what was waiting.
    let key2 = "incident:INC-1:4";
    assert!(store.fan_out(key2, later, &[message], later).await.unwrap());
    assert!(store.unsubscribe("s1", later).await.unwrap());
    assert!(!store.unsubscribe("s1", later).await.unwrap());
    let states: Vec<String> = store
        .subscriber_messages("s1")
        .await
        .unwrap()
        .iter()
        .map(|m| m.state.as_str().to_string())
        .collect();
    assert!(states.contains(&"cancelled".to_string()), "{states:?}");

    // A sign-up never confirmed lapses; finished messages are pruned.
    store
        .sign_up(&subscriber("s2", "b@example.com", now), &confirm, now)
        .await
        .unwrap();
    let pruned = store
        .prune(&firebell_store::PruneBefore {
            alerts: now,
            silences: now,
            changes: now,
            subscriber_messages: later + 1.hours(),
            lapsed_signups: now + 1.minutes(),
        })
        .await
        .unwrap();
    assert_eq!(pruned.lapsed_signups, 1);
    assert_eq!(pruned.subscriber_messages, 4, "{pruned:?}");
    assert!(store.get_subscriber("s2").await.unwrap().is_none());
    assert_eq!(
        store.get_subscriber("s1").await.unwrap().unwrap().state,
        SubscriberState::Unsubscribed
    );
}

/// SQLite: the store that writes a file's alerts holds a lock beside it, so
/// a second process (here, another lock on the file) is refused with a
/// plain reason instead of adding rows the first one's key map does not know.
#[tokio::test]
async fn sqlite_alerts_have_one_writer_process() {
    let db = TestDb::sqlite();
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let other = std::fs::File::create(format!("{path}.alerts.lock")).unwrap();
    other.lock().unwrap();
    // Opening is fine (the CLI's token commands do it beside a server).
    let store = db.connect().await;
    let refused = store.lock_alerts().await.unwrap_err();
    assert!(matches!(refused, StoreError::InUse(_)), "{refused}");
    let refused = store.open_alerts().await.unwrap_err();
    assert!(matches!(refused, StoreError::InUse(_)), "{refused}");
    assert!(
        refused.to_string().contains("one Firebell process"),
        "{refused}"
    );
    let merge = store
        .merge_logged_alerts(10, |_, _, _| unreachable!("nothing is logged"))
        .await;
    assert!(merge.is_ok(), "an empty log needs no lock: {merge:?}");
    store
        .log_alerts(
            t0(),
            &[LogEntry::encode(&[report("a", "api", t0(), None)]).unwrap()],
            &[],
        )
        .await
        .unwrap();
    let merge = store
        .merge_logged_alerts(10, |p, r, at| merge_at(at)(p, r))
        .await;
    assert!(matches!(merge, Err(StoreError::InUse(_))), "{merge:?}");
    other.unlock().unwrap();
    let merged = store
        .merge_logged_alerts(10, |p, r, at| merge_at(at)(p, r))
        .await
        .unwrap();
    assert_eq!(merged.len(), 1, "once the other process is gone");
    let second = db.connect().await;
    let refused = second.lock_alerts().await;
    assert!(
        refused.is_ok(),
        "stores of one process share the lock: {refused:?}"
    );
    store.close().await;
}

/// The log read, then merged as the server does, recording news with
/// `record` when given.
async fn read_and_merge(
    store: &Store,
    record: Option<firebell_store::RecordNews<'_>>,
) -> Result<MergedBatch, StoreError> {
    let mut batch = store
        .read_logged_alerts(LogLane::Oldest, usize::MAX, None)
        .await?;
    store
        .merge_read_alerts(&mut batch, |prev, r, (), at| merge_at(at)(prev, r), record)
        .await
}

/// The urgent lane's merge as the server runs it: the urgent rows read,
/// then merged; their alerts, as merged.
async fn merge_urgent_alerts(
    store: &Store,
    mut merge: impl FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
) -> Result<Vec<Alert>, StoreError> {
    let mut batch = store
        .read_logged_alerts(LogLane::Urgent, usize::MAX, None)
        .await?;
    let merged = store
        .merge_read_alerts(&mut batch, |prev, r, (), at| merge(prev, r, at), None)
        .await?;
    Ok(merged.alerts)
}

/// What a test prepares from a report: no group, so its merge takes the
/// whole `alerts` lock.
struct Prepared(String);

impl firebell_store::AlertGroup for Prepared {
    fn group_key(&self) -> Option<&str> {
        None
    }
}

/// What a test prepares from a report: its group, if it names one.
struct InGroup(Option<String>);

impl firebell_store::AlertGroup for InGroup {
    fn group_key(&self) -> Option<&str> {
        self.0.as_deref()
    }
}
