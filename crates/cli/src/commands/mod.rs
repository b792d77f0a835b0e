//! The commands, one module per group. Client commands send and read
//! [`firebell_server::wire`] types through a [`Session`]; `policy`, `route`
//! and `token` work locally.

pub mod changes;
pub mod duties;
pub mod health;
pub mod incidents;
pub mod monitors;
pub mod notifications;
pub mod oncall;
pub mod passwords;
pub mod policy;
pub mod postmortems;
pub mod reports;
pub mod set_aside;
pub mod signals;
pub mod subscribers;
pub mod tokens;

use clap::Args;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Answer, Client};
use crate::config::ConfigFile;

/// Where the server is and how to prove who you are.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Server URL [default: http://127.0.0.1:8080].
    #[arg(long, env = "FIREBELL_URL", global = true)]
    pub url: Option<String>,
    /// API token.
    #[arg(long, env = "FIREBELL_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the raw JSON response instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A request without query parameters.
pub const NO_QUERY: &[(&str, &str)] = &[];

/// The body of a POST that needs none: `{}`.
#[derive(Serialize)]
pub struct NoBody {}

/// One client command's connection and output mode.
pub struct Session {
    pub client: Client,
    pub json: bool,
}

impl Session {
    pub fn new(args: &ClientArgs, file: &ConfigFile) -> anyhow::Result<Session> {
        Ok(Session {
            client: Client::new(args, file)?,
            json: args.json,
        })
    }

    /// `GET path?query`, then [`Session::print`] the answer.
    pub async fn get<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
        render: impl FnOnce(&R),
    ) -> anyhow::Result<()> {
        let answer = self.client.get_answer(path, query).await?;
        self.print(answer, render)
    }

    /// `POST path` with `body`, then [`Session::print`] the answer.
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        render: impl FnOnce(&R),
    ) -> anyhow::Result<()> {
        let answer = self.client.post_answer(path, body).await?;
        self.print(answer, render)
    }

    /// `PUT`/`PATCH path` with `body`, then [`Session::print`] the answer.
    pub async fn send<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
        render: impl FnOnce(&R),
    ) -> anyhow::Result<()> {
        let answer = self.client.send_json(method, path, body).await?;
        self.print(answer, render)
    }

    /// With `--json`, the server's JSON as it came (fields this CLI does not
    /// know included); otherwise `render` of its typed reading.
    fn print<R: DeserializeOwned>(
        &self,
        answer: Answer,
        render: impl FnOnce(&R),
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(answer.json())?);
        } else {
            render(&answer.read()?);
        }
        Ok(())
    }
}

/// Percent-encode a path segment (incident ids are plain, but user input is not).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An RFC 3339 instant, checked before anything is sent.
pub fn parse_time(s: &str) -> Result<firebell_core::Timestamp, String> {
    s.trim().parse::<firebell_core::Timestamp>().map_err(|_| {
        "expected an RFC 3339 instant with its offset, like 2026-11-24T18:00:00Z".to_string()
    })
}

/// An instant: `now`, RFC 3339, or a duration from now (`7d`, `2h`, `+90m`).
pub fn parse_instant(s: &str) -> Result<firebell_core::Timestamp, String> {
    if s.trim().eq_ignore_ascii_case("now") {
        return Ok(firebell_core::Timestamp::now());
    }
    if let Ok(t) = s.parse::<firebell_core::Timestamp>() {
        return Ok(t);
    }
    match s.trim().trim_start_matches('+').parse::<firebell_core::Duration>() {
        Ok(d) => firebell_core::Timestamp::now()
            .checked_add(d.as_signed())
            .map_err(|e| e.to_string()),
        Err(e) if s.trim().starts_with(|c: char| c.is_ascii_digit()) && !s.contains(':') => {
            Err(format!("{e}, or an RFC 3339 instant, or now"))
        }
        Err(_) => Err(
            "expected now, a duration from now like 2h, or an RFC 3339 instant like 2026-11-24T18:00:00Z"
                .to_string(),
        ),
    }
}

/// An instant in the past: `now`, RFC 3339, or a duration ago (`7d`, `90m`).
pub fn parse_ago(s: &str) -> Result<firebell_core::Timestamp, String> {
    if s.trim().eq_ignore_ascii_case("now") {
        return Ok(firebell_core::Timestamp::now());
    }
    if let Ok(t) = s.parse::<firebell_core::Timestamp>() {
        return Ok(t);
    }
    match s.trim().parse::<firebell_core::Duration>() {
        Ok(d) => firebell_core::Timestamp::now()
            .checked_sub(d.as_signed())
            .map_err(|e| e.to_string()),
        Err(e) if s.trim().starts_with(|c: char| c.is_ascii_digit()) && !s.contains(':') => {
            Err(format!("{e}, or an RFC 3339 instant, or now"))
        }
        Err(_) => Err(
            "expected now, a duration ago like 7d, or an RFC 3339 instant like 2026-11-24T18:00:00Z"
                .to_string(),
        ),
    }
}

/// An incident id as typed: ids are upper case (the policy's prefix must be),
/// so `inc-20261123-001` names INC-20261123-001.
pub fn incident_id(s: &str) -> Result<String, String> {
    let id = s.trim();
    if id.is_empty() {
        return Err("an incident id is needed, e.g. INC-20261123-001".into());
    }
    Ok(id.to_ascii_uppercase())
}
