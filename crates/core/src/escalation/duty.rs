//! Duties: what an incident is owed later, typed. Their text (`step:2`,
//! `rule:<name>` …) exists only where they are stored: timer rows,
//! notification rows and the events' JSON.
//!
//! Names from the policy (rule names, obligation keys) may hold any
//! character. In the text they are percent-escaped (`%` and `:` only), so a
//! name with a `:` cannot be mistaken for a suffix, and every name
//! round-trips; names without `%` or `:` read exactly as before.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something owed to an incident at a time: the kinds listed in
/// [`crate::escalation`]'s table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Duty {
    /// The escalation policy's step `level` (0-based).
    Step { level: u32 },
    /// An escalation rule; `update_clock` is the last update's instant (ms)
    /// for a rule on `update_overdue_for`, which fires once per update.
    Rule {
        name: String,
        update_clock: Option<i64>,
    },
    /// The `n`th status-update reminder since the update at `last_update` (ms).
    UpdateReminder { last_update: i64, n: u32 },
    /// No incident commander yet.
    CommanderReminder,
    /// The severity's response target breached.
    ResponseBreach,
    /// The `index`th `remind_before` of obligation `key`.
    ObligationReminder { key: String, index: usize },
    /// The admins' message about notification `notification`, dead-lettered.
    DeadLetter { notification: String },
    /// The services' stakeholders told of a milestone (once each).
    Stakeholders { milestone: Milestone },
    /// The postmortem's owner reminded: the `index`th `remind_before`, or
    /// (`None`) that it is overdue.
    PostmortemReminder { index: Option<usize> },
    /// The review meeting at `at` (ms): its invitation (`None`) or the
    /// `index`th `remind_before`. Moving the meeting re-arms them.
    ReviewReminder { at: i64, index: Option<usize> },
    /// Action item `id`, due at `due` (ms), overdue: the reminder for the
    /// `n`th period since (a moved due date starts afresh).
    ActionItemReminder { id: u32, due: i64, n: u32 },
    /// A recurring duty's reminder or test message (no incident).
    Recurring { key: String },
    /// The rollback decision is due (criteria met `decide_within` ago).
    RollbackDecision,
    /// Verify the rollback (`verify_after` after it).
    RollbackVerify,
    /// A runbook's steps that apply from `at` (ms) begin: the long outage's.
    RunbookPhase { runbook: String, at: i64 },
}

/// What stakeholders are told of (s002.notify-mitigated-and-resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Milestone {
    Mitigated,
    Resolved,
}

impl Milestone {
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::Mitigated => "mitigated",
            Milestone::Resolved => "resolved",
        }
    }
}

/// A duty's text that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown duty {0:?}")]
pub struct InvalidDuty(pub String);

impl Duty {
    /// Whether it is a step of the ladder (which goes first at one instant).
    pub fn is_step(&self) -> bool {
        matches!(self, Duty::Step { .. })
    }

    /// The text every duty that outlives its incident's resolution starts
    /// with: news of the resolution itself must not be cancelled by it.
    pub const OUTLIVES_RESOLUTION_PREFIX: &'static str = "stakeholders:";

    /// The text of every follow-up duty (postmortem, review, action items):
    /// these exist for resolved incidents, so resolution cancels none of them.
    pub const FOLLOW_UP_PREFIX: &'static str = "followup:";
}

fn escape(name: &str) -> String {
    name.replace('%', "%25").replace(':', "%3A")
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("%25") => out.push('%'),
            Some("%3A") => out.push(':'),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duty::Step { level } => write!(f, "step:{level}"),
            Duty::Rule {
                name,
                update_clock: None,
            } => write!(f, "rule:{}", escape(name)),
            Duty::Rule {
                name,
                update_clock: Some(ms),
            } => write!(f, "rule:{}:{ms}", escape(name)),
            Duty::UpdateReminder { last_update, n } => {
                write!(f, "reminder:update:{last_update}:{n}")
            }
            Duty::CommanderReminder => f.write_str("reminder:commander"),
            Duty::ResponseBreach => f.write_str("breach:respond"),
            Duty::ObligationReminder { key, index } => {
                write!(f, "reminder:obligation:{}:{index}", escape(key))
            }
            Duty::DeadLetter { notification } => write!(f, "dead:{}", escape(notification)),
            Duty::Stakeholders { milestone } => write!(f, "stakeholders:{}", milestone.as_str()),
            Duty::PostmortemReminder { index: Some(i) } => write!(f, "followup:postmortem:{i}"),
            Duty::PostmortemReminder { index: None } => f.write_str("followup:postmortem:overdue"),
            Duty::ReviewReminder { at, index: Some(i) } => write!(f, "followup:review:{at}:{i}"),
            Duty::ReviewReminder { at, index: None } => write!(f, "followup:review:{at}:invite"),
            Duty::ActionItemReminder { id, due, n } => write!(f, "followup:action:{id}:{due}:{n}"),
            Duty::Recurring { key } => write!(f, "recurring:{}", escape(key)),
            Duty::RollbackDecision => f.write_str("rollback:decide"),
            Duty::RollbackVerify => f.write_str("rollback:verify"),
            Duty::RunbookPhase { runbook, at } => write!(f, "runbook:{}:{at}", escape(runbook)),
        }
    }
}

impl FromStr for Duty {
    type Err = InvalidDuty;

