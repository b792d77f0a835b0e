//! `postmortem` and `actions`: the learning loop from a terminal.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use firebell_core::Timestamp;
use firebell_core::incident::{ActionStatus, PostmortemState, Priority};
use firebell_server::wire::{
    ActionItemList, ActionItemRequest, ActionItemUpdateRequest, CommandResponse,
    PostmortemEditRequest, PostmortemList, PostmortemStateRequest, PostmortemView, ReviewRequest,
};
use reqwest::Method;

use super::{ClientArgs, NO_QUERY, Session, enc, incident_id, parse_instant};
use crate::config::ConfigFile;
use crate::output::incidents::command_result;
use crate::output::postmortems as out;

#[derive(Subcommand)]
pub enum PostmortemCmd {
    /// The postmortem: state, owner, deadline, review, and the document.
    Show {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Edit the document in $EDITOR (or save one from --file), or change the
    /// owner. The save is refused if someone else saved meanwhile.
    Edit {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        /// Save this Markdown file instead of opening an editor.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Make this person (a key in the policy's [people]) the owner.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move it on (draft → in_review → published) or back.
    State {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        /// Where it goes: draft, in-review (every section written) or published.
        #[arg(value_enum)]
        state: StateArg,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set or move the review meeting; participants are invited at once and
    /// reminded before it.
    Review {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        /// When: RFC 3339 (2026-12-08T10:00:00Z) or from now (2d).
        #[arg(long, value_parser = parse_instant)]
        at: Timestamp,
        /// Where: "weekly team sync", a meeting link.
        #[arg(long)]
        place: Option<String>,
        /// A person to invite (repeatable); none keeps those invited.
        #[arg(long = "participant")]
        participants: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Write the document to the path the policy names (under --dir).
    Export {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        /// The repository (or folder) the policy's path is relative to.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Print it instead of writing a file.
        #[arg(long)]
        stdout: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Postmortems across incidents, soonest due first.
    List {
        /// The state to move to (draft → in-review → published).
        #[arg(long)]
        state: Option<StateArg>,
        /// Only those past due and not published.
        #[arg(long)]
        overdue: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StateArg {
    Draft,
    InReview,
    Published,
}

impl From<StateArg> for PostmortemState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Draft => PostmortemState::Draft,
            StateArg::InReview => PostmortemState::InReview,
            StateArg::Published => PostmortemState::Published,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    NotStarted,
    InProgress,
    Complete,
}

impl From<StatusArg> for ActionStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::NotStarted => ActionStatus::NotStarted,
            StatusArg::InProgress => ActionStatus::InProgress,
            StatusArg::Complete => ActionStatus::Complete,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PriorityArg {
    High,
    Medium,
    Low,
}

impl From<PriorityArg> for Priority {
    fn from(p: PriorityArg) -> Self {
        match p {
            PriorityArg::High => Priority::High,
            PriorityArg::Medium => Priority::Medium,
            PriorityArg::Low => Priority::Low,
        }
    }
}

/// `firebell actions [--overdue]` lists; `add` and `update` change.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ActionsArgs {
    #[command(subcommand)]
    cmd: Option<ActionsCmd>,
    #[command(flatten)]
    list: ActionListArgs,
}

#[derive(Args)]
pub struct ActionListArgs {
    /// Only items past their due date and not complete.
    #[arg(long)]
    overdue: bool,
    /// Only items not complete.
    #[arg(long)]
    open: bool,
    /// Owner: a person key from the policy's [people].
    #[arg(long)]
    owner: Option<String>,
    /// Only this incident's items.
    #[arg(long, value_parser = incident_id)]
    incident: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
pub enum ActionsCmd {
    /// Add an action item to an incident.
    Add {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        /// What will be done, in a line.
        #[arg(long)]
        title: String,
        /// A person key (reminded when overdue) or a name ("QA").
        #[arg(long)]
        owner: String,
        /// RFC 3339 or from now (7d).
        #[arg(long, value_parser = parse_instant)]
        due: Option<Timestamp>,
        /// How urgent it is.
        #[arg(long)]
        priority: Option<PriorityArg>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change an action item: status, owner, due date, title, priority.
    Update {
        /// Incident id.
        #[arg(value_parser = incident_id)]
        id: String,
        /// The item's number on the incident.
        item: u32,
        /// Where it stands.
        #[arg(long)]
        status: Option<StatusArg>,
        /// Owner: a person key from the policy's [people].
        #[arg(long)]
        owner: Option<String>,
        /// RFC 3339 or from now (7d).
        #[arg(long, value_parser = parse_instant)]
        due: Option<Timestamp>,
        /// What will be done, in a line.
        #[arg(long)]
        title: Option<String>,
        /// How urgent it is.
        #[arg(long)]
        priority: Option<PriorityArg>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn postmortem(cmd: PostmortemCmd, file: &ConfigFile) -> anyhow::Result<()> {
    match cmd {
        PostmortemCmd::Show { id, client } => {
            let session = Session::new(&client, file)?;
            session.get(&path(&id, ""), NO_QUERY, out::postmortem).await
        }
        PostmortemCmd::Edit {
            id,
            file: from,
            owner,
            client,
        } => {
            let session = Session::new(&client, file)?;
            let view: PostmortemView = session.client.get(&path(&id, ""), NO_QUERY).await?;
            let document = match (from, owner.is_some()) {
                (Some(f), _) => Some(
                    std::fs::read_to_string(&f)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
                ),
                (None, true) => None,
                (None, false) => match edit_in_editor(&view.document)? {
                    Some(d) => Some(d),
                    None => {
                        println!("no change; nothing saved");
                        return Ok(());
                    }
                },
            };
            let body = PostmortemEditRequest {
                document,
                owner,
                expected_version: Some(view.version),
            };
            session
                .send(Method::PUT, &path(&id, ""), &body, |r: &CommandResponse| {
                    command_result(r)
                })
                .await
        }
        PostmortemCmd::State { id, state, client } => {
            let session = Session::new(&client, file)?;
            let body = PostmortemStateRequest {
                state: state.into(),
                expected_version: None,
            };
            session
                .post(&path(&id, "/state"), &body, command_result)
                .await
        }
        PostmortemCmd::Review {
            id,
            at,
            place,
            participants,
            client,
        } => {
            let session = Session::new(&client, file)?;
            let body = ReviewRequest {
                at,
                place,
                participants,
                expected_version: None,
            };
            session
                .post(&path(&id, "/review"), &body, command_result)
                .await
        }
        PostmortemCmd::Export {
            id,
            dir,
            stdout,
            client,
        } => {
            let session = Session::new(&client, file)?;
            let view: PostmortemView = session.client.get(&path(&id, ""), NO_QUERY).await?;
            if stdout {
                print!("{}", view.document);
                return Ok(());
            }
            let target = dir.join(&view.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(&target, &view.document)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", target.display()))?;
            println!("{}", target.display());
            if view.drafted {
                eprintln!("note: this is the draft from the log; it has not been edited yet");
            }
            Ok(())
        }
        PostmortemCmd::List {
            state,
            overdue,
            client,
        } => {
            let session = Session::new(&client, file)?;
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(s) = state {
                query.push(("state", PostmortemState::from(s).as_str().to_string()));
            }
            if overdue {
                query.push(("overdue", "true".into()));
            }
            session
                .get("/postmortems", &query, |l: &PostmortemList| {
                    out::postmortems(&l.items)
                })
                .await
        }
    }
}

pub async fn actions(a: ActionsArgs, file: &ConfigFile) -> anyhow::Result<()> {
    match a.cmd {
        None => {
            let l = a.list;
            let session = Session::new(&l.client, file)?;
            let mut query: Vec<(&str, String)> = Vec::new();
            if l.overdue {
                query.push(("overdue", "true".into()));
            }
            if l.open {
                query.push(("open", "true".into()));
            }
            if let Some(o) = l.owner {
                query.push(("owner", o));
            }
            if let Some(i) = l.incident {
                query.push(("incident", i));
            }
            session
                .get("/action-items", &query, |l: &ActionItemList| {
                    out::action_items(&l.items)
                })
                .await
        }
        Some(ActionsCmd::Add {
            id,
            title,
            owner,
            due,
            priority,
            client,
        }) => {
            let session = Session::new(&client, file)?;
            let body = ActionItemRequest {
                title,
                owner,
                due_at: due,
                priority: priority.map(Into::into),
                expected_version: None,
            };
            session
                .post(
                    &format!("/incidents/{}/action-items", enc(&id)),
                    &body,
                    command_result,
                )
                .await
        }
        Some(ActionsCmd::Update {
            id,
            item,
            status,
            owner,
            due,
            title,
            priority,
            client,
        }) => {
            let session = Session::new(&client, file)?;
            let body = ActionItemUpdateRequest {
                title,
                owner,
                due_at: due,
                priority: priority.map(Into::into),
                status: status.map(Into::into),
                expected_version: None,
            };
            session
                .send(
                    Method::PATCH,
                    &format!("/incidents/{}/action-items/{item}", enc(&id)),
                    &body,
                    |r: &CommandResponse| command_result(r),
                )
                .await
        }
    }
}

fn path(id: &str, rest: &str) -> String {
    format!("/incidents/{}/postmortem{rest}", enc(id))
}

/// Open `text` in `$VISUAL`/`$EDITOR` (else `vi`); the new text, or `None`
/// if it was left as it was.
fn edit_in_editor(text: &str) -> anyhow::Result<Option<String>> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let file = tempfile::Builder::new()
        .prefix("firebell-postmortem-")
        .suffix(".md")
        .tempfile()?;
    std::fs::write(file.path(), text)?;
    // The editor setting may carry arguments (`code --wait`).
    let mut parts = editor.split_whitespace();
    let program = parts
        .next()
        .ok_or_else(|| anyhow::anyhow!("$EDITOR is empty"))?;
    let status = std::process::Command::new(program)
        .args(parts)
        .arg(file.path())
        .status()
        .map_err(|e| anyhow::anyhow!("cannot start the editor {editor:?}: {e}"))?;
    if !status.success() {
        anyhow::bail!("the editor {editor:?} exited with {status}; nothing saved");
    }
    let edited = std::fs::read_to_string(file.path())?;
    Ok((edited != text).then_some(edited))
}
