//! `firebell bench subscribers`: a public update, from the moment it is
//! posted until each of N webhook subscribers has it. Starts its own
//! Firebell in this process (temporary SQLite unless `--database-url`) with
//! a generated policy and its own receiver, which confirms every sign-up
//! the way a subscriber's endpoint would (POST to the `confirm_url`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use firebell_server::{PolicySource, Server, ServerConfig, SystemClock};
use serde_json::{Value, json};

use crate::bench_paging::{ms, pct, serve_bodies};

#[derive(Args)]
pub struct SubscribersArgs {
    /// Webhook subscribers to sign up, confirm, and tell.
    #[arg(long, default_value_t = 1_000)]
    subscribers: usize,
    /// Database (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
    /// Post the update right after declaring (it may wait for the next
    /// fan-out round, at most 250 ms), not 1.5 s later.
    #[arg(long)]
    back_to_back: bool,
}

const POLICY: &str = r#"
version = 1
[organization]
name = "Bench"
[[severities]]
name = "P1"
[services.api]
name = "API"
components = ["REST API", "Webhooks"]
[status_page.subscriptions]
webhooks = true
allow_private_webhooks = true
per_address_per_hour = 10000
per_client_per_hour = 10000
"#;

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Arrival of each `incident.update` carrying the marker.
    updates: Mutex<Vec<Instant>>,
    confirmations: AtomicUsize,
}

/// The benchmark's receiver: confirms every confirmation request it gets
/// (as a subscriber's endpoint would) and notes when each update arrives.
async fn receiver(seen: Arc<Seen>, marker: &'static str) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    serve_bodies("127.0.0.1:0", move |at, body| {
        let body: Value = serde_json::from_slice(body).unwrap_or_default();
        match body["type"].as_str() {
            Some("subscription.confirm") => {
                if let Some(confirm) = body["confirm_url"].as_str() {
                    let confirm = confirm.to_string();
                    let (seen, client) = (seen.clone(), client.clone());
                    tokio::spawn(async move {
                        let ok = client
                            .post(confirm)
                            .header("accept", "application/json")
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            seen.confirmations.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
            Some("incident.update") if body["update"]["body"].as_str() == Some(marker) => {
                seen.updates.lock().unwrap().push(at);
            }
            _ => {}
        }
    })
    .await
}

pub async fn subscribers(a: SubscribersArgs) -> anyhow::Result<()> {
    const MARKER: &str = "bench-update: we found the cause";
    let dir = tempfile::tempdir()?;
    let seen = Arc::new(Seen::default());
    let recv = receiver(seen.clone(), MARKER).await?;
    let policy_path = dir.path().join("bench-policy.toml");
    std::fs::write(&policy_path, POLICY)?;
    let database_url = a
        .database_url
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let config = ServerConfig {
        database_url,
        policy: PolicySource::File(policy_path),
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

    // Sign up N endpoints, 32 at a time, and let the receiver confirm them.
    eprintln!("signing up {} webhook subscribers ...", a.subscribers);
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, base, recv, next) = (client.clone(), base.clone(), recv.clone(), next.clone());
        let n = a.subscribers;
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let resp = client
                    .post(format!("{base}/status/subscriptions"))
                    .json(&json!({"webhook": format!("{recv}/hook/{i}"), "components": ["api.webhooks"]}))
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().as_u16() == 202, "sign-up answered {}", resp.status());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let signed_up = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.confirmations.load(Ordering::Relaxed) < a.subscribers {
        anyhow::ensure!(Instant::now() < deadline, "not all confirmed within 10 min");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "signed up in {:.1} s, all confirmed after {:.1} s",
        signed_up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // An incident on the API, then the public update everyone must get.
    let resp = client
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&json!({"title": "Webhooks delayed", "severity": "P1", "services": ["api"]}))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "declare answered {}",
        resp.status()
    );
    let id = resp.json::<Value>().await?["incident"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Fan-out rounds start at most four times a second; a responder's
    // update does not follow the declaration that closely
    // (`--back-to-back` measures the case where it does).
    if !a.back_to_back {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let posted = Instant::now();
    let resp = client
        .post(format!("{base}/api/v1/incidents/{id}/updates"))
        .bearer_auth(&token)
        .json(&json!({"visibility": "public", "status": "identified", "message": MARKER}))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "update answered {}",
        resp.status()
    );
    let deadline = posted + Duration::from_secs(600);
    while seen.updates.lock().unwrap().len() < a.subscribers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies: Vec<Duration> = seen
        .updates
        .lock()
        .unwrap()
        .iter()
        .map(|at| at.duration_since(posted))
        .collect();
    latencies.sort();
    let last = latencies.last().copied().unwrap_or_default();
    println!("| subscribers | told | first | p50 | p99 | last | messages/s |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.0} |",
        a.subscribers,
        latencies.len(),
        ms(latencies.first().copied().unwrap_or_default()),
        ms(pct(&latencies, 0.5)),
        ms(pct(&latencies, 0.99)),
        ms(last),
        latencies.len() as f64 / last.as_secs_f64().max(1e-9)
    );
    Ok(())
}
