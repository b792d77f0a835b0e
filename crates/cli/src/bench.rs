//! `firebell bench`: load generators for BENCHMARKS.md. They speak the
//! Alertmanager v2 API, so the same load can be pointed at Firebell or at a
//! real Alertmanager for a side-by-side figure. Numbers are measured, never
//! asserted: tests check behaviour, benchmarks report speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use firebell_server::wire::IncidentList;
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Alerts/s and request latency at a given batch size and concurrency.
    Ingest(IngestArgs),
    /// Many alerts into ONE group: how long until all are committed and (for
    /// Firebell) processed, and how many incidents result (must be 1).
    Storm(StormArgs),
    /// Alert in → first notification attempt (no policy delay), p50/p99, on
    /// a Firebell started in this process with its own receiver.
    Paging(crate::bench_paging::PagingArgs),
    /// Many escalation timers due at the same instant: lateness of firing.
    Timers(crate::bench_paging::TimersArgs),
    /// A flood of alerts with a new critical alert every second: how soon
    /// each is paged (to this command's receiver), side by side with
    /// Alertmanager.
    Flood(crate::bench_flood::FloodArgs),
    /// The incident list at a realistic history, with and without filters.
    IncidentList(crate::bench_lists::IncidentListArgs),
    /// Prometheus's pattern: N alerts re-sent every evaluation; the
    /// server's CPU per refreshed alert, and its memory.
    Resend(crate::bench_resend::ResendArgs),
    /// A public update, posted → received by each of N confirmed webhook
    /// subscribers (this command's receiver).
    Subscribers(crate::bench_subscribers::SubscribersArgs),
}

#[derive(Args, Clone)]
pub struct Target {
    /// Base URL of Firebell or Alertmanager, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// Bearer token (Firebell); omit for an Alertmanager without auth.
    #[arg(long, env = "FIREBELL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PID of the server, to report its peak resident memory (Linux).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Name printed in the result row.
    #[arg(long, default_value = "target")]
    pub label: String,
}

#[derive(Args)]
pub struct IngestArgs {
    #[command(flatten)]
    target: Target,
    /// Alerts per request.
    #[arg(long, default_value_t = 100)]
    per_request: usize,
    /// Requests to send.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

#[derive(Args)]
pub struct StormArgs {
    #[command(flatten)]
    target: Target,
    /// Alerts in the storm, all in one group.
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Alerts per request.
    #[arg(long, default_value_t = 1_000)]
    per_request: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Wait this long at most for Firebell to process the storm.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

pub async fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Ingest(a) => ingest(a).await,
        BenchCmd::Storm(a) => storm(a).await,
        BenchCmd::Paging(a) => crate::bench_paging::paging(a).await,
        BenchCmd::Timers(a) => crate::bench_paging::timers(a).await,
        BenchCmd::Flood(a) => crate::bench_flood::flood(a).await,
        BenchCmd::IncidentList(a) => crate::bench_lists::incident_list(a).await,
        BenchCmd::Resend(a) => crate::bench_resend::resend(a).await,
        BenchCmd::Subscribers(a) => crate::bench_subscribers::subscribers(a).await,
    }
}

/// A batch of alerts with distinct label sets in one group (same alertname).
fn batch(run: &str, start: usize, n: usize) -> Value {
    let now = jiff::Timestamp::now();
    let ends = now + jiff::SignedDuration::from_mins(30);
    Value::Array(
        (start..start + n)
            .map(|i| {
                json!({
                    "labels": {"alertname": format!("Bench{run}"), "instance": format!("node-{i}"), "service": "api", "severity": "warning"},
                    "annotations": {"summary": format!("benchmark {run}")},
                    "startsAt": now.to_string(),
                    "endsAt": ends.to_string(),
                })
            })
            .collect(),
    )
}

struct Sent {
    latencies: Vec<Duration>,
    wall: Duration,
    errors: u64,
    peak_rss_kib: Option<u64>,
}

