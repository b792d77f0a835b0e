//! Incidents: declare, list, show, and one command per action on an incident.

use std::collections::BTreeMap;

use clap::Args;
use firebell_core::Timestamp;
use firebell_core::incident::{Status, Visibility};
use firebell_server::wire::{
    AcknowledgeRequest, CommandResponse, ComponentStateRequest, DeclareRequest, HandoffRequest,
    IncidentDetail, IncidentList, IncidentListQuery, NoteRequest, ObligationRequest, RenderRequest,
    RenderedMessage, ReopenRequest, ResolveRequest, RoleRequest, SeverityRequest, TagsRequest,
    TickRequest, UpdateRequest,
};
use serde::Serialize;

use super::{ClientArgs, NO_QUERY, Session, enc, incident_id, parse_ago};
use crate::config::ConfigFile;
use crate::output::incidents as out;

#[derive(Args)]
pub struct DeclareArgs {
    /// What is happening, in a line.
    #[arg(long)]
    title: String,
    /// Severity name from the policy, e.g. P1.
    #[arg(long)]
    severity: String,
    /// What happened, in a few lines (shown on the incident and in templates).
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
    /// When it was detected, if before now: an RFC 3339 instant, or how
    /// long ago, like `20m`.
    #[arg(long, value_name = "TIME", value_parser = parse_ago)]
    detected_at: Option<Timestamp>,
    /// A drill: it pages and escalates, but never reaches the status page,
    /// its subscribers or the reports.
    #[arg(long)]
    drill: bool,
    /// Print only the new incident's id, for scripts: `ID=$(firebell declare … -q)`.
    #[arg(short, long, conflicts_with = "json")]
    quiet: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// `firebell drill start --scenario llm-outage`: a game day, for real.
#[derive(clap::Subcommand)]
pub enum DrillCmd {
    /// Start a drill: an incident flagged as a drill, declared at once.
    Start {
        /// The scenario rehearsed, e.g. `llm-outage` or `db-failover`; the
        /// drill's title and a `drill:<scenario>` tag.
        #[arg(long)]
        scenario: String,
        /// Severity to rehearse at [default: the policy's highest].
        #[arg(long)]
        severity: Option<String>,
        /// Affected service (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Assign this person as incident commander.
        #[arg(long)]
        commander: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// An incident's status, as the CLI takes it.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StatusArg {
    Investigating,
    Identified,
    Mitigated,
    Monitoring,
    Resolved,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Investigating => Status::Investigating,
            StatusArg::Identified => Status::Identified,
            StatusArg::Mitigated => Status::Mitigated,
            StatusArg::Monitoring => Status::Monitoring,
            StatusArg::Resolved => Status::Resolved,
        }
    }
}

/// A status to list by: one of the statuses, or `open` (any but resolved).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ListStatus {
    Open,
    Investigating,
    Identified,
    Mitigated,
    Monitoring,
    Resolved,
}

#[derive(Args)]
pub struct ListArgs {
    /// Statuses, comma-separated: `open` (anything not resolved) or the
    /// statuses themselves, e.g. `--status identified,mitigated`.
    #[arg(long, value_enum, value_delimiter = ',')]
    status: Vec<ListStatus>,
    /// Severities, comma-separated, e.g. `P0,P1`.
    #[arg(long)]
    severity: Option<String>,
    /// Only incidents affecting this service (a key of the policy's [services]).
    #[arg(long)]
    service: Option<String>,
    /// Declared at or after: `now`, an RFC 3339 instant, or a duration
    /// ago like `7d`.
    #[arg(long, value_name = "TIME", value_parser = parse_ago)]
    since: Option<Timestamp>,
    /// Declared before, written like --since.
    #[arg(long, value_name = "TIME", value_parser = parse_ago)]
    until: Option<Timestamp>,
    /// Incidents per page (1–500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Continue from a previous page.
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct IdArgs {
    /// Incident id, e.g. INC-20261123-001 (any case).
    #[arg(value_parser = incident_id)]
    id: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Clone, Copy)]
