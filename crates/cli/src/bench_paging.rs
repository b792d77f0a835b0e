//! `firebell bench paging` and `firebell bench timers`: the latency of the
//! paging path and the lateness of many timers falling due at once. Both
//! start their own Firebell in this process (temporary SQLite unless
//! `--database-url`) with a generated policy, because the policy must point
//! its notifier at the benchmark's own receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use firebell_core::Timestamp;
use firebell_core::incident::Declare;
use firebell_server::{Clock, PolicySource, Server, ServerConfig, SystemClock};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Args)]
pub struct PagingArgs {
    /// Alerts to send, one incident each, one at a time.
    #[arg(long, default_value_t = 1_000)]
    alerts: usize,
    /// Database (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Args)]
pub struct TimersArgs {
    /// Incidents whose first escalation step falls due at the same instant.
    #[arg(long, default_value_t = 100_000)]
    timers: usize,
    /// Database (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
}

const POLICY: &str = r#"
version = 1
[organization]
name = "Bench"
escalation_policy = "page"
[[severities]]
name = "P1"
[people.oncall]
name = "On call"
contacts = [{ kind = "webhook", address = "RECEIVER/page" }]
[[escalation_policies]]
name = "page"
[[escalation_policies.steps]]
after = "AFTER"
targets = ["person:oncall"]
[notifiers.webhook]
"#;

fn write_policy(
    dir: &std::path::Path,
    receiver: &str,
    after: &str,
) -> anyhow::Result<PolicySource> {
    let path = dir.join("bench-policy.toml");
    std::fs::write(
        &path,
        POLICY.replace("RECEIVER", receiver).replace("AFTER", after),
    )?;
    Ok(PolicySource::File(path))
}

/// First arrival of each `bench-…` name a page or webhook carried.
pub(crate) type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> anyhow::Result<(String, Arrivals)> {
    receiver_on("127.0.0.1:0").await
}

/// A bare HTTP/1.1 receiver on `addr`: records when each `bench-…` name
/// first arrives anywhere in a body (a Firebell page, an Alertmanager
/// webhook), answers 200.
pub(crate) async fn receiver_on(addr: &str) -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Default::default();
    let sink = arrivals.clone();
    let url = serve_bodies(addr, move |at, body| {
        let body = String::from_utf8_lossy(body);
        let mut seen = sink.lock().unwrap();
        for name in bench_names(&body) {
            seen.entry(name.to_string()).or_insert(at);
        }
    })
    .await?;
    Ok((url, arrivals))
}

/// A bare HTTP/1.1 server on `addr` for benchmark receivers: hands each
/// request's body, with the instant it was complete, to `on_body`, and
/// answers 200. Returns its base URL.
pub(crate) async fn serve_bodies<F>(addr: &str, on_body: F) -> anyhow::Result<String>
where
    F: Fn(Instant, &[u8]) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let on_body = Arc::new(on_body);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let on_body = on_body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    on_body(Instant::now(), &buf[end + 4..end + 4 + len]);
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    buf.drain(..end + 4 + len);
                }
            });
        }
    });
    Ok(url)
}

/// Every `bench-…` word (letters, digits, `-`, `_`) in `text`.
fn bench_names(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("bench-").filter_map(move |(at, _)| {
        let word = &text[at..];
        let end = word
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(word.len());
        // Not the tail of a longer word.
        let starts = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        starts.then_some(&word[..end])
    })
}

