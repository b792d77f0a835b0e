//! `firebell simulate`: what a policy would do for a hypothetical incident —
//! who is paged or reminded when, and why. Offline: the policy file and the
//! pure core only, nothing is sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use firebell_core::alert::RouteMatch;
use firebell_core::incident::{Declare, Incident};
use firebell_core::simulate::{Scenario, simulate};
use firebell_core::{Duration, Policy, Timestamp, escalation};
use serde_json::json;

use crate::output;

#[derive(Args)]
pub struct SimulateArgs {
    /// Policy file [default: the embedded demo policy].
    #[arg(long, env = "FIREBELL_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Alert labels, 'alertname=X,service=api': the route they take sets the
    /// severity, service and escalation policy (the flags below win).
    #[arg(long, value_parser = crate::commands::policy::parse_labels)]
    labels: Option<BTreeMap<String, String>>,
    /// Severity name from the policy, e.g. P0.
    #[arg(long)]
    severity: Option<String>,
    /// Affected service (repeatable).
    #[arg(long = "service")]
    services: Vec<String>,
    /// Title [default: the alertname label, else "Simulated incident"].
    #[arg(long)]
    title: Option<String>,
    /// Tag (repeatable), e.g. security.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Escalation policy to page with, instead of the route's, service's or severity's.
    #[arg(long)]
    escalation_policy: Option<String>,
    /// How far ahead to look, e.g. 4h.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    duration: Duration,
    /// Someone acknowledges this long after declaration [default: nobody].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ack_after: Option<Duration>,
    /// The incident is resolved this long after declaration [default: not in time].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    resolve_after: Option<Duration>,
    /// When the incident is declared (RFC 3339) [default: now, to the minute].
    #[arg(long, value_name = "TIME", value_parser = parse_start)]
    start: Option<Timestamp>,
    /// Print the plan as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse()
        .map_err(|e: firebell_core::duration::DurationError| e.to_string())
}

fn parse_start(s: &str) -> Result<Timestamp, String> {
    s.parse()
        .map_err(|e| format!("expected an RFC 3339 instant like 2026-11-24T18:00:00Z: {e}"))
}

/// Exit 0 with the plan, 1 if the policy cannot be loaded, 2 for arguments
/// the policy refuses (unknown severity, service, ...).
pub fn run(args: &SimulateArgs) -> ExitCode {
    let policy = match load(args.policy.as_deref()) {
        Ok(p) => p,
        Err(()) => return ExitCode::FAILURE,
    };
    let routed: Option<RouteMatch> = args.labels.as_ref().and_then(|labels| {
        firebell_core::alert::route(&policy, labels)
            .into_iter()
            .next()
    });
    let Some(severity) = args
        .severity
        .clone()
        .or_else(|| routed.as_ref()?.severity.clone())
    else {
        let why = if routed.is_some() {
            "the labels' route sets no severity; pass --severity"
        } else {
            "pass --severity (or --labels that route to one)"
        };
        eprintln!(
            "error: no severity: {why}; the policy defines: {}",
            policy.severity_names().join(", ")
        );
        return ExitCode::from(2);
    };
    let services = if args.services.is_empty() {
        routed
            .as_ref()
            .and_then(|r| r.service.clone())
            .into_iter()
            .collect()
    } else {
        args.services.clone()
    };
    let escalation_policy = args
        .escalation_policy
        .clone()
        .or_else(|| routed.as_ref()?.escalation_policy.clone());
    let title = args
        .title
        .clone()
        .or_else(|| args.labels.as_ref()?.get("alertname").cloned())
        .unwrap_or_else(|| "Simulated incident".into());
    let start = args.start.unwrap_or_else(|| {
        let now = Timestamp::now().as_second();
        Timestamp::from_second(now - now.rem_euclid(60)).unwrap_or_else(|_| Timestamp::now())
    });
    let scenario = Scenario {
        declare: Declare {
            title,
            severity,
            services,
            tags: args.tags.clone(),
            escalation_policy,
            ..Declare::default()
        },
        start,
        duration: args.duration,
        ack_after: args.ack_after,
        resolve_after: args.resolve_after,
        overrides: Vec::new(),
    };
    let (incident, plan) = match firebell_core::simulate::incident(&policy, &scenario)
        .and_then(|i| Ok((i, simulate(&policy, &scenario)?)))
    {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let ep = escalation::policy_of(&incident, &policy);
    let source = ep.map(|_| source(args, routed.as_ref(), &incident, &policy));
    if args.json {
        let out = json!({
            "escalation_policy": ep.map(|p| p.name.as_str()),
            "escalation_policy_from": source,
            "incident": {
                "title": incident.title,
                "severity": incident.severity,
                "services": incident.services,
                "tags": incident.tags,
            },
            "start": start,
            "end": start.checked_add(args.duration.as_signed()).ok(),
            "plan": plan,
        });
        match serde_json::to_string_pretty(&out) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    let header = format!(
        "{} {:?} declared {} UTC, simulated for {}{}{}; escalation policy: {}",
        incident.severity,
        incident.title,
        start.strftime("%Y-%m-%d %H:%M"),
        args.duration,
        args.ack_after
            .map(|d| format!(", acknowledged after {d}"))
            .unwrap_or_default(),
        args.resolve_after
            .map(|d| format!(", resolved after {d}"))
            .unwrap_or_default(),
        match (ep, &source) {
            (Some(p), Some(from)) => format!("{} ({from})", p.name),
            _ => "none (no steps page; rules and reminders still apply)".into(),
        }
    );
    output::simulation(&header, &plan);
    ExitCode::SUCCESS
}

/// Where the escalation policy that applies comes from.
fn source(
    args: &SimulateArgs,
    routed: Option<&RouteMatch>,
    incident: &Incident,
    policy: &Policy,
) -> String {
    if args.escalation_policy.is_some() {
        return "--escalation-policy".into();
    }
    if let Some(r) = routed.filter(|r| r.escalation_policy.is_some()) {
        return format!("route {}", r.path);
    }
    if incident.escalation_policy.is_some()
        && let Some(s) = incident.services.iter().find(|s| {
            policy
                .services
                .get(*s)
                .is_some_and(|s| s.escalation_policy.is_some())
        })
    {
        return format!("service {s}");
    }
    if policy
        .severity(&incident.severity)
        .is_some_and(|s| s.escalation_policy.is_some())
    {
        return format!("severity {}", incident.severity);
    }
    "organization default".into()
}

/// The policy file (errors printed like `firebell policy check`), or the demo.
fn load(path: Option<&Path>) -> Result<Policy, ()> {
    let Some(path) = path else {
        return Ok(Policy::demo());
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("{shown}: cannot read: {e}");
    })?;
    firebell_server::policy_source::parse_file(&text, path).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("{e}");
        }
        eprintln!("{shown}: {} problem(s)", errors.0.len());
    })
}
