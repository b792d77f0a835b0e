//! Paging email over SMTP.
//!
//! [`EmailSender`] is built once from [`SmtpSettings`] and sends one
//! [`EmailMessage`] at a time: `multipart/alternative` with a plain-text and an
//! HTML part, both UTF-8 (lettre picks quoted-printable or base64 per part, so
//! Arabic survives any relay). Every delivery of the same notification carries
//! the same `Message-ID` (`<key@firebell>`) and `X-Firebell-Idempotency-Key`,
//! so a retried delivery — after a timeout that hid a success, say — is
//! recognisable as the same message.
//!
//! Failures come back as a [`DeliveryError`] that says whether trying again can
//! help: an SMTP permanent reply (5xx), a bad address or a refused
//! configuration cannot; a transient reply (4xx), a refused connection, a
//! network error or a timeout can.
//!
//! Each delivery opens its own connection and closes it (lettre's connection
//! pool is not enabled): paging mail is rare and bursty, a fresh connection
//! cannot be a stale one, and the sender can be built outside a runtime.

use std::fmt;
use std::time::Duration;

use firebell_core::incident::Direction;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Header carrying [`EmailMessage::idempotency_key`] verbatim.
pub const IDEMPOTENCY_HEADER: &str = "X-Firebell-Idempotency-Key";

/// Longest idempotency key accepted, in bytes (it goes into two header lines).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// How the connection to the relay is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text throughout: only for a relay on the same host or a test.
    None,
    /// Plain connect, then `STARTTLS`, which the relay must offer (port 587).
    StartTls,
    /// TLS from the first byte ("implicit TLS", port 465).
    Tls,
}

/// Where and how to hand paging email over.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Both or neither; sent only over TLS (or to a loopback relay).
    pub username: Option<String>,
    pub password: Option<String>,
    /// `Firebell <firebell@example.com>` or a bare address.
    pub from: String,
    /// Bound on one whole delivery attempt: connect, TLS, the SMTP exchange.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One email to one person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailMessage {
    /// One address, `Name <a@b>` or bare.
    pub to: String,
    pub subject: String,
    /// Plain-text body; blank lines separate paragraphs.
    pub text: String,
    /// BCP-47-ish tag (`en`, `ar`, `pt-BR`): the HTML's `lang` and, through
    /// [`Direction::of_locale`], its `dir`.
    pub locale: String,
    /// Same for every delivery attempt of one notification: becomes the
    /// `Message-ID` (`<key@firebell>`) and the [`IDEMPOTENCY_HEADER`].
    pub idempotency_key: String,
    /// One-click acknowledge link: a button in HTML, a line in text.
    pub ack_url: Option<String>,
    pub incident_url: Option<String>,
    /// For mail to subscribers: a link in the text, and the RFC 8058
    /// one-click `List-Unsubscribe` headers mail clients act on.
    pub unsubscribe_url: Option<String>,
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryError {
    pub retryable: bool,
    /// When the relay said how long to wait (SMTP replies never do; kept for
    /// a common shape with the other channels).
    pub retry_after: Option<Duration>,
    pub message: String,
}

impl DeliveryError {
    fn permanent(message: String) -> DeliveryError {
        DeliveryError {
            retryable: false,
            retry_after: None,
            message,
        }
    }

    fn retryable(message: String) -> DeliveryError {
        DeliveryError {
            retryable: true,
            retry_after: None,
            message,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeliveryError {}

/// Sends paging email through one relay; cheap to clone.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    /// `host:port`, for messages.
    relay: String,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    /// Check the settings and build the transport (nothing is connected yet).
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let host = settings.host.trim();
        if host.is_empty() {
            return Err("SMTP host is empty".to_string());
        }
        if settings.port == 0 {
            return Err("SMTP port is 0".to_string());
        }
        if settings.timeout.is_zero() {
            return Err("SMTP timeout is 0".to_string());
        }
        let from: Mailbox = settings
            .from
            .trim()
            .parse()
            .map_err(|e| format!("invalid SMTP from address {:?}: {e}", settings.from))?;

        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let params = TlsParameters::new(host.to_string())
                    .map_err(|e| format!("cannot set up TLS for SMTP host {host}: {e}"))?;
                if settings.tls == SmtpTls::StartTls {
                    Tls::Required(params)
                } else {
                    Tls::Wrapper(params)
                }
            }
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port)
            .timeout(Some(settings.timeout))
            .tls(tls);
        match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => {
                if settings.tls == SmtpTls::None && !is_loopback(host) {
                    return Err(format!(
                        "refusing to send SMTP credentials to {host} without TLS \
                         (use STARTTLS or TLS)"
                    ));
                }
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (None, None) => {}
            _ => return Err("SMTP username and password go together".to_string()),
        }

