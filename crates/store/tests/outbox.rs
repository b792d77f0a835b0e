//! Timers, the notification outbox and on-call overrides, at the store's
//! level, on both backends: the SQL that makes each duty fire once and each
//! page go out once (claims, leases, claim tokens, cancellation).

use std::collections::BTreeSet;

use firebell_core::escalation::{Due, Duty, Intent};
use firebell_core::incident::NotificationOutcome;
use firebell_core::policy::ContactKind;
use firebell_core::{Event, EventKind, Incident};
use firebell_store::{
    Append, Completion, NewIncident, NewOverride, Notification, NotificationState, Store,
    StoreError,
};
use jiff::{Timestamp, ToSpan};

mod common;
use common::*;

store_tests!(
    timers_are_replaced_by_every_write,
    stale_replans_change_nothing,
    claims_hold_until_the_lease_lapses,
    a_claim_holds_every_timer_of_its_incident,
    a_claim_holds_a_timer_that_comes_due_during_the_lease,
    concurrent_claimers_never_share_an_incident,
    intents_are_stored_once_per_key,
    notifications_are_claimed_once_and_completed_by_their_claimant,
    a_lapsed_claim_is_taken_over_and_fences_the_old_claimant,
    dead_letters_record_and_queue_the_follow_up,
    acknowledgement_cancels_pages_and_resolution_everything,
    overrides_are_listed_removed_and_resolved_by_time,
    the_first_setting_wins,
    a_batch_writes_what_one_append_at_a_time_writes,
);

// --- helpers -------------------------------------------------------------------

fn due(duty: Duty, at: Timestamp) -> Due {
    Due { duty, at }
}

fn step(level: u32) -> Duty {
    Duty::Step { level }
}

/// An incident created with these timers.
async fn open_with(store: &Store, timers: Vec<Due>) -> Incident {
    let events = vec![declared(t0(), "Checkout down", "SEV1", &["checkout"])];
    store
        .create_incident(
            "INC-20261123",
            3,
            &NewIncident {
                state: Incident::from_events("", &events).unwrap(),
                events,
                timers,
            },
            &|_| None,
        )
        .await
        .expect("create")
}

/// `kind` appended to `incident` at `at` with these timers and intents.
async fn change(
    store: &Store,
    incident: &Incident,
    at: Timestamp,
    kind: EventKind,
    timers: Vec<Due>,
    intents: Vec<Intent>,
) -> Result<Incident, StoreError> {
    let (state, events) = incident.advance(vec![kind], at, "bob");
    store
        .append(&Append {
            state: state.clone(),
            expected_version: incident.version,
            events,
            timers,
            intents,
            alerts: Vec::new(),
        })
        .await
        .map(|()| state)
}

fn note(text: &str) -> EventKind {
    EventKind::NoteAdded { text: text.into() }
}

fn intent(person: &str, stop_on_ack: bool) -> Intent {
    let duty = step(0);
    Intent {
        key: Intent::key_for(&duty, person, ContactKind::Sms, 0),
        duty,
        person: person.into(),
        channel: ContactKind::Sms,
        address: "+966500000000".into(),
        locale: "ar".into(),
        subject: "[SEV1] Checkout down".into(),
        text: "الدفع متوقف".into(),
        stop_on_ack,
        ack_round: 0,
    }
}

async fn notifications(store: &Store, incident: &Incident) -> Vec<Notification> {
    store
        .list_notifications(Some(&incident.id), 100)
        .await
        .expect("list")
}

async fn one(store: &Store, incident: &Incident, person: &str) -> Notification {
    notifications(store, incident)
        .await
        .into_iter()
        .find(|n| n.person == person)
        .unwrap_or_else(|| panic!("no notification for {person}"))
}

fn lease(now: Timestamp) -> Timestamp {
    now + 60.seconds()
}

// --- timers ----------------------------------------------------------------------

