//! Firebell's domain, kept pure: no I/O, no async, no wall clock.
//!
//! Everything here takes `now` as an argument, so tests can say "declare a P0,
//! advance 31 minutes, expect a reminder" without sleeping. Storage, HTTP and the
//! scheduler are adapters around this crate.
//!
//! - [`policy`]: the runbook as code — the TOML model, its loader and validation.
//! - [`incident`]: the event-sourced incident: commands, events, state as a fold.
//! - [`schedule`]: who is on call when, from `[[schedules]]` and overrides.
//! - [`escalation`]: escalation steps, rules, reminders and breaches — what is
//!   owed to an incident next, and who is notified when it falls due.
//! - [`simulate`]: who would be paged or reminded when, for a hypothetical
//!   incident (`firebell simulate`).
//! - [`status_page`]: what customers see: component states, uptime, public updates.
//! - [`report`]: MTTA and MTTR against targets, and the rest of the learning
//!   loop's numbers, over a date range.
//! - [`change`]: deploys and other changes, freezes, and the rollback advisor.
//! - [`duration`]: human durations (`15m`, `72h`, `3d`) as the policy writes them.

pub mod alert;
pub mod change;
pub mod duration;
pub mod duties;
pub mod escalation;
pub mod incident;
pub mod policy;
pub mod report;
pub mod schedule;
pub mod simulate;
pub mod status_page;

pub use duration::Duration;
pub use incident::{Command, CommandError, Declare, Event, EventKind, Incident, Status};
pub use policy::Policy;

/// An instant. Every function that needs "now" takes one of these.
pub type Timestamp = jiff::Timestamp;
