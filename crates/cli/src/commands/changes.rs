//! `deploy`, `changes`, `freeze`, `rollback` and `runbook`: change safety
//! from CI scripts and from the terminal.

use clap::{Args, Subcommand, ValueEnum};
use firebell_core::change::{ChangeKind, FreezeAnswer, ManualFreeze};
use firebell_core::incident::RollbackDecision;
use firebell_server::wire::{
    ChangeList, CheckInRequest, CheckInResponse, CommandResponse, DeployRequest, DeployResponse,
    FreezeList, FreezeRequest, OverrideResponse, RollbackRequest, RunbookRequest,
};

use super::{ClientArgs, NO_QUERY, Session, enc, incident_id, parse_time};
use crate::config::ConfigFile;

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    App,
    Migration,
    FeatureFlag,
    Config,
}

impl From<KindArg> for ChangeKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::App => ChangeKind::App,
            KindArg::Migration => ChangeKind::Migration,
            KindArg::FeatureFlag => ChangeKind::FeatureFlag,
            KindArg::Config => ChangeKind::Config,
        }
    }
}

#[derive(Subcommand)]
pub enum DeployCmd {
    /// Record a deploy (or migration, flag flip, config change) from CI:
    /// `firebell deploy record --service api --version v42 --previous-version v41`.
    Record(Box<DeployArgs>),
    /// Post values measured after a deploy; the policy's rollback criteria
    /// judge them: `firebell deploy check chg-… --value error_rate=0.12`.
    Check {
        /// The change's id, as `deploy record` printed it.
        id: String,
        /// `metric=value`, repeatable: `error_rate=0.12`, `p95_increase=0.6`.
        #[arg(long = "value", value_parser = parse_value, required = true)]
        values: Vec<(String, f64)>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn parse_value(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: write metric=value, e.g. error_rate=0.12"))?;
    let v: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: {v:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{s:?}: not a finite number"));
    }
    Ok((k.trim().to_string(), v))
}

#[derive(Args)]
pub struct DeployArgs {
    /// Key of the service in the policy.
    #[arg(long)]
    service: String,
    /// Defaults to the service's environment in the policy.
    #[arg(long)]
    environment: Option<String>,
    /// What changed: an app deploy, a migration, a feature flag or config.
    #[arg(long, value_enum, default_value = "app")]
    kind: KindArg,
    /// The version now running, e.g. v42.
    #[arg(long)]
    version: Option<String>,
    /// The version it replaced (what a rollback returns to).
    #[arg(long)]
    previous_version: Option<String>,
    /// The commit deployed.
    #[arg(long)]
    commit: Option<String>,
    /// Who made the change.
    #[arg(long)]
    author: Option<String>,
    /// Link to the pipeline run or release (the change's `url`).
    #[arg(long)]
    link: Option<String>,
    /// What changed, in a line.
    #[arg(long)]
    summary: Option<String>,
    /// Your id for it: a retry with the same id replaces the record.
    #[arg(long)]
    id: Option<String>,
    /// When it started (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    started_at: Option<firebell_core::Timestamp>,
    /// When it took effect (RFC 3339); default now.
    #[arg(long, value_parser = parse_time)]
    finished_at: Option<firebell_core::Timestamp>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ChangesArgs {
    /// Only this service's.
    #[arg(long)]
    service: Option<String>,
    /// What changed: an app deploy, a migration, a feature flag or config.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// RFC 3339; default 7 days ago.
    #[arg(long)]
    since: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
pub enum FreezeCmd {
    /// The CI gate: exits 1 while deploys to the service or environment are
    /// frozen, 0 otherwise: `firebell freeze check --service api || exit 1`.
    Check(FreezeScope),
    /// Freeze deploys by hand, with a reason and an expiry.
    Start(FreezeStart),
    /// Lift a freeze or an override before it expires.
    Lift {
        /// The freeze's id, from `freeze list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Freezes and overrides set by hand and still in force.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Admins: let deploys through the freezes in force over a scope, for a
    /// while; the freezing incidents' timelines record it.
    Override(FreezeStart),
}

#[derive(Args)]
pub struct FreezeScope {
    /// The service (a key of the policy's [services]); default every service.
    #[arg(long)]
    service: Option<String>,
    /// The environment, e.g. production; default the service's.
    #[arg(long)]
    environment: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct FreezeStart {
    /// The service (a key of the policy's [services]); default every service.
    #[arg(long)]
    service: Option<String>,
    /// The environment, e.g. production; default the service's.
    #[arg(long)]
    environment: Option<String>,
    /// Why: shown to everyone whose deploy it stops.
    #[arg(long)]
    reason: String,
    /// How long, e.g. `2h`.
    #[arg(long = "for")]
    for_: Option<String>,
    /// Until when (RFC 3339), instead of `--for`.
    #[arg(long, value_parser = parse_time)]
    until: Option<firebell_core::Timestamp>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DecisionArg {
    RolledBack,
    FixForward,
}

#[derive(Args)]
pub struct RollbackArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// What was decided.
    #[arg(value_enum)]
    decision: DecisionArg,
    /// The change undone; default the advice's first.
    #[arg(long)]
    change: Option<String>,
    /// Why, for the timeline.
    #[arg(long, default_value = "")]
    note: String,
    /// Resolve the incident with it ("Incident resolved via rollback").
    #[arg(long)]
    resolve: bool,
    /// Call the policy's rollback hook (your explicit confirmation).
    #[arg(long)]
    confirm_hook: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct RunbookArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// The runbook's key in the policy's [[runbooks]].
    runbook: String,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn deploy(cmd: DeployCmd, file: &ConfigFile) -> anyhow::Result<()> {
    let a = match cmd {
        DeployCmd::Record(a) => *a,
        DeployCmd::Check { id, values, client } => {
            let session = Session::new(&client, file)?;
            let body = CheckInRequest {
                values: values.into_iter().collect(),
            };
            return session
                .post(
                    &format!("/deploys/{}/checks", enc(&id)),
                    &body,
                    |r: &CheckInResponse| {
                        for c in &r.checked {
                            println!(
                                "{} {}: {}",
                                if c.met { "MET    " } else { "not met" },
                                c.criterion,
                                c.detail()
                            );
                        }
                        if r.checked.is_empty() {
                            println!("no rollback criterion judges these values");
                        }
                        if !r.recorded_on.is_empty() {
                            println!("recorded on {}", r.recorded_on.join(", "));
                        }
                        for k in &r.alerted {
                            println!("alert raised: {k}");
                        }
                    },
                )
                .await;
        }
    };
    let session = Session::new(&a.client, file)?;
    let body = DeployRequest {
        id: a.id,
        service: a.service,
        environment: a.environment,
        kind: Some(a.kind.into()),
        version: a.version,
        previous_version: a.previous_version,
        commit: a.commit,
        author: a.author,
        url: a.link,
        summary: a.summary,
        source: None,
        started_at: a.started_at,
        finished_at: a.finished_at,
    };
    session
        .post("/deploys", &body, |r: &DeployResponse| {
            println!("recorded {} ({})", r.change.id, r.change.summary);
            if r.freeze.frozen {
                println!("WARNING: deploys are frozen; this one is flagged:");
                print_reasons(&r.freeze);
            }
        })
        .await
}

pub async fn changes(a: ChangesArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(&a.client, file)?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(s) = &a.service {
        query.push(("service", s.clone()));
    }
    if let Some(k) = a.kind {
        query.push(("kind", ChangeKind::from(k).as_str().to_string()));
    }
    if let Some(s) = &a.since {
        query.push(("since", s.clone()));
    }
    session
        .get("/changes", &query, |l: &ChangeList| {
            if l.items.is_empty() {
                println!("no changes");
            }
            for c in &l.items {
                println!(
                    "{}  {:<12} {:<20} {:<10} {}{}",
                    crate::output::when(c.at),
                    c.kind,
                    c.service.as_deref().unwrap_or("-"),
                    c.details.version.as_deref().unwrap_or("-"),
                    c.summary,
                    if c.details.frozen.is_empty() {
                        ""
                    } else {
                        "  [DURING A FREEZE]"
                    }
                );
            }
        })
        .await
}

pub async fn freeze(cmd: FreezeCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        FreezeCmd::Check(s) => {
            let session = Session::new(&s.client, file)?;
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(v) = &s.service {
                query.push(("service", v.clone()));
            }
            if let Some(v) = &s.environment {
                query.push(("environment", v.clone()));
            }
            let answer = session.client.get_answer("/freeze", &query).await?;
            let frozen = answer.json()["frozen"].as_bool() == Some(true);
            if session.json {
                println!("{}", serde_json::to_string_pretty(answer.json())?);
            } else {
                let a: FreezeAnswer = answer.read()?;
                if a.frozen {
                    println!("FROZEN: no deploys{}", scope(&s.service, &s.environment));
                    print_reasons(&a);
                } else if let Some(o) = &a.overridden_by {
                    println!(
                        "not frozen: overridden by {} until {} ({})",
                        o.created_by, o.until, o.reason
                    );
                } else {
                    println!("not frozen{}", scope(&s.service, &s.environment));
                }
            }
            if frozen {
                std::process::exit(1);
            }
            Ok(())
        }
        FreezeCmd::Start(f) => {
            let session = Session::new(&f.client, file)?;
            session
                .post("/freezes", &request(&f), |m: &ManualFreeze| {
                    println!("{} until {}: {}", m.id, m.until, m.reason)
                })
                .await
        }
        FreezeCmd::Override(f) => {
            let session = Session::new(&f.client, file)?;
            session
                .post("/freeze/overrides", &request(&f), |r: &OverrideResponse| {
                    println!(
                        "{} until {}: {}; recorded on {}",
                        r.freeze.id,
                        r.freeze.until,
                        r.freeze.reason,
                        if r.recorded_on.is_empty() {
                            "no incident".to_string()
                        } else {
                            r.recorded_on.join(", ")
                        }
                    )
                })
                .await
        }
        FreezeCmd::Lift { id, client } => {
            let session = Session::new(&client, file)?;
            session
                .post(
                    &format!("/freezes/{}/lift", enc(&id)),
                    &super::NoBody {},
                    |m: &ManualFreeze| println!("lifted {}", m.id),
                )
                .await
        }
        FreezeCmd::List { client } => {
            let session = Session::new(&client, file)?;
            session
                .get("/freezes", NO_QUERY, |l: &FreezeList| {
                    if l.items.is_empty() {
                        println!("no freezes or overrides set by hand");
                    }
                    for m in &l.items {
                        println!(
                            "{}  {:<8} {}  until {}  by {}: {}",
                            m.id,
                            m.kind.as_str(),
                            scope(&m.service, &m.environment),
                            m.until,
                            m.created_by,
                            m.reason
                        );
                    }
                })
                .await
        }
    }
}

pub async fn rollback(a: RollbackArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(&a.client, file)?;
    let body = RollbackRequest {
        decision: match a.decision {
            DecisionArg::RolledBack => RollbackDecision::RolledBack,
            DecisionArg::FixForward => RollbackDecision::FixForward,
        },
        change: a.change,
        note: a.note,
        resolve: a.resolve,
        confirm_hook: a.confirm_hook,
        expected_version: None,
    };
    session
        .post(
            &format!("/incidents/{}/rollback", enc(&a.id)),
            &body,
            |r: &CommandResponse| {
                for e in &r.events {
                    println!("{}", e.kind.describe());
                }
            },
        )
        .await
}

pub async fn runbook(a: RunbookArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(&a.client, file)?;
    let body = RunbookRequest {
        runbook: a.runbook,
        expected_version: None,
    };
    session
        .post(
            &format!("/incidents/{}/runbooks", enc(&a.id)),
            &body,
            |r: &CommandResponse| {
                for e in &r.events {
                    println!("{}", e.kind.describe());
                }
            },
        )
        .await
}

fn request(f: &FreezeStart) -> FreezeRequest {
    FreezeRequest {
        environment: f.environment.clone(),
        service: f.service.clone(),
        reason: f.reason.clone(),
        for_: f.for_.clone(),
        until: f.until,
    }
}

fn scope(service: &Option<String>, environment: &Option<String>) -> String {
    match (service, environment) {
        (Some(s), Some(e)) => format!(" to {s} in {e}"),
        (Some(s), None) => format!(" to {s}"),
        (None, Some(e)) => format!(" to {e}"),
        (None, None) => " anywhere".to_string(),
    }
}

fn print_reasons(a: &FreezeAnswer) {
    for r in &a.reasons {
        println!(
            "  - {} ({}){}",
            r.reason,
            r.id,
            r.until.map(|u| format!(" until {u}")).unwrap_or_default()
        );
    }
}
