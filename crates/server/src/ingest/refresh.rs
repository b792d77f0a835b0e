//! Refreshes answered at the door.
//!
//! Prometheus re-sends every firing alert each evaluation, with only `endsAt`
//! moved on: most of what arrives in a steady state changes nothing but a
//! deadline that is minutes away. Logging and merging each such report costs
//! a row rewrite; [`StoredAlerts`] lets the request that carries it answer
//! 2xx without either.
//!
//! **What is absorbed.** A report is absorbed when this process's own merge
//! left its alert stored, firing, from a report identical in everything but
//! `endsAt` (the same key, labels, annotations, `startsAt`, URL, source,
//! service and severity), and the new `endsAt` is no earlier than the stored
//! one, and the stored one is still more than the margin away
//! ([`StoredAlerts::margin`]). Merged, such a report would only move `endsAt`
//! and `updatedAt` on.
//!
//! **The bound.** The margin is half the lead the report itself gives (its
//! `endsAt` minus now), at least a minute, plus the time the log's backlog
//! takes to merge, plus up to a quarter of the lead, fixed per alert so that
//! alerts first sent together are not all logged together again. So while the sender keeps refreshing, the stored `endsAt`
//! keeps at least half the sender's own lead: the first refresh inside it is
//! logged and merged as before, well before the old `endsAt` passes, and a
//! restart loses nothing the sender would not re-send first. Prometheus sets
//! `endsAt` four resend intervals ahead, so at least one refresh in three is
//! absorbed (one in two for most alerts). What reads show lags: `endsAt` and `updatedAt` are those of the
//! last stored report, at most half the lead old.
//!
//! **Extended in place.** A refresh of the same content that is not
//! absorbed only because the stored `endsAt` is within the margin (and not
//! passed) is a [`Door::Extend`]: the append moves that row's `endsAt` and
//! `updatedAt` in its own transaction, if the row still ends where this
//! process knows it does, and logs the report otherwise. Merged, the report
//! would have written exactly that, after a log row, a decode, a route and
//! a rewrite of the whole row. The store does it on SQLite, where this
//! process is the only writer; on PostgreSQL another replica may be merging
//! the same alert, and the report is logged.
//!
//! **Coherence.** Entries come only from this process's committed merges
//! and extensions. A
//! report that is not absorbed marks its alert as changing, so an older log
//! row merged after it cannot vouch for the stored state. A change another
//! replica merges is not seen here; the entry's stored `endsAt` bounds that:
//! once it is within the margin, reports go through the log again.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use firebell_core::Timestamp;
use firebell_core::alert::{Alert, AlertSource, IncomingAlert, Labels};

/// The least margin (see the module's docs).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// A floor on the merge rate assumed when widening the margin by the
/// backlog: a backlog of this many reports adds one second.
const MERGED_PER_SEC_FLOOR: u64 = 10_000;
/// Alerts remembered at most (about 33 bytes each): past it, entries whose
/// stored `endsAt` has passed are dropped, then nothing new is learned until
/// there is room. A refresh that is not remembered is merely logged.
const MAX_REMEMBERED: usize = 1_000_000;
/// How long a sweep of a full map that found no room holds off the next:
/// each sweep visits every entry, and a sweep per new alert kept the merge
/// busy for seconds at a time, holding the map's lock against the door.
const FULL_RETRY_MS: i64 = 1_000;
/// `ends_ms` of an open-ended alert (no `endsAt`).
const OPEN_ENDED: i64 = i64::MAX;
/// `content` of an entry whose alert is changing.
const CHANGING: u64 = 0;
/// `content` of an entry whose alert's `endsAt` is being written in place
/// ([`Door::Extend`]); it holds off other reports as [`CHANGING`] does, and
/// only the extension's own commit restores it.
const EXTENDING: u64 = 1;
/// Alerts learned one after another that share a [`spread`] slot.
const SLOT_RUN: u64 = 64;
/// Slots a quarter of the lead is divided into.
const SLOTS: u64 = 1024;

