//! Paging email over real SMTP, against the test sink in `common/smtp.rs`.

#[path = "common/smtp.rs"]
mod smtp;

use std::time::Duration;

use base64::Engine as _;
use firebell_server::notify::email::{
    EmailMessage, EmailSender, SmtpSettings, SmtpTls, render_text,
};
use smtp::{SmtpSink, Stage};

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".to_string(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Firebell <firebell@example.com>".to_string(),
        timeout: Duration::from_secs(10),
    }
}

fn english() -> EmailMessage {
    EmailMessage {
        to: "Alice Oncall <alice@example.com>".to_string(),
        subject: "[SEV2] Disk full on db-1".to_string(),
        text: "Disk full on db-1 <warning> & more.\n.a line that starts with a dot\n\nSecond paragraph."
            .to_string(),
        locale: "en".to_string(),
        idempotency_key: "inc-2026-0042.page-1.alice".to_string(),
        ack_url: Some("https://firebell.example/ack?token=abc&step=1".to_string()),
        incident_url: Some("https://firebell.example/incidents/INC-2026-0042".to_string()),
        unsubscribe_url: None,
    }
}

fn arabic() -> EmailMessage {
    EmailMessage {
        to: "oncall@example.com".to_string(),
        subject: "حادث: قاعدة البيانات متوقفة".to_string(),
        text: "تم الإعلان عن حادث جديد.\nالخدمة: قاعدة البيانات الرئيسية\n\nيرجى الإقرار في أقرب وقت ممكن."
            .to_string(),
        locale: "ar".to_string(),
        idempotency_key: "inc-7-page-2".to_string(),
        ack_url: Some("https://firebell.example/ack?token=xyz".to_string()),
        incident_url: None,
        unsubscribe_url: None,
    }
}

// --- a little MIME reading, enough for what lettre writes -------------------

struct Part {
    headers: Vec<(String, String)>,
    body: String,
}

