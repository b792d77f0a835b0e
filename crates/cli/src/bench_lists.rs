//! `firebell bench incident-list`: how long the incident list and an
//! incident's detail take to answer at a realistic history, with and without
//! the list's filters, over HTTP. It starts its own Firebell in this process
//! (temporary SQLite unless `--database-url`), builds the history through the
//! command path (most incidents resolved, a few still open; one in twenty P1,
//! one in five P2, the rest P3; notes on each if asked), and times
//! `GET /api/v1/incidents` as a client would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use firebell_core::incident::{Command, Declare};
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
    /// One incident in this many stays open; the rest are resolved (0: all
    /// stay open).
    #[arg(long, default_value_t = 100)]
    open_every: usize,
    /// Notes added to each incident (timeline events beyond declaring and
    /// resolving).
    #[arg(long, default_value_t = 0)]
    notes: usize,
    /// Incidents built at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
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
    // Nobody is paged: the list is what is measured, not paging.
    let mut policy = String::from("version = 1\n[organization]\nname = \"Bench\"\n");
    for severity in SEVERITIES {
        policy.push_str(&format!(
            "[[severities]]\nname = \"{severity}\"\npaging = \"never\"\n"
        ));
    }
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
    eprintln!(
        "building {} incidents ({} notes each, one in {} open) ...",
        a.incidents, a.notes, a.open_every
    );
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    let concurrency = a.concurrency.max(1);
    for w in 0..concurrency {
        let state = state.clone();
        let (n, services, notes, open_every) = (a.incidents, a.services, a.notes, a.open_every);
        workers.spawn(async move {
            let mut built = Vec::new();
            for i in (w..n).step_by(concurrency) {
                built.push((i, build(&state, i, services, notes, open_every).await?));
            }
            anyhow::Ok(built)
        });
    }
    let mut built: Vec<(usize, (String, jiff::Timestamp))> = Vec::with_capacity(a.incidents);
    while let Some(done) = workers.join_next().await {
        built.extend(done??);
    }
    built.sort_by_key(|(i, _)| *i);
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/v1/incidents", listener.local_addr()?);
    tokio::spawn(server.serve(listener, config.policy_poll, std::future::pending()));

    let client = reqwest::Client::new();
    println!("| incidents | request | runs | p50 | p99 | max | items or events |");
    println!("|---|---|---|---|---|---|---|");
    // A window of a hundredth of the history, in its middle.
    let at = |share: f64| built[((built.len() - 1) as f64 * share) as usize].1.1;
    let (since, until) = (at(0.5), at(0.51));
    let window = format!("since={since}&until={until}&limit=50");
    let detail = |share: f64| {
        format!(
            "/{}",
            built[((built.len() - 1) as f64 * share) as usize].1.0
        )
    };
    for query in [
        "?limit=50".to_string(),
        "?status=open&limit=50".into(),
        "?status=resolved&limit=50".into(),
        "?severity=P1&limit=50".into(),
        "?service=svc3&limit=50".into(),
        "?service=svc3&status=open&limit=50".into(),
        "?service=svc3&severity=P1&limit=50".into(),
        "?severity=P1&status=open&limit=50".into(),
        format!("?{window}"),
        format!("?service=svc3&{window}"),
        detail(0.0),
        detail(0.5),
        detail(1.0),
    ] {
        let url = format!("{base}{query}");
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
            items = page["items"]
                .as_array()
                .or(page["timeline"].as_array())
                .map_or(0, Vec::len);
        }
        times.sort();
        println!(
            "| {} | `{}` | {} | {} | {} | {} | {items} |",
            a.incidents,
            query
                .replace(&since.to_string(), "MID")
                .replace(&until.to_string(), "MID+1%"),
            a.runs,
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99)),
            ms(times.last().copied().unwrap_or_default()),
        );
    }
    // The report over the whole history (every incident's log is read).
    let url = base.replace("/incidents", "/reports?since=30d");
    let mut times = Vec::new();
    let mut counted = 0;
    for _ in 0..a.runs.clamp(1, 5) {
        let sent = Instant::now();
        let response = client.get(&url).bearer_auth(&token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let report: serde_json::Value = response.json().await?;
        times.push(sent.elapsed());
        counted = report["incidents"].as_u64().unwrap_or(0);
    }
    times.sort();
    println!(
        "| {} | `/reports?since=30d` | {} | {} | {} | {} | {counted} counted |",
        a.incidents,
        times.len(),
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
    );
    Ok(())
}

const SEVERITIES: [&str; 3] = ["P1", "P2", "P3"];

/// Incident `i` of the history: declared, given its notes, and resolved
/// unless it is one of those kept open. Returns its id and when it was
/// declared.
async fn build(
    state: &firebell_server::AppState,
    i: usize,
    services: usize,
    notes: usize,
    open_every: usize,
) -> anyhow::Result<(String, jiff::Timestamp)> {
    let severity = match i {
        _ if i.is_multiple_of(20) => SEVERITIES[0],
        _ if i.is_multiple_of(5) => SEVERITIES[1],
        _ => SEVERITIES[2],
    };
    let d = Declare {
        title: format!("incident {i}"),
        severity: severity.into(),
        services: vec![format!("svc{}", i % services)],
        ..Default::default()
    };
    let declared = state.incidents.declare(&d, "bench", Vec::new()).await?;
    let id = declared.incident.id.clone();
    for n in 0..notes {
        let note = Command::AddNote {
            text: format!("note {n}"),
        };
        state.incidents.execute(&id, "bench", None, &note).await?;
    }
    if open_every == 0 || !i.is_multiple_of(open_every) {
        let resolve = Command::Resolve {
            summary: "done".into(),
        };
        state
            .incidents
            .execute(&id, "bench", None, &resolve)
            .await?;
    }
    Ok((id, declared.incident.declared_at))
}
