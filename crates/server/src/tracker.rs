//! Action items filed as issues in a tracker that speaks GitHub's issues
//! API, and their state read back (s004.action-items-to-issues):
//! `POST {url}` with `{title, body, labels}` files one and answers its
//! `number`, `html_url` and `state`; `GET {url}/{number}` reads it again. A
//! closed issue completes its item.
//!
//! One replica does this (lease `issue-tracker`). Each item is tried on
//! its own, so a tracker refusing one item holds up none of the others;
//! a failure backs off from 1 minute to an hour. If the tracker files an
//! issue but the answer is lost, the item is filed again on the next try:
//! the issue body carries `firebell:<incident>#<item>` to find such twins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use firebell_core::Timestamp;
use firebell_core::incident::{ActionItem, Command, TrackerIssue};
use firebell_core::policy::Tracker;
use firebell_store::{ActionItemFilter, ActionItemRow};
use serde::Deserialize;
use tokio::sync::Mutex as AsyncMutex;

use crate::AppState;
use crate::health::Lease;
use crate::notify::channels::http;

/// Items filed, and issues read back, per round at most.
const BATCH: u32 = 500;
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often a background round runs.
const EVERY: Duration = Duration::from_secs(10);
/// Read-back interval when the policy sets none.
const DEFAULT_POLL: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// The export's memory on this replica: the lease, failures backing off,
/// and when issues were last read back.
pub struct IssueTracker {
    replica: std::sync::Arc<str>,
    lease: AsyncMutex<Lease>,
    failures: Mutex<HashMap<(String, u32), Failure>>,
    polled_at: Mutex<Option<Timestamp>>,
}

#[derive(Clone, Debug)]
struct Failure {
    attempts: u32,
    retry_at: Timestamp,
    error: String,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub filed: usize,
    pub read_back: usize,
    /// Items whose state changed in the tracker (closed, reopened).
    pub changed: usize,
    pub failed: usize,
}

/// A failure of one item, said plainly for the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TrackerError(String);

/// What the tracker answers about an issue.
#[derive(Deserialize)]
struct IssueAnswer {
    number: u64,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

impl IssueTracker {
    pub fn new(replica: std::sync::Arc<str>) -> IssueTracker {
        IssueTracker {
            replica,
            lease: AsyncMutex::new(Lease::new("issue-tracker")),
            failures: Mutex::default(),
            polled_at: Mutex::default(),
        }
    }

    /// Items that failed and wait for their next try: `(incident, item,
    /// attempts, error)`.
    pub fn failing(&self) -> Vec<(String, u32, u32, String)> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .iter()
            .map(|((i, n), f)| (i.clone(), *n, f.attempts, f.error.clone()))
            .collect()
    }
}

/// File every unfiled action item, and read open issues back when due.
pub async fn run_once(state: &AppState) -> Result<Round, firebell_store::StoreError> {
    let mut round = Round::default();
    let Some(tracker) = state.policy.policy().action_items.tracker.clone() else {
        return Ok(round);
    };
    let me = &state.tracker;
    if !Lease::held(&me.lease, &state.store, &*state.clock, &me.replica).await {
        return Ok(round);
    }
    let token = tracker
        .token_env
        .as_deref()
        .and_then(|v| std::env::var(v).ok())
        .filter(|t| !t.is_empty());
    let unfiled = state
        .store
        .list_action_items(&ActionItemFilter {
            unfiled: true,
            limit: BATCH,
            ..Default::default()
        })
        .await?;
    for row in unfiled {
        let key = (row.incident_id.clone(), row.item.id);
        let now = state.clock.now();
        if me.backing_off(&key, now) {
            continue;
        }
        match file(state, &tracker, token.as_deref(), &row).await {
            Ok(issue) => {
                me.clear(&key);
                record(state, &row, issue).await;
                round.filed += 1;
            }
            Err(e) => {
                me.failed(key, now, e.0);
                round.failed += 1;
            }
        }
    }

    let now = state.clock.now();
    let poll = tracker
        .poll_every
        .map(|d| d.as_signed())
        .unwrap_or(DEFAULT_POLL);
    let due = {
        let mut at = me.polled_at.lock().unwrap_or_else(|e| e.into_inner());
        let due = at.is_none_or(|t| now.duration_since(t) >= poll);
        if due {
            *at = Some(now);
        }
        due
    };
    if !due {
        return Ok(round);
    }
    let filed = state
        .store
        .list_action_items(&ActionItemFilter {
            filed_open: true,
            limit: BATCH,
            ..Default::default()
        })
        .await?;
    for row in filed {
        let Some(known) = row.item.tracker.clone() else {
            continue;
        };
        match read(&tracker, token.as_deref(), known.number).await {
            Ok(issue) => {
                round.read_back += 1;
                if issue.state != known.state {
                    round.changed += 1;
                    let issue = TrackerIssue {
                        url: known.url.clone(),
                        ..issue
                    };
                    record(state, &row, issue).await;
                }
            }
            Err(e) => {
                tracing::warn!(incident = %row.incident_id, item = row.item.id, error = %e, "cannot read an issue back");
                round.failed += 1;
            }
        }
    }
    Ok(round)
}

