//! `firebell bench incident-list`: how long the incident list takes to answer
//! at a realistic history, with and without its filters, over HTTP. It starts
//! its own Firebell in this process (temporary SQLite unless
//! `--database-url`), declares the incidents through the command path, and
//! times `GET /api/v1/incidents` as a client would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use firebell_core::incident::Declare;
use firebell_server::{PolicySource, Server, ServerConfig, SystemClock};

use crate::bench_paging::{ms, pct};

#[derive(Args)]
pub struct IncidentListArgs {
    /// Incidents declared before timing, spread over the services.
    #[arg(long, default_value_t = 22_000)]
    incidents: usize,
    /// Services in the policy; incident i affects service i mod this.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Requests timed per query.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Database (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn incident_list(a: IncidentListArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.services > 0, "--services must be at least 1");
    let dir = tempfile::tempdir()?;
    let database_url = a
        .database_url
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    // P3 pages nobody: the list is what is measured, not paging.
    let mut policy = String::from(
        "version = 1\n[organization]\nname = \"Bench\"\n[[severities]]\nname = \"P3\"\npaging = \"never\"\n",
    );
    for s in 0..a.services {
        policy.push_str(&format!(
            "[services.svc{s}]\ndescription = \"service {s}\"\n"
        ));
    }
    let path = dir.path().join("bench-policy.toml");
    std::fs::write(&path, policy)?;
    let config = ServerConfig {
        database_url,
        policy: PolicySource::File(path),
        policy_poll: Duration::from_secs(60),
        background_processing: false,
        public_url: None,
        connections: Default::default(),
        max_clock_skew: firebell_server::skew::DEFAULT_MAX_SKEW,
    };
    let server = Server::open(&config, Arc::new(SystemClock)).await?;
    let token = server.bootstrap_admin_token().await?.unwrap_or_default();
    let state = server.state.clone();
    eprintln!("declaring {} incidents ...", a.incidents);
    let started = Instant::now();
    for i in 0..a.incidents {
        let d = Declare {
            title: format!("incident {i}"),
            severity: "P3".into(),
            services: vec![format!("svc{}", i % a.services)],
            ..Default::default()
        };
        state.incidents.declare(&d, "bench", Vec::new()).await?;
    }
    eprintln!("declared in {:.1} s", started.elapsed().as_secs_f64());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/v1/incidents", listener.local_addr()?);
    tokio::spawn(server.serve(listener, config.policy_poll, std::future::pending()));

    let client = reqwest::Client::new();
    println!("| incidents | query | runs | p50 | p99 | max | items |");
    println!("|---|---|---|---|---|---|---|");
    for query in [
        "limit=50",
        "service=svc3&limit=50",
        "service=svc3&status=investigating&limit=50",
        "severity=P3&limit=50",
    ] {
        let url = format!("{base}?{query}");
        let mut times = Vec::with_capacity(a.runs);
        let mut items = 0;
        for _ in 0..a.runs {
            let sent = Instant::now();
            let response = client.get(&url).bearer_auth(&token).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            let page: serde_json::Value = response.json().await?;
            times.push(sent.elapsed());
            items = page["items"].as_array().map_or(0, Vec::len);
        }
        times.sort();
        println!(
            "| {} | `{query}` | {} | {} | {} | {} | {items} |",
            a.incidents,
            a.runs,
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99)),
            ms(times.last().copied().unwrap_or_default()),
        );
    }
    Ok(())
}