async fn timers_are_replaced_by_every_write(db: &TestDb) {
    let store = db.connect().await;
    assert_eq!(store.next_timer_at().await.unwrap(), None);
    let inc = open_with(
        &store,
        vec![
            due(step(1), t0() + 10.minutes()),
            due(Duty::CommanderReminder, t0() + 15.minutes()),
        ],
    )
    .await;
    assert_eq!(
        store.next_timer_at().await.unwrap(),
        Some(t0() + 10.minutes())
    );
    // Nothing is due before its time.
    assert!(
        store
            .claim_due_incidents(t0() + 9.minutes(), 10, "a", lease(t0()))
            .await
            .unwrap()
            .is_empty()
    );
    // A write replaces the agenda with its own.
    let inc = change(
        &store,
        &inc,
        t0() + 1.minutes(),
        note("commander found"),
        vec![due(step(1), t0() + 30.minutes())],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        store.next_timer_at().await.unwrap(),
        Some(t0() + 30.minutes())
    );
    assert!(
        store
            .claim_due_incidents(t0() + 20.minutes(), 10, "a", lease(t0()))
            .await
            .unwrap()
            .is_empty(),
        "the old timers are gone"
    );
    assert_eq!(
        store
            .claim_due_incidents(t0() + 30.minutes(), 10, "a", lease(t0() + 30.minutes()))
            .await
            .unwrap(),
        std::slice::from_ref(&inc.id)
    );
    // An empty agenda leaves no timer; only open incidents are listed.
    let done = change(&store, &inc, t0() + 40.minutes(), resolve(), vec![], vec![])
        .await
        .unwrap();
    assert_eq!(store.next_timer_at().await.unwrap(), None);
    let other = open_with(&store, vec![]).await;
    assert_eq!(store.open_incident_ids().await.unwrap(), [other.id]);
    assert!(!done.is_open());
    store.close().await;
}