        Ok(EmailSender {
            transport: builder.build(),
            from,
            timeout: settings.timeout,
            relay: format!("{host}:{}", settings.port),
        })
    }

    /// Deliver one message to the relay (one connection, closed afterwards).
    ///
    /// Success means the relay accepted it (250 after `DATA`). A timeout may
    /// hide an acceptance, so a retry can duplicate: the stable `Message-ID`
    /// is what lets the recipient's side recognise it.
    pub async fn send(&self, msg: &EmailMessage) -> Result<(), DeliveryError> {
        let email = self.build(msg)?;
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Err(_) => Err(DeliveryError::retryable(format!(
                "SMTP delivery via {} timed out after {:?}",
                self.relay, self.timeout
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e, &self.relay)),
        }
    }

    fn build(&self, msg: &EmailMessage) -> Result<Message, DeliveryError> {
        let to: Mailbox = msg.to.trim().parse().map_err(|e| {
            DeliveryError::permanent(format!("invalid recipient address {:?}: {e}", msg.to))
        })?;
        let key = &msg.idempotency_key;
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || key.chars().any(char::is_control)
        {
            return Err(DeliveryError::permanent(format!(
                "invalid idempotency key {key:?}: want 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes \
                 without control characters"
            )));
        }

        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&msg.subject))
            .message_id(Some(message_id(key)))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(IDEMPOTENCY_HEADER),
                key.clone(),
            ))
            // RFC 3834: no vacation auto-replies to a pager.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_string(),
            ));
        if let Some(url) = msg.unsubscribe_url.as_deref().and_then(web_link) {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        if let Some(lang) = language_tag(&msg.locale) {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Content-Language"),
                lang,
            ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                render_text(msg),
                render_html(msg),
            ))
            .map_err(|e| DeliveryError::permanent(format!("cannot build the email: {e}")))
    }
}

/// Whether trying again can help, from lettre's error.
fn classify(e: &lettre::transport::smtp::Error, relay: &str) -> DeliveryError {
    let message = format!("SMTP delivery via {relay} failed: {e}");
    let retryable = if e.is_permanent() {
        false
    } else if e.is_transient() || e.is_timeout() {
        true
    } else if tls_handshake_failed(e) {
        // An untrusted certificate, or TLS spoken to a plain-text port: the
        // settings or the relay need fixing; the same attempt would fail again.
        false
    } else {
        // Left: connection and network errors (refused, reset, closed), an
        // unparsable reply: worth another try. And what our side got wrong
        // (no usable AUTH mechanism, STARTTLS not offered, TLS set-up): not.
        !(e.is_client() || e.is_tls() || e.is_transport_shutdown())
    };
    DeliveryError {
        retryable,
        retry_after: None,
        message,
    }
}

/// Whether the error comes from a failed TLS handshake: tokio-rustls reports
/// rustls' errors (bad certificate, a peer that is not speaking TLS) as I/O
/// errors of kind `InvalidData`; a dropped or refused connection has others.
fn tls_handshake_failed(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::InvalidData;
        }
        source = err.source();
    }
    false
}

