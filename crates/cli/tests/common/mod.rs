//! What the `firebell` binary's tests share: `serve` as a real process on
//! an ephemeral port, the client run against it, and the database to use.

#![allow(dead_code)] // Each test file uses its own part of this.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_firebell");

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A `firebell serve` process.
pub struct ServeProcess {
    pub child: Child,
    pub url: String,
    pub admin_token: Option<String>,
}

impl ServeProcess {
    pub fn start(database_url: &str, dir: &Path) -> ServeProcess {
        Self::start_with(database_url, dir, &[])
    }

    pub fn start_with(database_url: &str, dir: &Path, extra: &[&str]) -> ServeProcess {
        let stderr = std::fs::File::create(dir.join("serve.log")).unwrap();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(extra)
            .current_dir(dir)
            .env_remove("FIREBELL_POLICY")
            .env_remove("FIREBELL_CONFIG")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut admin_token) = (None, None);
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line
                .split("admin token (shown once; store it now): ")
                .nth(1)
            {
                admin_token = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("listening on ") {
                url = Some(rest.trim().to_string());
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url =
            url.unwrap_or_else(|| panic!("serve did not report its address; log: {}", log(dir)));
        ServeProcess {
            child,
            url,
            admin_token,
        }
    }

    /// SIGTERM and wait: a graceful shutdown.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(
            exit.success(),
            "serve should exit cleanly on SIGTERM, got {exit}"
        );
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

pub fn firebell(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FIREBELL_URL", url)
        .env("FIREBELL_TOKEN", token)
        .env_remove("FIREBELL_CONFIG")
        .output()
        .unwrap()
}

#[track_caller]
pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn database(backend: &str, dir: &Path) -> Option<String> {
    match backend {
        "sqlite" => Some(format!("sqlite:{}", dir.join("firebell.db").display())),
        _ => {
            let Ok(base) = std::env::var("FIREBELL_TEST_DATABASE_URL") else {
                eprintln!("SKIPPED postgres CLI test: set FIREBELL_TEST_DATABASE_URL to run it");
                return None;
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let sep = if base.contains('?') { '&' } else { '?' };
            Some(format!("{base}{sep}schema=cli_{nanos:x}"))
        }
    }
}