pub(crate) fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Alert in → first notification attempt, with no policy delay.
pub async fn paging(a: PagingArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (recv, arrivals) = receiver().await?;
    let database_url = a
        .database_url
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let config = ServerConfig {
        database_url,
        policy: write_policy(dir.path(), &recv, "0m")?,
        policy_poll: Duration::from_secs(60),
        background_processing: true,
        public_url: None,
        connections: Default::default(),
        max_clock_skew: firebell_server::skew::DEFAULT_MAX_SKEW,
    };
    let server = Server::open(&config, Arc::new(SystemClock)).await?;
    let token = server.bootstrap_admin_token().await?.unwrap_or_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(server.serve(listener, config.policy_poll, std::future::pending()));
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(a.alerts);
    let mut missed = 0;
    let started = Instant::now();
    for i in 0..a.alerts {
        let name = format!("bench-{i}");
        let body = json!([{"labels": {"alertname": name, "severity": "critical"}}]);
        let sent = Instant::now();
        let resp = client
            .post(format!("{base}/api/v2/alerts"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "ingest answered {}",
            resp.status()
        );
        let deadline = sent + Duration::from_secs(10);
        loop {
            if let Some(at) = arrivals.lock().unwrap().get(&name) {
                latencies.push(at.duration_since(sent));
                break;
            }
            if Instant::now() > deadline {
                missed += 1;
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    println!("| alerts | p50 | p99 | max | no page within 10 s | wall |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {missed} | {:.1} s |",
        a.alerts,
        ms(pct(&latencies, 0.5)),
        ms(pct(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        wall.as_secs_f64()
    );
    Ok(())
}

/// Many timers due at one instant: how late does each fire?
pub async fn timers(a: TimersArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = a
        .database_url
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let config = ServerConfig {
        database_url,
        // No receiver: this measures the scheduler, not delivery.
        policy: write_policy(dir.path(), "http://127.0.0.1:9", "10m")?,
        policy_poll: Duration::from_secs(60),
        background_processing: false,
        public_url: None,
        connections: Default::default(),
        max_clock_skew: firebell_server::skew::DEFAULT_MAX_SKEW,
    };
    // Real time shifted by an offset: incidents are declared "10 minutes
    // ago" in no time, then the clock lines up with the due instant and the
    // events' timestamps show exactly when each step fired.
    let clock = OffsetClock::default();
    let server = Server::open(&config, Arc::new(clock.clone())).await?;
    let state = server.state.clone();
    let declared: Timestamp = clock.now();
    // Every incident is declared at the same instant, so every step falls due
    // at the same instant too.
    clock.stop_at(declared);
    eprintln!(
        "creating {} incidents with a step due at +10m ...",
        a.timers
    );
    let created = Instant::now();
    let mut ids = Vec::with_capacity(a.timers);
    for i in 0..a.timers {
        let d = Declare {
            title: format!("timer {i}"),
            severity: "P1".into(),
            ..Default::default()
        };
        let inc = state
            .incidents
            .declare(&d, "bench", Vec::new())
            .await?
            .incident;
        ids.push(inc.id);
    }
    eprintln!(
        "created in {:.1} s; the clock jumps to the due time",
        created.elapsed().as_secs_f64()
    );
    let due = declared + jiff::SignedDuration::from_mins(10);
    clock.jump_to(due);
    let started = Instant::now();
    let round = firebell_server::scheduler::run_once(&state.scheduler).await?;
    let wall = started.elapsed();
    // Fired: the step is on the incident. Late: from the due instant to the
    // commit that queued its page (the decision is a batch earlier).
    let mut fired = 0;
    for id in &ids {
        if let Some(inc) = state.store.get_incident(id).await?
            && inc.escalation_level > 0
        {
            fired += 1;
        }
    }
    let mut lateness = Vec::with_capacity(ids.len());
    for (n, at) in &round.committed {
        let late = Duration::try_from(at.duration_since(due)).unwrap_or_default();
        lateness.extend(std::iter::repeat_n(late, *n));
    }
    lateness.sort();
    println!("| timers due at once | fired | p50 lateness | p99 lateness | max | fired/s |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {:.0} |",
        a.timers,
        fired,
        ms(pct(&lateness, 0.5)),
        ms(pct(&lateness, 0.99)),
        ms(lateness.last().copied().unwrap_or_default()),
        round.incidents as f64 / wall.as_secs_f64()
    );
    Ok(())
}

/// The wall clock moved by an offset that can be changed, or stopped.
#[derive(Clone, Default)]
struct OffsetClock(Arc<Mutex<(jiff::SignedDuration, Option<Timestamp>)>>);

impl OffsetClock {
    /// From now on, the clock reads `t` at this instant and runs on.
    fn jump_to(&self, t: Timestamp) {
        *self.0.lock().unwrap() = (t.duration_since(jiff::Timestamp::now()), None);
    }

    /// Until the next jump, the clock reads `t`.
    fn stop_at(&self, t: Timestamp) {
        self.0.lock().unwrap().1 = Some(t);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let (offset, stopped) = *self.0.lock().unwrap();
        stopped.unwrap_or_else(|| jiff::Timestamp::now() + offset)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_names_are_whole_words() {
        let body = r#"{"subject":"[P1] bench-12 on api","alerts":[{"alertname":"bench-probe-a1-3"}],"x":"notbench-9"}"#;
        let names: Vec<&str> = super::bench_names(body).collect();
        assert_eq!(names, ["bench-12", "bench-probe-a1-3"]);
    }
}