/// Send `requests` bodies of `per_request` alerts with `concurrency` in flight.
async fn send(
    t: &Target,
    run: &str,
    per_request: usize,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Sent> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("{}/api/v2/alerts", t.url.trim_end_matches('/'));
    // Bodies are built before the clock starts: we measure the server.
    let bodies: Vec<Vec<u8>> = (0..requests)
        .map(|r| serde_json::to_vec(&batch(run, r * per_request, per_request)))
        .collect::<Result<_, _>>()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = t.pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, bodies, next, errors, token) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            next.clone(),
            errors.clone(),
            t.token.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(i) else { break };
                let req = post_alerts(&client, &url, token.as_deref(), body.clone());
                let t0 = Instant::now();
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => latencies.push(t0.elapsed()),
                    Ok(resp) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if resp.status().as_u16() == 429 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    let wall = started.elapsed();
    if let Some(s) = sampler {
        s.abort();
    }
    latencies.sort();
    let peak = peak.load(Ordering::Relaxed);
    Ok(Sent {
        latencies,
        wall,
        errors: errors.load(Ordering::Relaxed),
        peak_rss_kib: (peak > 0).then_some(peak),
    })
}

/// A POST of encoded alerts to `url`, with the bearer token if there is one.
pub(crate) fn post_alerts(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pct(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.1} ms", sorted[i].as_secs_f64() * 1000.0)
}

async fn ingest(a: IngestArgs) -> anyhow::Result<()> {
    let run = format!("{:x}", jiff::Timestamp::now().as_millisecond());
    let sent = send(&a.target, &run, a.per_request, a.requests, a.concurrency).await?;
    let ok = sent.latencies.len();
    let rate = (ok * a.per_request) as f64 / sent.wall.as_secs_f64();
    println!(
        "| target | alerts/request | requests | concurrency | alerts/s | p50 | p99 | errors | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
        a.target.label,
        a.per_request,
        a.requests,
        a.concurrency,
        rate,
        pct(&sent.latencies, 0.50),
        pct(&sent.latencies, 0.99),
        sent.errors,
        sent.peak_rss_kib
            .map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into()),
    );
    Ok(())
}

async fn storm(a: StormArgs) -> anyhow::Result<()> {
    let run = format!("Storm{:x}", jiff::Timestamp::now().as_millisecond());
    let requests = a.alerts.div_ceil(a.per_request);
    let sent = send(&a.target, &run, a.per_request, requests, a.concurrency).await?;
    let committed = sent.wall;
    println!(
        "storm: {} alerts in {requests} requests committed in {:.2} s ({} errors)",
        a.alerts,
        committed.as_secs_f64(),
        sent.errors
    );
    if let Some(k) = sent.peak_rss_kib {
        println!("peak RSS while ingesting: {:.0} MiB", k as f64 / 1024.0);
    }
    let Some(token) = &a.target.token else {
        println!("(no token: not a Firebell target, so no incident count)");
        return Ok(());
    };
    // Firebell: wait until the processor has attached every alert.
    let client = reqwest::Client::new();
    let base = a.target.url.trim_end_matches('/');
    let started = Instant::now();
    loop {
        let list: IncidentList = client
            .get(format!("{base}/api/v1/incidents?limit=500"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let ours: Vec<_> = list
            .items
            .iter()
            .filter(|i| i.title.contains(&format!("benchmark {run}")))
            .collect();
        let attached: u64 = ours.iter().map(|i| i.alerts_total).sum();
        if attached >= a.alerts as u64 || started.elapsed() > Duration::from_secs(a.timeout_secs) {
            println!(
                "processed: {attached} alerts on {} incident(s), {:.2} s after the last commit ({:.2} s in all)",
                ours.len(),
                started.elapsed().as_secs_f64(),
                (committed + started.elapsed()).as_secs_f64()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