async fn stale_replans_change_nothing(db: &TestDb) {
    let store = db.connect().await;
    let inc = open_with(&store, vec![due(step(1), t0() + 10.minutes())]).await;
    let moved = change(
        &store,
        &inc,
        t0() + 1.minutes(),
        note("x"),
        vec![due(step(1), t0() + 20.minutes())],
        vec![],
    )
    .await
    .unwrap();
    // A replan read at the old version lost to the write: refused.
    let replanned = store
        .replace_timers(&inc.id, inc.version, &[due(step(1), t0() + 5.minutes())])
        .await
        .unwrap();
    assert!(!replanned);
    assert_eq!(
        store.next_timer_at().await.unwrap(),
        Some(t0() + 20.minutes())
    );
    // At the current version it applies.
    assert!(
        store
            .replace_timers(
                &moved.id,
                moved.version,
                &[due(step(1), t0() + 25.minutes())]
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.next_timer_at().await.unwrap(),
        Some(t0() + 25.minutes())
    );
    assert!(!store.replace_timers("INC-nope", 1, &[]).await.unwrap());
    store.close().await;
}

async fn claims_hold_until_the_lease_lapses(db: &TestDb) {
    let store = db.connect().await;
    let due_at = t0() + 10.minutes();
    let a = open_with(&store, vec![due(step(1), due_at)]).await;
    let b = open_with(&store, vec![due(step(1), due_at)]).await;
    let _later = open_with(&store, vec![due(step(1), t0() + 1.hours())]).await;

    let first: BTreeSet<String> = store
        .claim_due_incidents(due_at, 10, "one", due_at + 60.seconds())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(first, BTreeSet::from([a.id.clone(), b.id.clone()]));
    // Held: another scheduler gets nothing until the lease lapses.
    assert!(
        store
            .claim_due_incidents(due_at + 59.seconds(), 10, "two", due_at + 120.seconds())
            .await
            .unwrap()
            .is_empty()
    );
    let again: BTreeSet<String> = store
        .claim_due_incidents(due_at + 60.seconds(), 10, "two", due_at + 120.seconds())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(again, first);
    // `limit` bounds a claim.
    let later = due_at + 10.minutes();
    assert_eq!(
        store
            .claim_due_incidents(later, 1, "three", later + 60.seconds())
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
}

async fn claimed(store: &Store, now: Timestamp, limit: u32, token: &str) -> BTreeSet<String> {
    store
        .claim_due_incidents(now, limit, token, t0() + 30.minutes())
        .await
        .expect("claim")
        .into_iter()
        .collect()
}

/// An incident with two due timers is claimed whole: the second does not
/// hand it to another scheduler, and `limit` counts incidents.
async fn a_claim_holds_every_timer_of_its_incident(db: &TestDb) {
    let store = db.connect().await;
    let rule = Duty::Rule {
        name: "no-update".into(),
        update_clock: None,
    };
    let x = open_with(
        &store,
        vec![
            due(step(1), t0() + 1.minutes()),
            due(rule, t0() + 3.minutes()),
        ],
    )
    .await;
    let y = open_with(&store, vec![due(step(1), t0() + 2.minutes())]).await;
    let now = t0() + 5.minutes();
    // Earliest due first.
    assert_eq!(
        claimed(&store, now, 1, "s1").await,
        BTreeSet::from([x.id.clone()])
    );
    assert_eq!(
        claimed(&store, now, 10, "s2").await,
        BTreeSet::from([y.id.clone()])
    );
    assert!(
        claimed(&store, t0() + 29.minutes(), 10, "s3")
            .await
            .is_empty()
    );
    assert_eq!(
        claimed(&store, t0() + 30.minutes(), 10, "s3").await,
        BTreeSet::from([x.id, y.id])
    );
    store.close().await;
}

async fn a_claim_holds_a_timer_that_comes_due_during_the_lease(db: &TestDb) {
    let store = db.connect().await;
    let x = open_with(
        &store,
        vec![
            due(step(1), t0() + 1.minutes()),
            due(Duty::CommanderReminder, t0() + 20.minutes()),
        ],
    )
    .await;
    let held = BTreeSet::from([x.id.clone()]);
    assert_eq!(claimed(&store, t0() + 5.minutes(), 10, "s1").await, held);
    // The reminder falls due at 20 min, inside s1's lease (until 30 min).
    assert!(
        claimed(&store, t0() + 25.minutes(), 10, "s2")
            .await
            .is_empty()
    );
    assert_eq!(claimed(&store, t0() + 30.minutes(), 10, "s2").await, held);
    store.close().await;
}

async fn concurrent_claimers_never_share_an_incident(db: &TestDb) {
    let one = db.connect().await;
    let two = db.connect().await;
    let due_at = t0() + 10.minutes();
    let mut all = BTreeSet::new();
    for _ in 0..20 {
        all.insert(open_with(&one, vec![due(step(1), due_at)]).await.id);
    }
    let claim = |store: Store, token: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            // Bounded: claims that never run dry fail the test, not hang it.
            for _ in 0..20 {
                let ids = store
                    .claim_due_incidents(due_at, 3, token, due_at + 60.seconds())
                    .await
                    .expect("claim");
                if ids.is_empty() {
                    return got;
                }
                got.extend(ids);
            }
            panic!("{token} kept claiming: {got:?}")
        })
    };
    let (a, b) = tokio::join!(claim(one.clone(), "a"), claim(two.clone(), "b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let a: BTreeSet<String> = a.into_iter().collect();
    let b: BTreeSet<String> = b.into_iter().collect();
    assert!(a.is_disjoint(&b), "both claimed {:?}", a.intersection(&b));
    assert_eq!(a.union(&b).cloned().collect::<BTreeSet<_>>(), all);
    one.close().await;
    two.close().await;
}

// --- notifications -----------------------------------------------------------------

async fn intents_are_stored_once_per_key(db: &TestDb) {
    let store = db.connect().await;
    let inc = open_with(&store, vec![]).await;
    let inc = change(
        &store,
        &inc,
        t0(),
        note("page"),
        vec![],
        vec![
            intent("omar", true),
            intent("omar", true),
            intent("sara", false),
        ],
    )
    .await
    .unwrap();
    // A second write of the same intent (a retried firing) adds nothing.
    let inc = change(
        &store,
        &inc,
        t0() + 1.minutes(),
        note("again"),
        vec![],
        vec![intent("omar", true)],
    )
    .await
    .unwrap();
    let all = notifications(&store, &inc).await;
    assert_eq!(all.len(), 2);
    let omar = one(&store, &inc, "omar").await;
    assert_eq!(omar.state, NotificationState::Pending);
    assert_eq!(omar.duty, step(0));
    assert_eq!(omar.channel, ContactKind::Sms);
    assert_eq!(omar.body, "الدفع متوقف");
    assert_eq!(omar.attempts, 0);
    assert_eq!(omar.next_attempt_at, t0());
    assert_eq!(omar.ack_round, 0);
    // After a reopen the same page is a new intent, and remembers its round.
    let reopened = Intent {
        key: Intent::key_for(&step(0), "omar", ContactKind::Sms, 2),
        ack_round: 2,
        ..intent("omar", true)
    };
    let inc = change(
        &store,
        &inc,
        t0() + 2.minutes(),
        note("reopened page"),
        vec![],
        vec![reopened],
    )
    .await
    .unwrap();
    let rounds: BTreeSet<u32> = notifications(&store, &inc)
        .await
        .iter()
        .filter(|n| n.person == "omar")
        .map(|n| n.ack_round)
        .collect();
    assert_eq!(rounds, BTreeSet::from([0, 2]));
    // Another incident's notifications are not listed with this one's.
    let other = open_with(&store, vec![]).await;
    change(
        &store,
        &other,
        t0(),
        note("p"),
        vec![],
        vec![intent("ali", true)],
    )
    .await
    .unwrap();
    assert_eq!(notifications(&store, &inc).await.len(), 3);
    assert_eq!(store.list_notifications(None, 100).await.unwrap().len(), 4);
    store.close().await;
}

async fn notifications_are_claimed_once_and_completed_by_their_claimant(db: &TestDb) {
    let store = db.connect().await;
    let inc = open_with(&store, vec![]).await;
    let inc = change(
        &store,
        &inc,
        t0(),
        note("p"),
        vec![],
        vec![intent("omar", true)],
    )
    .await
    .unwrap();
    // Not due before its time.
    assert!(
        store
            .claim_notifications(t0() - 1.seconds(), 10, "d1", lease(t0()))
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_notifications(t0(), 10, "d1", lease(t0()))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let n = &claimed[0];
    assert_eq!(n.state, NotificationState::Sending);
    assert_eq!(n.attempts, 1);
    // Claimed: nobody else gets it while the lease runs.
    assert!(
        store
            .claim_notifications(t0() + 1.seconds(), 10, "d2", lease(t0()))
            .await
            .unwrap()
            .is_empty()
    );
    // Only the claimant records an outcome.
    let retry_at = t0() + 10.seconds();
    let failed = Completion::Retry {
        at: retry_at,
        error: "receiver answered 503".into(),
    };
    assert!(
        !store
            .complete_notification(n, "d2", &failed, &[], t0() + 2.seconds())
            .await
            .unwrap()
    );
    assert_eq!(
        one(&store, &inc, "omar").await.state,
        NotificationState::Sending
    );
    assert!(
        store
            .complete_notification(n, "d1", &failed, &[], t0() + 2.seconds())
            .await
            .unwrap()
    );
    let after = one(&store, &inc, "omar").await;
    assert_eq!(after.state, NotificationState::Pending);
    assert_eq!(after.next_attempt_at, retry_at);
    assert_eq!(after.last_error.as_deref(), Some("receiver answered 503"));
    // A claim's outcome is recorded once: the same token cannot complete twice.
    assert!(
        !store
            .complete_notification(n, "d1", &Completion::Delivered, &[], t0() + 3.seconds())
            .await
            .unwrap()
    );
    // The retry is claimed at its time, and delivered.
    assert!(
        store
            .claim_notifications(retry_at - 1.seconds(), 10, "d3", lease(retry_at))
            .await
            .unwrap()
            .is_empty()
    );
    let second = store
        .claim_notifications(retry_at, 10, "d3", lease(retry_at))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    let delivered_at = retry_at + 1.seconds();
    assert!(
        store
            .complete_notification(&second[0], "d3", &Completion::Delivered, &[], delivered_at)
            .await
            .unwrap()
    );
    let done = one(&store, &inc, "omar").await;
    assert_eq!(done.state, NotificationState::Delivered);
    assert_eq!(done.delivered_at, Some(delivered_at));
    // Each outcome is on the timeline, in order.
    let outcomes: Vec<(NotificationOutcome, u32)> = store
        .load_events(&inc.id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e: Event| match e.kind {
            EventKind::Notification {
                outcome, attempt, ..
            } => Some((outcome, attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (NotificationOutcome::Failed, 1),
            (NotificationOutcome::Delivered, 2)
        ]
    );
    // Nothing is left to claim.
    assert!(
        store
            .claim_notifications(delivered_at + 1.hours(), 10, "d4", lease(delivered_at))
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

async fn a_lapsed_claim_is_taken_over_and_fences_the_old_claimant(db: &TestDb) {
    let store = db.connect().await;
    let inc = open_with(&store, vec![]).await;
    let inc = change(
        &store,
        &inc,
        t0(),
        note("p"),
        vec![],
        vec![intent("omar", true)],
    )
    .await
    .unwrap();
    let first = store
        .claim_notifications(t0(), 10, "died", t0() + 30.seconds())
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The first dispatcher died mid-send; after its lease another takes over.
    let taken = store
        .claim_notifications(t0() + 30.seconds(), 10, "alive", t0() + 90.seconds())
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, first[0].id);
    assert_eq!(taken[0].attempts, 2);
    // The dead one's late outcome is refused; the live one's recorded.
    assert!(
        !store
            .complete_notification(
                &first[0],
                "died",
                &Completion::Delivered,
                &[],
                t0() + 31.seconds()
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_notification(
                &taken[0],
                "alive",
                &Completion::Delivered,
                &[],
                t0() + 32.seconds()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        one(&store, &inc, "omar").await.state,
        NotificationState::Delivered
    );
    store.close().await;
}

async fn dead_letters_record_and_queue_the_follow_up(db: &TestDb) {
    let store = db.connect().await;
    let inc = open_with(&store, vec![]).await;
    let inc = change(
        &store,
        &inc,
        t0(),
        note("p"),
        vec![],
        vec![intent("omar", true)],
    )
    .await
    .unwrap();
    let claimed = store
        .claim_notifications(t0(), 10, "d", lease(t0()))
        .await
        .unwrap();
    let n = &claimed[0];
    let duty = Duty::DeadLetter {
        notification: n.id.clone(),
    };
    let admin = Intent {
        key: format!("{duty}/alice/email"),
        duty: duty.clone(),
        person: "alice".into(),
        channel: ContactKind::Email,
        address: "alice@example.com".into(),
        locale: "en".into(),
        subject: "could not notify omar".into(),
        text: "given up after 1 attempt".into(),
        stop_on_ack: false,
        ack_round: 0,
    };
    let dead = Completion::Dead {
        error: "404 Not Found".into(),
    };
    assert!(
        store
            .complete_notification(
                n,
                "d",
                &dead,
                std::slice::from_ref(&admin),
                t0() + 1.seconds()
            )
            .await
            .unwrap()
    );
    let omar = one(&store, &inc, "omar").await;
    assert_eq!(omar.state, NotificationState::Dead);
    assert_eq!(omar.last_error.as_deref(), Some("404 Not Found"));
    let alice = one(&store, &inc, "alice").await;
    assert_eq!(alice.state, NotificationState::Pending);
    assert_eq!(alice.duty, duty);
    assert_eq!(alice.channel, ContactKind::Email);
    let events = store.load_events(&inc.id).await.unwrap();
    assert!(matches!(
        &events.last().unwrap().kind,
        EventKind::Notification {
            outcome: NotificationOutcome::DeadLettered,
            ..
        }
    ));
    store.close().await;
}

async fn acknowledgement_cancels_pages_and_resolution_everything(db: &TestDb) {
    let store = db.connect().await;
    let inc = open_with(&store, vec![]).await;
    let mut reminder = intent("sara", false);
    reminder.key = "reminder/sara/sms".into();
    let inc = change(
        &store,
        &inc,
        t0(),
        note("p"),
        vec![],
        vec![intent("omar", true), intent("ali", true), reminder],
    )
    .await
    .unwrap();
    // Ali's page is already on its way when the acknowledgement commits.
    let in_flight = store
        .claim_notifications(t0(), 1, "d", lease(t0()))
        .await
        .unwrap();
    assert_eq!(in_flight.len(), 1);
    let sending = in_flight[0].person.clone();
    let waiting = if sending == "omar" { "ali" } else { "omar" };
    let acked = change(
        &store,
        &inc,
        t0() + 1.minutes(),
        EventKind::Acknowledged,
        vec![],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        one(&store, &inc, waiting).await.state,
        NotificationState::Cancelled
    );
    assert_eq!(
        one(&store, &inc, &sending).await.state,
        NotificationState::Sending,
        "a page in flight is not recalled"
    );
    assert_eq!(
        one(&store, &inc, "sara").await.state,
        NotificationState::Pending,
        "reminders survive an acknowledgement"
    );
    // The page in flight failed: it is not retried after the acknowledgement.
    let failed = Completion::Retry {
        at: t0() + 5.minutes(),
        error: "timeout".into(),
    };
    assert!(
        store
            .complete_notification(&in_flight[0], "d", &failed, &[], t0() + 2.minutes())
            .await
            .unwrap()
    );
    assert_eq!(
        one(&store, &inc, &sending).await.state,
        NotificationState::Cancelled
    );
    // Resolution cancels every pending notification.
    let current = store.get_incident(&acked.id).await.unwrap().unwrap();
    change(
        &store,
        &current,
        t0() + 3.minutes(),
        resolve(),
        vec![],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        one(&store, &inc, "sara").await.state,
        NotificationState::Cancelled
    );
    assert!(
        store
            .claim_notifications(t0() + 1.hours(), 10, "d", lease(t0() + 1.hours()))
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

// --- overrides and settings ---------------------------------------------------------

fn cover(id: &str, schedule: &str, from: Timestamp, hours: i64, created: Timestamp) -> NewOverride {
    NewOverride {
        id: id.into(),
        schedule: schedule.into(),
        person: "sara".into(),
        covering: Some("omar".into()),
        starts_at: from,
        ends_at: from + hours.hours(),
        reason: "Omar at a wedding — عرس".into(),
        created_by: "token:admin".into(),
        created_at: created,
    }
}

async fn overrides_are_listed_removed_and_resolved_by_time(db: &TestDb) {
    let store = db.connect().await;
    let fine = t0() + 123_456.microseconds();
    let a = store
        .create_override(&cover("a", "primary", fine, 4, t0()))
        .await
        .unwrap();
    // Instants are kept to the millisecond, as stored.
    assert_eq!(a.starts_at, t0() + 123.milliseconds());
    assert_eq!(store.get_override("a").await.unwrap(), Some(a.clone()));
    let b = store
        .create_override(&cover(
            "b",
            "primary",
            t0() + 2.hours(),
            4,
            t0() + 1.seconds(),
        ))
        .await
        .unwrap();
    let c = store
        .create_override(&cover("c", "dba", t0() - 10.hours(), 2, t0()))
        .await
        .unwrap();
    assert!(
        store
            .create_override(&cover("a", "dba", t0(), 1, t0()))
            .await
            .is_err()
    );

    let ids = |list: Vec<firebell_store::OverrideRecord>| {
        list.into_iter().map(|o| o.id).collect::<Vec<_>>()
    };
    // Earliest start first; by schedule; ended ones left out on request.
    assert_eq!(
        ids(store.list_overrides(None, None).await.unwrap()),
        ["c", "a", "b"]
    );
    assert_eq!(
        ids(store.list_overrides(Some("primary"), None).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        ids(store.list_overrides(None, Some(t0())).await.unwrap()),
        ["a", "b"]
    );

    // Overlap is half-open; where two overlap the newer comes first.
    let at = |from: Timestamp, to: Timestamp| {
        let store = store.clone();
        async move {
            store
                .overrides_between(from, to)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.starts_at)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        at(t0() + 3.hours(), t0() + 3.hours() + 1.seconds()).await,
        [b.starts_at, a.starts_at]
    );
    assert_eq!(
        at(t0() + 4.hours() + 123.milliseconds(), t0() + 5.hours()).await,
        [b.starts_at]
    );
    assert_eq!(at(t0() - 8.hours(), t0()).await, Vec::<Timestamp>::new());
    assert_eq!(at(t0() - 9.hours(), t0() - 8.hours()).await, [c.starts_at]);

    // Removal is soft and happens once; a removed override never applies.
    assert!(store.delete_override("b", t0()).await.unwrap());
    assert!(!store.delete_override("b", t0()).await.unwrap());
    assert!(!store.delete_override("nope", t0()).await.unwrap());
    assert_eq!(
        store.get_override("b").await.unwrap().unwrap().deleted_at,
        Some(t0())
    );
    assert_eq!(
        ids(store.list_overrides(Some("primary"), None).await.unwrap()),
        ["a"]
    );
    assert_eq!(
        at(t0() + 3.hours(), t0() + 3.hours() + 1.seconds()).await,
        [a.starts_at]
    );
    store.close().await;
}

async fn the_first_setting_wins(db: &TestDb) {
    let one = db.connect().await;
    let two = db.connect().await;
    let (a, b) = tokio::join!(
        one.setting_or_init("ack_link_key", "from-one"),
        two.setting_or_init("ack_link_key", "from-two")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "both replicas use the same key");
    assert!(a == "from-one" || a == "from-two");
    assert_eq!(
        one.setting_or_init("ack_link_key", "later").await.unwrap(),
        a
    );
    one.close().await;
    two.close().await;
}

// --- batches ---------------------------------------------------------------------

/// Three incidents with pages and timers pending, the third an alert
/// group's open incident.
async fn batch_fixture(store: &Store, group: &str) -> Vec<Incident> {
    let a = open_with(store, vec![due(step(1), t0() + 10.minutes())]).await;
    let mut reminder = intent("sara", false);
    reminder.key = "reminder/sara/sms".into();
    let a = change(
        store,
        &a,
        t0(),
        note("paged"),
        vec![due(step(1), t0() + 10.minutes())],
        vec![intent("omar", true), reminder],
    )
    .await
    .unwrap();
    let b = open_with(store, vec![due(step(1), t0() + 10.minutes())]).await;
    let events = vec![declared(t0(), "Group down", "SEV2", &["checkout"])];
    let c = store
        .create_incident_for_group(
            "INC-20261123",
            3,
            group,
            &NewIncident {
                state: Incident::from_events("", &events).unwrap(),
                events,
                timers: vec![due(step(1), t0() + 10.minutes())],
            },
            &[],
            &|_| None,
        )
        .await
        .unwrap();
    let c = change(
        store,
        &c,
        t0(),
        note("paged"),
        vec![],
        vec![intent("ali", false)],
    )
    .await
    .unwrap();
    vec![a, b, c]
}

/// The writes of one scheduler round over a fixture: `a` acknowledged (its
/// page cancelled, a reminder kept, a new timer), `b` fired (a page, and
/// services and severity changed under it), `c` resolved.
fn batch_changes(fixture: &[Incident]) -> Vec<Append> {
    let at = t0() + 10.minutes();
    let write = |inc: &Incident, kind: EventKind, timers: Vec<Due>, intents: Vec<Intent>| {
        let (state, events) = inc.advance(vec![kind], at, "system");
        Append {
            state,
            expected_version: inc.version,
            events,
            timers,
            intents,
            alerts: Vec::new(),
        }
    };
    let a = write(
        &fixture[0],
        EventKind::Acknowledged,
        vec![due(Duty::CommanderReminder, t0() + 20.minutes())],
        vec![],
    );
    let mut b = write(
        &fixture[1],
        EventKind::SeverityChanged {
            from: "SEV1".into(),
            to: "SEV2".into(),
            reason: "contained".into(),
        },
        vec![due(step(2), t0() + 30.minutes())],
        vec![intent("omar", true), intent("omar", true)],
    );
    b.state.services = vec!["search".into(), "checkout".into(), "search".into()];
    let c = write(&fixture[2], resolve(), vec![], vec![]);
    vec![a, b, c]
}

/// What a reader sees of an incident: its log, its pages, its timers' next
/// instant and the lists it is found in.
async fn observed(store: &Store, inc: &Incident) -> String {
    let events: Vec<(u64, String)> = store
        .load_events(&inc.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.kind.type_name().to_string()))
        .collect();
    let mut pages: Vec<(String, String, NotificationState)> = notifications(store, inc)
        .await
        .into_iter()
        .map(|n| (n.intent_key, n.person, n.state))
        .collect();
    pages.sort_by(|x, y| x.0.cmp(&y.0));
    let state = store.get_incident(&inc.id).await.unwrap().unwrap();
    let mut listed = Vec::new();
    for (service, severity) in [
        ("checkout", "SEV1"),
        ("checkout", "SEV2"),
        ("search", "SEV2"),
        ("search", "SEV1"),
    ] {
        let page = store
            .list_incidents(&firebell_store::IncidentFilter {
                service: Some(service.into()),
                severities: vec![severity.into()],
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.items.iter().any(|i| i.id == inc.id) {
            listed.push(format!("{service}/{severity}"));
        }
    }
    format!(
        "v{} {:?} {:?} events {events:?} pages {pages:?} listed {listed:?}",
        state.version, state.status, state.services
    )
}

/// The scheduler's batch writes exactly what the same appends write one at
/// a time (the log, the projection, the service index, timers, pages and
/// their cancellation, the release of alert groups), and leaves out whole
/// the appends whose incident moved on, is gone, or comes twice.
async fn a_batch_writes_what_one_append_at_a_time_writes(db: &TestDb) {
    let store = db.connect().await;
    let singly = batch_fixture(&store, "one-by-one").await;
    let batched = batch_fixture(&store, "batched").await;
    for append in batch_changes(&singly) {
        store.append(&append).await.expect("append");
    }
    let mut batch = batch_changes(&batched);
    // Three that must lose: a second write of `a` at the version the first
    // replaces, an incident that does not exist, and one that moved on.
    batch.push(batch_changes(&batched).remove(0));
    let mut ghost = batch_changes(&batched).remove(1);
    ghost.state.id = "INC-20261123-999".into();
    batch.push(ghost);
    let moved = open_with(&store, vec![]).await;
    let (state, events) = moved.advance(vec![note("stale")], t0(), "system");
    change(&store, &moved, t0(), note("a person"), vec![], vec![])
        .await
        .unwrap();
    batch.push(Append {
        state,
        expected_version: moved.version,
        events,
        timers: vec![due(step(1), t0())],
        intents: vec![intent("lost", true)],
        alerts: Vec::new(),
    });
    let lost = store.append_batch(&encoded(batch)).await.expect("batch");
    assert_eq!(lost, [3, 4, 5]);
    for (one, many) in singly.iter().zip(&batched) {
        let (one, many) = (observed(&store, one).await, observed(&store, many).await);
        assert_eq!(one, many);
    }
    // What the comparison shows, spelled out once.
    let a = observed(&store, &batched[0]).await;
    assert!(
        a.contains("(\"reminder/sara/sms\", \"sara\", Pending)"),
        "{a}"
    );
    assert!(a.contains("\"omar\", Cancelled)"), "{a}");
    let b = observed(&store, &batched[1]).await;
    assert!(
        b.contains(r#"listed ["checkout/SEV2", "search/SEV2"]"#),
        "{b}"
    );
    assert_eq!(b.matches("\"omar\", Pending").count(), 1, "{b}");
    let c = observed(&store, &batched[2]).await;
    assert!(c.contains("\"ali\", Cancelled"), "{c}");
    assert_eq!(
        store.open_incident_for_group("batched").await.unwrap(),
        None
    );
    assert_eq!(
        store.open_incident_for_group("one-by-one").await.unwrap(),
        None
    );
    // The losers wrote nothing.
    assert!(notifications(&store, &moved).await.is_empty());
    assert_eq!(store.load_events(&moved.id).await.unwrap().len(), 2);
    // Timers: `a` owes a reminder at +20m, `b` a step at +30m, `c` nothing.
    let claimed = store
        .claim_due_incidents(t0() + 25.minutes(), 100, "t", lease(t0() + 25.minutes()))
        .await
        .unwrap();
    let mut expected = vec![singly[0].id.clone(), batched[0].id.clone()];
    expected.sort();
    assert_eq!(claimed, expected);
}