    fn from_str(text: &str) -> Result<Duty, InvalidDuty> {
        let parsed = match text.split(':').collect::<Vec<_>>().as_slice() {
            ["step", level] => level.parse().ok().map(|level| Duty::Step { level }),
            ["rule", name] => unescape(name).map(|name| Duty::Rule {
                name,
                update_clock: None,
            }),
            ["rule", name, ms] => match (unescape(name), ms.parse().ok()) {
                (Some(name), Some(ms)) => Some(Duty::Rule {
                    name,
                    update_clock: Some(ms),
                }),
                _ => None,
            },
            ["reminder", "update", ms, n] => match (ms.parse().ok(), n.parse().ok()) {
                (Some(last_update), Some(n)) => Some(Duty::UpdateReminder { last_update, n }),
                _ => None,
            },
            ["reminder", "commander"] => Some(Duty::CommanderReminder),
            ["breach", "respond"] => Some(Duty::ResponseBreach),
            ["reminder", "obligation", key, index] => match (unescape(key), index.parse().ok()) {
                (Some(key), Some(index)) => Some(Duty::ObligationReminder { key, index }),
                _ => None,
            },
            ["dead", id] => unescape(id).map(|notification| Duty::DeadLetter { notification }),
            ["stakeholders", "mitigated"] => Some(Duty::Stakeholders {
                milestone: Milestone::Mitigated,
            }),
            ["stakeholders", "resolved"] => Some(Duty::Stakeholders {
                milestone: Milestone::Resolved,
            }),
            ["followup", "postmortem", "overdue"] => Some(Duty::PostmortemReminder { index: None }),
            ["followup", "postmortem", i] => i
                .parse()
                .ok()
                .map(|i| Duty::PostmortemReminder { index: Some(i) }),
            ["followup", "review", at, "invite"] => at
                .parse()
                .ok()
                .map(|at| Duty::ReviewReminder { at, index: None }),
            ["followup", "review", at, i] => match (at.parse().ok(), i.parse().ok()) {
                (Some(at), Some(i)) => Some(Duty::ReviewReminder { at, index: Some(i) }),
                _ => None,
            },
            ["recurring", key] => unescape(key).map(|key| Duty::Recurring { key }),
            ["rollback", "decide"] => Some(Duty::RollbackDecision),
            ["rollback", "verify"] => Some(Duty::RollbackVerify),
            ["runbook", key, at] => match (unescape(key), at.parse().ok()) {
                (Some(runbook), Some(at)) => Some(Duty::RunbookPhase { runbook, at }),
                _ => None,
            },
            ["followup", "action", id, due, n] => {
                match (id.parse().ok(), due.parse().ok(), n.parse().ok()) {
                    (Some(id), Some(due), Some(n)) => Some(Duty::ActionItemReminder { id, due, n }),
                    _ => None,
                }
            }
            _ => None,
        };
        parsed.ok_or_else(|| InvalidDuty(text.to_string()))
    }
}

impl Serialize for Duty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duty, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Duty {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A duty: `step:<level>`, `rule:<name>[:<ms>]`, `reminder:update:<ms>:<n>`, \
                 `reminder:commander`, `breach:respond`, `reminder:obligation:<key>:<i>`, \
                 `dead:<notification>`, `stakeholders:<milestone>`, \
                 `followup:postmortem:<i>|overdue`, `followup:review:<ms>:<i>|invite` or \
                 `followup:action:<id>:<due ms>:<n>`, `recurring:<duty>`, `rollback:decide|verify` or \
                 `runbook:<key>:<ms>` (names escape `%` and `:`).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Duty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_stored_ones() {
        for (duty, text) in [
            (Duty::Step { level: 2 }, "step:2"),
            (
                Duty::Rule {
                    name: "p0-now".into(),
                    update_clock: None,
                },
                "rule:p0-now",
            ),
            (
                Duty::Rule {
                    name: "stale".into(),
                    update_clock: Some(1_700_000_000_000),
                },
                "rule:stale:1700000000000",
            ),
            (
                Duty::UpdateReminder {
                    last_update: 5,
                    n: 3,
                },
                "reminder:update:5:3",
            ),
            (Duty::CommanderReminder, "reminder:commander"),
            (Duty::ResponseBreach, "breach:respond"),
            (
                Duty::ObligationReminder {
                    key: "pdpl".into(),
                    index: 1,
                },
                "reminder:obligation:pdpl:1",
            ),
            (
                Duty::Rule {
                    name: "a:1".into(),
                    update_clock: None,
                },
                "rule:a%3A1",
            ),
            (
                Duty::PostmortemReminder { index: None },
                "followup:postmortem:overdue",
            ),
            (
                Duty::PostmortemReminder { index: Some(0) },
                "followup:postmortem:0",
            ),
            (
                Duty::ReviewReminder { at: 7, index: None },
                "followup:review:7:invite",
            ),
            (
                Duty::ReviewReminder {
                    at: 7,
                    index: Some(1),
                },
                "followup:review:7:1",
            ),
            (
                Duty::ActionItemReminder {
                    id: 3,
                    due: 5,
                    n: 2,
                },
                "followup:action:3:5:2",
            ),
            (
                Duty::Recurring {
                    key: "restore-test".into(),
                },
                "recurring:restore-test",
            ),
        ] {
            assert_eq!(duty.to_string(), text);
            assert_eq!(text.parse::<Duty>(), Ok(duty));
        }
    }

    #[test]
    fn malformed_texts_are_refused() {
        for text in [
            "",
            "step:x",
            "rule:a:b",
            "rule:a%3",
            "reminder:update:1",
            "breach",
            "nope:1",
            "reminder:obligation:k:-1",
            "followup:postmortem:x",
            "followup:action:1",
            "followup:review:x:invite",
        ] {
            assert!(text.parse::<Duty>().is_err(), "{text:?}");
        }
    }
}
