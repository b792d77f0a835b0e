//! Slow and silent clients cannot keep the server's connections: a head sent
//! by halves, a kept-alive connection left idle, a body trickled in, and the
//! connection limit. These are about sockets, not storage, so they run on
//! SQLite only, on the real clock with short timeouts and generous bounds
//! (the machine running them may be loaded).

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use firebell_server::ConnectionLimits;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for something that should happen "soon" after a
/// deadline: far above the timeouts, so a busy machine does not fail it.
const BOUND: Duration = Duration::from_secs(5);

fn limits(header: u64, idle: u64, body: u64, max: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        body_read_timeout: Duration::from_millis(body),
        max_connections: max,
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Read until the server closes the connection (end of stream or a reset);
/// `None` if it is still open after `within`. Returns what was read.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all).await.ok()?;
    Some(seen)
}

/// Read one whole response (headers and a `Content-Length` body).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return String::from_utf8_lossy(&seen).into_owned();
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-response: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("a response in time")
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: firebell\r\n\r\n";

async fn health_ok(app: &TestApp) {
    let response = tokio::time::timeout(BOUND, app.http.get(app.url("/health")).send())
        .await
        .expect("served in time")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_at_the_header_timeout() {
    let app =
        TestApp::spawn_with_connections(Backend::Sqlite, limits(300, 10_000, 10_000, 4096)).await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for i in 0..200 {
        let mut stream = connect(&app).await;
        // Half a request line, half the headers, or nothing at all.
        let sent: &[u8] = match i % 3 {
            0 => b"GET /hea",
            1 => b"GET /health HTTP/1.1\r\nHost: fire",
            _ => b"",
        };
        stream.write_all(sent).await.unwrap();
        slow.push(stream);
    }
    // Everyone else is still served meanwhile.
    health_ok(&app).await;
    for stream in &mut slow {
        let seen = closed_within(stream, BOUND)
            .await
            .expect("a half-sent request is closed within the bound");
        assert!(seen.is_empty(), "no response to half a request: {seen:?}");
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed by the timeout, not at once ({elapsed:?})"
    );
    health_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_trickling_its_next_head_gets_the_header_timeout() {
    // The idle timeout is long, so only the header timeout can close it soon.
    let app =
        TestApp::spawn_with_connections(Backend::Sqlite, limits(300, 30_000, 30_000, 4096)).await;
    let mut stream = connect(&app).await;
    stream.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let sent = Instant::now();
    let seen = closed_within(&mut stream, BOUND)
        .await
        .expect("closed at the header timeout, long before the idle one");
    assert!(seen.is_empty(), "{seen:?}");
    assert!(sent.elapsed() >= Duration::from_millis(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(1500);
    let app =
        TestApp::spawn_with_connections(Backend::Sqlite, limits(300, 1500, 30_000, 4096)).await;
    let mut stream = connect(&app).await;
    stream.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout: still kept alive.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    let seen = closed_within(&mut stream, idle + BOUND)
        .await
        .expect("an idle connection is closed after the idle timeout");
    assert!(seen.is_empty(), "{seen:?}");
    let waited = answered.elapsed();
    assert!(
        waited >= idle - Duration::from_millis(100),
        "kept for the idle timeout, not closed early ({waited:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_until_a_slot_frees() {
    let app =
        TestApp::spawn_with_connections(Backend::Sqlite, limits(30_000, 30_000, 30_000, 2)).await;
    // Two connections that say nothing hold both slots.
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    // Let the server accept them before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    third.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection is not served while two hold the slots: {early:?}"
    );
    // The first slot frees: the third is served.
    first.shutdown().await.unwrap();
    drop(first);
    assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
    // The second still holds its slot; the third's leaves it idle, and held.
    second.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut second).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408_at_the_body_timeout() {
    let app =
        TestApp::spawn_with_connections(Backend::Sqlite, limits(30_000, 30_000, 500, 4096)).await;
    for request in [
        // A route that reads raw bytes (PagerDuty events) …
        "POST /v2/enqueue HTTP/1.1\r\nHost: firebell\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"rout".to_string(),
        // … and one that parses JSON, behind a token.
        format!(
            "POST /api/v1/incidents HTTP/1.1\r\nHost: firebell\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"titl",
            app.admin_token
        ),
    ] {
        let mut stream = connect(&app).await;
        let sent = Instant::now();
        stream.write_all(request.as_bytes()).await.unwrap();
        let seen = closed_within(&mut stream, BOUND)
            .await
            .expect("answered and closed within the bound");
        let seen = String::from_utf8_lossy(&seen);
        assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
        assert!(seen.contains("request_timeout") || seen.contains("did not arrive"), "{seen}");
        assert!(sent.elapsed() >= Duration::from_millis(450));
    }
    health_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_not_held_up_by_slow_or_idle_clients() {
    let mut app =
        TestApp::spawn_with_connections(Backend::Sqlite, limits(300, 30_000, 30_000, 4096)).await;
    let mut idle = connect(&app).await;
    idle.write_all(HEALTH).await.unwrap();
    read_response(&mut idle).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    tokio::time::timeout(BOUND, app.stop())
        .await
        .expect("the server stops within the bound");
}
