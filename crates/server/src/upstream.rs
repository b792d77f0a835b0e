//! Upstream providers' status (s000.upstream-status): each provider's
//! Statuspage-format `status.json` is polled every `poll_every` by one
//! replica (lease `providers`). Every open incident of a dependent service
//! hears of an outage once (one declared during it, at the next poll), and
//! of the recovery if it heard of the outage. A provider that cannot be read
//! keeps its last indicator and says why; a failed read is not an outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use firebell_core::incident::Command;
use firebell_core::{Status, Timestamp};
use firebell_store::{IncidentFilter, ProviderStatus};
use serde::Deserialize;
use tokio::sync::Mutex as AsyncMutex;

use crate::AppState;
use crate::health::Lease;
use crate::notify::channels::http;

/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often a background round looks for providers due.
const EVERY: Duration = Duration::from_secs(5);

/// This replica's lease and when each provider was last polled.
pub struct Upstreams {
    replica: std::sync::Arc<str>,
    lease: AsyncMutex<Lease>,
    polled: Mutex<HashMap<String, Timestamp>>,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub polled: usize,
    pub changed: usize,
    /// Incidents the changes were recorded on.
    pub recorded: usize,
    pub failed: usize,
}

/// The part of Statuspage's `status.json` (and `summary.json`) read here.
#[derive(Deserialize)]
struct StatusJson {
    status: StatusPart,
}

#[derive(Deserialize)]
struct StatusPart {
    indicator: String,
    #[serde(default)]
    description: String,
}

impl Upstreams {
    pub fn new(replica: std::sync::Arc<str>) -> Upstreams {
        Upstreams {
            replica,
            lease: AsyncMutex::new(Lease::new("providers")),
            polled: Mutex::default(),
        }
    }
}

/// Poll every provider that is due; record changes on dependent incidents.
pub async fn run_once(state: &AppState) -> Result<Round, firebell_store::StoreError> {
    let mut round = Round::default();
    let policy = state.policy.policy();
    if policy.providers.is_empty() {
        return Ok(round);
    }
    let me = &state.upstreams;
    if !Lease::held(&me.lease, &state.store, &*state.clock, &me.replica).await {
        return Ok(round);
    }
    let previous: HashMap<String, ProviderStatus> = state
        .store
        .provider_statuses()
        .await?
        .into_iter()
        .map(|s| (s.provider.clone(), s))
        .collect();
    for (key, provider) in &policy.providers {
        // Each read may take its whole timeout: hold the lease for each,
        // so a slow round is never shared with another replica.
        if !Lease::held(&me.lease, &state.store, &*state.clock, &me.replica).await {
            break;
        }
        let now = state.clock.now();
        let due = {
            let polled = me.polled.lock().unwrap_or_else(|e| e.into_inner());
            polled
                .get(key)
                .or_else(|| previous.get(key).map(|p| &p.checked_at))
                .is_none_or(|at| *at + provider.poll_every.as_signed() <= now)
        };
        if !due {
            continue;
        }
        me.polled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), now);
        round.polled += 1;
        let before = previous.get(key);
        let status = match read(&provider.status_url).await {
            Ok(s) => ProviderStatus {
                provider: key.clone(),
                indicator: s.indicator,
                description: s.description,
                checked_at: now,
                changed_at: now,
                error: None,
            },
            Err(e) => {
                round.failed += 1;
                tracing::warn!(provider = %key, error = %e, "provider status could not be read");
                ProviderStatus {
                    provider: key.clone(),
                    indicator: before
                        .map(|b| b.indicator.clone())
                        .unwrap_or_else(|| "unknown".into()),
                    description: before.map(|b| b.description.clone()).unwrap_or_default(),
                    checked_at: now,
                    changed_at: now,
                    error: Some(e),
                }
            }
        };
        let changed = state.store.record_provider_status(&status).await?;
        // Never read yet: nothing to tell. A failed read keeps the last
        // reading, which incidents declared since still hear of.
        if status.indicator == "unknown" {
            continue;
        }
        // The first reading of a provider that is fine is no news.
        if changed && status.error.is_none() && (before.is_some() || status.indicator != "none") {
            round.changed += 1;
            metrics::counter!("firebell_provider_status_changes_total", "provider" => key.clone())
                .increment(1);
        }
        let services: Vec<&String> = policy
            .services
            .iter()
            .filter(|(_, s)| s.providers.contains(key))
            .map(|(k, _)| k)
            .collect();
        for service in services {
            let filter = IncidentFilter {
                statuses: Status::ALL.into_iter().filter(|s| s.is_open()).collect(),
                service: Some(service.clone()),
                limit: 500,
                ..Default::default()
            };
            for incident in state.store.list_incidents(&filter).await?.items {
                // Each open incident hears of an outage once (one declared
                // during it, at the next poll), and of the recovery if it
                // heard of the outage.
                let seen = incident.upstreams.get(key);
                let news = if status.indicator == "none" {
                    seen.is_some_and(|s| s != "none")
                } else {
                    seen != Some(&status.indicator)
                };
                if !news {
                    continue;
                }
                let cmd = Command::RecordUpstreamStatus {
                    provider: key.clone(),
                    name: if provider.name.is_empty() {
                        key.clone()
                    } else {
                        provider.name.clone()
                    },
                    indicator: status.indicator.clone(),
                    description: status.description.clone(),
                };
                match state
                    .incidents
                    .execute(&incident.id, "system", None, &cmd)
                    .await
                {
                    Ok(_) => round.recorded += 1,
                    Err(e) => {
                        tracing::warn!(incident = %incident.id, provider = %key, error = %e, "provider status not recorded")
                    }
                }
            }
        }
    }
    Ok(round)
}

async fn read(url: &str) -> Result<StatusPart, String> {
    let resp = http()
        .get(url)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("GET {url} failed: {e}"))?;
    let code = resp.status();
    if !code.is_success() {
        return Err(format!("GET {url} answered {code}"));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: reading the body failed: {e}"))?;
    if body.len() > 1_000_000 {
        return Err(format!("GET {url}: the answer is over 1 MB"));
    }
    let parsed: StatusJson = serde_json::from_slice(&body).map_err(|e| {
        format!("GET {url}: not a Statuspage status (expected {{\"status\": {{\"indicator\": …}}}}): {e}")
    })?;
    let indicator = parsed.status.indicator.trim().to_ascii_lowercase();
    if indicator.is_empty() || indicator.len() > 40 {
        return Err(format!("GET {url}: an empty or overlong indicator"));
    }
    Ok(StatusPart {
        indicator,
        description: parsed.status.description.chars().take(500).collect(),
    })
}

/// Rounds every few seconds while the server runs.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = run_once(&state).await {
            tracing::warn!(error = %e, "provider status round failed");
        }
        tokio::time::sleep(EVERY).await;
    }
}
