//! One delivery attempt per channel: email over SMTP, a Slack-compatible
//! incoming webhook, and signed JSON webhooks (for `webhook` contacts and
//! SMS/voice gateways).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use firebell_core::escalation::Duty;
use firebell_core::policy::{ContactKind, Notifier, Policy, SmtpServer};
use firebell_store::Notification;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::dispatch::Dispatcher;
pub use super::email::DeliveryError;
use super::email::{EmailMessage, EmailSender, SmtpSettings, SmtpTls};
use super::links::AckTarget;

/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest per-attempt timeout a notifier may set.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// Header with the notification id; the same on every attempt.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as inbound webhooks.
pub const SIGNATURE_HEADER: &str = "X-Firebell-Signature";

/// The JSON a webhook receives.
#[derive(Serialize)]
pub struct WebhookPayload<'a> {
    pub id: &'a str,
    pub incident_id: &'a str,
    pub duty: &'a Duty,
    pub person: &'a str,
    pub channel: ContactKind,
    pub address: &'a str,
    pub locale: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub attempt: u32,
    pub ack_url: String,
    pub incident_url: String,
}

fn fail(retryable: bool, message: String) -> DeliveryError {
    DeliveryError {
        retryable,
        retry_after: None,
        message,
    }
}

/// A notifier's per-attempt timeout.
pub fn timeout_of(n: &Notifier) -> Duration {
    n.timeout
        .map(|t| Duration::from_secs(t.as_secs().max(1) as u64))
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(MAX_TIMEOUT)
}

/// Deliver `n` once.
pub async fn deliver(
    state: &Dispatcher,
    policy: &Policy,
    n: &Notification,
) -> Result<(), DeliveryError> {
    let Some(notifier) = policy.notifiers.get(n.channel.as_str()) else {
        return Err(fail(
            false,
            format!("the policy has no [notifiers.{}]", n.channel),
        ));
    };
    // The link's life starts when it is sent, not when the page was decided.
    // A message of no incident (a recurring duty's) has no links.
    let expires_at = state.clock.now() + policy.ack_links.valid_for.as_signed();
    let links = (!n.incident_id.is_empty()).then(|| {
        (
            state.links.ack_url_for(&AckTarget {
                incident_id: n.incident_id.clone(),
                notification_id: n.id.clone(),
                person: n.person.clone(),
                ack_round: n.ack_round,
                expires_at,
            }),
            state.links.incident_url(&n.incident_id),
        )
    });
    let (ack_url, incident_url) = match &links {
        Some((a, i)) => (Some(a.clone()), Some(i.clone())),
        None => (None, None),
    };
    if notifier.log {
        // Delivered to the server's log: what a laptop demo or a staging
        // server should do with a page.
        tracing::info!(
            target: "firebell::page",
            channel = %n.channel,
            person = %n.person,
            address = %n.address,
            incident = %n.incident_id,
            ack_url = ack_url.as_deref().unwrap_or(""),
            "page to {} by {} (logged, not sent): {}",
            n.person,
            n.channel,
            n.subject
        );
        return Ok(());
    }
    match n.channel {
        ContactKind::Email => {
            let smtp = notifier
                .smtp
                .as_ref()
                .ok_or_else(|| fail(false, "[notifiers.email] has no smtp".into()))?;
            let sender = email_sender(smtp, timeout_of(notifier))?;
            sender
                .send(&EmailMessage {
                    to: n.address.clone(),
                    subject: n.subject.clone(),
                    text: n.body.clone(),
                    locale: n.locale.clone(),
                    idempotency_key: n.id.clone(),
                    ack_url,
                    incident_url,
                    unsubscribe_url: None,
                })
                .await
        }
        ContactKind::Slack => {
            let url = notifier
                .url
                .as_deref()
                .ok_or_else(|| fail(false, "[notifiers.slack] has no url".into()))?;
            let body = serde_json::json!({
                "text": slack_text(&n.address, &n.subject, &n.body, links.as_ref()),
            });
            post(
                url,
                notifier,
                n,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
            .await
        }
        ContactKind::Sms | ContactKind::Phone | ContactKind::Webhook => {
            let url = notifier.url.as_deref().unwrap_or(&n.address);
            let payload = WebhookPayload {
                id: &n.id,
                incident_id: &n.incident_id,
                duty: &n.duty,
                person: &n.person,
                channel: n.channel,
                address: &n.address,
                locale: &n.locale,
                subject: &n.subject,
                text: &n.body,
                attempt: n.attempts,
                ack_url: ack_url.unwrap_or_default(),
                incident_url: incident_url.unwrap_or_default(),
            };
            post(
                url,
                notifier,
                n,
                serde_json::to_vec(&payload).unwrap_or_default(),
            )
            .await
        }
    }
}

pub(crate) fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(concat!("Firebell/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds with static settings")
    })
}

