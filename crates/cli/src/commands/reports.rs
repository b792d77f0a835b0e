//! `report`: MTTA, MTTR and the learning loop's numbers over a date range.

use clap::Args;
use firebell_core::report::Report;

use super::{ClientArgs, Session};
use crate::config::ConfigFile;
use crate::output::reports as out;

#[derive(Args)]
pub struct ReportArgs {
    /// From: RFC 3339, or a duration back from now (`90d`).
    #[arg(long, default_value = "30d")]
    since: String,
    /// Until (exclusive): RFC 3339, or a duration back from now [default: now].
    #[arg(long)]
    until: Option<String>,
    /// One row per incident as CSV, for a spreadsheet.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn report(a: ReportArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(&a.client, file)?;
    let mut query: Vec<(&str, String)> = vec![("since", a.since)];
    if let Some(u) = a.until {
        query.push(("until", u));
    }
    if a.csv {
        query.push(("format", "csv".into()));
        print!("{}", session.client.get_text("/reports", &query).await?);
        return Ok(());
    }
    session
        .get("/reports", &query, |r: &Report| out::report(r))
        .await
}
