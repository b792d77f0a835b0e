//! `firebell serve`: open the database, load the policy, print where to go and
//! (on a fresh database) the first admin token, then serve until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use firebell_server::{ConnectionLimits, PolicySource, Server, ServerConfig, SystemClock};

use crate::config::{ConfigFile, DEFAULT_LISTEN, DatabaseArgs};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "FIREBELL_LISTEN")]
    listen: Option<String>,
    #[command(flatten)]
    db: DatabaseArgs,
    /// Policy file (TOML); reloaded on SIGHUP or when it changes [default: the embedded demo policy].
    #[arg(long, env = "FIREBELL_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Seconds between checks of the policy file for changes [default: 2].
    #[arg(long, env = "FIREBELL_POLICY_POLL_SECONDS")]
    policy_poll_seconds: Option<u64>,
    /// Base URL people reach this server at, used in the links of
    /// notifications (acknowledge, open incident) [default: http://<listen address>].
    #[arg(long, env = "FIREBELL_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Seconds a client has to send a request's line and headers, from
    /// connecting or from its first byte after an idle spell [default: 10].
    #[arg(long, env = "FIREBELL_HEADER_READ_TIMEOUT_SECONDS", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_seconds: Option<u64>,
    /// Seconds a request body may take to arrive, from the end of its
    /// headers; past it the request gets 408 [default: 60].
    #[arg(long, env = "FIREBELL_BODY_READ_TIMEOUT_SECONDS", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout_seconds: Option<u64>,
    /// Seconds a kept-alive connection may stay silent between requests;
    /// keep it above any load balancer's idle timeout [default: 75].
    #[arg(long, env = "FIREBELL_IDLE_TIMEOUT_SECONDS", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_seconds: Option<u64>,
    /// Connections served at once; past it new ones wait to be accepted [default: 4096].
    #[arg(long, env = "FIREBELL_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Milliseconds this server's clock may differ from the database's
    /// before it stops claiming timers, notifications and leases and
    /// /ready answers 503 [default: 2000].
    #[arg(long, env = "FIREBELL_MAX_CLOCK_SKEW_MS", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    max_clock_skew_ms: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "FIREBELL_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

pub async fn run(args: ServeArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let connections = connection_limits(&args, file)?;
    let log_format = args
        .log_format
        .or_else(|| file.log_format.clone())
        .unwrap_or_else(|| "text".into());
    init_tracing(&log_format)?;
    let listen = args
        .listen
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let config = ServerConfig {
        database_url: args.db.resolve(file),
        policy: match args.policy.or_else(|| file.policy.clone()) {
            Some(p) => PolicySource::File(p),
            None => PolicySource::Demo,
        },
        policy_poll: std::time::Duration::from_secs(
            args.policy_poll_seconds
                .or(file.policy_poll_seconds)
                .unwrap_or(2)
                .max(1),
        ),
        background_processing: true,
        public_url: match args.public_url.or_else(|| file.public_url.clone()) {
            Some(u)
                if url::Url::parse(&u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) =>
            {
                Some(u)
            }
            Some(u) => anyhow::bail!("--public-url {u:?} is not an http(s) URL"),
            None => None,
        },
        connections,
        max_clock_skew: match args.max_clock_skew_ms.or(file.max_clock_skew_ms) {
            Some(0) => anyhow::bail!("config file: `max_clock_skew_ms` must be at least 1"),
            Some(ms) => std::time::Duration::from_millis(ms),
            None => firebell_server::skew::DEFAULT_MAX_SKEW,
        },
    };
    let server = Server::open(&config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    println!("Firebell {}", env!("CARGO_PKG_VERSION"));
    println!("  policy:   {}", config.policy.describe());
    println!(
        "  database: {}",
        firebell_server::redact(&config.database_url)
    );
    if let Some(secret) = server.bootstrap_admin_token().await? {
        println!("  admin token (shown once; store it now): {secret}");
        println!("  try: FIREBELL_URL=http://{addr} FIREBELL_TOKEN={secret} firebell list");
    }
    println!("  console:  http://{addr}/ (sign in with an API token)");
    println!("  status:   http://{addr}/status (public)");
    // Last line of the banner, so scripts can wait for it.
    println!("listening on http://{addr}");
    tracing::info!(%addr, policy = %config.policy.describe(), "serving");
    server
        .serve(
            listener,
            config.policy_poll,
            firebell_server::shutdown_signal(),
        )
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Flags and variables (checked by clap) over the config file over defaults.
fn connection_limits(args: &ServeArgs, file: &ConfigFile) -> anyhow::Result<ConnectionLimits> {
    let defaults = ConnectionLimits::default();
    let seconds =
        |flag: Option<u64>, key: &str, from_file: Option<u64>, default: std::time::Duration| {
            match flag.or(from_file) {
                Some(0) => anyhow::bail!("config file: `{key}` must be at least 1"),
                Some(s) => Ok(std::time::Duration::from_secs(s)),
                None => Ok(default),
            }
        };
    Ok(ConnectionLimits {
        header_read_timeout: seconds(
            args.header_read_timeout_seconds,
            "header_read_timeout_seconds",
            file.header_read_timeout_seconds,
            defaults.header_read_timeout,
        )?,
        body_read_timeout: seconds(
            args.body_read_timeout_seconds,
            "body_read_timeout_seconds",
            file.body_read_timeout_seconds,
            defaults.body_read_timeout,
        )?,
        idle_timeout: seconds(
            args.idle_timeout_seconds,
            "idle_timeout_seconds",
            file.idle_timeout_seconds,
            defaults.idle_timeout,
        )?,
        max_connections: match args.max_connections.or(file.max_connections) {
            Some(0) => anyhow::bail!("config file: `max_connections` must be at least 1"),
            Some(n) => n as usize,
            None => defaults.max_connections,
        },
    })
}

fn init_tracing(format: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FIREBELL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colour only for a person at a terminal: escape codes in a log file
    // or a journal are noise.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
