//! Rows that keep failing are set aside, so one bad row never stalls a queue.
//!
//! Each queue isolates a failing row first (the ingest log merges the
//! oldest row alone, the scheduler fires each incident alone), then counts
//! tries against it only when the row itself is at fault
//! ([`Fault::Row`](firebell_store::Fault)): a database that is down or busy
//! costs no row its place. After the queue's bound the row moves to the
//! `set_aside` table, where `/api/v1/set-aside` lists it, and an operator
//! retries it (after an upgrade or a fix) or discards it. `/metrics` counts
//! what is set aside per queue.

use std::fmt::Display;

use firebell_store::{Queue, Tried};

/// Record a failed try in the log and the metrics.
pub fn tried(queue: Queue, item: &str, error: &dyn Display, tried: Tried) {
    metrics::counter!("firebell_queue_row_failures_total", "queue" => queue.as_str()).increment(1);
    match tried {
        Tried::Again { tries } => {
            tracing::warn!(queue = queue.as_str(), item, tries, error = %error, "a queued row failed; will try again")
        }
        Tried::SetAside { id } => {
            metrics::counter!("firebell_set_aside_total", "queue" => queue.as_str()).increment(1);
            tracing::error!(queue = queue.as_str(), item, set_aside = id, error = %error, "a queued row kept failing and is set aside")
        }
        Tried::Gone => {}
    }
}

/// A queue whose oldest row is this late is stalled: `/ready` answers 503
/// and `firebell_queue_stalled` is 1. Longer than a failing row can hold
/// its queue before it is set aside (five tries, ten seconds apart at most).
pub const STALLED_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// How one queue is doing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueueHealth {
    pub queue: Queue,
    /// When its oldest row was due (`null`: the queue is empty).
    #[schema(value_type = Option<String>)]
    pub oldest_due_at: Option<jiff::Timestamp>,
    /// How long past due that row is (0 if not due yet).
    pub late_seconds: f64,
    /// Late by [`STALLED_AFTER`] or more.
    pub stalled: bool,
    /// Rows set aside from it.
    pub set_aside: u64,
}

/// Every queue's health at `now`.
pub async fn queue_health(
    store: &firebell_store::Store,
    now: jiff::Timestamp,
) -> Result<Vec<QueueHealth>, firebell_store::StoreError> {
    let heads = store.queue_heads().await?;
    let counts = store.count_set_aside().await?;
    Ok(heads
        .into_iter()
        .map(|(queue, oldest_due_at)| {
            let late = oldest_due_at.map_or(jiff::SignedDuration::ZERO, |at| {
                now.duration_since(at).max(jiff::SignedDuration::ZERO)
            });
            let set_aside = counts
                .iter()
                .find(|(q, _)| *q == queue)
                .map_or(0, |(_, n)| *n);
            QueueHealth {
                queue,
                oldest_due_at,
                late_seconds: late.as_secs_f64(),
                stalled: late >= STALLED_AFTER,
                set_aside,
            }
        })
        .collect())
}

/// Set the queue gauges (at each scrape: `/metrics` alone sets them, so a
/// scrape reports what it read).
pub fn publish(queues: &[QueueHealth]) {
    for health in queues {
        let q = health.queue.as_str();
        metrics::gauge!("firebell_queue_late_seconds", "queue" => q).set(health.late_seconds);
        metrics::gauge!("firebell_queue_stalled", "queue" => q).set(if health.stalled {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("firebell_set_aside_rows", "queue" => q).set(health.set_aside as f64);
    }
}
