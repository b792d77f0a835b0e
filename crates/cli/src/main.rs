//! `firebell`: run the server (`serve`), check policies, manage tokens, and
//! work incidents from a terminal over the HTTP API.
//!
//! Settings resolve as: command-line flag > `FIREBELL_*` environment variable >
//! config file (`--config`, TOML) > built-in default. Exit codes: 0 success,
//! 1 refused or failed, 2 bad arguments, 3 server unreachable.

mod bench;
mod bench_paging;
mod client;
mod config;
mod output;
mod serve;
mod simulate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::client::{Client, ClientError};
use crate::config::ConfigFile;

/// mimalloc rather than glibc's malloc: ingest is allocation-heavy (every
/// label is a `String`), and profiles showed a quarter of the server's CPU in
/// glibc's malloc and free. See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How every setting is resolved; shown in `--help`.
const PRECEDENCE: &str = "Settings resolve as: command-line flag > FIREBELL_* environment variable > config file (--config) > default.";

#[derive(Parser)]
#[command(
    after_help = PRECEDENCE,
    name = "firebell",
    version,
    about = "Incident response: alerts in, the right person paged, the incident run, the lesson learned."
)]
struct Cli {
    /// Config file (TOML) with defaults for any setting below.
    #[arg(long, global = true, env = "FIREBELL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server (SQLite file `firebell.db` and the demo policy by default).
    #[command(after_help = PRECEDENCE)]
    Serve(serve::ServeArgs),
    /// Policy files: check them before they ship.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// API tokens (works on the database directly, so it also recovers a lost admin token).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Declare an incident.
    Declare(DeclareArgs),
    /// List incidents, newest first.
    List(ListArgs),
    /// Show an incident with its whole timeline.
    Show(IdArgs),
    /// Acknowledge an incident.
    Ack(IdArgs),
    /// Assign or unassign an incident role.
    Role(RoleArgs),
    /// Post a status update, typed or from a policy template.
    Update(UpdateArgs),
    /// Change an incident's severity (a reason is required).
    Severity(SeverityArgs),
    /// Add a note to the timeline.
    Note(NoteArgs),
    /// Tick a checklist item.
    Tick(TickArgs),
    /// Hand a role (by default incident commander) to someone else.
    Handoff(HandoffArgs),
    /// Resolve an incident.
    Resolve(ResolveArgs),
    /// Reopen a resolved incident.
    Reopen(ReopenArgs),
    /// List alerts (firing by default).
    Alerts(AlertsArgs),
    /// Silences: suppress paging for matching alerts, keep the record.
    #[command(subcommand)]
    Silence(SilenceCmd),
    /// Maintenance windows: scheduled, emergency, or maintenance mode now.
    #[command(subcommand)]
    Maintenance(MaintenanceCmd),
    /// Health checks and heartbeats: is each one polling, and how is it doing?
    Checks {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Ping a heartbeat, e.g. at the end of a cron job: `firebell heartbeat nightly-backup`.
    Heartbeat {
        /// The heartbeat's name in the policy's [[heartbeats]].
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The policy's routing tree.
    #[command(subcommand)]
    Route(RouteCmd),
    /// Who is on call now and next, per schedule.
    Oncall(OncallArgs),
    /// On-call overrides: someone takes a schedule over for a while.
    #[command(subcommand)]
    Override(OverrideCmd),
    /// What a policy would do for a hypothetical incident: who is paged or
    /// reminded when, and why (offline; nothing is sent).
    Simulate(simulate::SimulateArgs),
    /// Notifications sent or waiting (pages, reminders), newest first.
    Notifications(NotificationsArgs),
    /// Escalation policies, rules and reminder recipients in force.
    Escalation {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// What an incident is owed next: escalation steps, rules, reminders, when.
    Agenda {
        /// Incident id, e.g. INC-20261123-001.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Load generators for BENCHMARKS.md (Firebell or Alertmanager).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

#[derive(Args)]
struct OncallArgs {
    /// One schedule (default: all).
    #[arg(long)]
    schedule: Option<String>,
    /// Ask about this instant instead of now (RFC 3339).
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct NotificationsArgs {
    /// Only this incident's notifications.
    #[arg(long)]
    incident: Option<String>,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
enum OverrideCmd {
    /// Put PERSON on call for a schedule from --from until --until.
    Add {
        /// Schedule name from the policy's [[schedules]].
        #[arg(long)]
        schedule: String,
        /// Person key from the policy's [people].
        #[arg(long)]
        person: String,
        /// Start (RFC 3339), e.g. 2026-11-24T18:00:00Z.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        from: String,
        /// End (RFC 3339, exclusive); at most 90 days after --from.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: String,
        /// Person key of whom they stand in for.
        #[arg(long)]
        covering: Option<String>,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List overrides that have not ended (all with --all).
    List {
        /// One schedule (default: all).
        #[arg(long)]
        schedule: Option<String>,
        /// Include overrides that have ended.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove an override by id; the rotation applies again.
    Remove {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// An RFC 3339 instant, checked before anything is sent.
fn parse_time(s: &str) -> Result<String, String> {
    s.parse::<firebell_core::Timestamp>()
        .map(|t| t.to_string())
        .map_err(|e| format!("expected an RFC 3339 instant like 2026-11-24T18:00:00Z: {e}"))
}

#[derive(Args)]
struct AlertsArgs {
    /// Matchers, e.g. 'service="api",severity=~"crit.*"'.
    #[arg(long)]
    filter: Option<String>,
    /// Include resolved alerts.
    #[arg(long)]
    all: bool,
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
enum SilenceCmd {
    /// Silence alerts matching MATCHERS (Alertmanager syntax) for a while.
    Add {
        /// e.g. 'alertname="DiskFull"' 'instance=~"db-.*"'
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h [default: 1h].
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List silences.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End a silence now.
    Expire {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum MaintenanceCmd {
    /// Switch maintenance mode on now for services (until `end`, or for --duration).
    Start {
        #[arg(long = "service", required = true)]
        services: Vec<String>,
        #[arg(long)]
        title: String,
        #[arg(long)]
        duration: Option<String>,
        /// Emergency maintenance (no notice; needs a review within 24 h).
        #[arg(long)]
        emergency: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Schedule a window in advance.
    Schedule {
        #[arg(long = "service", required = true)]
        services: Vec<String>,
        #[arg(long)]
        title: String,
        /// RFC 3339 start.
        #[arg(long)]
        starts_at: String,
        /// RFC 3339 end.
        #[arg(long)]
        ends_at: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List windows.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End a window (or maintenance mode) now.
    End {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum RouteCmd {
    /// Show which route an alert with these labels takes, from a policy file.
    Test {
        /// Labels as name=value pairs, comma-separated: 'alertname=X,service=api'.
        #[arg(long, value_parser = parse_labels)]
        labels: std::collections::BTreeMap<String, String>,
        /// Policy file [default: the embedded demo policy].
        #[arg(long, env = "FIREBELL_POLICY", value_name = "FILE")]
        policy: Option<PathBuf>,
    },
}

fn parse_labels(s: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected name=value, got {pair:?}"))?;
        let v = v.trim().trim_matches('"');
        out.insert(k.trim().to_string(), v.to_string());
    }
    if out.is_empty() {
        return Err("give at least one name=value label".into());
    }
    Ok(out)
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Validate policy files; prints `file:line:col: path: message` per problem, exits 1 if any.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print its secret once.
    Create {
        /// viewer (read), responder (read and act on incidents) or admin (everything).
        #[arg(long, value_parser = ["viewer", "responder", "admin"])]
        role: String,
        /// Unique name, recorded as the actor on the timeline [default: <role>-<random>].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
    /// Revoke a token by id.
    Revoke {
        id: i64,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
}

/// Where the server is and how to prove who you are.
#[derive(Args, Clone)]
struct ClientArgs {
    /// Server URL [default: http://127.0.0.1:8080].
    #[arg(long, env = "FIREBELL_URL", global = true)]
    url: Option<String>,
    /// API token.
    #[arg(long, env = "FIREBELL_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Print the raw JSON response instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args)]
struct IdArgs {
    /// Incident id, e.g. INC-20261123-001.
    id: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Clone, Copy)]
struct VersionArg {
    /// Refuse (409) unless the incident is still at this version.
    #[arg(long, value_name = "N")]
    expected_version: Option<u64>,
}

#[derive(Args)]
struct DeclareArgs {
    /// What is happening, in a line.
    #[arg(long)]
    title: String,
    /// Severity name from the policy, e.g. P1.
    #[arg(long)]
    severity: String,
    #[arg(long, default_value = "")]
    summary: String,
    /// Affected service (repeatable).
    #[arg(long = "service")]
    services: Vec<String>,
    /// Tag (repeatable), e.g. personal-data-breach.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Assign this person as incident commander.
    #[arg(long)]
    commander: Option<String>,
    /// When it was detected (RFC 3339), if before now.
    #[arg(long)]
    detected_at: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct ListArgs {
    /// Statuses, comma-separated, or `open`.
    #[arg(long)]
    status: Option<String>,
    /// Severities, comma-separated.
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    service: Option<String>,
    /// Declared at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Declared before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Continue from a previous page.
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct RoleArgs {
    id: String,
    /// Role key or short name, e.g. IC.
    role: String,
    /// Person key from the policy.
    person: String,
    /// Remove the person from the role instead.
    #[arg(long)]
    unassign: bool,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct UpdateArgs {
    id: String,
    /// investigating, identified, mitigated, monitoring or resolved.
    #[arg(long)]
    status: Option<String>,
    /// Mark the update public (customer-facing).
    #[arg(long)]
    public: bool,
    /// The update text.
    #[arg(
        long,
        short,
        conflicts_with = "template",
        required_unless_present = "template"
    )]
    message: Option<String>,
    /// Render a policy template instead of typing text.
    #[arg(long)]
    template: Option<String>,
    /// Template locale, e.g. ar.
    #[arg(long, requires = "template")]
    locale: Option<String>,
    /// Template variable KEY=VALUE (repeatable), e.g. --var eta=30m.
    #[arg(long = "var", value_parser = parse_var, requires = "template")]
    vars: Vec<(String, String)>,
    /// Show the rendered template without posting it.
    #[arg(long, requires = "template")]
    dry_run: bool,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct SeverityArgs {
    id: String,
    severity: String,
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct NoteArgs {
    id: String,
    text: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct TickArgs {
    id: String,
    /// Item id (`first-10-minutes.freeze`) or its key (`freeze`).
    item: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct HandoffArgs {
    id: String,
    /// Person taking over.
    #[arg(long)]
    to: String,
    /// Role handed over [default: incident commander].
    #[arg(long)]
    role: Option<String>,
    /// Escalation level of the new owner, e.g. L2.
    #[arg(long)]
    level: Option<String>,
    /// What has been tried.
    #[arg(long)]
    summary: String,
    #[arg(long)]
    next_steps: String,
    /// Current metrics (error rate, latency, affected users).
    #[arg(long, default_value = "")]
    metrics: String,
    /// Logs and evidence collected.
    #[arg(long, default_value = "")]
    evidence: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct ResolveArgs {
    id: String,
    #[arg(long, default_value = "")]
    summary: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct ReopenArgs {
    id: String,
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match ConfigFile::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, file)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<ClientError>() {
                Some(ClientError::Unreachable { .. }) => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(cmd: Cmd, file: ConfigFile) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Serve(args) => serve::run(args, &file).await.map(|()| ExitCode::SUCCESS),
        Cmd::Policy(PolicyCmd::Check { files }) => Ok(policy_check(&files)),
        Cmd::Token(cmd) => token(cmd, &file).await.map(|()| ExitCode::SUCCESS),
        Cmd::Route(RouteCmd::Test { labels, policy }) => route_test(&labels, policy.as_deref()),
        Cmd::Simulate(args) => Ok(simulate::run(&args)),
        Cmd::Bench(cmd) => bench::run(cmd).await.map(|()| ExitCode::SUCCESS),
        Cmd::Override(OverrideCmd::Remove { id, client }) => override_remove(&id, &client, &file)
            .await
            .map(|()| ExitCode::SUCCESS),
        client_cmd => client_command(client_cmd, &file)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

/// Route labels through a policy's routing tree, locally (no server needed).
fn route_test(
    labels: &std::collections::BTreeMap<String, String>,
    policy: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let policy = match policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            firebell_core::Policy::parse(&text, &path.display().to_string())
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => firebell_core::Policy::demo(),
    };
    for m in firebell_core::alert::route(&policy, labels) {
        println!("route {}", m.path);
        println!("  receiver: {}", m.receiver);
        println!("  service:  {}", m.service.as_deref().unwrap_or("-"));
        println!("  severity: {}", m.severity.as_deref().unwrap_or("-"));
        println!("  group:    {}", m.group_key);
        if let Some(r) = &m.runbook {
            println!("  runbook:  {} <{}>", r.title, r.url);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn policy_check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in files {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Err(e) => {
                failed = true;
                eprintln!("{shown}: cannot read: {e}");
            }
            Ok(text) => match firebell_core::Policy::parse(&text, &shown) {
                Ok(p) => println!(
                    "{shown}: ok ({} severities, {} roles, {} templates, {} services)",
                    p.severities.len(),
                    p.roles.len(),
                    p.templates.len(),
                    p.services.len()
                ),
                Err(errors) => {
                    failed = true;
                    for e in &errors.0 {
                        eprintln!("{e}");
                    }
                    eprintln!("{shown}: {} problem(s)", errors.0.len());
                }
            },
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn token(cmd: TokenCmd, file: &ConfigFile) -> anyhow::Result<()> {
    let (db, action) = match &cmd {
        TokenCmd::Create { db, .. } | TokenCmd::List { db } | TokenCmd::Revoke { db, .. } => {
            (db, &cmd)
        }
    };
    let url = db.resolve(file);
    let store = firebell_store::Store::connect(&url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {e}",
            firebell_server::redact(&url)
        )
    })?;
    let now = firebell_core::Timestamp::now();
    let result = match action {
        TokenCmd::Create { role, name, .. } => {
            let role: firebell_server::auth::Role = role.parse().map_err(anyhow::Error::msg)?;
            let name = name.clone().unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    role.as_str(),
                    &firebell_server::auth::generate_token()[3..9].to_lowercase()
                )
            });
            let (record, secret) = firebell_server::auth::create_token(&store, &name, role, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created token {:?} (id {}, role {})",
                record.name, record.id, record.role
            );
            println!("{secret}");
            eprintln!("The secret is shown once; only its hash is stored.");
            Ok(())
        }
        TokenCmd::List { .. } => {
            let tokens = store.list_tokens().await?;
            output::tokens(&tokens);
            Ok(())
        }
        TokenCmd::Revoke { id, .. } => {
            if store.revoke_token(*id, now).await? {
                println!("revoked token {id}");
                Ok(())
            } else {
                Err(anyhow::anyhow!("no live token with id {id}"))
            }
        }
    };
    store.close().await;
    result
}

/// One API request a client command makes.
enum Call {
    Get(String, Vec<(&'static str, String)>),
    Post(String, Value),
}

/// `POST /incidents/{id}/{action}` with `expected_version` added when given.
fn on_incident(id: &str, action: &str, mut body: Value, version: &VersionArg) -> Call {
    if let Some(n) = version.expected_version {
        body["expected_version"] = json!(n);
    }
    Call::Post(format!("/incidents/{}/{action}", enc(id)), body)
}

async fn client_command(cmd: Cmd, file: &ConfigFile) -> anyhow::Result<()> {
    let (args, call, render): (ClientArgs, Call, fn(&Value)) = match cmd {
        Cmd::Declare(a) => {
            let mut body = json!({
                "title": a.title, "severity": a.severity, "summary": a.summary,
                "services": a.services, "tags": a.tags,
            });
            if let Some(p) = a.commander {
                body["commander"] = json!(p);
            }
            if let Some(t) = a.detected_at {
                body["detected_at"] = json!(t);
            }
            (
                a.client,
                Call::Post("/incidents".into(), body),
                output::command_result,
            )
        }
        Cmd::List(a) => {
            let mut q = vec![("limit", a.limit.to_string())];
            let filters = [
                ("status", a.status),
                ("severity", a.severity),
                ("service", a.service),
                ("since", a.since),
                ("until", a.until),
                ("cursor", a.cursor),
            ];
            q.extend(filters.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            (
                a.client,
                Call::Get("/incidents".into(), q),
                output::incident_list,
            )
        }
        Cmd::Show(a) => {
            let path = format!("/incidents/{}", enc(&a.id));
            (a.client, Call::Get(path, vec![]), output::incident_detail)
        }
        Cmd::Ack(a) => {
            let call = on_incident(&a.id, "acknowledge", json!({}), &a.version);
            (a.client, call, output::command_result)
        }
        Cmd::Role(a) => {
            let action = if a.unassign {
                "roles/unassign"
            } else {
                "roles"
            };
            let body = json!({"role": a.role, "person": a.person});
            (
                a.client,
                on_incident(&a.id, action, body, &a.version),
                output::command_result,
            )
        }
        Cmd::Update(a) => {
            let vars: BTreeMap<_, _> = a.vars.into_iter().collect();
            if a.dry_run {
                let body = json!({"template": a.template, "locale": a.locale, "vars": vars});
                let no_version = VersionArg {
                    expected_version: None,
                };
                (
                    a.client,
                    on_incident(&a.id, "render", body, &no_version),
                    output::rendered,
                )
            } else {
                let visibility = if a.public { "public" } else { "internal" };
                let mut body = json!({"visibility": visibility, "vars": vars});
                let fields = [
                    ("status", a.status),
                    ("message", a.message),
                    ("template", a.template),
                    ("locale", a.locale),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        body[k] = json!(v);
                    }
                }
                (
                    a.client,
                    on_incident(&a.id, "updates", body, &a.version),
                    output::command_result,
                )
            }
        }
        Cmd::Severity(a) => {
            let body = json!({"severity": a.severity, "reason": a.reason});
            (
                a.client,
                on_incident(&a.id, "severity", body, &a.version),
                output::command_result,
            )
        }
        Cmd::Note(a) => {
            let body = json!({"text": a.text});
            (
                a.client,
                on_incident(&a.id, "notes", body, &a.version),
                output::command_result,
            )
        }
        Cmd::Tick(a) => {
            let body = json!({"item": a.item});
            (
                a.client,
                on_incident(&a.id, "checklist/tick", body, &a.version),
                output::command_result,
            )
        }
        Cmd::Handoff(a) => {
            let mut body = json!({
                "to": a.to, "summary": a.summary, "next_steps": a.next_steps,
                "metrics": a.metrics, "evidence": a.evidence,
            });
            if let Some(r) = a.role {
                body["role"] = json!(r);
            }
            if let Some(l) = a.level {
                body["level"] = json!(l);
            }
            (
                a.client,
                on_incident(&a.id, "handoff", body, &a.version),
                output::command_result,
            )
        }
        Cmd::Resolve(a) => {
            let body = json!({"summary": a.summary});
            (
                a.client,
                on_incident(&a.id, "resolve", body, &a.version),
                output::command_result,
            )
        }
        Cmd::Reopen(a) => {
            let body = json!({"reason": a.reason});
            (
                a.client,
                on_incident(&a.id, "reopen", body, &a.version),
                output::command_result,
            )
        }
        Cmd::Oncall(a) => {
            let q: Vec<(&str, String)> = [("schedule", a.schedule), ("at", a.at)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            (a.client, Call::Get("/oncall".into(), q), output::oncall)
        }
        Cmd::Alerts(a) => {
            let mut q = vec![("limit", a.limit.to_string())];
            if let Some(f) = a.filter {
                q.push(("filter", f));
            }
            if a.all {
                q.push(("all", "true".into()));
            }
            (a.client, Call::Get("/alerts".into(), q), output::alerts)
        }
        Cmd::Silence(SilenceCmd::Add {
            matchers,
            duration,
            comment,
            client,
        }) => {
            let body =
                json!({"matchers": matchers.join(","), "duration": duration, "comment": comment});
            (
                client,
                Call::Post("/silences".into(), body),
                output::silence,
            )
        }
        Cmd::Silence(SilenceCmd::List { client }) => (
            client,
            Call::Get("/silences".into(), vec![]),
            output::silences,
        ),
        Cmd::Silence(SilenceCmd::Expire { id, client }) => (
            client,
            Call::Post(format!("/silences/{}/expire", enc(&id)), json!({})),
            output::silence,
        ),
        Cmd::Maintenance(MaintenanceCmd::Start {
            services,
            title,
            duration,
            emergency,
            client,
        }) => {
            let kind = if emergency { "emergency" } else { "mode" };
            let mut body = json!({"services": services, "title": title, "kind": kind});
            if let Some(d) = duration {
                body["duration"] = json!(d);
            } else if emergency {
                body["duration"] = json!("4h");
            }
            (
                client,
                Call::Post("/maintenance".into(), body),
                output::maintenance_window,
            )
        }
        Cmd::Maintenance(MaintenanceCmd::Schedule {
            services,
            title,
            starts_at,
            ends_at,
            client,
        }) => {
            let body = json!({"services": services, "title": title, "kind": "scheduled", "starts_at": starts_at, "ends_at": ends_at});
            (
                client,
                Call::Post("/maintenance".into(), body),
                output::maintenance_window,
            )
        }
        Cmd::Maintenance(MaintenanceCmd::List { client }) => (
            client,
            Call::Get("/maintenance".into(), vec![]),
            output::maintenance,
        ),
        Cmd::Maintenance(MaintenanceCmd::End { id, client }) => (
            client,
            Call::Post(format!("/maintenance/{}/end", enc(&id)), json!({})),
            output::ended,
        ),
        Cmd::Checks { client } => (client, Call::Get("/checks".into(), vec![]), output::checks),
        Cmd::Heartbeat { name, client } => (
            client,
            Call::Post(format!("/heartbeats/{}", enc(&name)), json!({})),
            output::heartbeat,
        ),
        Cmd::Override(OverrideCmd::Add {
            schedule,
            person,
            from,
            until,
            covering,
            reason,
            client,
        }) => {
            let mut body = json!({"person": person, "starts_at": from, "ends_at": until});
            if let Some(c) = covering {
                body["covering"] = json!(c);
            }
            if let Some(r) = reason {
                body["reason"] = json!(r);
            }
            (
                client,
                Call::Post(format!("/schedules/{}/overrides", enc(&schedule)), body),
                output::override_one,
            )
        }
        Cmd::Override(OverrideCmd::List {
            schedule,
            all,
            client,
        }) => {
            let mut q = vec![("include_past", all.to_string())];
            if let Some(s) = schedule {
                q.push(("schedule", s));
            }
            (client, Call::Get("/overrides".into(), q), output::overrides)
        }
        Cmd::Notifications(a) => {
            let mut q = vec![("limit", a.limit.to_string())];
            if let Some(id) = a.incident {
                q.push(("incident", id));
            }
            (
                a.client,
                Call::Get("/notifications".into(), q),
                output::notifications,
            )
        }
        Cmd::Escalation { client } => (
            client,
            Call::Get("/escalation-policies".into(), vec![]),
            output::escalation,
        ),
        Cmd::Agenda { id, client } => (
            client,
            Call::Get(format!("/incidents/{}/agenda", enc(&id)), vec![]),
            output::agenda,
        ),
        Cmd::Serve(_)
        | Cmd::Simulate(_)
        | Cmd::Policy(_)
        | Cmd::Token(_)
        | Cmd::Route(_)
        | Cmd::Bench(_)
        | Cmd::Override(OverrideCmd::Remove { .. }) => {
            unreachable!("handled in run()")
        }
    };
    let client = Client::new(&args, file)?;
    let result = match call {
        Call::Get(path, query) => client.get(&path, &query).await?,
        Call::Post(path, body) => client.post(&path, &body).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        render(&result);
    }
    Ok(())
}

/// `firebell override remove ID`: find the override's schedule (the API
/// scopes overrides by schedule), then remove it.
async fn override_remove(id: &str, args: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let client = Client::new(args, file)?;
    let all = client
        .get("/overrides", &[("include_past", "true".into())])
        .await?;
    let schedule = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["id"] == id)
        .and_then(|o| o["schedule"].as_str())
        .ok_or_else(|| ClientError::Api {
            status: 404,
            code: "override_not_found".into(),
            message: format!("no override with id {id:?}"),
        })?;
    client
        .delete(&format!(
            "/schedules/{}/overrides/{}",
            enc(schedule),
            enc(id)
        ))
        .await?;
    if args.json {
        println!(
            "{}",
            json!({"id": id, "schedule": schedule, "removed": true})
        );
    } else {
        output::override_removed(id, schedule);
    }
    Ok(())
}

/// Percent-encode a path segment (incident ids are plain, but user input is not).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
