//! `firebell health`: ask a server's `/health` (or `/ready`) without a
//! token. The container image's health check runs it, since the runtime
//! image has no shell and no curl (see docs/deploy.md).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::client::{ClientError, root_cause};
use crate::config::{ConfigFile, DEFAULT_URL};

#[derive(Args)]
pub struct HealthArgs {
    /// Server URL [default: http://127.0.0.1:8080].
    #[arg(long, env = "FIREBELL_URL")]
    url: Option<String>,
    /// Ask `/ready` (database reachable, policy loaded, no queue stalled,
    /// clock in step) instead of `/health` (the process answers).
    #[arg(long)]
    ready: bool,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_seconds: u64,
}

/// Exit 0 on a 2xx answer, 1 on any other answer, 3 (through
/// [`ClientError::Unreachable`]) when nothing answers in time.
pub async fn run(args: HealthArgs, file: &ConfigFile) -> anyhow::Result<ExitCode> {
    let base = args
        .url
        .or_else(|| file.url.clone())
        .unwrap_or_else(|| DEFAULT_URL.into());
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ClientError::Unreachable {
            url: base,
            reason: "the server URL needs its scheme, e.g. http://127.0.0.1:8080".into(),
        }
        .into());
    }
    let path = if args.ready { "ready" } else { "health" };
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    let unreachable = |e: reqwest::Error| ClientError::Unreachable {
        url: url.clone(),
        reason: root_cause(&e),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_seconds))
        .user_agent(concat!("firebell-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(unreachable)?;
    let resp = http.get(&url).send().await.map_err(unreachable)?;
    let status = resp.status();
    let body = resp.text().await.map_err(unreachable)?;
    let line = format!("{url}: HTTP {} {}", status.as_u16(), body.trim());
    if status.is_success() {
        println!("{line}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{line}");
        Ok(ExitCode::FAILURE)
    }
}
