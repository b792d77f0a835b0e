//! Whose turn it is at SQLite's single writer connection.
//!
//! Under a flood the ingest log's appends and merges (bulk writes) would
//! hold the writer almost all the time, and a first-come queue puts a new
//! alert's declaration, its page and a responder's acknowledgement behind
//! every one of them. Taking turns by lane instead, a pipeline write waits
//! for at most the one transaction in flight and the pipeline writes ahead
//! of it; bulk writes take the gaps. The turn covers only taking the
//! connection, which the pool hands to its one waiter as soon as the
//! transaction in flight ends, so the order of turns is the order of writes.
//! Bulk writes wait as long as pipeline writes keep coming (a storm of new
//! incidents, say): by design, pages before the backlog.
//!
//! A new group's page takes several pipeline writes in a row (its reports
//! logged, its incident declared, its page claimed), each by another task
//! woken by the one before. Between them a bulk write would take the turn
//! and hold the writer for tens of milliseconds each time, so a write that
//! hands on to another ([`Lane::Relay`]) keeps the next turn for the
//! pipeline for up to [`KEEP`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The kind of write, and so its place in the queue for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Everything that moves an incident along or answers a person.
    Pipeline,
    /// A pipeline write another pipeline write follows at once (new groups'
    /// reports, whose declaration follows; a declaration, whose first page
    /// follows): the turn after it is kept for the pipeline for up to
    /// [`KEEP`] rather than go to a bulk write.
    Relay,
    /// The ingest log's appends of known groups and its oldest-first merge:
    /// throughput, not latency.
    Bulk,
}

impl Lane {
    fn as_str(self) -> &'static str {
        match self {
            Lane::Pipeline | Lane::Relay => "pipeline",
            Lane::Bulk => "bulk",
        }
    }
}

tokio::task_local! {
    /// The lane of the current task's writes, where [`in_lane`] set one.
    static LANE: Lane;
}

/// Run `work` with its writes in `lane`: the alert processor's batch runs in
/// [`Lane::Bulk`], its declarations back in [`Lane::Pipeline`]. A task-local
/// rather than a parameter of every write: the lane is the caller's
/// concern, not the statement's.
pub async fn in_lane<F: std::future::Future>(lane: Lane, work: F) -> F::Output {
    LANE.scope(lane, work).await
}

/// The lane set by [`in_lane`] around this task, or `default`.
pub(crate) fn current_lane(default: Lane) -> Lane {
    LANE.try_with(|lane| *lane).unwrap_or(default)
}

/// A priority lock without a value: pipeline waiters before bulk ones,
/// first come first served within a lane.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    waiting: Mutex<Waiting>,
    /// Since when, and in which lane, the connection has been held: what a
    /// pipeline write waits behind is the bulk write's hold, so it is
    /// measured (`firebell_store_writer_hold_seconds`).
    held: Mutex<Option<(Instant, Lane)>>,
}

/// How long a [`Lane::Relay`] write keeps the next turn for the pipeline: the
/// time its successor needs to be woken and to read what it writes, well
/// under one bulk write's hold.
pub(crate) const KEEP: Duration = Duration::from_millis(15);
/// How long a turn is kept while a relay write is in flight, at most.
const RELAY_BOUND: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Waiting {
    taken: bool,
    /// Until when a free turn is kept from bulk writes (see [`Lane::Relay`]);
    /// tokio's clock, which the lapse's timer keeps.
    kept_until: Option<tokio::time::Instant>,
    pipeline: VecDeque<oneshot::Sender<Turn>>,
    bulk: VecDeque<oneshot::Sender<Turn>>,
}

impl Waiting {
    fn kept(&self) -> bool {
        self.kept_until
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }
}

/// The turn, taken in a lane; dropping it passes it on.
#[derive(Debug)]
pub(crate) struct Turn(Option<Arc<Turns>>, Lane);

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(turns) = self.0.take() {
            turns.pass(self.1);
        }
    }
}

impl Turns {
    /// Wait for a turn in `lane`. Cancel-safe: a waiter that gives up
    /// passes on a turn handed to it.
    pub(crate) async fn take(self: &Arc<Self>, lane: Lane) -> Turn {
        loop {
            let rx = {
                let mut w = self.lock();
                if !w.taken && (lane != Lane::Bulk || !w.kept()) {
                    w.taken = true;
                    if lane != Lane::Bulk {
                        w.kept_until = None;
                    }
                    return Turn(Some(self.clone()), lane);
                }
                let (tx, rx) = oneshot::channel();
                match lane {
                    Lane::Pipeline | Lane::Relay => w.pipeline.push_back(tx),
                    Lane::Bulk => w.bulk.push_back(tx),
                }
                rx
            };
            // A sender is dropped unsent only by `pass`, after finding this
            // receiver gone: not while it waits here. Queue again if so.
            if let Ok(mut turn) = rx.await {
                turn.1 = lane;
                return turn;
            }
        }
    }

