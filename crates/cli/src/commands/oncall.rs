//! Who is on call: `oncall`, and the overrides that put someone else there.

use clap::{Args, Subcommand};
use firebell_core::Timestamp;
use firebell_server::wire::{
    CreateOverride, OnCallList, OnCallQuery, OverrideList, OverrideView, OverridesQuery,
};
use serde::Serialize;

use super::{ClientArgs, Session, enc, parse_instant};
use crate::client::ClientError;
use crate::config::ConfigFile;
use crate::output::oncall as out;

#[derive(Args)]
pub struct OncallArgs {
    /// One schedule (default: all).
    #[arg(long)]
    schedule: Option<String>,
    /// Ask about this instant instead of now (RFC 3339).
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
pub enum OverrideCmd {
    /// Put PERSON on call for a schedule from --from until --until (or for --for).
    #[command(group = clap::ArgGroup::new("end").required(true).args(["until", "for_"]))]
    Add {
        /// Schedule name from the policy's [[schedules]].
        #[arg(long)]
        schedule: String,
        /// Person key from the policy's [people].
        #[arg(long)]
        person: String,
        /// Start: `now`, a duration from now (`2h`), or an RFC 3339
        /// instant such as 2026-11-24T18:00:00Z.
        #[arg(long, value_name = "TIME", value_parser = parse_instant)]
        from: Timestamp,
        /// End (exclusive), written like --from; at most 90 days after --from.
        #[arg(long, value_name = "TIME", value_parser = parse_instant)]
        until: Option<Timestamp>,
        /// How long, instead of --until: `15h`, `2d`.
        #[arg(
            long = "for",
            id = "for_",
            value_name = "DURATION",
            conflicts_with = "until"
        )]
        for_: Option<firebell_core::Duration>,
        /// Person key of whom they stand in for.
        #[arg(long)]
        covering: Option<String>,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List overrides that have not ended (all with --all).
    List {
        /// One schedule (default: all).
        #[arg(long)]
        schedule: Option<String>,
        /// Include overrides that have ended.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove an override by id; the rotation applies again.
    Remove {
        /// The override's id, from `override list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn oncall(a: OncallArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let query = OnCallQuery {
        schedule: a.schedule,
        at: a.at,
    };
    let session = Session::new(&a.client, file)?;
    session
        .get("/oncall", &query, |l: &OnCallList| out::oncall(&l.items))
        .await
}

pub async fn overrides(cmd: OverrideCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        OverrideCmd::Add {
            schedule,
            person,
            from,
            until,
            for_,
            covering,
            reason,
            client,
        } => {
            let ends_at = match (until, for_) {
                (Some(until), _) => until,
                (None, Some(length)) => from
                    .checked_add(length.as_signed())
                    .map_err(|e| anyhow::anyhow!("--for {length}: {e}"))?,
                (None, None) => anyhow::bail!("give --until or --for"),
            };
            let body = CreateOverride {
                person,
                starts_at: from,
                ends_at,
                covering,
                reason,
            };
            let session = Session::new(&client, file)?;
            let path = format!("/schedules/{}/overrides", enc(&schedule));
            session
                .post(&path, &body, |o: &OverrideView| {
                    out::overrides(std::slice::from_ref(o))
                })
                .await
        }
        OverrideCmd::List {
            schedule,
            all,
            client,
        } => {
            let query = OverridesQuery {
                schedule,
                include_past: all,
            };
            let session = Session::new(&client, file)?;
            session
                .get("/overrides", &query, |l: &OverrideList| {
                    out::overrides(&l.items)
                })
                .await
        }
        OverrideCmd::Remove { id, client } => remove(&id, &client, file).await,
    }
}

/// What `override remove --json` prints (the API answers 204, no body).
#[derive(Serialize)]
struct Removed<'a> {
    id: &'a str,
    removed: bool,
    schedule: &'a str,
}

/// `firebell override remove ID`: find the override's schedule (the API
/// scopes overrides by schedule), then remove it.
async fn remove(id: &str, args: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(args, file)?;
    let query = OverridesQuery {
        schedule: None,
        include_past: true,
    };
    let all: OverrideList = session.client.get("/overrides", &query).await?;
    let schedule = all
        .items
        .iter()
        .find(|o| o.id == id)
        .map(|o| o.schedule.as_str())
        .ok_or_else(|| ClientError::Api {
            status: 404,
            code: "override_not_found".into(),
            message: format!("no override with id {id:?}"),
        })?;
    session
        .client
        .delete(&format!(
            "/schedules/{}/overrides/{}",
            enc(schedule),
            enc(id)
        ))
        .await?;
    if session.json {
        let removed = Removed {
            id,
            removed: true,
            schedule,
        };
        println!("{}", serde_json::to_string(&removed)?);
    } else {
        out::override_removed(id, schedule);
    }
    Ok(())
}
