//! `firebell bench flood`: how soon a new, critical alert is acted on while
//! a flood of other alerts is running, measured to the same finish line for
//! Firebell and Alertmanager: its page (or webhook) arriving at a receiver
//! this command runs. The target must be configured to page that receiver
//! for alerts named `bench-probe-…` and to page nobody for the flood
//! (`scripts/bench-flood.sh` does both).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use crate::bench::Target;
use crate::bench_paging::{ms, pct, receiver_on};

#[derive(Args)]
pub struct FloodArgs {
    #[command(flatten)]
    target: Target,
    /// Alerts per flood request, each with labels never sent before.
    #[arg(long, default_value_t = 100)]
    per_request: usize,
    /// Flood requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long the flood lasts.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// A probe goes out this often during the flood (more probes, a p99
    /// that is not merely the worst of a few).
    #[arg(long, default_value_t = 1000)]
    probe_every_ms: u64,
    /// Address the receiver listens on (the target pages it).
    #[arg(long, default_value = "127.0.0.1:19300")]
    receiver: String,
    /// Paces the flood to at most this many alerts a second (0: as fast as
    /// the target answers): to compare at one load, Firebell is flooded at
    /// the rate Alertmanager took, not at whatever more it accepts itself.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// How long a probe's page is waited for after the flood.
    #[arg(long, default_value_t = 120)]
    probe_timeout_secs: u64,
}

pub async fn flood(a: FloodArgs) -> anyhow::Result<()> {
    let (_, arrivals) = receiver_on(&a.receiver).await?;
    let run = format!("{:x}", jiff::Timestamp::now().as_millisecond());
    let base = a.target.url.trim_end_matches('/').to_string();
    let url = format!("{base}/api/v2/alerts");
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    // Requests sent so far, for pacing: the k-th leaves k × per / rate
    // seconds after the start, whichever worker sends it.
    let sent = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..a.concurrency {
        let (client, url, token, run) = (
            client.clone(),
            url.clone(),
            a.target.token.clone(),
            run.clone(),
        );
        let (accepted, refused, next, sent) = (
            accepted.clone(),
            refused.clone(),
            next.clone(),
            sent.clone(),
        );
        let (per, rate) = (a.per_request, a.rate);
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if rate > 0 {
                    let k = sent.fetch_add(1, Ordering::Relaxed);
                    let at =
                        started + Duration::from_secs_f64((k * per as u64) as f64 / rate as f64);
                    if at >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                }
                let start = next.fetch_add(per as u64, Ordering::Relaxed) as usize;
                let body = serde_json::to_vec(&flood_batch(&run, start, per)).unwrap_or_default();
                let req = crate::bench::post_alerts(&client, &url, token.as_deref(), body);
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        accepted.fetch_add(per as u64, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        if r.status().as_u16() == 429 || r.status().as_u16() == 503 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    // A probe every `probe_every_ms`, each a new alert group, on a client of
    // its own; one that answers late delays the next rather than bunching.
    let probe_client = reqwest::Client::new();
    // Each probe: its name, when it was sent, and how long its POST took to
    // answer 2xx (None: refused or failed).
    let mut probes: Vec<(String, Instant, Option<Duration>)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(a.probe_every_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut i = 0;
    loop {
        tick.tick().await;
        if Instant::now() + Duration::from_millis(500) >= deadline {
            break;
        }
        let name = format!("bench-probe-{run}-{i}");
        i += 1;
        let body = json!([{
            "labels": {"alertname": name, "service": "api", "severity": "critical"},
            "annotations": {"summary": name},
        }]);
        let mut req = probe_client.post(&url).json(&body);
        if let Some(t) = &a.target.token {
            req = req.bearer_auth(t);
        }
        let sent = Instant::now();
        let ok = req
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        probes.push((name, sent, ok.then(|| sent.elapsed())));
    }
    for w in workers {
        w.await?;
    }
    let flood_wall = started.elapsed();

    // Wait for every accepted probe's page.
    let wait_until = Instant::now() + Duration::from_secs(a.probe_timeout_secs);
    loop {
        let got = arrivals.lock().unwrap().clone();
        let missing = probes
            .iter()
            .filter(|(n, _, ok)| ok.is_some() && !got.contains_key(n))
            .count();
        if missing == 0 || Instant::now() >= wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = probes
        .iter()
        .filter_map(|(n, sent, _)| got.get(n).map(|at| at.duration_since(*sent)))
        .collect();
    latencies.sort();
    let mut answered: Vec<Duration> = probes.iter().filter_map(|(_, _, ok)| *ok).collect();
    answered.sort();
    let refused_probes = probes.iter().filter(|(_, _, ok)| ok.is_none()).count();
    let unpaged = probes.len() - latencies.len() - refused_probes;
    let rate = accepted.load(Ordering::Relaxed) as f64 / flood_wall.as_secs_f64();
    println!(
        "| target | flood alerts/s (2xx) | flood refusals | probes | paged | p50 | p99 | max | probe's 2xx p50 · p99 | refused | not paged within {}s |",
        a.probe_timeout_secs
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} · {} | {} | {} |",
        a.target.label,
        rate,
        refused.load(Ordering::Relaxed),
        probes.len(),
        latencies.len(),
        ms(pct(&latencies, 0.50)),
        ms(pct(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        ms(pct(&answered, 0.50)),
        ms(pct(&answered, 0.99)),
        refused_probes,
        unpaged,
    );
    Ok(())
}

/// Flood alerts: distinct label sets in one group per run, never paging.
fn flood_batch(run: &str, start: usize, n: usize) -> Value {
    Value::Array(
        (start..start + n)
            .map(|i| {
                json!({
                    "labels": {"alertname": format!("Flood{run}"), "instance": format!("node-{i}"), "service": "api", "severity": "warning"},
                    "annotations": {"summary": "flood"},
                })
            })
            .collect(),
    )
}
