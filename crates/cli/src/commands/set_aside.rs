//! `set-aside`: rows that kept failing in a queue, and putting them back.

use clap::Subcommand;
use firebell_server::wire::{SetAside, SetAsideList, SetAsideQuery};

use super::{ClientArgs, NoBody, Session};
use crate::config::ConfigFile;
use crate::output::set_aside as out;

#[derive(Subcommand)]
pub enum SetAsideCmd {
    /// Each queue's health, and the rows set aside (oldest first).
    List {
        /// Only this queue.
        #[arg(long, value_parser = ["ingest_log", "timers", "outbox"])]
        queue: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Put a row back in its queue, due now (after a fix or an upgrade).
    Retry {
        /// The set-aside row's id, from `set-aside list`.
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Drop a row for good.
    Discard {
        /// The set-aside row's id, from `set-aside list`.
        id: i64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(cmd: SetAsideCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        SetAsideCmd::List { queue, client } => {
            let query = SetAsideQuery { queue, limit: None };
            Session::new(&client, file)?
                .get("/set-aside", &query, |l: &SetAsideList| out::list(l))
                .await
        }
        SetAsideCmd::Retry { id, client } => {
            Session::new(&client, file)?
                .post(
                    &format!("/set-aside/{id}/retry"),
                    &NoBody {},
                    |e: &SetAside| {
                        println!(
                            "put back in {}: {} (set aside as {})",
                            e.queue, e.item, e.id
                        )
                    },
                )
                .await
        }
        SetAsideCmd::Discard { id, client } => {
            let session = Session::new(&client, file)?;
            session.client.delete(&format!("/set-aside/{id}")).await?;
            println!("discarded set-aside row {id}");
            Ok(())
        }
    }
}
