//! Pruning on the policy's `[retention]`: every 10 minutes, on the replica
//! holding the `retention` lease. [`prune_once`] for tests and tools.

use std::time::Duration;

use firebell_store::{PruneBefore, Pruned, StoreError};

use std::sync::Arc;

use firebell_store::Store;

use crate::clock::Clock;
use crate::policy_source::PolicyHandle;

const EVERY: Duration = Duration::from_secs(600);

/// The pruner's handles.
#[derive(Clone)]
pub struct Retention {
    pub store: Store,
    pub policy: PolicyHandle,
    pub clock: Arc<dyn Clock>,
    /// This process among replicas (the lease holder).
    pub replica: Arc<str>,
}

/// Delete what the policy no longer keeps, as of the server's now.
pub async fn prune_once(state: &Retention) -> Result<Pruned, StoreError> {
    let now = state.clock.now();
    let policy = state.policy.policy();
    let r = policy.retention;
    let before = |d: firebell_core::Duration| now - d.as_signed();
    // A pending sign-up is kept a day past its confirmation window.
    let lapsed = policy.status_page.subscriptions.confirm_within.as_signed()
        + jiff::SignedDuration::from_hours(24);
    let pruned = state
        .store
        .prune(&PruneBefore {
            alerts: before(r.alerts),
            silences: before(r.silences),
            changes: before(r.changes),
            subscriber_messages: before(r.subscriber_messages),
            lapsed_signups: now - lapsed,
        })
        .await?;
    for (what, n) in [
        ("alerts", pruned.alerts),
        ("silences", pruned.silences),
        ("maintenance_windows", pruned.maintenance_windows),
        ("changes", pruned.changes),
        ("subscriber_messages", pruned.subscriber_messages),
        ("subscribers", pruned.lapsed_signups),
    ] {
        metrics::counter!("firebell_pruned_total", "table" => what).increment(n);
    }
    Ok(pruned)
}

pub async fn run(state: Retention) {
    let mut lease = crate::health::Lease::new("retention");
    loop {
        if lease
            .hold(&state.store, state.clock.as_ref(), &state.replica)
            .await
        {
            match prune_once(&state).await {
                Ok(p) if p != Pruned::default() => tracing::info!(?p, "pruned old records"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning failed; will retry"),
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}
