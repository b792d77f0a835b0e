//! API tokens, on the database directly (so a lost admin token can be
//! recovered without one).

use clap::Subcommand;

use crate::config::{self, ConfigFile};
use crate::output;

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token and print its secret once.
    Create {
        /// viewer (read), responder (read and act on incidents) or admin (everything).
        #[arg(long, value_parser = ["viewer", "responder", "admin"])]
        role: String,
        /// Unique name, recorded as the actor on the timeline [default: <role>-<random>].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
    /// List tokens (never their secrets).
    List {
        /// Print `{"items": [...], "next_cursor": null}`, as `GET /api/v1/tokens` answers.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id, from `token list`.
        id: i64,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
}

pub async fn run(cmd: TokenCmd, file: &ConfigFile) -> anyhow::Result<()> {
    let (db, action) = match &cmd {
        TokenCmd::Create { db, .. } | TokenCmd::List { db, .. } | TokenCmd::Revoke { db, .. } => {
            (db, &cmd)
        }
    };
    let url = db.resolve(file);
    let store = firebell_store::Store::connect(&url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {e}",
            firebell_server::redact(&url)
        )
    })?;
    let now = firebell_core::Timestamp::now();
    let result = match action {
        TokenCmd::Create { role, name, .. } => {
            let role: firebell_server::auth::Role = role.parse().map_err(anyhow::Error::msg)?;
            let name = name.clone().unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    role.as_str(),
                    &firebell_server::auth::generate_token()[3..9].to_lowercase()
                )
            });
            let (record, secret) = firebell_server::auth::create_token(&store, &name, role, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created token {:?} (id {}, role {})",
                record.name, record.id, record.role
            );
            println!("{secret}");
            eprintln!("The secret is shown once; only its hash is stored.");
            Ok(())
        }
        TokenCmd::List { json, .. } => {
            let tokens = store.list_tokens().await?;
            if *json {
                let list = firebell_server::wire::TokenList {
                    items: tokens.into_iter().map(Into::into).collect(),
                    next_cursor: None,
                };
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                output::tokens(&tokens);
            }
            Ok(())
        }
        TokenCmd::Revoke { id, .. } => {
            if store.revoke_token(*id, now).await? {
                println!("revoked token {id}");
                Ok(())
            } else {
                Err(anyhow::anyhow!("no live token with id {id}"))
            }
        }
    };
    store.close().await;
    result
}
