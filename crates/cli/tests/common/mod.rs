//! What the `firebell` binary's tests share: `serve` as a real process on
//! an ephemeral port, the client run against it, and the database to use.

#![allow(dead_code)] // Each test file uses its own part of this.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_firebell");

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A `firebell serve` process.
pub struct ServeProcess {
    pub child: Child,
    pub url: String,
    pub admin_token: Option<String>,
}

impl ServeProcess {
    pub fn start(database_url: &str, dir: &Path) -> ServeProcess {
        Self::start_with(database_url, dir, &[])
    }

    pub fn start_with(database_url: &str, dir: &Path, extra: &[&str]) -> ServeProcess {
        let stderr = std::fs::File::create(dir.join("serve.log")).unwrap();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(extra)
            .current_dir(dir)
            .env_remove("FIREBELL_POLICY")
            .env_remove("FIREBELL_CONFIG")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut admin_token) = (None, None);
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line
                .split("admin token (shown once; store it now): ")
                .nth(1)
            {
                admin_token = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("listening on ") {
                url = Some(rest.trim().to_string());
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url =
            url.unwrap_or_else(|| panic!("serve did not report its address; log: {}", log(dir)));
        ServeProcess {
            child,
            url,
            admin_token,
        }
    }

    /// SIGTERM and wait: a graceful shutdown.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(
            exit.success(),
            "serve should exit cleanly on SIGTERM, got {exit}"
        );
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

pub fn firebell(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FIREBELL_URL", url)
        .env("FIREBELL_TOKEN", token)
        .env_remove("FIREBELL_CONFIG")
        .output()
        .unwrap()
}

#[track_caller]
pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn database(backend: &str, dir: &Path) -> Option<String> {
    match backend {
        "sqlite" => Some(format!("sqlite:{}", dir.join("firebell.db").display())),
        _ => {
            let Ok(base) = std::env::var("FIREBELL_TEST_DATABASE_URL") else {
                eprintln!("SKIPPED postgres CLI test: set FIREBELL_TEST_DATABASE_URL to run it");
                return None;
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let sep = if base.contains('?') { '&' } else { '?' };
            Some(format!("{base}{sep}schema=cli_{nanos:x}"))
        }
    }
}

/// A notifier endpoint that records every page: its idempotency key and body.
pub struct PageSink {
    pub url: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

impl PageSink {
    pub fn start() -> PageSink {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                let (head_end, length) = loop {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break (None, 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (Some(i + 4), length);
                    }
                };
                let Some(start) = head_end else { continue };
                while buf.len() < start + length {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..start]).to_string();
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("idempotency-key")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let body = serde_json::from_slice(&buf[start..(start + length).min(buf.len())])
                    .unwrap_or(serde_json::Value::Null);
                sink.lock().unwrap().push((key, body));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        PageSink { url, got }
    }

    /// People paged so far, one entry per distinct idempotency key.
    pub fn people(&self) -> Vec<String> {
        let got = self.got.lock().unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for (key, body) in got.iter() {
            seen.entry(key.clone())
                .or_insert_with(|| body["person"].as_str().unwrap_or("?").to_string());
        }
        let mut people: Vec<String> = seen.into_values().collect();
        people.sort();
        people
    }

    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let people = self.people();
            if people.len() >= n || std::time::Instant::now() > deadline {
                return people;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A bare HTTP/1.1 request with a deadline: (status, body); `None` if the
/// server did not answer in time (it is stopped, say).
pub fn http(
    url: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
    timeout: std::time::Duration,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig}");
}
