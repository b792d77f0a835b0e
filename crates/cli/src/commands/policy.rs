//! Policy files, offline: `policy check` and `route test`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Validate policy files; prints `file:line:col: path: message` per problem, exits 1 if any.
    /// Warns when a severity that pages would page someone it cannot reach.
    Check {
        /// Policy files, e.g. examples/*.toml.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat warnings (people a paging severity cannot reach) as problems: exit 1.
        #[arg(long)]
        strict: bool,
        /// Print `{"items": [one per file], "next_cursor": null}` instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn check_files(files: &[PathBuf], strict: bool, json: bool) -> ExitCode {
    if json {
        return check_files_json(files, strict);
    }
    let mut failed = false;
    for path in files {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Err(e) => {
                failed = true;
                eprintln!("{shown}: cannot read: {e}");
            }
            Ok(text) => match firebell_server::policy_source::parse_file(&text, path) {
                Ok(p) => {
                    let warnings = firebell_core::policy::unreachable_warnings(&p);
                    for w in &warnings {
                        eprintln!("{shown}: warning: {w}");
                    }
                    failed |= strict && !warnings.is_empty();
                    println!(
                        "{shown}: ok ({} severities, {} roles, {} templates, {} services{})",
                        p.severities.len(),
                        p.roles.len(),
                        p.templates.len(),
                        p.services.len(),
                        match &p.roster {
                            Some(r) => format!(
                                "; roster {} ok: {} people",
                                firebell_server::policy_source::roster_path(path, r).display(),
                                p.people.len()
                            ),
                            None => String::new(),
                        }
                    )
                }
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

#[derive(Subcommand)]
pub enum RouteCmd {
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

pub fn parse_labels(s: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
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

/// Route labels through a policy's routing tree, locally (no server needed).
fn route_test(
    labels: &std::collections::BTreeMap<String, String>,
    policy: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let policy = match policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            firebell_server::policy_source::parse_file(&text, path)
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

/// `policy check --json`: per file `{file, ok, summary, problems, warnings}`,
/// where `summary` is what the text form counts (`null` if the file failed),
/// each problem is `{file, line, column, path, message}` and each warning a
/// sentence. Exits 1 if any file failed (or warned, with `--strict`), as the
/// text form does.
fn check_files_json(files: &[PathBuf], strict: bool) -> ExitCode {
    use serde_json::json;
    let mut failed = false;
    let problem = |file: &str, line: usize, column: usize, path: &str, message: String| json!({ "file": file, "line": line, "column": column, "path": path, "message": message });
    let items: Vec<serde_json::Value> = files
        .iter()
        .map(|path| {
            let shown = path.display().to_string();
            let mut warnings = Vec::new();
            let (summary, problems) = match std::fs::read_to_string(path) {
                Err(e) => (
                    serde_json::Value::Null,
                    vec![problem(&shown, 0, 0, "", format!("cannot read: {e}"))],
                ),
                Ok(text) => match firebell_server::policy_source::parse_file(&text, path) {
                    Ok(p) => (
                        {
                            warnings = firebell_core::policy::unreachable_warnings(&p);
                            json!({
                            "severities": p.severities.len(),
                            "roles": p.roles.len(),
                            "templates": p.templates.len(),
                            "services": p.services.len(),
                            "roster": p.roster.as_ref().map(|r| {
                                firebell_server::policy_source::roster_path(path, r)
                                    .display()
                                    .to_string()
                            }),
                            "people": p.people.len(),
                            })
                        },
                        Vec::new(),
                    ),
                    Err(errors) => (
                        serde_json::Value::Null,
                        errors
                            .0
                            .into_iter()
                            .map(|e| problem(&e.file, e.line, e.column, &e.path, e.message))
                            .collect(),
                    ),
                },
            };
            failed |= !problems.is_empty() || (strict && !warnings.is_empty());
            json!({ "file": shown, "ok": problems.is_empty(), "summary": summary, "problems": problems, "warnings": warnings })
        })
        .collect();
    let answer = json!({ "items": items, "next_cursor": null });
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).unwrap_or_default()
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub fn check(cmd: PolicyCmd) -> ExitCode {
    let PolicyCmd::Check {
        files,
        strict,
        json,
    } = cmd;
    check_files(&files, strict, json)
}

pub fn route(cmd: RouteCmd) -> anyhow::Result<ExitCode> {
    let RouteCmd::Test { labels, policy } = cmd;
    route_test(&labels, policy.as_deref())
}