pub struct VersionArg {
    /// Refuse (409) unless the incident is still at this version.
    #[arg(long, value_name = "N")]
    expected_version: Option<u64>,
}

#[derive(Args)]
pub struct RoleArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
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
pub struct UpdateArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// The incident's status from now on.
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
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
pub struct SeverityArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// The new severity, a name from the policy, e.g. P0.
    severity: String,
    /// Why, for the timeline.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct NoteArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// The note, as it should read on the timeline.
    text: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct TickArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// Item id (`first-10-minutes.freeze`) or its key (`freeze`).
    item: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct HandoffArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
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
    /// What the new owner should do next.
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
pub struct ResolveArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// What happened, in a few lines (shown on the incident and in templates).
    #[arg(long, default_value = "")]
    summary: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ReopenArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// Why, for the timeline.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ComponentArgs {
    /// Incident id (the override lasts while it is open).
    #[arg(value_parser = incident_id)]
    id: String,
    /// Status page component id, e.g. `api.rest-api` (see /status/api/v2/components.json).
    component: String,
    /// How the public status page shows it.
    #[arg(value_enum)]
    status: ComponentShown,
    /// Why (on the incident's timeline).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct ObligationArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// The obligation's key, e.g. `pdpl-sdaia` (see `firebell show`).
    key: String,
    /// What proves it was met: a reference number, who was told, how.
    #[arg(long)]
    evidence: String,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct TagArgs {
    /// Incident id.
    #[arg(value_parser = incident_id)]
    id: String,
    /// A flag to raise (repeatable): its escalation rules, checklists and
    /// obligations apply at once.
    #[arg(long = "add")]
    add: Vec<String>,
    /// A flag to lower (repeatable).
    #[arg(long = "remove")]
    remove: Vec<String>,
    #[command(flatten)]
    version: VersionArg,
    #[command(flatten)]
    client: ClientArgs,
}

/// A component's state on the status page, or `auto` for the derived one.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ComponentShown {
    Auto,
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

pub async fn declare(a: DeclareArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = DeclareRequest {
        title: a.title,
        severity: a.severity,
        summary: a.summary,
        services: a.services,
        tags: a.tags,
        detected_at: a.detected_at,
        commander: a.commander,
        escalation_policy: None,
        drill: a.drill,
    };
    let session = Session::new(&a.client, file)?;
    if a.quiet {
        let r: CommandResponse = session
            .client
            .post_answer("/incidents", &body)
            .await?
            .read()?;
        println!("{}", r.incident.id);
        return Ok(());
    }
    session.post("/incidents", &body, out::command_result).await
}

