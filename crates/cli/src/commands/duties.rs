//! `duties` and `duty`: recurring duties, where each stands, their runs.

use clap::{Subcommand, ValueEnum};
use firebell_server::api::duties::{DutyList, DutyRunList, RecordRunRequest};
use firebell_store::DutyOutcome;

use super::{ClientArgs, NO_QUERY, Session, enc};
use crate::config::ConfigFile;
use crate::output::duties as out;

#[derive(Subcommand)]
pub enum DutyCmd {
    /// Record a run, for the occurrence it belongs to (the last one if it
    /// has none yet, else the next): `firebell duty done restore-test --notes "…"`.
    Done {
        /// The duty's key in the policy's [[duties]].
        key: String,
        /// How the run went.
        #[arg(long, value_enum, default_value = "ok")]
        outcome: OutcomeArg,
        /// What was done and found.
        #[arg(long, default_value = "")]
        notes: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A duty's runs, newest first.
    Runs {
        /// The duty's key in the policy's [[duties]].
        key: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutcomeArg {
    Ok,
    Failed,
    Skipped,
}

impl From<OutcomeArg> for DutyOutcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Ok => DutyOutcome::Ok,
            OutcomeArg::Failed => DutyOutcome::Failed,
            OutcomeArg::Skipped => DutyOutcome::Skipped,
        }
    }
}

/// `firebell duties`: every duty, its next and last occurrence.
pub async fn list(client: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(client, file)?;
    session
        .get("/duties", NO_QUERY, |l: &DutyList| out::duties(&l.items))
        .await
}

pub async fn duty(cmd: DutyCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        DutyCmd::Done {
            key,
            outcome,
            notes,
            client,
        } => {
            let session = Session::new(&client, file)?;
            let body = RecordRunRequest {
                outcome: outcome.into(),
                notes,
            };
            session
                .post(
                    &format!("/duties/{}/runs", enc(&key)),
                    &body,
                    |r: &firebell_store::DutyRun| out::runs(std::slice::from_ref(r)),
                )
                .await
        }
        DutyCmd::Runs { key, client } => {
            let session = Session::new(&client, file)?;
            session
                .get(
                    &format!("/duties/{}/runs", enc(&key)),
                    NO_QUERY,
                    |l: &DutyRunList| out::runs(&l.items),
                )
                .await
        }
    }
}
