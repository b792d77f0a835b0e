//! The incident, event-sourced: [`decide`] checks a command against the current
//! state, the policy and `now`, and yields events; [`Incident::from_events`]
//! folds them back into state. Nothing else changes an incident.

mod command;
mod deadline;
mod event;
mod message;
mod postmortem;
mod rollback;
mod state;

pub use command::{
    COMMANDER_ROLE, ChangeRef, Command, CommandError, Context, Declare, MAX_ALERT_SAMPLE,
    ROLLBACK_RESOLVED, Rejection, UpdateMessage, alert_signals, decide, declare, display_name,
    incident_id_stem, is_valid_tag, runbook_attached, runbook_reason, stamp,
};
pub use deadline::{Deadline, DeadlineStatus, deadlines};
pub use event::{
    AlertBrief, Direction, Event, EventKind, NotificationOutcome, Notified, OpenedChecklistItem,
    RoleHolders, StartedObligation, Status, Visibility,
};
pub use message::{RenderedMessage, render_template, render_template_linked};
pub use postmortem::{
    ActionItem, ActionItemChange, ActionStatus, DEFAULT_SECTIONS, Postmortem, PostmortemState,
    Priority, Review, TO_BE_WRITTEN, TrackerIssue, document as postmortem_document,
    draft as postmortem_draft, due_at as postmortem_due, export_path as postmortem_path,
    review_invitees, slug, unfinished as postmortem_unfinished,
};
pub use rollback::{CriterionMet, RollbackDecision, RollbackRecord, RollbackState};
pub use state::{ChecklistItemState, Incident, MetObligation};