/// Rounds every few seconds while the server runs.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = run_once(&state).await {
            tracing::warn!(error = %e, "issue tracker round failed");
        }
        tokio::time::sleep(EVERY).await;
    }
}

impl IssueTracker {
    fn backing_off(&self, key: &(String, u32), now: Timestamp) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.get(key).is_some_and(|f| now < f.retry_at)
    }

    fn clear(&self, key: &(String, u32)) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }

    fn failed(&self, key: (String, u32), now: Timestamp, error: String) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let attempts = failures.get(&key).map_or(0, |f| f.attempts) + 1;
        // 1, 2, 4 … minutes, at most an hour.
        let wait = jiff::SignedDuration::from_mins(1 << attempts.saturating_sub(1).min(6))
            .min(jiff::SignedDuration::from_hours(1));
        tracing::warn!(incident = %key.0, item = key.1, attempts, error = %error, "cannot file an action item");
        metrics::counter!("firebell_tracker_failures_total").increment(1);
        failures.insert(
            key,
            Failure {
                attempts,
                retry_at: now + wait,
                error,
            },
        );
    }
}

/// The issue's text: the item, its incident, and the marker.
fn issue_body(state: &AppState, row: &ActionItemRow) -> String {
    let a: &ActionItem = &row.item;
    let link = format!(
        "{}/incidents/{}",
        state.links.base().trim_end_matches('/'),
        row.incident_id
    );
    let mut body = format!(
        "Action item {} of incident [{}]({link}): {}\n\n- **Owner**: {}\n- **Priority**: {}\n",
        a.id,
        row.incident_id,
        row.incident_title,
        a.owner,
        a.priority.as_str()
    );
    if let Some(due) = a.due_at {
        body.push_str(&format!(
            "- **Due**: {}\n",
            due.strftime("%Y-%m-%d %H:%M UTC")
        ));
    }
    body.push_str(&format!(
        "\n<!-- firebell:{}#{} -->\n",
        row.incident_id, a.id
    ));
    body
}

async fn file(
    state: &AppState,
    tracker: &Tracker,
    token: Option<&str>,
    row: &ActionItemRow,
) -> Result<TrackerIssue, TrackerError> {
    let payload = serde_json::json!({
        "title": format!("[{}] {}", row.incident_id, row.item.title),
        "body": issue_body(state, row),
        "labels": tracker.labels,
    });
    let req = http().post(&tracker.url).json(&payload);
    let answer = send(req, token).await?;
    Ok(TrackerIssue {
        number: answer.number,
        url: answer.html_url.or(answer.url).unwrap_or_default(),
        state: answer.state.unwrap_or_else(|| "open".into()),
    })
}

async fn read(
    tracker: &Tracker,
    token: Option<&str>,
    number: u64,
) -> Result<TrackerIssue, TrackerError> {
    let url = format!("{}/{number}", tracker.url.trim_end_matches('/'));
    let answer = send(http().get(&url), token).await?;
    Ok(TrackerIssue {
        number: answer.number,
        url: answer.html_url.or(answer.url).unwrap_or_default(),
        state: answer.state.unwrap_or_else(|| "open".into()),
    })
}

async fn send(
    req: reqwest::RequestBuilder,
    token: Option<&str>,
) -> Result<IssueAnswer, TrackerError> {
    let mut req = req
        .timeout(TIMEOUT)
        .header("accept", "application/vnd.github+json");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| TrackerError(format!("the tracker is unreachable: {e}")))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| TrackerError(format!("the tracker's answer broke off: {e}")))?;
    if !status.is_success() {
        return Err(TrackerError(format!(
            "the tracker answered {status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    serde_json::from_str(&text).map_err(|e| {
        TrackerError(format!(
            "the tracker's answer is not an issue ({e}): {}",
            text.chars().take(200).collect::<String>()
        ))
    })
}

/// Record the issue on the item, through the command path.
async fn record(state: &AppState, row: &ActionItemRow, issue: TrackerIssue) {
    let cmd = Command::RecordTrackerIssue {
        id: row.item.id,
        issue,
    };
    if let Err(e) = state
        .incidents
        .execute(&row.incident_id, "tracker", None, &cmd)
        .await
    {
        tracing::warn!(incident = %row.incident_id, item = row.item.id, error = %e, "cannot record an issue on its action item");
    }
}
