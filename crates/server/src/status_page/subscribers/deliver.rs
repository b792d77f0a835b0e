//! The subscribers' outbox: claims due messages, sends each by email (the
//! policy's `email_notifier`) or as a signed webhook, and records how it
//! went. At least once, with the message id as idempotency key and email
//! `Message-ID`; failures back off as pages do, and after
//! [`DEFAULT_MAX_ATTEMPTS`] a message is given up (a customer's mailbox
//! failing pages nobody). A webhook answering 410 Gone is unsubscribed.

use std::time::Duration;

use firebell_core::status_page::SubscriberChannel;
use firebell_store::{Completion, OutgoingMessage};

use super::links_of;
use crate::AppState;
use crate::notify::channels::{self, DeliveryError};
use crate::notify::dispatch::{DEFAULT_MAX_ATTEMPTS, backoff};
use crate::notify::email::EmailMessage;

/// Messages claimed per round.
const BATCH: u32 = 128;
/// Per-attempt timeout of a webhook.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// A claim outlives the slowest attempt by this much.
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
}

/// Send every message due now.
pub async fn run_once(state: &AppState) -> Result<Sent, firebell_store::StoreError> {
    let mut sent = Sent::default();
    if !state.clock.trusted() {
        return Ok(sent);
    }
    loop {
        let now = state.clock.now();
        let token = uuid::Uuid::new_v4().to_string();
        let batch = state
            .store
            .claim_subscriber_messages(now, BATCH, &token, now + LEASE)
            .await?;
        let full = batch.len() >= BATCH as usize;
        let mut tasks = tokio::task::JoinSet::new();
        for m in batch {
            let state = state.clone();
            tasks.spawn(async move {
                let result = send(&state, &m).await;
                (m, result)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((m, result)) = done else { continue };
            let now = state.clock.now();
            let gone = matches!(&result, Err(e) if e.message.contains(" 410 "));
            let completion = match result {
                Ok(()) => {
                    sent.delivered += 1;
                    Completion::Delivered
                }
                Err(e) if e.retryable && m.attempts < DEFAULT_MAX_ATTEMPTS => {
                    sent.retried += 1;
                    let wait = e
                        .retry_after
                        .map(|d| d.clamp(Duration::from_secs(1), Duration::from_secs(3600)))
                        .unwrap_or_else(|| backoff(m.attempts));
                    Completion::Retry {
                        at: now + jiff::SignedDuration::try_from(wait).unwrap_or_default(),
                        error: e.message,
                    }
                }
                Err(e) => {
                    sent.dead += 1;
                    Completion::Dead { error: e.message }
                }
            };
            let outcome = match &completion {
                Completion::Delivered => "delivered",
                Completion::Retry { .. } => "failed",
                Completion::Dead { .. } => "dead_lettered",
            };
            metrics::counter!("firebell_subscriber_messages_total",
                "channel" => m.subscriber.channel.as_str(), "outcome" => outcome)
            .increment(1);
            if let Completion::Dead { error } = &completion {
                tracing::warn!(subscriber = %m.subscriber.id, message = %m.id, error = %error, "subscriber message given up");
            }
            state
                .store
                .complete_subscriber_message(&m.id, &token, &completion, now)
                .await?;
            if gone {
                // The endpoint says it is gone for good: stop sending.
                state.store.unsubscribe(&m.subscriber.id, now).await?;
            }
        }
        if !full {
            return Ok(sent);
        }
    }
}

async fn send(state: &AppState, m: &OutgoingMessage) -> Result<(), DeliveryError> {
    let policy = state.policy.policy();
    let s = &m.subscriber;
    let permanent = |message: String| DeliveryError {
        retryable: false,
        retry_after: None,
        message,
    };
    match s.channel {
        SubscriberChannel::Email => {
            let name = policy
                .status_page
                .subscriptions
                .email_notifier
                .as_deref()
                .ok_or_else(|| permanent("email subscriptions are off in the policy".into()))?;
            let notifier = policy
                .notifiers
                .get(name)
                .ok_or_else(|| permanent(format!("the policy has no [notifiers.{name}]")))?;
            let smtp = notifier
                .smtp
                .as_ref()
                .ok_or_else(|| permanent(format!("[notifiers.{name}] has no smtp")))?;
            let sender = channels::email_sender(smtp, channels::timeout_of(notifier))?;
            // The confirmation request must not offer to unsubscribe from
            // what is not yet a subscription; everything after it does.
            let unsubscribe_url =
                (!m.post_key.starts_with("confirm:")).then(|| links_of(state, &s.id).unsubscribe);
            sender
                .send(&EmailMessage {
                    to: s.address.clone(),
                    subject: m.subject.clone(),
                    text: m.body.clone(),
                    locale: s.locale.clone(),
                    idempotency_key: m.id.clone(),
                    ack_url: None,
                    incident_url: None,
                    unsubscribe_url,
                })
                .await
        }
        SubscriberChannel::Webhook => {
            if !policy.status_page.subscriptions.allow_private_webhooks {
                refuse_private(&s.address).await?;
            }
            channels::post_json(
                &s.address,
                WEBHOOK_TIMEOUT,
                &m.id,
                s.secret.as_deref(),
                m.payload.clone().into_bytes(),
            )
            .await
        }
    }
}

/// Resolve the endpoint's host and refuse it if any address is private:
/// the check at sign-up saw only the name.
async fn refuse_private(url: &str) -> Result<(), DeliveryError> {
    let parsed = url::Url::parse(url).map_err(|e| DeliveryError {
        retryable: false,
        retry_after: None,
        message: format!("{url}: {e}"),
    })?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| DeliveryError {
            retryable: true,
            retry_after: None,
            message: format!("cannot resolve {host}: {e}"),
        })?;
    for addr in addrs {
        if super::is_private(addr.ip()) {
            return Err(DeliveryError {
                retryable: false,
                retry_after: None,
                message: format!(
                    "{host} resolves to {}, a private address; not sent",
                    addr.ip()
                ),
            });
        }
    }
    Ok(())
}

/// Rounds start at most this often: in an alert storm every write bumps
/// the change counter, and a round reads the status page's rendering
/// (rebuilding it if stale), which must not become a busy loop beside
/// paging. A quarter second is what a subscriber may wait for it.
const MIN_ROUND_GAP: Duration = Duration::from_millis(250);

/// The background loop: fan out new posts, then send, when woken (at most
/// four times a second) and at least every few seconds (time-driven posts,
/// retries coming due).
pub async fn run(state: AppState) {
    let mut changes = state.incidents.watch_changes();
    loop {
        let started = tokio::time::Instant::now();
        if let Err(e) = super::fanout::run_once(&state).await {
            tracing::error!(error = %e, "telling subscribers of new posts failed; retrying");
        }
        if let Err(e) = run_once(&state).await {
            tracing::error!(error = %e, "sending subscriber messages failed; retrying");
        }
        tokio::select! {
            _ = state.subscriber_wake.notified() => {}
            _ = changes.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        tokio::time::sleep_until(started + MIN_ROUND_GAP).await;
    }
}
