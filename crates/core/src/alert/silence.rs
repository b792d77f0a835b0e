//! Silences and maintenance windows: suppress paging, keep the record.
//!
//! A silence is Alertmanager's (matchers and a time span, made with amtool
//! or the API); a maintenance window is the runbooks' (services and a time
//! span, announced on the status page). Neither drops an alert — the alert
//! is stored and shown as silenced; only the paging stops. Everything here
//! is pure and takes `now`, so "is this silenced?" is a function call.

use serde::{Deserialize, Serialize};

use super::{LabelSet, MatchOp, Matcher};
use crate::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
    pub updated_at: Timestamp,
}

impl Silence {
    /// Pending before `starts_at`, active until `ends_at`, expired from then on.
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether every matcher holds for `labels` (regardless of time).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether this silence mutes `labels` at `now`.
    pub fn silences(&self, labels: &LabelSet, now: Timestamp) -> bool {
        self.state(now) == SilenceState::Active && self.matches(labels)
    }

    /// Alertmanager's rules for a silence:
    ///
    /// - at least one matcher;
    /// - not every matcher may match the empty string, so a silence cannot
    ///   mute alerts merely for lacking labels. As in Alertmanager, `=""`
    ///   and a `=~` whose regex matches `""` count as matching it; negated
    ///   matchers (`!=`, `!~`) do not, so `{env!="prod"}` is a valid silence;
    /// - `ends_at` not before `starts_at` (equal is allowed: expiring a
    ///   silence that has not started sets both to now).
    ///
    /// Matchers were validated when they were made (names, regexes).
    pub fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        if self.matchers.iter().all(matches_empty) {
            let all = self
                .matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "at least one matcher must not match the empty string: {{{all}}} would silence alerts without these labels"
            ));
        }
        if self.ends_at < self.starts_at {
            return Err(format!(
                "the silence ends ({}) before it starts ({})",
                self.ends_at, self.starts_at
            ));
        }
        Ok(())
    }
}

/// Alertmanager's "matches the empty string" for silence validation.
fn matches_empty(m: &Matcher) -> bool {
    match m.op {
        MatchOp::Equal | MatchOp::Regex => m.matches_value(""),
        MatchOp::NotEqual | MatchOp::NotRegex => false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceKind {
    Scheduled,
    Emergency,
    /// "Maintenance mode" switched on now, until switched off.
    Mode,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaintenanceWindow {
    pub id: String,
    pub title: String,
    pub kind: MaintenanceKind,
    pub services: Vec<String>,
    pub starts_at: Timestamp,
    /// `None`: open-ended (maintenance mode until switched off).
    pub ends_at: Option<Timestamp>,
    pub created_by: String,
    pub created_at: Timestamp,
    /// The window as planned when it was created. Ending it moves
    /// `starts_at`/`ends_at` to what actually happened; these stay, so actual
    /// and planned duration can be compared (s003.maintenance-scheduled).
    #[serde(default)]
    pub planned_starts_at: Option<Timestamp>,
    #[serde(default)]
    pub planned_ends_at: Option<Timestamp>,
    /// An emergency window owes a review by then (s003.maintenance-
    /// emergency); `None`: none owed.
    #[serde(default)]
    pub review_due_at: Option<Timestamp>,
    #[serde(default)]
    pub review: Option<MaintenanceReview>,
}

/// What was learned from an emergency window, recorded by a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaintenanceReview {
    pub at: Timestamp,
    pub by: String,
    pub summary: String,
}

/// Where a window's review stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// No review is owed.
    NotRequired,
    Due,
    Overdue,
    Done,
}

impl MaintenanceWindow {
    /// Whether it ended within `watch` before `now` (not still running): the
    /// watch after maintenance, when what broke may be the maintenance.
    pub fn ended_within(&self, watch: crate::Duration, now: Timestamp) -> bool {
        self.ends_at
            .is_some_and(|end| end <= now && now.duration_since(end) < watch.as_signed())
    }

    /// When the review of an emergency window is due: `review_within` after
    /// its planned end (or its start, if open-ended). Other kinds owe none.
    pub fn review_due(
        kind: MaintenanceKind,
        starts_at: Timestamp,
        ends_at: Option<Timestamp>,
        review_within: crate::Duration,
    ) -> Option<Timestamp> {
        (kind == MaintenanceKind::Emergency && review_within.as_secs() > 0)
            .then(|| ends_at.unwrap_or(starts_at) + review_within.as_signed())
    }

    pub fn review_state(&self, now: Timestamp) -> ReviewState {
        match (self.review_due_at, &self.review) {
            (None, _) => ReviewState::NotRequired,
            (Some(_), Some(_)) => ReviewState::Done,
            (Some(due), None) if now >= due => ReviewState::Overdue,
            (Some(_), None) => ReviewState::Due,
        }
    }

    /// `starts_at <= now < ends_at`, or open-ended and started.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|end| now < end)
    }

    /// Whether an alert routed to `service` falls under this window. An alert
    /// with no routed service is covered by no window: maintenance is
    /// declared for services, and an unattributed alert may be anything.
    pub fn covers(&self, service: Option<&str>) -> bool {
        service.is_some_and(|s| self.services.iter().any(|w| w == s))
    }

    /// Whether this window mutes an alert routed to `service` at `now`.
    pub fn suppresses(&self, service: Option<&str>, now: Timestamp) -> bool {
        self.is_active(now) && self.covers(service)
    }

    /// A title, at least one service, and an end after the start when set.
    pub fn validate(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("a maintenance window needs a title".into());
        }
        if self.services.is_empty() {
            return Err("a maintenance window needs at least one service".into());
        }
        if let Some(i) = self.services.iter().position(|s| s.trim().is_empty()) {
            return Err(format!("services[{i}] is empty"));
        }
        if let Some(end) = self.ends_at
            && end <= self.starts_at
        {
            return Err(format!(
                "the window ends ({end}) before or when it starts ({})",
                self.starts_at
            ));
        }
        Ok(())
    }
}