/// `<key@firebell>`, with whatever the key has that a msg-id's dot-atom
/// cannot hold percent-encoded (so a plain key appears as it is).
fn message_id(key: &str) -> String {
    const ATEXT_SPECIALS: &str = "!#$&'*+-/=?^_`{|}~";
    let bytes = key.as_bytes();
    let mut local = String::with_capacity(key.len() + 8);
    for (i, &b) in bytes.iter().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || ATEXT_SPECIALS.as_bytes().contains(&b)
            // A dot, but not first, last or doubled.
            || (b == b'.' && i > 0 && i + 1 < bytes.len() && bytes[i - 1] != b'.');
        if keep {
            local.push(char::from(b));
        } else {
            local.push_str(&format!("%{b:02X}"));
        }
    }
    format!("<{local}@firebell>")
}

/// The locale as a language tag (`pt_BR` → `pt-BR`), if it looks like one.
fn language_tag(locale: &str) -> Option<String> {
    let tag = locale.trim().replace('_', "-");
    let ok = !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    ok.then_some(tag)
}

/// Control characters (a newline from an alert title) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The link if it is an absolute http(s) URL; anything else is shown as text.
fn web_link(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

/// The plain-text part: the text, then a line for each link.
pub fn render_text(msg: &EmailMessage) -> String {
    let mut out = msg.text.trim_end().to_string();
    let links = [
        ("Acknowledge", &msg.ack_url),
        ("Incident", &msg.incident_url),
        ("Unsubscribe", &msg.unsubscribe_url),
    ];
    let mut first = true;
    for (label, url) in links {
        if let Some(url) = url {
            out.push_str(if first { "\n\n" } else { "\n" });
            first = false;
            out.push_str(label);
            out.push_str(": ");
            out.push_str(url.trim());
        }
    }
    out.push('\n');
    out
}

/// The HTML part: minimal, everything from the message escaped; `lang` and
/// `dir` from the locale, the text as paragraphs (blank lines between them,
/// single newlines as `<br>`), the acknowledge button and the incident link.
pub fn render_html(msg: &EmailMessage) -> String {
    let dir = match Direction::of_locale(&msg.locale) {
        Direction::Rtl => "rtl",
        Direction::Ltr => "ltr",
    };
    let align = if dir == "rtl" { "right" } else { "left" };
    let mut out = String::with_capacity(msg.text.len() * 2 + 1024);
    out.push_str("<!DOCTYPE html>\n<html");
    if let Some(lang) = language_tag(&msg.locale) {
        out.push_str(&format!(" lang=\"{}\"", escape(&lang)));
    }
    out.push_str(&format!(
        " dir=\"{dir}\">\n<head>\n<meta charset=\"utf-8\">\n"
    ));
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>{}</title>\n</head>\n",
        escape(&one_line(&msg.subject))
    ));
    out.push_str(&format!(
        "<body style=\"font-family: sans-serif; line-height: 1.5; text-align: {align};\">\n"
    ));

    let text = msg.text.replace("\r\n", "\n").replace('\r', "\n");
    let mut paragraph: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !paragraph.is_empty() {
                let lines: Vec<String> = paragraph.iter().map(|l| escape(l)).collect();
                out.push_str(&format!("<p>{}</p>\n", lines.join("<br>\n")));
                paragraph.clear();
            }
        } else {
            paragraph.push(line);
        }
    }

    if let Some(url) = &msg.ack_url {
        match web_link(url) {
            Some(url) => out.push_str(&format!(
                "<p><a href=\"{}\" style=\"display: inline-block; padding: 10px 20px; \
                 background: #b71c1c; color: #ffffff; text-decoration: none; \
                 border-radius: 4px; font-weight: bold;\">Acknowledge</a></p>\n",
                escape(url)
            )),
            None => out.push_str(&format!("<p>Acknowledge: {}</p>\n", escape(url))),
        }
    }
    if let Some(url) = &msg.incident_url {
        match web_link(url) {
            Some(url) => out.push_str(&format!(
                "<p><a href=\"{}\">Open the incident</a></p>\n",
                escape(url)
            )),
            None => out.push_str(&format!("<p>Incident: {}</p>\n", escape(url))),
        }
    }
    if let Some(url) = msg.unsubscribe_url.as_deref().and_then(web_link) {
        out.push_str(&format!(
            "<p><small><a href=\"{}\">Unsubscribe</a></small></p>\n",
            escape(url)
        ));
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Escape for HTML text and double- or single-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `localhost` or a loopback IP literal.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, locale: &str) -> EmailMessage {
        EmailMessage {
            to: "oncall@example.com".to_string(),
            subject: "Disk <full> & \"hot\"".to_string(),
            text: text.to_string(),
            locale: locale.to_string(),
            idempotency_key: "page-1".to_string(),
            ack_url: Some("https://firebell.example/ack?t=a&b=\"c\"".to_string()),
            incident_url: Some("javascript:alert(1)".to_string()),
            unsubscribe_url: None,
        }
    }

    #[test]
    fn render_html_escapes_everything_from_the_message() {
        let html = render_html(&message(
            "<script>alert('x')</script> & more\nsecond line\n\n\n\"quoted\" para",
            "en\"><b",
        ));
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains(
                "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more<br>\nsecond line</p>"
            ),
            "{html}"
        );
        assert!(html.contains("<p>&quot;quoted&quot; para</p>"), "{html}");
        assert!(
            html.contains("<title>Disk &lt;full&gt; &amp; &quot;hot&quot;</title>"),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://firebell.example/ack?t=a&amp;b=&quot;c&quot;\""),
            "{html}"
        );
        // Not a web link: shown as text, never as an href.
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(
            html.contains("<p>Incident: javascript:alert(1)</p>"),
            "{html}"
        );
        // A locale that is no language tag gives no lang attribute at all.
        assert!(html.contains("<html dir=\"ltr\">"), "{html}");
    }

    #[test]
    fn render_html_direction_follows_the_locale() {
        let html = render_html(&message("مرحبا", "ar_EG"));
        assert!(html.contains("<html lang=\"ar-EG\" dir=\"rtl\">"), "{html}");
        assert!(html.contains("<p>مرحبا</p>"), "{html}");
        let html = render_html(&message("hello", "en-GB"));
        assert!(html.contains("<html lang=\"en-GB\" dir=\"ltr\">"), "{html}");
    }

    #[test]
    fn render_text_appends_the_links() {
        let mut msg = message("Disk full\n", "en");
        msg.incident_url = Some("https://firebell.example/i/1".to_string());
        assert_eq!(
            render_text(&msg),
            "Disk full\n\nAcknowledge: https://firebell.example/ack?t=a&b=\"c\"\n\
             Incident: https://firebell.example/i/1\n"
        );
    }

    #[test]
    fn message_id_keeps_plain_keys_and_encodes_the_rest() {
        assert_eq!(message_id("inc-42.page-3"), "<inc-42.page-3@firebell>");
        assert_eq!(message_id("a b@c"), "<a%20b%40c@firebell>");
        assert_eq!(message_id(".a..b."), "<%2Ea.%2Eb%2E@firebell>");
        assert_eq!(message_id("é"), "<%C3%A9@firebell>");
    }

    #[test]
    fn settings_are_checked() {
        let mut settings = SmtpSettings {
            host: "smtp.example.com".to_string(),
            port: 25,
            tls: SmtpTls::None,
            username: Some("u".to_string()),
            password: Some("p".to_string()),
            from: "Firebell <firebell@example.com>".to_string(),
            timeout: Duration::from_secs(10),
        };
        let err = EmailSender::new(&settings).unwrap_err();
        assert!(err.contains("without TLS"), "{err}");
        settings.host = "127.0.0.1".to_string();
        assert!(EmailSender::new(&settings).is_ok());
        settings.password = None;
        assert!(EmailSender::new(&settings).is_err());
        settings.username = None;
        settings.from = "not an address".to_string();
        assert!(EmailSender::new(&settings).is_err());
        assert!(
            !format!(
                "{:?}",
                SmtpSettings {
                    password: Some("hunter2".to_string()),
                    ..settings
                }
            )
            .contains("hunter2")
        );
    }
}