pub async fn drill(cmd: DrillCmd, file: &ConfigFile) -> anyhow::Result<()> {
    let DrillCmd::Start {
        scenario,
        severity,
        services,
        commander,
        client,
    } = cmd;
    let session = Session::new(&client, file)?;
    let severity = match severity {
        Some(s) => s,
        None => {
            // The policy's top severity: a drill rehearses the worst case.
            let policy: firebell_server::wire::PolicyResponse =
                session.client.get("/policy", super::NO_QUERY).await?;
            policy.policy["severities"][0]["name"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the policy has no severities"))?
                .to_string()
        }
    };
    let body = DeclareRequest {
        title: format!("[DRILL] {scenario}"),
        severity,
        summary: format!("Drill of the {scenario} scenario: not a real incident."),
        services,
        tags: vec![format!("drill:{scenario}")],
        detected_at: None,
        commander,
        escalation_policy: None,
        drill: true,
    };
    session.post("/incidents", &body, out::command_result).await
}

pub async fn list(a: ListArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let statuses: Vec<String> = a
        .status
        .iter()
        .filter_map(clap::ValueEnum::to_possible_value)
        .map(|v| v.get_name().to_string())
        .collect();
    let query = IncidentListQuery {
        status: (!statuses.is_empty()).then(|| statuses.join(",")),
        severity: a.severity,
        service: a.service,
        since: a.since.map(|t| t.to_string()),
        until: a.until.map(|t| t.to_string()),
        limit: Some(a.limit),
        cursor: a.cursor,
    };
    let session = Session::new(&a.client, file)?;
    session
        .get("/incidents", &query, |l: &IncidentList| {
            out::incident_list(l)
        })
        .await
}

pub async fn show(a: IdArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(&a.client, file)?;
    let path = format!("/incidents/{}", enc(&a.id));
    session
        .get(&path, NO_QUERY, |d: &IncidentDetail| {
            out::incident_detail(d)
        })
        .await
}

pub async fn ack(a: IdArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = AcknowledgeRequest {
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "acknowledge", &body).await
}

pub async fn role(a: RoleArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let action = if a.unassign {
        "roles/unassign"
    } else {
        "roles"
    };
    let body = RoleRequest {
        role: a.role,
        person: a.person,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, action, &body).await
}

pub async fn update(a: UpdateArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let vars: BTreeMap<_, _> = a.vars.into_iter().collect();
    if a.dry_run {
        let body = RenderRequest {
            // `--dry-run` requires `--template`.
            template: a.template.unwrap_or_default(),
            locale: a.locale,
            vars,
        };
        let session = Session::new(&a.client, file)?;
        let path = format!("/incidents/{}/render", enc(&a.id));
        return session
            .post(&path, &body, |m: &RenderedMessage| out::rendered(m))
            .await;
    }
    let body = UpdateRequest {
        status: a.status.map(Into::into),
        visibility: if a.public {
            Visibility::Public
        } else {
            Visibility::Internal
        },
        message: a.message,
        template: a.template,
        locale: a.locale,
        vars,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "updates", &body).await
}

pub async fn severity(a: SeverityArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = SeverityRequest {
        severity: a.severity,
        reason: a.reason,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "severity", &body).await
}

pub async fn note(a: NoteArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = NoteRequest {
        text: a.text,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "notes", &body).await
}

pub async fn tick(a: TickArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = TickRequest {
        item: a.item,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "checklist/tick", &body).await
}

pub async fn handoff(a: HandoffArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = HandoffRequest {
        to: a.to,
        role: a.role,
        level: a.level,
        summary: a.summary,
        metrics: a.metrics,
        evidence: a.evidence,
        next_steps: a.next_steps,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "handoff", &body).await
}

pub async fn resolve(a: ResolveArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = ResolveRequest {
        summary: a.summary,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "resolve", &body).await
}

pub async fn reopen(a: ReopenArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = ReopenRequest {
        reason: a.reason,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "reopen", &body).await
}

pub async fn component(a: ComponentArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let status = clap::ValueEnum::to_possible_value(&a.status)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let body = ComponentStateRequest {
        component: a.component,
        status,
        reason: a.reason,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "components", &body).await
}

pub async fn obligation(a: ObligationArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let body = ObligationRequest {
        key: a.key,
        evidence: a.evidence,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "obligations", &body).await
}

pub async fn tag(a: TagArgs, file: &ConfigFile) -> anyhow::Result<()> {
    if a.add.is_empty() && a.remove.is_empty() {
        anyhow::bail!("give --add TAG or --remove TAG (repeatable)");
    }
    let body = TagsRequest {
        add: a.add,
        remove: a.remove,
        expected_version: a.version.expected_version,
    };
    command(&a.client, file, &a.id, "tags", &body).await
}

/// `POST /incidents/{id}/{action}`: every command answers the incident as
/// it now stands and the events it appended.
async fn command<B: Serialize>(
    client: &ClientArgs,
    file: &ConfigFile,
    id: &str,
    action: &str,
    body: &B,
) -> anyhow::Result<()> {
    let session = Session::new(client, file)?;
    let path = format!("/incidents/{}/{action}", enc(id));
    session
        .post(&path, body, |r: &CommandResponse| out::command_result(r))
        .await
}
