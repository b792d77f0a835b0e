//! `firebell bench resend`: Prometheus's real pattern. N firing alerts are
//! sent, then sent again every evaluation with only `endsAt` moved on, in
//! batches of 64 (the batch of Prometheus's notifier), a few requests at a
//! time. For each cycle it reports how long sending took, the requests
//! answered 2xx and not, and the server's CPU time over the cycle (user and
//! system, from `/proc/PID/stat`) per alert sent: what a refresh costs once
//! the server has also merged it in the background.

use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use crate::bench::{Target, post_alerts, rss_kib};

#[derive(Args)]
pub struct ResendArgs {
    #[command(flatten)]
    target: Target,
    /// Firing alerts, all sent every cycle.
    #[arg(long, default_value_t = 200_000)]
    alerts: usize,
    /// Seconds between the starts of two cycles (the evaluation interval).
    #[arg(long, default_value_t = 15)]
    every_secs: u64,
    /// Cycles: the first creates the alerts, the others refresh them.
    #[arg(long, default_value_t = 4)]
    cycles: usize,
    /// Alerts per request (Prometheus sends at most 64).
    #[arg(long, default_value_t = 64)]
    per_request: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// Linux reports process CPU time in clock ticks of 1/100 s (`USER_HZ`,
/// fixed at 100 for user space on every architecture Linux supports).
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU time of a process, all its threads.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SEC))
}

fn bodies(run: &str, alerts: usize, per_request: usize, started: jiff::Timestamp) -> Vec<Vec<u8>> {
    let now = jiff::Timestamp::now();
    let ends = now + jiff::SignedDuration::from_mins(4);
    (0..alerts)
        .collect::<Vec<_>>()
        .chunks(per_request)
        .map(|chunk| {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({
                        "labels": {"alertname": format!("Resend{run}"), "instance": format!("node-{i}"), "service": "api", "severity": "warning"},
                        "annotations": {"summary": "benchmark resend"},
                        "startsAt": started.to_string(),
                        "endsAt": ends.to_string(),
                    })
                })
                .collect();
            serde_json::to_vec(&batch).unwrap_or_default()
        })
        .collect()
}

pub async fn resend(a: ResendArgs) -> anyhow::Result<()> {
    let pid = a
        .target
        .pid
        .ok_or_else(|| anyhow::anyhow!("--pid is required: the server's CPU time is the figure"))?;
    anyhow::ensure!(
        a.per_request > 0 && a.concurrency > 0,
        "--per-request and --concurrency must be at least 1"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let url = format!("{}/api/v2/alerts", a.target.url.trim_end_matches('/'));
    let run = format!("{:x}", std::process::id());
    let started = jiff::Timestamp::now();
    println!(
        "| target | alerts | cycle | sent in | requests 2xx | not 2xx | server CPU over the cycle | per alert | RSS after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut refresh_cpu = Duration::ZERO;
    for cycle in 0..a.cycles {
        let bodies = bodies(&run, a.alerts, a.per_request, started);
        let cpu_before =
            cpu_time(pid).ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}/stat"))?;
        let cycle_start = Instant::now();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..a.concurrency {
            let (client, url, queue, token) = (
                client.clone(),
                url.clone(),
                queue.clone(),
                a.target.token.clone(),
            );
            senders.spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                loop {
                    let Some(body) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
                        return (ok, failed);
                    };
                    match post_alerts(&client, &url, token.as_deref(), body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => ok += 1,
                        _ => failed += 1,
                    }
                }
            });
        }
        let (mut ok, mut failed) = (0, 0);
        while let Some(done) = senders.join_next().await {
            let (o, f) = done?;
            ok += o;
            failed += f;
        }
        let sent_in = cycle_start.elapsed();
        // The rest of the interval: the server merges in the background.
        let period = Duration::from_secs(a.every_secs);
        if let Some(rest) = period.checked_sub(sent_in) {
            tokio::time::sleep(rest).await;
        }
        let cpu = cpu_time(pid)
            .unwrap_or(cpu_before)
            .saturating_sub(cpu_before);
        if cycle > 0 {
            refresh_cpu += cpu;
        }
        println!(
            "| {} | {} | {} | {:.2} s | {ok} | {failed} | {:.2} s | {:.1} µs | {} |",
            a.target.label,
            a.alerts,
            if cycle == 0 {
                "first".to_string()
            } else {
                format!("refresh {cycle}")
            },
            sent_in.as_secs_f64(),
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / a.alerts as f64,
            rss_kib(pid).map_or("-".into(), |k| format!("{} MiB", k / 1024)),
        );
    }
    if a.cycles > 1 {
        let refreshes = (a.cycles - 1) * a.alerts;
        eprintln!(
            "{}: {:.1} µs of server CPU per refreshed alert (mean of {} refresh cycles)",
            a.target.label,
            refresh_cpu.as_secs_f64() * 1e6 / refreshes as f64,
            a.cycles - 1
        );
    }
    Ok(())
}
