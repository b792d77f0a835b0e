//! README.md works as written: its `sh` blocks are run, verbatim and in
//! order, in one shell against a fresh server on the embedded demo policy.
//!
//! The only lines not run are the two that cannot be: the `serve` and
//! `cargo test` commands of "Two commands" (the test starts the server
//! itself), and `export FIREBELL_URL=` / `export FIREBELL_TOKEN=`, whose
//! values are the reader's (`fb_…`); the test sets both to the server it
//! started. `$EDITOR` fills in the postmortem's unwritten sections.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The `sh` blocks of a Markdown file, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == "```sh" => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Lines the test cannot run as written (see the module's comment).
fn runnable(line: &str) -> bool {
    let l = line.trim_start();
    !(l.starts_with("cargo run -p firebell -- serve")
        || l.starts_with("cargo test")
        || l.starts_with("export FIREBELL_URL=")
        || l.starts_with("export FIREBELL_TOKEN="))
}

#[test]
fn the_readme_commands_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 6, "README.md has its command blocks");
    let mut script = String::from("set -euo pipefail\n");
    let mut commands = 0;
    for block in &blocks {
        for line in block.lines().filter(|l| runnable(l)) {
            script.push_str(line);
            script.push('\n');
            commands += line.contains("firebell ") as usize;
        }
    }
    assert!(commands >= 35, "{commands} firebell commands found");

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("firebell.db").display());
    let server = ServeProcess::start(&db, dir.path());
    // `policy check examples/*.toml` and `simulate --policy examples/…` are
    // written for the repository's root; the shell runs in a scratch
    // directory (`postmortem export` writes there), with the examples linked.
    std::os::unix::fs::symlink(examples(), dir.path().join("examples")).unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-x")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("FIREBELL_URL", &server.url)
        .env("FIREBELL_TOKEN", server.admin_token.as_deref().unwrap())
        .env("EDITOR", "sed -i s/_To.be.written._/Written./")
        .env_remove("VISUAL")
        .env_remove("FIREBELL_CONFIG")
        .env_remove("FIREBELL_POLICY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a README command failed ({}); the trace ends with it:\n{}\nstdout:\n{stdout}",
        out.status,
        stderr
            .lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // What a newcomer should see: the demo pages someone, and says so.
    assert!(
        stdout.contains("delivered"),
        "`notifications` lists a delivered page:\n{stdout}"
    );
    let log = log(dir.path());
    assert!(
        log.contains("page to ") && log.contains("(logged, not sent)"),
        "the server's log shows the page:\n{log}"
    );
    // The hand-off is on the timeline, and the export was written.
    assert!(stdout.contains("HANDOFF"), "{stdout}");
    let exported = std::fs::read_dir(dir.path().join("postmortems"))
        .unwrap()
        .count();
    assert_eq!(exported, 1, "postmortem export wrote one file");
    server.stop();
}
