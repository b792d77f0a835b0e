//! The live policy and how it is replaced. A new file is parsed and validated
//! completely before it replaces the old one; a broken edit is logged, counted
//! and shown on `/api/v1/policy`, and the old policy keeps running.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use firebell_core::{Policy, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where the policy comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// The demo policy embedded in the binary.
    Demo,
    File(PathBuf),
}

impl PolicySource {
    pub fn describe(&self) -> String {
        match self {
            PolicySource::Demo => "embedded demo policy".into(),
            PolicySource::File(p) => p.display().to_string(),
        }
    }

    /// Read and validate; the error lists every problem with file:line:col.
    pub fn load(&self) -> Result<(Policy, String), String> {
        let (text, origin) = match self {
            PolicySource::Demo => (
                firebell_core::policy::DEMO_POLICY.to_string(),
                "demo.toml".to_string(),
            ),
            PolicySource::File(p) => (
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read policy {}: {e}", p.display()))?,
                p.display().to_string(),
            ),
        };
        let roster_text = std::cell::RefCell::new(String::new());
        let policy = match self {
            PolicySource::Demo => Policy::parse(&text, &origin),
            PolicySource::File(p) => Policy::parse_with(&text, &origin, &|path| {
                let (text, shown) = read_roster(p, path)?;
                *roster_text.borrow_mut() = text.clone();
                Ok((text, shown))
            }),
        }
        .map_err(|e| e.to_string())?;
        let mut digest = Sha256::new();
        digest.update(text.as_bytes());
        digest.update(roster_text.borrow().as_bytes());
        Ok((policy, hex::encode(digest.finalize())))
    }
}

/// Parse the policy file at `path` (its `text`) with its roster, read
/// relative to it: what `serve`, `policy check` and `simulate` all load.
pub fn parse_file(text: &str, path: &Path) -> Result<Policy, firebell_core::policy::PolicyErrors> {
    Policy::parse_with(text, &path.display().to_string(), &|roster| {
        read_roster(path, roster)
    })
}

/// The roster file `path` names, relative to the policy file `policy`.
pub fn roster_path(policy: &Path, path: &str) -> std::path::PathBuf {
    policy.parent().unwrap_or_else(|| Path::new(".")).join(path)
}

/// Read the roster `path` (relative to the policy file): its text and the
/// name its problems are reported under.
pub fn read_roster(policy: &Path, path: &str) -> Result<(String, String), String> {
    let file = roster_path(policy, path);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read roster {}: {e}", file.display()))?;
    Ok((text, file.display().to_string()))
}

impl PolicySource {
    /// The files whose change reloads the policy: it and its roster.
    fn watched(&self, policy: &Policy) -> Vec<std::path::PathBuf> {
        match self {
            PolicySource::Demo => Vec::new(),
            PolicySource::File(p) => {
                let mut files = vec![p.clone()];
                if let Some(r) = &policy.roster {
                    files.push(roster_path(p, r));
                }
                files
            }
        }
    }
}

/// The policy in force, with where it came from.
#[derive(Clone, Debug, Serialize)]
pub struct LoadedPolicy {
    #[serde(skip)]
    pub policy: Arc<Policy>,
    pub source: String,
    pub sha256: String,
    pub loaded_at: Timestamp,
    /// Why the latest reload attempt was refused, if it was.
    pub last_reload_error: Option<String>,
}

/// Shared, swappable handle to the policy in force.
#[derive(Clone)]
pub struct PolicyHandle {
    source: PolicySource,
    current: Arc<RwLock<Arc<LoadedPolicy>>>,
}

impl PolicyHandle {
    pub fn load(source: PolicySource, now: Timestamp) -> Result<Self, String> {
        let (policy, sha256) = source.load()?;
        let loaded = LoadedPolicy {
            policy: Arc::new(policy),
            source: source.describe(),
            sha256,
            loaded_at: now,
            last_reload_error: None,
        };
        Ok(PolicyHandle {
            source,
            current: Arc::new(RwLock::new(Arc::new(loaded))),
        })
    }

    pub fn current(&self) -> Arc<LoadedPolicy> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.current().policy.clone()
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            PolicySource::File(p) => Some(p),
            PolicySource::Demo => None,
        }
    }

    /// Re-read the source; replace the policy only if the new one is valid and
    /// different. Returns whether it was replaced.
    pub fn reload(&self, now: Timestamp) -> Result<bool, String> {
        let result = self.source.load();
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok((policy, sha256)) if sha256 != guard.sha256 => {
                *guard = Arc::new(LoadedPolicy {
                    policy: Arc::new(policy),
                    source: self.source.describe(),
                    sha256,
                    loaded_at: now,
                    last_reload_error: None,
                });
                metrics::counter!("firebell_policy_reloads_total", "result" => "applied")
                    .increment(1);
                Ok(true)
            }
            Ok(_) => {
                // The file is valid again and is what is in force: the last
                // refusal no longer describes it.
                if guard.last_reload_error.is_some() {
                    *guard = Arc::new(LoadedPolicy {
                        last_reload_error: None,
                        ..LoadedPolicy::clone(&guard)
                    });
                }
                Ok(false)
            }
            Err(e) => {
                *guard = Arc::new(LoadedPolicy {
                    policy: guard.policy.clone(),
                    source: guard.source.clone(),
                    sha256: guard.sha256.clone(),
                    loaded_at: guard.loaded_at,
                    last_reload_error: Some(e.clone()),
                });
                metrics::counter!("firebell_policy_reloads_total", "result" => "rejected")
                    .increment(1);
                Err(e)
            }
        }
    }
}

/// A registered SIGHUP listener. Registering replaces the signal's default
/// action (terminate), so it must happen before the process announces it is
/// ready, not when the watcher task first runs.
pub struct Hangup(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangup {
    pub fn register() -> Hangup {
        #[cfg(unix)]
        {
            Hangup(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
        }
        #[cfg(not(unix))]
        {
            Hangup()
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.0.as_mut() {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Reload the policy on SIGHUP, or when the file's modification time changes
/// (checked every `poll`). Runs until the task is dropped.
pub async fn watch(
    handle: PolicyHandle,
    clock: Arc<dyn crate::Clock>,
    poll: std::time::Duration,
    mut hangup: Hangup,
) {
    let Some(path) = handle.path().map(Path::to_path_buf) else {
        return;
    };
    // The policy and its roster (whichever the policy in force names).
    let seen = || -> Vec<Option<std::time::SystemTime>> {
        handle
            .source
            .watched(&handle.policy())
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    };
    let mut last_seen = seen();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let reason = tokio::select! {
            _ = hangup.recv() => "SIGHUP",
            _ = tick.tick() => {
                let now_seen = seen();
                if now_seen == last_seen { continue; }
                last_seen = now_seen;
                "file changed"
            }
        };
        match handle.reload(clock.now()) {
            Ok(true) => tracing::info!(path = %path.display(), reason, "policy reloaded"),
            Ok(false) => tracing::debug!(path = %path.display(), reason, "policy unchanged"),
            Err(e) => {
                tracing::error!(path = %path.display(), reason, error = %e, "policy reload refused; keeping the previous policy")
            }
        }
    }
}
