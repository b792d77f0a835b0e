//! Alerts in: every source hands its normalised alerts to one [`IngestQueue`].
//!
//! A single writer task drains the bounded queue and commits everything it
//! finds in ONE transaction (group commit), then answers every waiting request.
//! So a 2xx always means "committed", and a storm costs one fsync per batch,
//! not per request. A full queue answers at once with 429 and `Retry-After`:
//! senders (Prometheus, Alertmanager) retry; nothing is dropped silently.
//!
//! Turning committed alerts into incidents is the [`processor`]'s job, after
//! the commit, so ingest latency never waits for incident bookkeeping.

pub mod processor;

use std::sync::Arc;
use std::time::Instant;

use firebell_core::alert::{IncomingAlert, merge, route};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::AppState;

/// Requests waiting for the writer; beyond this, senders get 429.
pub const QUEUE_CAPACITY: usize = 1024;
/// Most alerts committed in one transaction.
const MAX_BATCH_ALERTS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest queue is full; retry shortly")]
    Full,
    #[error("ingest is shutting down")]
    Closed,
    #[error("could not store alerts: {0}")]
    Store(String),
}

struct Job {
    alerts: Vec<IncomingAlert>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The sending side, shared by every ingest endpoint.
#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<Job>,
}

/// The receiving side, handed to [`run_writer`] when the server starts.
pub struct IngestReceiver(mpsc::Receiver<Job>);

/// Wakes the processor when new alerts were committed.
pub type ProcessorWake = Arc<Notify>;

pub fn queue() -> (IngestQueue, IngestReceiver) {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    (IngestQueue { tx }, IngestReceiver(rx))
}

impl IngestQueue {
    /// Commit `alerts` durably; returns once they are in the database.
    pub async fn submit(&self, alerts: Vec<IncomingAlert>) -> Result<(), IngestError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let (reply, done) = oneshot::channel();
        self.tx
            .try_send(Job { alerts, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!("firebell_ingest_rejected_total", "reason" => "queue_full")
                        .increment(1);
                    IngestError::Full
                }
                mpsc::error::TrySendError::Closed(_) => IngestError::Closed,
            })?;
        done.await
            .map_err(|_| IngestError::Closed)?
            .map_err(IngestError::Store)
    }
}

/// The writer task: drain, route, merge, commit, answer. Runs until every
/// sender is gone.
pub async fn run_writer(
    state: AppState,
    IngestReceiver(mut rx): IngestReceiver,
    wake: ProcessorWake,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut count = jobs[0].alerts.len();
        while count < MAX_BATCH_ALERTS {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.alerts.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut alerts = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            alerts.extend(job.alerts);
            replies.push(job.reply);
        }
        let policy = state.policy.policy();
        let now = state.clock.now();
        let result = state
            .store
            .upsert_alerts(&alerts, |existing, incoming| {
                let routed = route(&policy, &incoming.labels);
                merge(existing, incoming, &routed[0], now)
            })
            .await;
        metrics::histogram!("firebell_ingest_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("firebell_ingest_batch_alerts").record(count as f64);
        let outcome = match result {
            Ok(_) => {
                metrics::counter!("firebell_alerts_received_total").increment(count as u64);
                wake.notify_one();
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, alerts = count, "ingest batch failed; senders get 503");
                Err(e.to_string())
            }
        };
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
    }
}
