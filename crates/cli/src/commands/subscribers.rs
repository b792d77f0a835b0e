//! `subscribers`: who follows the status page, what they were sent, and
//! removing one (admins only: these are customers' addresses).

use clap::Subcommand;
use firebell_server::status_page::subscribers::{SubscriberMessagePage, SubscriberPage};

use super::{ClientArgs, NO_QUERY, Session, enc};
use crate::config::ConfigFile;
use crate::output::subscribers as out;

#[derive(Subcommand)]
pub enum SubscribersCmd {
    /// List subscribers, newest first.
    List {
        /// Only those in this state.
        #[arg(long, value_parser = ["pending", "confirmed", "unsubscribed"])]
        state: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// What was sent to a subscriber, newest first.
    Messages {
        /// The subscriber's id, from `subscribers list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unsubscribe someone (their record stays, as unsubscribed).
    Remove {
        /// The subscriber's id, from `subscribers list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(cmd: SubscribersCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        SubscribersCmd::List { state, client } => {
            let session = Session::new(&client, file)?;
            let query: Vec<(&str, String)> = state.map(|s| ("state", s)).into_iter().collect();
            session
                .get("/subscribers", &query, |p: &SubscriberPage| {
                    out::subscribers(&p.items)
                })
                .await
        }
        SubscribersCmd::Messages { id, client } => {
            let session = Session::new(&client, file)?;
            session
                .get(
                    &format!("/subscribers/{}/messages", enc(&id)),
                    NO_QUERY,
                    |p: &SubscriberMessagePage| out::messages(&p.items),
                )
                .await
        }
        SubscribersCmd::Remove { id, client } => {
            let session = Session::new(&client, file)?;
            session
                .client
                .delete(&format!("/subscribers/{}", enc(&id)))
                .await?;
            println!("unsubscribed {id}");
            Ok(())
        }
    }
}
