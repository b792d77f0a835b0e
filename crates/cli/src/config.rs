//! The config file: optional TOML with defaults for any setting. Flags and
//! `FIREBELL_*` variables (handled by clap) win over it; built-in defaults lose.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "sqlite:firebell.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Keys allowed in the config file; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub policy: Option<PathBuf>,
    pub policy_poll_seconds: Option<u64>,
    pub log_format: Option<String>,
    pub public_url: Option<String>,
    pub header_read_timeout_seconds: Option<u64>,
    pub body_read_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub max_connections: Option<u32>,
    pub max_clock_skew_ms: Option<u64>,
    pub url: Option<String>,
    pub token: Option<String>,
}

impl ConfigFile {
    pub fn load(path: Option<&Path>) -> Result<ConfigFile, String> {
        let Some(path) = path else {
            return Ok(ConfigFile::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }
}

/// Which database to open.
#[derive(Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// `sqlite:PATH` or `postgres://user@host/db` [default: sqlite:firebell.db].
    #[arg(long, env = "FIREBELL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    pub fn resolve(&self, file: &ConfigFile) -> String {
        self.database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into())
    }
}
