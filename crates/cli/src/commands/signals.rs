//! What suppresses paging, and the alerts it applies to: `alerts`,
//! `silence` and `maintenance`.

use clap::{Args, Subcommand};
use firebell_core::Timestamp;
use firebell_core::alert::{MaintenanceKind, MaintenanceWindow};
use firebell_server::wire::{
    AlertQuery, AlertViewList, CreateMaintenance, CreateSilence, MaintenanceList, MaintenanceView,
    ReviewMaintenance, SilenceList, SilenceView,
};

use super::{ClientArgs, NO_QUERY, NoBody, Session, enc, parse_time};
use crate::config::ConfigFile;
use crate::output::signals as out;

#[derive(Args)]
pub struct AlertsArgs {
    /// Matchers, e.g. 'service="api",severity=~"crit.*"'.
    #[arg(long)]
    filter: Option<String>,
    /// Include resolved alerts.
    #[arg(long)]
    all: bool,
    /// Alerts to show at most.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
pub enum SilenceCmd {
    /// Silence alerts matching MATCHERS (Alertmanager syntax) for a while.
    Add {
        /// e.g. 'alertname="DiskFull"' 'instance=~"db-.*"'
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h [default: 1h].
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List silences.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End a silence now.
    Expire {
        /// The silence's id, from `silence list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
pub enum MaintenanceCmd {
    /// Switch maintenance mode on now for services (until `end`, or for --duration).
    Start {
        /// Service under maintenance (repeatable), a key of the policy's [services].
        #[arg(long = "service", required = true)]
        services: Vec<String>,
        /// What is being done, as customers will read it on /status.
        #[arg(long)]
        title: String,
        /// How long, e.g. 2h.
        #[arg(long)]
        duration: Option<String>,
        /// Emergency maintenance (no notice; needs a review within 24 h).
        #[arg(long)]
        emergency: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Schedule a window in advance.
    Schedule {
        /// Service under maintenance (repeatable), a key of the policy's [services].
        #[arg(long = "service", required = true)]
        services: Vec<String>,
        /// What is being done, as customers will read it on /status.
        #[arg(long)]
        title: String,
        /// RFC 3339 start.
        #[arg(long, value_parser = parse_time)]
        starts_at: Timestamp,
        /// RFC 3339 end.
        #[arg(long, value_parser = parse_time)]
        ends_at: Timestamp,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List windows.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End a window (or maintenance mode) now.
    End {
        /// The window's id, from `maintenance list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Record the review an emergency window owes (due within
    /// `[maintenance] emergency_review_within` of its end).
    Review {
        /// The window's id, from `maintenance list`.
        id: String,
        /// What happened, why it could not wait, what to change.
        #[arg(long)]
        summary: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn alerts(a: AlertsArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let query = AlertQuery {
        filter: a.filter,
        all: a.all,
        limit: Some(a.limit),
    };
    let session = Session::new(&a.client, file)?;
    session
        .get("/alerts", &query, |l: &AlertViewList| out::alerts(&l.items))
        .await
}

pub async fn silence(cmd: SilenceCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        SilenceCmd::Add {
            matchers,
            duration,
            comment,
            client,
        } => {
            let body = CreateSilence {
                matchers: matchers.join(","),
                starts_at: None,
                ends_at: None,
                duration: Some(duration),
                comment,
            };
            let session = Session::new(&client, file)?;
            session
                .post("/silences", &body, |s: &SilenceView| {
                    out::silences(std::slice::from_ref(s))
                })
                .await
        }
        SilenceCmd::List { client } => {
            let session = Session::new(&client, file)?;
            session
                .get("/silences", NO_QUERY, |l: &SilenceList| {
                    out::silences(&l.items)
                })
                .await
        }
        SilenceCmd::Expire { id, client } => {
            let session = Session::new(&client, file)?;
            let path = format!("/silences/{}/expire", enc(&id));
            session
                .post(&path, &NoBody {}, |s: &SilenceView| {
                    out::silences(std::slice::from_ref(s))
                })
                .await
        }
    }
}

pub async fn maintenance(cmd: MaintenanceCmd, file: &ConfigFile) -> anyhow::Result<()> {
    let (client, body) = match cmd {
        MaintenanceCmd::Start {
            services,
            title,
            duration,
            emergency,
            client,
        } => {
            let (kind, default_duration) = if emergency {
                (MaintenanceKind::Emergency, Some("4h".to_string()))
            } else {
                (MaintenanceKind::Mode, None)
            };
            let body = CreateMaintenance {
                title,
                services,
                kind,
                starts_at: None,
                ends_at: None,
                duration: duration.or(default_duration),
            };
            (client, body)
        }
        MaintenanceCmd::Schedule {
            services,
            title,
            starts_at,
            ends_at,
            client,
        } => {
            let body = CreateMaintenance {
                title,
                services,
                kind: MaintenanceKind::Scheduled,
                starts_at: Some(starts_at),
                ends_at: Some(ends_at),
                duration: None,
            };
            (client, body)
        }
        MaintenanceCmd::List { client } => {
            let session = Session::new(&client, file)?;
            return session
                .get("/maintenance", NO_QUERY, |l: &MaintenanceList| {
                    out::maintenance(&l.items)
                })
                .await;
        }
        MaintenanceCmd::Review {
            id,
            summary,
            client,
        } => {
            let session = Session::new(&client, file)?;
            let path = format!("/maintenance/{}/review", enc(&id));
            return session
                .post(
                    &path,
                    &ReviewMaintenance { summary },
                    |w: &MaintenanceView| out::maintenance(std::slice::from_ref(w)),
                )
                .await;
        }
        MaintenanceCmd::End { id, client } => {
            let session = Session::new(&client, file)?;
            let path = format!("/maintenance/{}/end", enc(&id));
            // 204 No Content: nothing to read.
            return session
                .post(&path, &NoBody {}, |(): &()| println!("ended"))
                .await;
        }
    };
    let session = Session::new(&client, file)?;
    session
        .post("/maintenance", &body, |w: &MaintenanceWindow| {
            let now = jiff::Timestamp::now();
            out::maintenance(&[MaintenanceView {
                review_state: w.review_state(now),
                window: w.clone(),
            }])
        })
        .await
}
