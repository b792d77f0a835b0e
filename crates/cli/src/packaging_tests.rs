//! The Dockerfile and the systemd unit run this binary with command lines
//! and environment variables of their own. These tests read them from the
//! files and parse them with the real command-line definition (each
//! `FIREBELL_*` variable as the flag that reads it), so a renamed flag, a
//! misspelt variable or a value the flag refuses fails here rather than in a
//! container or on a server.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{CommandFactory, Parser};

use crate::{Cli, Cmd};

const BINARY: &str = "/usr/local/bin/firebell";

fn repo_file(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `serve`'s flags by the variable each reads: `FIREBELL_LISTEN` → `--listen`.
fn serve_flags() -> BTreeMap<String, String> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command");
    serve
        .get_arguments()
        .chain(cli.get_arguments())
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_string();
            Some((env, format!("--{}", a.get_long()?)))
        })
        .collect()
}

/// `firebell serve` as the packaging runs it: its command line plus each
/// `FIREBELL_*` variable turned into its flag. Every variable must be one
/// the server reads, and the whole must parse as `serve`.
#[track_caller]
fn check_serve(what: &str, argv: &[String], env: &[(String, String)]) {
    assert_eq!(argv.first().map(String::as_str), Some(BINARY), "{what}");
    let flags = serve_flags();
    let mut full = argv.to_vec();
    for (key, value) in env {
        if !key.starts_with("FIREBELL_") {
            continue;
        }
        // The log filter is read by the logger, not by a flag.
        if key == "FIREBELL_LOG" {
            continue;
        }
        let flag = flags
            .get(key)
            .unwrap_or_else(|| panic!("{what}: {key} is not a variable `firebell serve` reads"));
        full.extend([flag.clone(), value.clone()]);
    }
    match Cli::try_parse_from(&full) {
        Ok(Cli {
            command: Cmd::Serve(_),
            ..
        }) => {}
        Ok(_) => panic!("{what}: {full:?} is not `serve`"),
        Err(e) => panic!("{what}: {full:?}: {e}"),
    }
    assert!(
        env.iter()
            .any(|(k, v)| k == "MIMALLOC_ARENA_EAGER_COMMIT" && v == "0"),
        "{what}: MIMALLOC_ARENA_EAGER_COMMIT=0 (BENCHMARKS.md, \"Memory\")"
    );
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (name, rest) = current
                    .trim()
                    .split_once(' ')
                    .unwrap_or((current.trim(), ""));
                out.push((name.to_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

fn exec_form(what: &str, text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} {text}: not exec form: {e}"))
}

#[test]
fn the_dockerfile_runs_serve_and_checks_health_with_this_cli() {
    let instructions = dockerfile_instructions(&repo_file("Dockerfile"));
    // The runtime stage: everything after the last FROM.
    let last_from = instructions
        .iter()
        .rposition(|(name, _)| name == "FROM")
        .unwrap();
    let runtime = &instructions[last_from..];
    let one = |name: &str| -> &str {
        let found: Vec<&str> = runtime
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, rest)| rest.as_str())
            .collect();
        assert_eq!(found.len(), 1, "one {name} in the runtime stage: {found:?}");
        found[0]
    };
    let mut env = Vec::new();
    for (_, rest) in runtime.iter().filter(|(n, _)| n == "ENV") {
        for pair in rest.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
            env.push((k.to_string(), v.to_string()));
        }
    }
    let mut argv = exec_form("ENTRYPOINT", one("ENTRYPOINT"));
    argv.extend(exec_form("CMD", one("CMD")));
    check_serve("Dockerfile", &argv, &env);

    // Not root.
    let user = one("USER");
    assert!(
        !["root", "0", "0:0"].contains(&user),
        "USER {user}: not root"
    );

    // The health check probes the port the server listens on, with this CLI.
    let health = one("HEALTHCHECK");
    let probe = exec_form("HEALTHCHECK", health.split_once(" CMD ").unwrap().1);
    assert_eq!(probe[0], BINARY);
    match Cli::try_parse_from(&probe) {
        Ok(Cli {
            command: Cmd::Health(_),
            ..
        }) => {}
        Ok(_) => panic!("HEALTHCHECK {probe:?} is not `health`"),
        Err(e) => panic!("HEALTHCHECK {probe:?}: {e}"),
    }
    let listen = &env.iter().find(|(k, _)| k == "FIREBELL_LISTEN").unwrap().1;
    let port = listen.rsplit_once(':').unwrap().1;
    assert!(
        probe
            .iter()
            .any(|a| a == &format!("http://127.0.0.1:{port}")),
        "the health check asks the listening port {port}: {probe:?}"
    );
    assert!(one("EXPOSE").split_whitespace().any(|p| p == port));
}

#[test]
fn the_systemd_unit_runs_serve_with_this_cli() {
    let unit = repo_file("packaging/systemd/firebell.service");
    let values = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
            .collect()
    };
    let exec: Vec<String> = values("ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart: {exec:?}");
    let argv: Vec<String> = exec[0].split_whitespace().map(str::to_string).collect();
    let env: Vec<(String, String)> = values("Environment")
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("Environment=KEY=VALUE");
            (k.to_string(), v.to_string())
        })
        .collect();
    check_serve("firebell.service", &argv, &env);
    // The server reloads its policy on SIGHUP: that is what reload means.
    assert_eq!(values("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
}
