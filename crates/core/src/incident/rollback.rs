//! What an incident records about rollback: the criteria met (which start
//! the decision clock) and the decision, with what was rolled back.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::change::ChangeKind;

/// A rollback criterion that held (s003.rollback-criteria): an alert that
/// carries it, or a value posted with a deploy check-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CriterionMet {
    pub criterion: String,
    /// What showed it: the alert, or the value and its threshold.
    pub detail: String,
    pub at: Timestamp,
}

/// Roll back, or fix forward: what the people decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RollbackDecision {
    RolledBack,
    FixForward,
}

/// The decision as recorded, with the change it undid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackRecord {
    pub decision: RollbackDecision,
    pub change: Option<String>,
    pub kind: Option<ChangeKind>,
    pub service: Option<String>,
    /// The version it went back to, when the change named one.
    pub to_version: Option<String>,
    pub note: String,
    pub at: Timestamp,
    pub by: String,
}

/// The rollback part of an incident's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RollbackState {
    pub criteria_met: Vec<CriterionMet>,
    pub decision: Option<RollbackRecord>,
}

impl RollbackState {
    pub fn is_empty(&self) -> bool {
        self.criteria_met.is_empty() && self.decision.is_none()
    }
}
