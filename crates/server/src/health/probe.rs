//! One probe: an HTTP request or a TCP connection, bounded by the check's
//! timeout, its failure put in words a responder can act on ("answered HTTP
//! 503", "timed out after 5s", "connection refused", "body does not contain
//! \"ok\"").
//!
//! HTTP probes open a fresh connection every time (the client keeps no idle
//! connections): that is what a new visitor experiences, and a keep-alive
//! connection the server quietly dropped can never raise a false alarm.

use std::error::Error as _;

use firebell_core::alert::health::{Failure, ProbeResult};
use firebell_core::policy::{CheckKind, HealthCheck};
use tokio::net::TcpStream;

/// Most of a body read when searching for `body_contains`.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Run one probe of `check`.
pub(super) async fn run(http: &reqwest::Client, check: &HealthCheck) -> ProbeResult {
    let timeout = check.timeout();
    let probe = async {
        match check.kind {
            Some(CheckKind::Http) => http_probe(http, check).await,
            Some(CheckKind::Tcp) => tcp_probe(check).await,
            None => Err(Failure::Error {
                message: "the check has no kind".into(),
            }),
        }
    };
    tokio::time::timeout(timeout.as_signed().unsigned_abs(), probe)
        .await
        .unwrap_or(Err(Failure::Timeout { after: timeout }))
}

async fn http_probe(http: &reqwest::Client, check: &HealthCheck) -> ProbeResult {
    let url = check.url.as_deref().unwrap_or_default();
    let method =
        reqwest::Method::from_bytes(check.method().as_bytes()).map_err(|e| Failure::Error {
            message: format!("invalid method: {e}"),
        })?;
    let mut response = http
        .request(method, url)
        .send()
        .await
        .map_err(|e| classify(&e, check))?;
    let code = response.status().as_u16();
    if !check.accepts_status(code) {
        return Err(Failure::Status {
            code,
            expected: check.expected_status_text(),
        });
    }
    let Some(needle) = check.body_contains.as_deref() else {
        return Ok(());
    };
    let mut body = Vec::new();
    while body.len() < MAX_BODY_BYTES {
        match response.chunk().await.map_err(|e| classify(&e, check))? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    if contains(&body, needle.as_bytes()) {
        Ok(())
    } else {
        Err(Failure::BodyMismatch {
            code,
            expected: needle.to_string(),
        })
    }
}

async fn tcp_probe(check: &HealthCheck) -> ProbeResult {
    let address = check.address.as_deref().unwrap_or_default();
    match TcpStream::connect(address).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(Failure::ConnectionRefused)
        }
        Err(e) => Err(Failure::Error {
            message: format!("cannot connect to {address}: {e}"),
        }),
    }
}

/// A reqwest error as a [`Failure`]: refused and timed-out connections by
/// name, anything else with its innermost cause (DNS, TLS, reset).
fn classify(e: &reqwest::Error, check: &HealthCheck) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout {
            after: check.timeout(),
        };
    }
    let mut source = e.source();
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return Failure::ConnectionRefused;
        }
        innermost = Some(cause);
        source = cause.source();
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "cannot read the body"
    } else {
        "request failed"
    };
    Failure::Error {
        message: match innermost {
            Some(cause) => format!("{what}: {cause}"),
            None => what.to_string(),
        },
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn contains_finds_a_needle_anywhere() {
        assert!(contains(b"status: ok", b"ok"));
        assert!(!contains(b"status: degraded", b"ok"));
        assert!(!contains(b"o", b"ok"));
        assert!(contains(b"", b""));
    }
}
