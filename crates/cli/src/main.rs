//! `firebell`: run the server (`serve`), check policies, manage tokens, and
//! work incidents from a terminal over the HTTP API.
//!
//! Settings resolve as: command-line flag > `FIREBELL_*` environment variable >
//! config file (`--config`, TOML) > built-in default. Exit codes: 0 success,
//! 1 refused or failed, 2 bad arguments, 3 server unreachable.

mod bench;
mod bench_flood;
mod bench_lists;
mod bench_paging;
mod bench_resend;
mod bench_subscribers;
mod client;
mod commands;
mod config;
#[cfg(test)]
mod doc_commands;
mod examples;
mod output;
#[cfg(test)]
mod packaging_tests;
mod serve;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::client::ClientError;
use crate::commands::incidents::{
    ComponentArgs, DeclareArgs, HandoffArgs, IdArgs, ListArgs, NoteArgs, ObligationArgs,
    ReopenArgs, ResolveArgs, RoleArgs, SeverityArgs, TagArgs, TickArgs, UpdateArgs,
};
use crate::commands::notifications::NotificationsArgs;
use crate::commands::oncall::{OncallArgs, OverrideCmd};
use crate::commands::passwords::PasswordCmd;
use crate::commands::policy::{PolicyCmd, RouteCmd};
use crate::commands::postmortems::{ActionsArgs, PostmortemCmd};
use crate::commands::signals::{AlertsArgs, MaintenanceCmd, SilenceCmd};
use crate::commands::subscribers::SubscribersCmd;
use crate::commands::tokens::TokenCmd;
use crate::commands::{ClientArgs, incidents, monitors, notifications, oncall, signals};
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
    /// Console passwords for people in the policy (on the database directly).
    #[command(subcommand)]
    Password(PasswordCmd),
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
    /// Override what the public status page shows for a component while the
    /// incident is open: `firebell component INC-… api.rest-api partial_outage --reason "…"`
    /// (`auto` goes back to the state derived from incidents and maintenance).
    Component(ComponentArgs),
    /// Raise or lower an incident's flags at any time: `firebell tag INC-… --add data-loss`
    /// (the rules, checklists and legal clocks a flag names apply at once).
    Tag(TagArgs),
    /// Record an obligation met, with evidence: `firebell obligation INC-… pdpl-sdaia
    /// --evidence "SDAIA ref 2026-118, by portal"` (its reminders stop).
    Obligation(ObligationArgs),
    /// The postmortem of a resolved incident: show, edit ($EDITOR), move
    /// on (draft → in_review → published), schedule its review, export it.
    #[command(subcommand)]
    Postmortem(PostmortemCmd),
    /// Drills: incidents that page and escalate for real, but never reach
    /// the status page, its subscribers or the reports.
    #[command(subcommand)]
    Drill(incidents::DrillCmd),
    /// Action items across incidents (`firebell actions --overdue`), or add
    /// and update one: `firebell actions add INC-… --title … --owner … --due 7d`.
    Actions(ActionsArgs),
    /// Recurring duties (restore tests, game days, reviews, the monitoring
    /// check): owner, schedule, the last occurrence and whether it was done.
    Duties {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Record a duty's run, or list its runs.
    #[command(subcommand)]
    Duty(commands::duties::DutyCmd),
    /// Record a deploy from CI: `firebell deploy record --service api --version v42`.
    #[command(subcommand)]
    Deploy(commands::changes::DeployCmd),
    /// Deploys, migrations, flag flips and config changes, newest first.
    Changes(commands::changes::ChangesArgs),
    /// The deploy freeze: `firebell freeze check --service api` is a CI gate
    /// (exit 1 while frozen); start, lift, list, override.
    #[command(subcommand)]
    Freeze(commands::changes::FreezeCmd),
    /// Record the rollback decision: `firebell rollback ID rolled-back --resolve`.
    Rollback(commands::changes::RollbackArgs),
    /// Attach a runbook's steps to an incident: `firebell runbook ID KEY`.
    Runbook(commands::changes::RunbookArgs),
    /// MTTA and MTTR against the policy's targets, incidents by severity,
    /// service and week, and the learning loop's numbers: `firebell report --since 90d`.
    Report(commands::reports::ReportArgs),
    /// List alerts (firing by default).
    Alerts(AlertsArgs),
    /// Silences: suppress paging for matching alerts, keep the record.
    #[command(subcommand)]
    Silence(SilenceCmd),
    /// Maintenance windows: scheduled, emergency, or maintenance mode now.
    #[command(subcommand)]
    Maintenance(MaintenanceCmd),
    /// Status page subscribers (admins): list, what was sent, remove.
    #[command(subcommand)]
    Subscribers(SubscribersCmd),
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
        #[arg(value_parser = commands::incident_id)]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Rows that kept failing in a queue (ingest log, timers, outbox) and were
    /// set aside; put one back or drop it.
    #[command(subcommand)]
    SetAside(commands::set_aside::SetAsideCmd),
    /// Ask a server's /health (or /ready with --ready), no token needed:
    /// exit 0 if it answers 2xx, 1 otherwise, 3 if unreachable. For
    /// container health checks and scripts.
    Health(commands::health::HealthArgs),
    /// Load generators for BENCHMARKS.md (Firebell or Alertmanager).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Print a shell completion script: `firebell completions bash > /etc/bash_completion.d/firebell`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `firebell man | man -l -`.
    Man,
}