    /// The connection was taken in `lane` after waiting since `asked`.
    pub(crate) fn acquired(&self, lane: Lane, asked: Instant) {
        let now = Instant::now();
        metrics::histogram!("firebell_store_writer_wait_seconds", "lane" => lane.as_str())
            .record(now.duration_since(asked).as_secs_f64());
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, lane));
    }

    /// The connection is back in the pool. After a relay write, the turn is
    /// kept for its successor from now on.
    pub(crate) fn released(self: &Arc<Self>) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((since, lane)) = held else {
            return;
        };
        metrics::histogram!("firebell_store_writer_hold_seconds", "lane" => lane.as_str())
            .record(since.elapsed().as_secs_f64());
        if lane == Lane::Relay {
            let mut w = self.lock();
            if w.kept_until.is_some() {
                self.keep(&mut w, KEEP);
            }
        }
    }

    fn pass(self: &Arc<Self>, from: Lane) {
        let mut w = self.lock();
        // A relay write is in flight: the turn is kept while it is, and for
        // [`KEEP`] once it is released (see `released`); the bound is for a
        // connection that never comes back.
        if from == Lane::Relay && w.pipeline.is_empty() {
            self.keep(&mut w, RELAY_BOUND);
        }
        self.hand_on(&mut w);
    }

    /// Keep a free turn from bulk writes for `time`.
    fn keep(self: &Arc<Self>, w: &mut Waiting, time: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        w.kept_until = Some(tokio::time::Instant::now() + time);
        let turns = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(time).await;
            turns.lapse();
        });
    }

    /// A kept turn nobody took: bulk writes may have it.
    fn lapse(self: &Arc<Self>) {
        let mut w = self.lock();
        if !w.taken && !w.kept() {
            w.kept_until = None;
            self.hand_on(&mut w);
        }
    }

    /// Hand the free turn to the first pipeline waiter, else (unless it is
    /// kept) the first bulk one, else leave it free.
    fn hand_on(self: &Arc<Self>, w: &mut Waiting) {
        while let Some(next) = w.pipeline.pop_front() {
            w.kept_until = None;
            match next.send(Turn(Some(self.clone()), Lane::Pipeline)) {
                Ok(()) => return,
                // The waiter gave up: the turn goes to the next, not back
                // through `Drop` (which would take the lock held here).
                Err(mut turn) => turn.0 = None,
            }
        }
        if !w.kept() {
            while let Some(next) = w.bulk.pop_front() {
                match next.send(Turn(Some(self.clone()), Lane::Bulk)) {
                    Ok(()) => return,
                    Err(mut turn) => turn.0 = None,
                }
            }
        }
        w.taken = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pipeline_waiters_go_before_bulk_ones() {
        let turns = Arc::new(Turns::default());
        let held = turns.take(Lane::Bulk).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, lane) in [
            ("bulk 1", Lane::Bulk),
            ("pipeline 1", Lane::Pipeline),
            ("bulk 2", Lane::Bulk),
            ("pipeline 2", Lane::Pipeline),
        ] {
            let (mine, order) = (turns.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = mine.take(lane).await;
                order.lock().unwrap().push(name);
            }));
            // Each is queued before the next is spawned.
            while {
                let w = turns.lock();
                w.pipeline.len() + w.bulk.len()
            } < tasks.len()
            {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["pipeline 1", "pipeline 2", "bulk 1", "bulk 2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_relay_keeps_the_next_turn_for_the_pipeline_for_a_moment() {
        let turns = Arc::new(Turns::default());
        let relay = turns.take(Lane::Relay).await;
        turns.acquired(Lane::Relay, Instant::now());
        drop(relay);
        let bulk = {
            let turns = turns.clone();
            tokio::spawn(async move { drop(turns.take(Lane::Bulk).await) })
        };
        // Kept while the relay write holds the connection, and for a moment
        // after it is released.
        tokio::time::sleep(KEEP * 2).await;
        turns.released();
        tokio::time::sleep(KEEP / 2).await;
        assert!(!bulk.is_finished(), "a bulk write took the kept turn");
        // The pipeline write that follows takes it at once; the bulk write
        // goes after it.
        let next = tokio::time::timeout(Duration::from_millis(1), turns.take(Lane::Pipeline));
        drop(next.await.expect("the pipeline write waited"));
        bulk.await.unwrap();

        // Nobody follows: the bulk write has the turn once the moment lapses.
        let relay = turns.take(Lane::Relay).await;
        turns.acquired(Lane::Relay, Instant::now());
        drop(relay);
        turns.released();
        let asked = tokio::time::Instant::now();
        drop(turns.take(Lane::Bulk).await);
        assert_eq!(asked.elapsed(), KEEP, "kept for exactly the moment");
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_the_turn() {
        let turns = Arc::new(Turns::default());
        let held = turns.take(Lane::Bulk).await;
        let gave_up = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take(Lane::Pipeline).await })
        };
        while turns.lock().pipeline.is_empty() {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        drop(held);
        // Free again: taken at once.
        let again = tokio::time::timeout(std::time::Duration::from_secs(5), turns.take(Lane::Bulk));
        assert!(again.await.is_ok(), "the turn was lost with the waiter");
    }
}
