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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The kind of write, and so its place in the queue for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Everything that moves an incident along or answers a person.
    Pipeline,
    /// The ingest log's appends of known groups and its oldest-first merge:
    /// throughput, not latency.
    Bulk,
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
}

#[derive(Debug, Default)]
struct Waiting {
    taken: bool,
    pipeline: VecDeque<oneshot::Sender<Turn>>,
    bulk: VecDeque<oneshot::Sender<Turn>>,
}

/// The turn; dropping it passes it on.
#[derive(Debug)]
pub(crate) struct Turn(Option<Arc<Turns>>);

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(turns) = self.0.take() {
            turns.pass();
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
                if !w.taken {
                    w.taken = true;
                    return Turn(Some(self.clone()));
                }
                let (tx, rx) = oneshot::channel();
                match lane {
                    Lane::Pipeline => w.pipeline.push_back(tx),
                    Lane::Bulk => w.bulk.push_back(tx),
                }
                rx
            };
            // A sender is dropped unsent only by `pass`, after finding this
            // receiver gone: not while it waits here. Queue again if so.
            if let Ok(turn) = rx.await {
                return turn;
            }
        }
    }

    fn pass(self: &Arc<Self>) {
        let mut w = self.lock();
        while let Some(next) = w.pipeline.pop_front().or_else(|| w.bulk.pop_front()) {
            match next.send(Turn(Some(self.clone()))) {
                Ok(()) => return,
                // The waiter gave up: the turn goes to the next, not back
                // through `Drop` (which would take the lock held here).
                Err(mut turn) => turn.0 = None,
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