/// `firebell list | head -1`: a client whose reader has gone stops quietly,
/// as Unix tools do, instead of panicking in `println!`. Rust ignores
/// SIGPIPE; the default action is restored for client commands only (their
/// sockets write with MSG_NOSIGNAL, so only stdout is affected). The server
/// keeps ignoring it.
fn quiet_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to its default, before any
    // thread is started, has no memory-safety conditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The whole command line, with each command's example after its help.
fn command() -> clap::Command {
    examples::with_examples(Cli::command())
}

fn main() -> ExitCode {
    let mut matches = command().get_matches();
    let json = json_output(&matches);
    let cli = match Cli::from_arg_matches_mut(&mut matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if !matches!(cli.command, Cmd::Serve(_) | Cmd::Bench(_)) {
        quiet_on_closed_pipe();
    }
    let file = match ConfigFile::load(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            fail(json, "invalid_config", &e.to_string());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            fail(
                json,
                "internal",
                &format!("cannot start the async runtime: {e}"),
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, file)) {
        Ok(code) => code,
        Err(e) => {
            let client = e.downcast_ref::<ClientError>();
            match client {
                // The server's own error body, as it sent it.
                Some(ClientError::Api { code, message, .. }) if json => fail(json, code, message),
                _ => fail(json, error_code(client), &format!("{e:#}")),
            }
            match client {
                Some(ClientError::Unreachable { .. }) => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Whether the command line asked for `--json` (on whichever subcommand
/// carries it).
fn json_output(matches: &clap::ArgMatches) -> bool {
    let mut m = Some(matches);
    while let Some(level) = m {
        if let Ok(Some(true)) = level.try_get_one::<bool>("json") {
            return true;
        }
        m = level.subcommand().map(|(_, sub)| sub);
    }
    false
}

/// Say why the command failed, on stderr: `error: …`, or under `--json`
/// the API's error body `{"error": {"code": …, "message": …}}`.
fn fail(json: bool, code: &str, message: &str) {
    if json {
        let body = firebell_server::wire::ErrorBody {
            error: firebell_server::wire::ErrorDetail {
                code: code.to_string(),
                message: message.to_string(),
            },
        };
        match serde_json::to_string(&body) {
            Ok(line) => eprintln!("{line}"),
            Err(_) => eprintln!("error: {message}"),
        }
    } else {
        eprintln!("error: {message}");
    }
}

/// The `code` of an error the server did not send (or of any error, when
/// not under `--json`, where it is not shown).
fn error_code(e: Option<&ClientError>) -> &str {
    match e {
        Some(ClientError::Api { code, .. }) => code,
        Some(ClientError::Unreachable { .. }) => "unreachable",
        Some(ClientError::NoToken) => "no_token",
        Some(ClientError::BadResponse { .. }) => "bad_response",
        None => "failed",
    }
}

async fn run(cmd: Cmd, file: ConfigFile) -> anyhow::Result<ExitCode> {
    let file = &file;
    match cmd {
        Cmd::Serve(args) => serve::run(args, file).await?,
        Cmd::Policy(cmd) => return Ok(commands::policy::check(cmd)),
        Cmd::Token(cmd) => commands::tokens::run(cmd, file).await?,
        Cmd::Password(cmd) => commands::passwords::run(cmd, file).await?,
        Cmd::Route(cmd) => return commands::policy::route(cmd),
        Cmd::Simulate(args) => return Ok(simulate::run(&args)),
        Cmd::Health(a) => return commands::health::run(a, file).await,
        Cmd::Bench(cmd) => bench::run(cmd).await?,
        Cmd::Declare(a) => incidents::declare(a, file).await?,
        Cmd::List(a) => incidents::list(a, file).await?,
        Cmd::Show(a) => incidents::show(a, file).await?,
        Cmd::Ack(a) => incidents::ack(a, file).await?,
        Cmd::Role(a) => incidents::role(a, file).await?,
        Cmd::Update(a) => incidents::update(a, file).await?,
        Cmd::Severity(a) => incidents::severity(a, file).await?,
        Cmd::Note(a) => incidents::note(a, file).await?,
        Cmd::Tick(a) => incidents::tick(a, file).await?,
        Cmd::Handoff(a) => incidents::handoff(a, file).await?,
        Cmd::Resolve(a) => incidents::resolve(a, file).await?,
        Cmd::Reopen(a) => incidents::reopen(a, file).await?,
        Cmd::Component(a) => incidents::component(a, file).await?,
        Cmd::Tag(a) => incidents::tag(a, file).await?,
        Cmd::Obligation(a) => incidents::obligation(a, file).await?,
        Cmd::Postmortem(cmd) => commands::postmortems::postmortem(cmd, file).await?,
        Cmd::Drill(cmd) => incidents::drill(cmd, file).await?,
        Cmd::Actions(a) => commands::postmortems::actions(a, file).await?,
        Cmd::Duties { client } => commands::duties::list(&client, file).await?,
        Cmd::Duty(cmd) => commands::duties::duty(cmd, file).await?,
        Cmd::Deploy(cmd) => commands::changes::deploy(cmd, file).await?,
        Cmd::Changes(a) => commands::changes::changes(a, file).await?,
        Cmd::Freeze(cmd) => commands::changes::freeze(cmd, file).await?,
        Cmd::Rollback(a) => commands::changes::rollback(a, file).await?,
        Cmd::Runbook(a) => commands::changes::runbook(a, file).await?,
        Cmd::Report(a) => commands::reports::report(a, file).await?,
        Cmd::Alerts(a) => signals::alerts(a, file).await?,
        Cmd::Silence(cmd) => signals::silence(cmd, file).await?,
        Cmd::Maintenance(cmd) => signals::maintenance(cmd, file).await?,
        Cmd::Subscribers(cmd) => commands::subscribers::run(cmd, file).await?,
        Cmd::Checks { client } => monitors::checks(&client, file).await?,
        Cmd::Heartbeat { name, client } => monitors::heartbeat(&name, &client, file).await?,
        Cmd::Oncall(a) => oncall::oncall(a, file).await?,
        Cmd::Override(cmd) => oncall::overrides(cmd, file).await?,
        Cmd::Notifications(a) => notifications::notifications(a, file).await?,
        Cmd::Escalation { client } => notifications::escalation(&client, file).await?,
        Cmd::Agenda { id, client } => notifications::agenda(&id, &client, file).await?,
        Cmd::SetAside(cmd) => commands::set_aside::run(cmd, file).await?,
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "firebell", &mut std::io::stdout());
        }
        Cmd::Man => clap_mangen::Man::new(command()).render(&mut std::io::stdout())?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    /// Every command's arguments are well formed (unique names, no clash
    /// with the shared client flags); clap checks this only when a
    /// command is first run, so a clash would otherwise surface as a panic.
    #[test]
    fn the_command_line_is_well_formed() {
        super::command().debug_assert();
    }

    /// Every command, with its path (`freeze check`), depth first.
    fn commands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let p = if path.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{path} {}", sub.get_name())
            };
            out.push((p.clone(), sub.clone()));
            commands(sub, &p, out);
        }
    }

    /// `--help` explains every argument: none is a bare `<ID>`.
    #[test]
    fn every_argument_is_described() {
        let mut all = Vec::new();
        commands(&super::command(), "", &mut all);
        let mut missing = Vec::new();
        for (path, cmd) in &all {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("firebell {path}: {id}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "arguments without a description:\n{}",
            missing.join("\n")
        );
    }

    /// Every command ends its help with an example, and the example parses.
    #[test]
    fn every_command_has_an_example_that_parses() {
        let mut all = Vec::new();
        commands(&super::command(), "", &mut all);
        let leaves: Vec<&String> = all
            .iter()
            .filter(|(_, c)| {
                !c.has_subcommands()
                    || c.is_args_conflicts_with_subcommands_set()
                    || c.get_name() == "actions"
            })
            .map(|(p, _)| p)
            .collect();
        let missing: Vec<&&String> = leaves
            .iter()
            .filter(|p| !super::examples::EXAMPLES.iter().any(|(e, _)| e == **p))
            .collect();
        assert!(
            missing.is_empty(),
            "commands without an example: {missing:?}"
        );
        let mut refused = Vec::new();
        for (path, example) in super::examples::EXAMPLES {
            assert!(
                all.iter().any(|(p, _)| p == path),
                "an example for a command that does not exist: {path}"
            );
            match super::doc_commands::words(example) {
                Err(e) => refused.push(format!("`{path}`: {example}\n{e}")),
                Ok(words) => {
                    if let Err(e) = super::command().try_get_matches_from(&words) {
                        refused.push(format!("`{path}`: {example}\n{e}"));
                    }
                }
            }
        }
        assert!(
            refused.is_empty(),
            "examples that do not parse:\n{}",
            refused.join("\n")
        );
    }
}
