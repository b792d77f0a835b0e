//! Health checks and heartbeats: `checks` and `heartbeat`.

use firebell_server::wire::{HeartbeatView, MonitorsView};

use super::{ClientArgs, NO_QUERY, NoBody, Session, enc};
use crate::config::ConfigFile;
use crate::output::monitors as out;

pub async fn checks(client: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(client, file)?;
    session
        .get("/checks", NO_QUERY, |m: &MonitorsView| out::checks(m))
        .await
}

pub async fn heartbeat(name: &str, client: &ClientArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let session = Session::new(client, file)?;
    let path = format!("/heartbeats/{}", enc(name));
    session
        .post(&path, &NoBody {}, |h: &HeartbeatView| out::heartbeat(h))
        .await
}
