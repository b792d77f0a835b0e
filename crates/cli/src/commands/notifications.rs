//! Paging: `notifications` sent or waiting, the `escalation` policies in
//! force, and an incident's `agenda`.

use clap::Args;
use firebell_server::wire::{Agenda, EscalationPolicies, NotificationList, NotificationQuery};

use super::{ClientArgs, NO_QUERY, Session, enc};
use crate::config::ConfigFile;
use crate::output::notifications as out;

#[derive(Args)]
pub struct NotificationsArgs {
    /// Only this incident's notifications.
    #[arg(long, value_parser = super::incident_id)]
    incident: Option<String>,
    /// Notifications to show, newest first (at most 500).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn notifications(a: NotificationsArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let query = NotificationQuery {
        incident: a.incident,
        limit: Some(a.limit),
    };
    let session = Session::new(&a.client, file)?;
    session
        .get("/notifications", &query, |l: &NotificationList| {
            out::notifications(l)
        })
        .await
}

pub async fn escalation(client: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(client, file)?;
    session
        .get(
            "/escalation-policies",
            NO_QUERY,
            |e: &EscalationPolicies| out::escalation(e),
        )
        .await
}

pub async fn agenda(id: &str, client: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(client, file)?;
    let path = format!("/incidents/{}/agenda", enc(id));
    session
        .get(&path, NO_QUERY, |a: &Agenda| out::agenda(a))
        .await
}