/// What this process knows of each firing alert's stored state, by a hash of
/// its key.
pub struct StoredAlerts {
    hasher: RandomState,
    entries: Mutex<HashMap<u64, Entry>>,
    /// Alerts learned for the first time so far, for their [`spread`] slots.
    learned: AtomicU64,
    /// Entries held at most ([`MAX_REMEMBERED`]; fewer in tests).
    limit: usize,
    /// While full: the instant, in ms, before which no new alert is learned
    /// and no sweep runs ([`FULL_RETRY_MS`] after a sweep found no room).
    full_until_ms: AtomicI64,
}

impl Default for StoredAlerts {
    fn default() -> Self {
        Self::with_limit(MAX_REMEMBERED)
    }
}

/// Either the content hash of the report a merge stored, and the stored
/// `endsAt` in ms; or [`CHANGING`] (or [`EXTENDING`]) and the instant, in
/// ms, a report of the alert went to the log (or to be extended): older log
/// rows do not vouch for it any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    content: u64,
    ends_ms: i64,
    /// This alert's share of the [`spread`], kept for its life here.
    slot: u16,
}

/// What a merge keeps of a report but `endsAt`, borrowed: from an
/// [`IncomingAlert`], or straight from a request's bytes.
pub struct Content<'a, P: Labels + ?Sized> {
    pub key: &'a str,
    pub source: AlertSource,
    pub labels: &'a P,
    pub annotations: &'a P,
    pub starts_at: Timestamp,
    pub generator_url: Option<&'a str>,
    pub service: Option<&'a str>,
    pub severity: Option<&'a str>,
}

impl<'a> Content<'a, firebell_core::alert::LabelSet> {
    /// An owned report's parts.
    fn of(a: &'a IncomingAlert) -> Self {
        Content {
            key: &a.key,
            source: a.source,
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: a.starts_at,
            generator_url: a.generator_url.as_deref(),
            service: a.service.as_deref(),
            severity: a.severity.as_deref(),
        }
    }
}

/// One report as [`StoredAlerts::absorb_probes`] weighs it: hashes of its
/// key and of its [`Content`], and its `endsAt`.
#[derive(Clone, Copy)]
pub struct Probe {
    key: u64,
    content: u64,
    ends_at: Option<Timestamp>,
}

/// What the door does with one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// Answered here: nothing is written.
    Absorbed,
    /// Only its `endsAt` moves, later, and the stored one is within the
    /// margin: written in place by the append (a narrow update instead of a
    /// log row, a merge and a row rewrite), or logged if the stored row is
    /// not as remembered.
    Extend(Ticket),
    /// Logged and merged.
    Log,
}

/// An extension on its way ([`Door::Extend`]): the stored `endsAt` it
/// expects, and what to remember once it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    key: u64,
    content: u64,
    ends_ms: i64,
    /// When the door marked the alert [`EXTENDING`].
    marked_ms: i64,
    pub stored_ends_at: Timestamp,
}

