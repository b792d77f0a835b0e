//! Console passwords for people in the policy, on the database directly
//! (like `token`): `firebell password set alice` reads the password from
//! standard input and stores only its Argon2id hash.

use std::io::BufRead;

use clap::Subcommand;

use crate::config::{self, ConfigFile};

#[derive(Subcommand)]
pub enum PasswordCmd {
    /// Set (or replace) a person's console password, read from standard
    /// input (first line); the sessions made with the old one end.
    /// Example: `printf '%s\n' "$PW" | firebell password set alice --role responder`.
    Set {
        /// The person's key in the policy's `[people]`.
        person: String,
        /// What the person may do in the console: viewer, responder or admin.
        #[arg(long, default_value = "responder", value_parser = ["viewer", "responder", "admin"])]
        role: String,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
    /// Remove a person's console password and end their sessions.
    Remove {
        /// The person's key in the policy's `[people]`.
        person: String,
        #[command(flatten)]
        db: config::DatabaseArgs,
    },
}

async fn open(
    db: &config::DatabaseArgs,
    file: &ConfigFile,
) -> anyhow::Result<firebell_store::Store> {
    let url = db.resolve(file);
    firebell_store::Store::connect(&url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {e}",
            firebell_server::redact(&url)
        )
    })
}

pub async fn run(cmd: PasswordCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        PasswordCmd::Set { person, role, db } => {
            let role: firebell_server::auth::Role = role.parse().map_err(anyhow::Error::msg)?;
            // Read and hash before touching the database: a bad password
            // changes nothing.
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            let hash = firebell_server::console::session::hash_password(password)
                .map_err(anyhow::Error::msg)?;
            let store = open(&db, file).await?;
            let result = store
                .set_password(&firebell_store::PasswordRecord {
                    person: person.clone(),
                    hash,
                    role,
                    set_at: firebell_core::Timestamp::now(),
                })
                .await;
            store.close().await;
            result?;
            println!(
                "password set for {person} (role {}); only its hash is stored",
                role.as_str()
            );
            Ok(())
        }
        PasswordCmd::Remove { person, db } => {
            let store = open(&db, file).await?;
            let removed = store.remove_password(&person).await;
            store.close().await;
            if removed? {
                println!("password removed for {person}; their sessions ended");
                Ok(())
            } else {
                Err(anyhow::anyhow!("{person} has no console password"))
            }
        }
    }
}