/// POST `body`, signed when the notifier has a secret.
async fn post(
    url: &str,
    notifier: &Notifier,
    n: &Notification,
    body: Vec<u8>,
) -> Result<(), DeliveryError> {
    let secret = secret_of(notifier)?;
    post_json(url, timeout_of(notifier), &n.id, secret.as_deref(), body).await
}

/// POST a JSON `body` with `key` as its idempotency key, signed with
/// `secret` when there is one.
pub async fn post_json(
    url: &str,
    timeout: Duration,
    key: &str,
    secret: Option<&str>,
    body: Vec<u8>,
) -> Result<(), DeliveryError> {
    let mut req = http()
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header(IDEMPOTENCY_HEADER, key);
    if let Some(secret) = secret {
        let t = jiff::Timestamp::now().as_second();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|e| fail(false, format!("HMAC key: {e}")))?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(&body);
        let sig = hex::encode(mac.finalize().into_bytes());
        req = req.header(SIGNATURE_HEADER, format!("t={t},v1={sig}"));
    }
    let resp = req.body(body).send().await.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        fail(true, format!("POST {url} {what}: {e}"))
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    // 408, 425, 429 and 5xx may succeed later; other 4xx will not.
    let retryable = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
    Err(DeliveryError {
        retryable,
        retry_after,
        message: format!("POST {url} answered {status}: {text}"),
    })
}

fn secret_of(n: &Notifier) -> Result<Option<String>, DeliveryError> {
    if let Some(var) = &n.secret_env {
        return match std::env::var(var) {
            Ok(s) if !s.is_empty() => Ok(Some(s)),
            _ => Err(fail(
                true,
                format!("the notifier's secret_env {var} is unset on the server"),
            )),
        };
    }
    Ok(n.secret.clone())
}

/// One sender per relay configuration (the transport pools connections).
pub fn email_sender(smtp: &SmtpServer, timeout: Duration) -> Result<EmailSender, DeliveryError> {
    static SENDERS: OnceLock<Mutex<HashMap<String, Arc<EmailSender>>>> = OnceLock::new();
    let tls = match smtp.tls.as_deref() {
        Some("none") => SmtpTls::None,
        Some("tls") => SmtpTls::Tls,
        _ => SmtpTls::StartTls,
    };
    let port = smtp.port.unwrap_or(match tls {
        SmtpTls::None => 25,
        SmtpTls::Tls => 465,
        SmtpTls::StartTls => 587,
    });
    let env = |v: &Option<String>| v.as_ref().and_then(|v| std::env::var(v).ok());
    let settings = SmtpSettings {
        host: smtp.host.clone(),
        port,
        tls,
        username: env(&smtp.username_env),
        password: env(&smtp.password_env),
        from: smtp.from.clone(),
        timeout,
    };
    let key = format!(
        "{}:{}:{:?}:{:?}:{:?}:{}:{:?}",
        settings.host,
        settings.port,
        settings.tls,
        settings.username,
        settings.password,
        settings.from,
        settings.timeout
    );
    let mut senders = SENDERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = senders.get(&key) {
        return Ok((**s).clone());
    }
    let sender = EmailSender::new(&settings).map_err(|e| fail(false, e))?;
    senders.insert(key, Arc::new(sender.clone()));
    Ok(sender)
}

/// A page as Slack's incoming webhooks take it (`text`, mrkdwn, where
/// `<url|label>` is a link and `<!channel>` a mention). What people wrote
/// (titles, summaries, reasons) is escaped by Slack's rules, so an incident
/// titled `<http://evil.example/|Acknowledge>` cannot put a fake link or an
/// @channel next to the real ones. The address comes from the policy.
fn slack_text(
    address: &str,
    subject: &str,
    body: &str,
    links: Option<&(String, String)>,
) -> String {
    let mut text = format!(
        "{address} {}\n{}",
        slack_escape(subject),
        slack_escape(body)
    );
    if let Some((ack_url, incident_url)) = links {
        text.push_str(&format!(
            "\n<{ack_url}|Acknowledge> · <{incident_url}|Open incident>"
        ));
    }
    text
}

/// Slack's escaping for message text: `&`, `<` and `>` only.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod slack_tests {
    use super::slack_text;

    #[test]
    fn people_text_cannot_make_links_or_mentions() {
        let text = slack_text(
            "@omar",
            "[P1] INC-1 <http://evil.example/|Acknowledge> <!channel>",
            "Summary: A & B > C",
            Some(&(
                "https://fb.example/ack/t".to_string(),
                "https://fb.example/incidents/INC-1".to_string(),
            )),
        );
        assert_eq!(
            text,
            "@omar [P1] INC-1 &lt;http://evil.example/|Acknowledge&gt; &lt;!channel&gt;\n\
             Summary: A &amp; B &gt; C\n\
             <https://fb.example/ack/t|Acknowledge> · <https://fb.example/incidents/INC-1|Open incident>"
        );
        // Only the two real links remain links.
        assert_eq!(text.matches('<').count(), 2);
    }
}