/// A merge's outcome for one report, learned once the merge commits.
pub struct Merged {
    key: u64,
    content: u64,
    received_ms: i64,
    /// `None`: the report left its alert not firing, or was older than the
    /// stored state (the stored alert is not what this report describes).
    firing_until_ms: Option<i64>,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ends_ms(ends_at: Option<Timestamp>) -> i64 {
    ends_at.map_or(OPEN_ENDED, ms)
}

/// Up to a quarter of the lead more margin, by the alert's slot: a large
/// set of alerts first sent together (a rule that fires for thousands of
/// targets at once) is not all logged in the same refresh. Slots go by the
/// order alerts were first learned, [`SLOT_RUN`] at a time, and that is the
/// order their rows were written (a merge writes a chunk of new alerts side
/// by side), so a refresh that logs one slot rewrites its rows' pages and
/// leaves the others alone. By a hash of the key instead, a refresh that
/// logged a quarter of the alerts rewrote nearly every page of the table
/// (BENCHMARKS.md, slice 8).
fn spread(slot: u16, lead: Duration) -> Duration {
    lead / 4 * u32::from(slot) / SLOTS as u32
}

impl StoredAlerts {
    fn with_limit(limit: usize) -> Self {
        StoredAlerts {
            hasher: RandomState::default(),
            entries: Mutex::default(),
            learned: AtomicU64::default(),
            limit,
            full_until_ms: AtomicI64::new(i64::MIN),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Everything of a report a merge keeps, but `endsAt` (never
    /// [`CHANGING`]).
    fn content(&self, a: &IncomingAlert) -> u64 {
        self.content_of(&Content::of(a))
    }

    fn content_of<P: Labels + ?Sized>(&self, c: &Content<'_, P>) -> u64 {
        let mut h = self.hasher.build_hasher();
        c.key.hash(&mut h);
        c.source.hash(&mut h);
        for set in [c.labels, c.annotations] {
            let pairs = set.pairs();
            pairs.len().hash(&mut h);
            for (name, value) in pairs {
                name.hash(&mut h);
                value.hash(&mut h);
            }
        }
        c.starts_at.hash(&mut h);
        c.generator_url.hash(&mut h);
        c.service.hash(&mut h);
        c.severity.hash(&mut h);
        h.finish().max(EXTENDING + 1)
    }

    /// A report as [`absorb_probes`](Self::absorb_probes) weighs it, from
    /// its parts borrowed from the request.
    pub fn probe<P: Labels + ?Sized>(
        &self,
        c: &Content<'_, P>,
        ends_at: Option<Timestamp>,
    ) -> Probe {
        Probe {
            key: self.key(c.key),
            content: self.content_of(c),
            ends_at,
        }
    }

    /// How far ahead a stored `endsAt` must be for a refresh ending `lead`
    /// from now to be absorbed, with `backlog` reports waiting to merge.
    pub fn margin(lead: Duration, backlog: u64) -> Duration {
        (lead / 2).max(REFRESH_MARGIN) + Duration::from_secs(backlog / MERGED_PER_SEC_FLOOR)
    }

    /// Keep the reports that must be logged or extended; answer the rest
    /// here. Returns those to log, those to extend with their tickets, and
    /// how many were absorbed.
    pub fn absorb(
        &self,
        alerts: Vec<IncomingAlert>,
        now: Timestamp,
        backlog: u64,
    ) -> (Vec<IncomingAlert>, Vec<(IncomingAlert, Ticket)>, usize) {
        if self.is_empty() {
            return (alerts, Vec::new(), 0);
        }
        let probes: Vec<Probe> = alerts
            .iter()
            .map(|a| self.probe(&Content::of(a), a.ends_at))
            .collect();
        let doors = self.absorb_probes(&probes, now, backlog);
        let (mut logged, mut extended, mut absorbed) = (Vec::new(), Vec::new(), 0);
        for (a, door) in alerts.into_iter().zip(doors) {
            match door {
                Door::Absorbed => absorbed += 1,
                Door::Extend(ticket) => extended.push((a, ticket)),
                Door::Log => logged.push(a),
            }
        }
        (logged, extended, absorbed)
    }

    /// Nothing remembered: no report can be absorbed.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// For each report, what the door does with it. One that is not
    /// absorbed marks its alert as changing (logged) or extending.
    pub fn absorb_probes(&self, probes: &[Probe], now: Timestamp, backlog: u64) -> Vec<Door> {
        let now_ms = ms(now);
        let mut entries = self.lock();
        let mut doors = Vec::with_capacity(probes.len());
        for &Probe {
            key,
            content,
            ends_at,
        } in probes
        {
            let Some(entry) = entries.get_mut(&key) else {
                doors.push(Door::Log);
                continue;
            };
            let incoming_end = ends_ms(ends_at);
            // Only `endsAt` moves, later, and the alert stays firing.
            let refresh = entry.content == content
                && incoming_end > now_ms
                && incoming_end >= entry.ends_ms
                // Dropping an end, or setting one, is news.
                && (incoming_end == OPEN_ENDED) == (entry.ends_ms == OPEN_ENDED);
            let door = match refresh {
                false => Door::Log,
                true if incoming_end == OPEN_ENDED => Door::Absorbed,
                true => {
                    let lead = Duration::from_millis((incoming_end - now_ms) as u64);
                    let margin = Self::margin(lead, backlog) + spread(entry.slot, lead);
                    if entry.ends_ms > now_ms.saturating_add(margin.as_millis() as i64) {
                        Door::Absorbed
                    } else if entry.ends_ms > now_ms {
                        Door::Extend(Ticket {
                            key,
                            content,
                            ends_ms: incoming_end,
                            marked_ms: now_ms,
                            stored_ends_at: Timestamp::from_millisecond(entry.ends_ms)
                                .unwrap_or(now),
                        })
                    } else {
                        // The stored alert may be swept as resolved already.
                        Door::Log
                    }
                }
            };
            match door {
                Door::Absorbed => {}
                Door::Extend(_) => entry.content = EXTENDING,
                Door::Log => entry.content = CHANGING,
            }
            if door != Door::Absorbed {
                entry.ends_ms = now_ms;
            }
            doors.push(door);
        }
        doors
    }

    /// Extensions the append wrote in place (`written`): their alerts end
    /// later now, unless a report of them came meanwhile. Those not written
    /// were logged, and stay marked until their merge.
    pub fn extended(&self, tickets: &[Ticket], written: &[bool]) {
        let mut entries = self.lock();
        for (t, _) in tickets.iter().zip(written).filter(|(_, w)| **w) {
            if let Some(entry) = entries.get_mut(&t.key)
                && entry.content == EXTENDING
                && entry.ends_ms == t.marked_ms
            {
                entry.content = t.content;
                entry.ends_ms = t.ends_ms;
            }
        }
    }

    /// One merge's outcome for `report`, to [`learn`](Self::learn) once it
    /// commits.
    pub fn merged(&self, report: &IncomingAlert, received_at: Timestamp, stored: &Alert) -> Merged {
        let applied = stored.updated_at == received_at && stored.ends_at == report.ends_at;
        Merged {
            key: self.key(&report.key),
            content: self.content(report),
            received_ms: ms(received_at),
            firing_until_ms: (applied && stored.is_firing(received_at))
                .then(|| ends_ms(stored.ends_at)),
        }
    }

    /// Learn what committed merges stored, in merge order.
    pub fn learn(&self, merged: Vec<Merged>, now: Timestamp) {
        if merged.is_empty() {
            return;
        }
        let mut unremembered = 0_u64;
        let mut entries = self.lock();
        for m in merged {
            if let Some(entry) = entries.get(&m.key)
                && entry.content <= EXTENDING
                && entry.ends_ms > m.received_ms
            {
                // A report logged after this one is not merged yet. (One
                // received in the same millisecond is taken as the later: a
                // flip back within it is corrected by the next report.)
                continue;
            }
            match m.firing_until_ms {
                Some(ends_ms) => {
                    if entries.len() >= self.limit && !entries.contains_key(&m.key) {
                        let now_ms = ms(now);
                        if now_ms < self.full_until_ms.load(Ordering::Relaxed) {
                            unremembered += 1;
                            continue;
                        }
                        entries.retain(|_, e| e.content > EXTENDING && e.ends_ms > now_ms);
                        if entries.len() >= self.limit {
                            self.full_until_ms
                                .store(now_ms + FULL_RETRY_MS, Ordering::Relaxed);
                            unremembered += 1;
                            continue;
                        }
                    }
                    let slot = match entries.get(&m.key) {
                        Some(known) => known.slot,
                        None => self.next_slot(),
                    };
                    entries.insert(
                        m.key,
                        Entry {
                            content: m.content,
                            ends_ms,
                            slot,
                        },
                    );
                }
                None => {
                    entries.remove(&m.key);
                }
            }
        }
        drop(entries);
        if unremembered > 0 {
            // Their refreshes go through the log: more writes than usual.
            metrics::counter!("firebell_alerts_refresh_memory_full_total").increment(unremembered);
        }
    }

    /// The slot of an alert learned for the first time (see [`spread`]).
    fn next_slot(&self) -> u16 {
        let n = self.learned.fetch_add(1, Ordering::Relaxed);
        (n / SLOT_RUN % SLOTS) as u16
    }

    /// Alerts remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    /// An alert's slot, if it is remembered.
    #[cfg(test)]
    fn slot(&self, key: &str) -> Option<u16> {
        self.lock().get(&self.key(key)).map(|e| e.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebell_core::alert::AlertSource;

    const T0: &str = "2026-12-05T10:00:00Z";

    fn at(secs: i64) -> Timestamp {
        T0.parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(secs)
    }

    /// Firing, received at `T0`, ending `ends_in` seconds after it.
    fn report(ends_in: Option<i64>) -> IncomingAlert {
        IncomingAlert {
            source: AlertSource::Alertmanager,
            key: "fp1".into(),
            labels: [("alertname".to_string(), "A".to_string())].into(),
            annotations: [("summary".to_string(), "s".to_string())].into(),
            starts_at: at(-60),
            ends_at: ends_in.map(at),
            generator_url: None,
            service: None,
            severity: None,
        }
    }

    /// The alert a merge of `r` received at `received` stores.
    fn stored(r: &IncomingAlert, received: Timestamp) -> Alert {
        let routed = firebell_core::alert::RouteMatch {
            path: "root".into(),
            receiver: "firebell".into(),
            service: None,
            severity: None,
            group_labels: Default::default(),
            group_key: "g".into(),
            runbook: None,
            escalation_policy: None,
        };
        firebell_core::alert::merge(None, r, &routed, received).0
    }

    /// Remember `r` as merged at `received`.
    fn learned(known: &StoredAlerts, r: &IncomingAlert, received: Timestamp) {
        known.learn(
            vec![known.merged(r, received, &stored(r, received))],
            received,
        );
    }

    #[test]
    fn a_full_map_is_swept_at_most_once_a_second() {
        let after = |ms: i64| at(0) + jiff::SignedDuration::from_millis(ms);
        let firing = |key: &str, ends_ms: i64| IncomingAlert {
            key: key.into(),
            ends_at: Some(after(ends_ms)),
            ..report(None)
        };
        let known = StoredAlerts::with_limit(2);
        learned(&known, &firing("a", 9_000), at(0));
        learned(&known, &firing("b", 600_000), at(0));
        // Full, nothing ended: a sweep finds no room, and "c" is not learned.
        learned(&known, &firing("c", 600_000), after(8_500));
        assert_eq!((known.len(), known.slot("c")), (2, None));
        // "a" has ended, but the next sweep waits a second after that one:
        // one sweep per new alert kept a flood's merge busy for seconds.
        learned(&known, &firing("d", 600_000), after(9_200));
        assert!(known.slot("a").is_some() && known.slot("d").is_none());
        // Then "a" is swept, and a new alert takes its place.
        learned(&known, &firing("e", 600_000), after(9_600));
        assert!(known.slot("a").is_none() && known.slot("e").is_some());
        assert_eq!(known.len(), 2);
    }

    fn absorbed(known: &StoredAlerts, r: IncomingAlert, now: Timestamp) -> bool {
        let (kept, extended, n) = known.absorb(vec![r], now, 0);
        assert_eq!(kept.len() + extended.len() + n, 1);
        n == 1
    }

    fn door(known: &StoredAlerts, r: &IncomingAlert, now: Timestamp) -> Door {
        known.absorb_probes(&[known.probe(&Content::of(r), r.ends_at)], now, 0)[0]
    }

    #[test]
    fn a_refresh_near_the_stored_end_is_extended_in_place_once() {
        let known = StoredAlerts::default();
        learned(&known, &report(Some(240)), at(0));
        let Door::Extend(ticket) = door(&known, &report(Some(400)), at(160)) else {
            panic!("within the margin, only endsAt later: extended");
        };
        assert_eq!(ticket.stored_ends_at, at(240));
        assert_eq!(
            door(&known, &report(Some(401)), at(161)),
            Door::Log,
            "while one is on its way, the rest are logged"
        );
        // Written: nothing restores the entry, a report came meanwhile.
        known.extended(&[ticket], &[true]);
        assert_eq!(door(&known, &report(Some(402)), at(162)), Door::Log);

        let known = StoredAlerts::default();
        learned(&known, &report(Some(240)), at(0));
        let Door::Extend(ticket) = door(&known, &report(Some(400)), at(160)) else {
            panic!("extended");
        };
        known.extended(&[ticket], &[true]);
        assert!(
            absorbed(&known, report(Some(415)), at(175)),
            "the stored end is 400 s now"
        );

        // Not written (logged instead): marked until the merge of the log row.
        let known = StoredAlerts::default();
        learned(&known, &report(Some(240)), at(0));
        let Door::Extend(ticket) = door(&known, &report(Some(400)), at(160)) else {
            panic!("extended");
        };
        known.extended(&[ticket], &[false]);
        assert_eq!(door(&known, &report(Some(415)), at(175)), Door::Log);
        // Its merge does not vouch for the alert: one logged later waits.
        learned(&known, &report(Some(400)), at(160));
        assert_eq!(door(&known, &report(Some(420)), at(180)), Door::Log);
        learned(&known, &report(Some(420)), at(180));
        assert!(absorbed(&known, report(Some(430)), at(190)));
    }

    #[test]
    fn a_refresh_after_the_stored_end_or_of_other_content_is_logged() {
        let known = StoredAlerts::default();
        learned(&known, &report(Some(240)), at(0));
        assert_eq!(
            door(&known, &report(Some(500)), at(241)),
            Door::Log,
            "the stored alert may have been swept as resolved"
        );
        let known = StoredAlerts::default();
        learned(&known, &report(Some(240)), at(0));
        let changed = IncomingAlert {
            annotations: [("summary".to_string(), "t".to_string())].into(),
            ..report(Some(400))
        };
        assert_eq!(door(&known, &changed, at(160)), Door::Log);
    }

    #[test]
    fn alerts_learned_together_share_a_slot_for_life() {
        let known = StoredAlerts::default();
        let numbered = |i: u64| IncomingAlert {
            key: format!("fp{i}"),
            ..report(Some(240))
        };
        for i in 0..3 * SLOT_RUN {
            learned(&known, &numbered(i), at(0));
        }
        let slot = |i: u64| known.slot(&format!("fp{i}")).unwrap();
        assert_eq!(slot(0), slot(SLOT_RUN - 1), "one run, one slot");
        assert_ne!(slot(SLOT_RUN - 1), slot(SLOT_RUN), "the next run, the next");
        // Logged and merged again, it keeps its slot: its row has not moved.
        let before = slot(SLOT_RUN + 5);
        assert!(!absorbed(&known, numbered(SLOT_RUN + 5), at(200)));
        learned(&known, &numbered(SLOT_RUN + 5), at(200));
        assert_eq!(slot(SLOT_RUN + 5), before);
        // Slots cover a quarter of the lead: the last slot's margin is
        // nearly all of it.
        let lead = Duration::from_secs(240);
        assert_eq!(spread(0, lead), Duration::ZERO);
        assert!(spread((SLOTS - 1) as u16, lead) > lead / 4 - lead / 400);
    }

    #[test]
    fn a_refresh_that_only_moves_a_distant_ends_at_later_is_absorbed() {
        let known = StoredAlerts::default();
        assert!(
            !absorbed(&known, report(Some(240)), at(0)),
            "nothing known yet"
        );
        learned(&known, &report(Some(240)), at(0));
        assert!(absorbed(&known, report(Some(255)), at(15)));
        assert!(
            absorbed(&known, report(Some(240)), at(15)),
            "the same endsAt"
        );
        // Absorbed while the stored endsAt (240 s) is more than the margin
        // away: half the new lead, at least a minute, plus this alert's
        // share of a quarter of the lead.
        let after_learning = |now: i64, lead: i64| {
            let known = StoredAlerts::default();
            learned(&known, &report(Some(240)), at(0));
            let margin = StoredAlerts::margin(Duration::from_secs(lead as u64), 0)
                + spread(known.slot("fp1").unwrap(), Duration::from_secs(lead as u64));
            let expected = at(240) > at(now) + margin;
            (
                absorbed(&known, report(Some(now + lead)), at(now)),
                expected,
            )
        };
        let (mut absorbed_some, mut logged_some) = (false, false);
        for now in (60..=200).step_by(5) {
            for lead in [200, 240, 300] {
                let (got, expected) = after_learning(now, lead);
                assert_eq!(got, expected, "at {now} s with a lead of {lead} s");
                absorbed_some |= got;
                logged_some |= !got;
            }
        }
        assert!(absorbed_some && logged_some);
        assert!(after_learning(60, 240).0, "a margin of at most 3 min");
        assert!(!after_learning(120, 240).0, "a margin of at least 2 min");
        // Once one is logged, the rest are too until it is merged.
        assert!(!absorbed(&known, report(Some(360)), at(120)));
        assert!(!absorbed(&known, report(Some(361)), at(121)));
        learned(&known, &report(Some(360)), at(122));
        assert!(absorbed(&known, report(Some(375)), at(135)));
    }

    #[test]
    fn anything_else_goes_to_the_log() {
        let cases: Vec<(&str, IncomingAlert)> = vec![
            ("an earlier endsAt", report(Some(200))),
            ("resolved", report(Some(-1))),
            ("open-ended", report(None)),
            (
                "another annotation",
                IncomingAlert {
                    annotations: [("summary".to_string(), "t".to_string())].into(),
                    ..report(Some(255))
                },
            ),
            (
                "another startsAt",
                IncomingAlert {
                    starts_at: at(-30),
                    ..report(Some(255))
                },
            ),
            (
                "another severity",
                IncomingAlert {
                    severity: Some("P1".into()),
                    ..report(Some(255))
                },
            ),
            (
                "another alert",
                IncomingAlert {
                    key: "fp2".into(),
                    ..report(Some(255))
                },
            ),
        ];
        for (what, r) in cases {
            let known = StoredAlerts::default();
            learned(&known, &report(Some(240)), at(0));
            assert!(!absorbed(&known, r, at(15)), "{what}");
        }
    }

    #[test]
    fn an_open_ended_alert_refreshed_as_it_is_is_absorbed() {
        let known = StoredAlerts::default();
        learned(&known, &report(None), at(0));
        assert!(absorbed(&known, report(None), at(3600)));
        assert!(
            !absorbed(&known, report(Some(4000)), at(3600)),
            "an end is news"
        );
    }

    #[test]
    fn a_logged_change_stops_older_merges_vouching_for_the_alert() {
        let known = StoredAlerts::default();
        let old = report(Some(240));
        learned(&known, &old, at(0));
        // A change goes to the log at 10 s...
        let changed = IncomingAlert {
            annotations: [("summary".to_string(), "t".to_string())].into(),
            ..report(Some(250))
        };
        assert!(!absorbed(&known, changed.clone(), at(10)));
        // ...while a report of the old content received at 5 s merges: it
        // must not make the old content absorbable again.
        learned(&known, &report(Some(245)), at(5));
        assert!(!absorbed(&known, report(Some(260)), at(20)));
        // Once the change merges, its own refreshes are absorbed.
        learned(&known, &changed, at(30));
        let refresh = IncomingAlert {
            ends_at: Some(at(300)),
            ..changed
        };
        assert!(absorbed(&known, refresh, at(45)));
    }

    #[test]
    fn a_resolve_forgets_the_alert_and_a_stale_merge_teaches_nothing() {
        let known = StoredAlerts::default();
        learned(&known, &report(Some(240)), at(0));
        let resolve = report(Some(10));
        assert!(!absorbed(&known, resolve.clone(), at(10)));
        learned(&known, &resolve, at(11));
        assert_eq!(known.len(), 0, "not firing: forgotten");
        // A report older than the stored state changes nothing, so it does
        // not describe what is stored.
        let r = report(Some(240));
        let newer = stored(&r, at(20));
        known.learn(vec![known.merged(&r, at(12), &newer)], at(20));
        assert_eq!(known.len(), 0);
    }

    #[test]
    fn the_margin_is_half_the_lead_and_grows_with_the_backlog() {
        let mins = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(StoredAlerts::margin(mins(4), 0), mins(2));
        assert_eq!(StoredAlerts::margin(mins(1), 0), REFRESH_MARGIN);
        assert_eq!(
            StoredAlerts::margin(mins(4), 1_000_000),
            mins(2) + Duration::from_secs(100)
        );
    }
}