impl Part {
    fn parse(raw: &str) -> Part {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                // Folded: continues the previous header.
                headers.last_mut().expect("fold without a header").1 += line;
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.to_string(), value.trim().to_string()));
            }
        }
        Part {
            headers,
            body: body.to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_type(&self) -> String {
        self.header("Content-Type")
            .unwrap_or("text/plain")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_ascii_lowercase()
    }

    fn encoding(&self) -> String {
        self.header("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .to_ascii_lowercase()
    }

    /// The parts of a multipart body.
    fn parts(&self) -> Vec<Part> {
        let ct = self.header("Content-Type").expect("no Content-Type");
        let boundary = ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .expect("no boundary")
            .trim_matches('"');
        let (open, close) = (format!("--{boundary}"), format!("--{boundary}--"));
        let mut parts = Vec::new();
        let mut current: Option<Vec<&str>> = None;
        for line in self.body.split("\r\n") {
            if line == open || line == close {
                if let Some(lines) = current.take() {
                    parts.push(Part::parse(&lines.join("\r\n")));
                }
                if line == close {
                    break;
                }
                current = Some(Vec::new());
            } else if let Some(lines) = &mut current {
                lines.push(line);
            }
        }
        parts
    }

    /// The body, its transfer encoding undone, as UTF-8.
    fn decoded(&self) -> String {
        let bytes = match self.encoding().as_str() {
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(self.body.replace("\r\n", ""))
                .expect("bad base64"),
            "quoted-printable" => decode_qp(&self.body),
            "7bit" | "8bit" => self.body.clone().into_bytes(),
            other => panic!("unexpected Content-Transfer-Encoding {other}"),
        };
        String::from_utf8(bytes).expect("body is not UTF-8")
    }
}

fn decode_qp(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b[i + 1..].starts_with(b"\r\n") {
                i += 3; // soft line break
            } else {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).expect("bad =XX"));
                i += 3;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Undo RFC 2047 encoded-words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`).
fn decode_header(value: &str) -> String {
    let mut out = Vec::new();
    let mut rest = value;
    let mut last_was_word = false;
    while !rest.is_empty() {
        match rest.find("=?") {
            Some(start) => {
                let between = &rest[..start];
                // Whitespace between two encoded-words is dropped.
                if !(last_was_word && between.trim().is_empty()) {
                    out.extend_from_slice(between.as_bytes());
                }
                let word = &rest[start + 2..];
                let mut fields = word.splitn(3, '?');
                let charset = fields.next().unwrap();
                let enc = fields.next().unwrap();
                let tail = fields.next().unwrap();
                let end = tail.find("?=").expect("unterminated encoded-word");
                assert!(charset.eq_ignore_ascii_case("utf-8"), "{charset}");
                let text = &tail[..end];
                match enc {
                    "b" | "B" => out.extend(
                        base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .unwrap(),
                    ),
                    "q" | "Q" => out.extend(decode_qp(&text.replace('_', " "))),
                    other => panic!("encoding {other}"),
                }
                rest = &tail[end + 2..];
                last_was_word = true;
            }
            None => {
                out.extend_from_slice(rest.as_bytes());
                rest = "";
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn html_escape_url(url: &str) -> String {
    url.replace('&', "&amp;")
}

// --- tests -----------------------------------------------------------------

#[tokio::test]
async fn english_message_arrives_with_both_parts() {
    let sink = SmtpSink::start().await;
    let sender = EmailSender::new(&settings(sink.port())).unwrap();
    let msg = english();
    sender.send(&msg).await.unwrap();

    let received = sink.messages();
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.mail_from, "firebell@example.com");
    assert_eq!(got.rcpt_to, vec!["alice@example.com".to_string()]);

    let mail = Part::parse(&got.data_str());
    assert_eq!(
        mail.header("Message-ID"),
        Some("<inc-2026-0042.page-1.alice@firebell>")
    );
    assert_eq!(
        mail.header("X-Firebell-Idempotency-Key"),
        Some(msg.idempotency_key.as_str())
    );
    assert_eq!(decode_header(mail.header("Subject").unwrap()), msg.subject);
    assert_eq!(mail.header("From"), Some("Firebell <firebell@example.com>"));
    assert_eq!(
        mail.header("To"),
        Some("\"Alice Oncall\" <alice@example.com>")
    );
    assert_eq!(mail.header("Auto-Submitted"), Some("auto-generated"));
    assert_eq!(mail.header("Content-Language"), Some("en"));
    assert!(mail.header("Date").is_some());
    assert_eq!(mail.content_type(), "multipart/alternative");

    let parts = mail.parts();
    assert_eq!(parts.len(), 2);
    let (text, html) = (&parts[0], &parts[1]);
    assert_eq!(text.content_type(), "text/plain");
    assert_eq!(html.content_type(), "text/html");
    for part in &parts {
        let ct = part.header("Content-Type").unwrap().to_ascii_lowercase();
        assert!(ct.contains("charset=utf-8"), "{ct}");
    }

    // The text, exactly (line ends become CRLF), the dot-led line included.
    let text = text.decoded();
    assert_eq!(text, render_text(&msg).replace('\n', "\r\n"));
    assert!(
        text.contains("\r\n.a line that starts with a dot\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Acknowledge: https://firebell.example/ack?token=abc&step=1"),
        "{text}"
    );

    let html = html.decoded();
    assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"), "{html}");
    assert!(
        html.contains("<p>Disk full on db-1 &lt;warning&gt; &amp; more.<br>"),
        "{html}"
    );
    assert!(html.contains("<p>Second paragraph.</p>"), "{html}");
    assert!(
        html.contains(&format!(
            "href=\"{}\"",
            html_escape_url(msg.ack_url.as_deref().unwrap())
        )),
        "{html}"
    );
    assert!(html.contains(">Acknowledge</a>"), "{html}");
    assert!(
        html.contains("href=\"https://firebell.example/incidents/INC-2026-0042\""),
        "{html}"
    );
}

#[tokio::test]
async fn arabic_message_is_right_to_left_and_survives_exactly() {
    let sink = SmtpSink::start().await;
    let sender = EmailSender::new(&settings(sink.port())).unwrap();
    let msg = arabic();
    sender.send(&msg).await.unwrap();

    let received = sink.messages();
    assert_eq!(received.len(), 1);
    let raw = received[0].data_str();
    // Nothing but ASCII on the wire: the relay need not be 8-bit clean.
    assert!(raw.is_ascii(), "non-ASCII on the wire:\n{raw}");

    let mail = Part::parse(&raw);
    assert_eq!(decode_header(mail.header("Subject").unwrap()), msg.subject);
    assert_eq!(mail.header("Message-ID"), Some("<inc-7-page-2@firebell>"));
    assert_eq!(mail.header("Content-Language"), Some("ar"));

    let parts = mail.parts();
    assert_eq!(parts.len(), 2);
    for part in &parts {
        let enc = part.encoding();
        assert!(
            enc == "base64" || enc == "quoted-printable",
            "Arabic sent as {enc}"
        );
    }
    assert_eq!(
        parts[0].decoded(),
        render_text(&msg).replace('\n', "\r\n"),
        "the Arabic text did not come back exactly"
    );
    let html = parts[1].decoded();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"), "{html}");
    assert!(
        html.contains("<p>تم الإعلان عن حادث جديد.<br>\r\nالخدمة: قاعدة البيانات الرئيسية</p>"),
        "{html}"
    );
    assert!(
        html.contains("<p>يرجى الإقرار في أقرب وقت ممكن.</p>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://firebell.example/ack?token=xyz\""),
        "{html}"
    );
}

#[tokio::test]
async fn transient_rejection_is_retryable_and_the_retry_is_the_same_message() {
    let sink = SmtpSink::start().await;
    let sender = EmailSender::new(&settings(sink.port())).unwrap();
    let msg = english();

    sink.fail_next(1, Stage::Rcpt, 451);
    let err = sender.send(&msg).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("451"), "{}", err.message);
    assert!(sink.messages().is_empty());

    sink.fail_next(1, Stage::EndOfData, 452);
    let err = sender.send(&msg).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(sink.messages().is_empty());

    sink.fail_next(1, Stage::Data, 421);
    let err = sender.send(&msg).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(sink.rejected(), 3);

    // The retry goes through, as the same message.
    sender.send(&msg).await.unwrap();
    sender.send(&msg).await.unwrap();
    let received = sink.messages();
    assert_eq!(received.len(), 2);
    let ids: Vec<String> = received
        .iter()
        .map(|m| {
            Part::parse(&m.data_str())
                .header("Message-ID")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids[0], "<inc-2026-0042.page-1.alice@firebell>");
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn permanent_rejection_is_not_retryable() {
    let sink = SmtpSink::start().await;
    let sender = EmailSender::new(&settings(sink.port())).unwrap();

    for stage in [Stage::Rcpt, Stage::Data, Stage::EndOfData] {
        sink.fail_next(1, stage, 550);
        let err = sender.send(&english()).await.unwrap_err();
        assert!(!err.retryable, "{stage:?}: {err:?}");
        assert!(err.message.contains("550"), "{}", err.message);
    }
    assert_eq!(sink.rejected(), 3);
    assert!(sink.messages().is_empty());

    // The sink is fine again afterwards.
    sender.send(&english()).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_retryable() {
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let sender = EmailSender::new(&settings(port)).unwrap();
    let err = sender.send(&english()).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
}

#[tokio::test]
async fn a_silent_relay_times_out_retryably() {
    // Accepts the connection and never greets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut settings = settings(port);
    settings.timeout = Duration::from_millis(300);
    let sender = EmailSender::new(&settings).unwrap();

    let started = std::time::Instant::now();
    let err = sender.send(&english()).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("timed out"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test]
async fn a_bad_recipient_fails_permanently_without_connecting() {
    let sink = SmtpSink::start().await;
    let sender = EmailSender::new(&settings(sink.port())).unwrap();
    let mut msg = english();
    msg.to = "not an address".to_string();
    let err = sender.send(&msg).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");

    let mut msg = english();
    msg.idempotency_key = "a\r\nBcc: evil@example.com".to_string();
    let err = sender.send(&msg).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert_eq!(sink.connections(), 0);
}

#[tokio::test]
async fn credentials_the_relay_cannot_take_are_not_retryable() {
    // The sink offers no AUTH: a configuration error, not a passing one.
    let sink = SmtpSink::start().await;
    let mut settings = settings(sink.port());
    settings.username = Some("firebell".to_string());
    settings.password = Some("secret".to_string());
    let sender = EmailSender::new(&settings).unwrap();
    let err = sender.send(&english()).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn starttls_the_relay_does_not_offer_is_not_retryable() {
    let sink = SmtpSink::start().await;
    let mut settings = settings(sink.port());
    settings.tls = SmtpTls::StartTls;
    let sender = EmailSender::new(&settings).unwrap();
    let err = sender.send(&english()).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_to_a_plain_relay_is_not_retryable() {
    // Wrong port or mode: the TLS handshake meets "220 ...".
    let sink = SmtpSink::start().await;
    let mut settings = settings(sink.port());
    settings.tls = SmtpTls::Tls;
    let sender = EmailSender::new(&settings).unwrap();
    let err = sender.send(&english()).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(sink.messages().is_empty());
}
