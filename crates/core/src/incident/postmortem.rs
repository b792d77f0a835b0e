//! The learning loop on an incident: its postmortem (owner, due date,
//! document, review meeting) and its action items.
//!
//! Both live in the incident's own event log, so every edit, state change and
//! reminder is on the timeline, and the postmortem's deadline and reminders
//! come from the same agenda as the incident's other duties.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use super::command::{COMMANDER_ROLE, CommandError, display_name};
use super::event::{Event, EventKind, Visibility};
use super::state::Incident;
use crate::{Policy, Timestamp};

/// Where a postmortem stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PostmortemState {
    /// Being written.
    Draft,
    /// Written; waiting for the review.
    InReview,
    /// Reviewed and final: the deadline is met.
    Published,
}

impl PostmortemState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostmortemState::Draft => "draft",
            PostmortemState::InReview => "in_review",
            PostmortemState::Published => "published",
        }
    }
}

impl std::str::FromStr for PostmortemState {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, CommandError> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "draft" => Ok(PostmortemState::Draft),
            "in_review" | "review" => Ok(PostmortemState::InReview),
            "published" | "publish" => Ok(PostmortemState::Published),
            other => Err(CommandError::invalid(
                "invalid_state",
                format!("unknown postmortem state {other:?}; use draft, in_review or published"),
            )),
        }
    }
}

/// The review meeting of a postmortem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    pub at: Timestamp,
    /// Where: "weekly team sync", a meeting link.
    #[serde(default)]
    pub place: Option<String>,
    /// People invited (person keys); the action items' owners are invited
    /// as well: by the invitation if their item was there when it went
    /// out, else by the reminders.
    pub participants: Vec<String>,
}

/// An incident's postmortem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Postmortem {
    pub state: PostmortemState,
    pub owner: Option<String>,
    /// From the severity's rule; none for a postmortem nobody required.
    pub due_at: Option<Timestamp>,
    pub opened_at: Timestamp,
    /// The document as last saved; until then it is drafted from the log
    /// on every read, so the draft always has the whole timeline.
    #[serde(default)]
    pub document: Option<String>,
    #[serde(default)]
    pub edited_at: Option<Timestamp>,
    #[serde(default)]
    pub edited_by: Option<String>,
    #[serde(default)]
    pub published_at: Option<Timestamp>,
    #[serde(default)]
    pub review: Option<Review>,
    /// When the review was last set or moved: its invitation goes out then.
    #[serde(default)]
    pub review_set_at: Option<Timestamp>,
}

/// How far an action item has got (seed 003's "Status" column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    NotStarted,
    InProgress,
    Complete,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::NotStarted => "not_started",
            ActionStatus::InProgress => "in_progress",
            ActionStatus::Complete => "complete",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ActionStatus::NotStarted => "Not Started",
            ActionStatus::InProgress => "In Progress",
            ActionStatus::Complete => "Complete",
        }
    }
}

impl std::str::FromStr for ActionStatus {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, CommandError> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "not_started" | "open" | "todo" => Ok(ActionStatus::NotStarted),
            "in_progress" | "started" => Ok(ActionStatus::InProgress),
            "complete" | "completed" | "done" | "closed" => Ok(ActionStatus::Complete),
            other => Err(CommandError::invalid(
                "invalid_status",
                format!(
                    "unknown action item status {other:?}; use not_started, in_progress or complete"
                ),
            )),
        }
    }
}

/// How urgent an action item is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Medium,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<Self, CommandError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" => Ok(Priority::High),
            "medium" => Ok(Priority::Medium),
            "low" => Ok(Priority::Low),
            other => Err(CommandError::invalid(
                "invalid_priority",
                format!("unknown priority {other:?}; use high, medium or low"),
            )),
        }
    }
}

/// The issue an action item was filed as, and its state there when last read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrackerIssue {
    pub number: u64,
    pub url: String,
    /// The tracker's own word: `open`, `closed`.
    pub state: String,
}

/// Follow-up work: seed 003's action item table, one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionItem {
    /// 1, 2, 3 … within the incident.
    pub id: u32,
    pub title: String,
    /// A person key (who is then reminded) or a name ("QA").
    pub owner: String,
    pub due_at: Option<Timestamp>,
    pub priority: Priority,
    pub status: ActionStatus,
    pub created_at: Timestamp,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub tracker: Option<TrackerIssue>,
}

impl ActionItem {
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.status != ActionStatus::Complete && self.due_at.is_some_and(|d| d < now)
    }
}

/// Changes to an action item; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionItemChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ActionStatus>,
}

impl ActionItemChange {
    pub fn is_empty(&self) -> bool {
        *self == ActionItemChange::default()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.title {
            parts.push(format!("title {t:?}"));
        }
        if let Some(o) = &self.owner {
            parts.push(format!("owner {o}"));
        }
        if let Some(d) = self.due_at {
            parts.push(format!("due {}", d.strftime("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(p) = self.priority {
            parts.push(format!("priority {}", p.as_str()));
        }
        if let Some(s) = self.status {
            parts.push(s.as_str().replace('_', " "));
        }
        parts.join(", ")
    }
}

/// Marks a section the draft could not fill. Moving the document on to
/// review is refused while any remains.
pub const TO_BE_WRITTEN: &str = "_To be written._";

/// The sections a postmortem has when its rule lists none: seed 003's
/// Post-Incident Report template.
pub const DEFAULT_SECTIONS: [&str; 10] = [
    "Summary",
    "Impact",
    "Timeline (UTC)",
    "Root Cause",
    "Contributing Factors",
    "What Went Well",
    "What Didn't Go Well",
    "Action Items",
    "Lessons Learned",
    "Related Documentation",
];

/// The built-in document layout, after seed 003's template.
const DEFAULT_TEMPLATE: &str = "\
# Post-Incident Review: {{ incident.title }}

**Incident ID**: {{ incident.id }}
**Date**: {{ date }}
**Severity**: {{ incident.severity }}
**Duration**: {{ duration }} ({{ started }} - {{ ended }})
**Incident Commander**: {{ incident.commander }}
**Postmortem owner**: {{ postmortem.owner }}
**Due**: {{ postmortem.due }}
{% for section in sections %}
## {{ section.title }}

{{ section.text }}
{% endfor %}";

/// Who a list of targets names first, without a schedule's overrides: the
/// postmortem's owner.
fn first_named(
    targets: &[String],
    incident: &Incident,
    policy: &Policy,
    now: Timestamp,
) -> Option<String> {
    targets
        .iter()
        .flat_map(|t| named(t, incident, policy, now))
        .next()
}

/// Everyone a list of targets names (review participants).
fn all_named(
    targets: &[String],
    incident: &Incident,
    policy: &Policy,
    now: Timestamp,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in targets.iter().flat_map(|t| named(t, incident, policy, now)) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn named(target: &str, incident: &Incident, policy: &Policy, now: Timestamp) -> Vec<String> {
    if target == "paged" {
        return incident.paged.clone();
    }
    match target.split_once(':') {
        Some(("person", p)) => vec![p.to_string()],
        Some(("role", r)) => {
            let role = policy.role(r).map_or(r, |x| x.key.as_str());
            incident.holders(role).to_vec()
        }
        Some(("team", t)) => policy
            .teams
            .get(t)
            .map(|team| match &team.schedule {
                Some(s) => crate::schedule::on_call(policy, s, now, &[])
                    .map(|oc| vec![oc.person])
                    .unwrap_or_default(),
                None => team.members.clone(),
            })
            .unwrap_or_default(),
        Some(("schedule", s)) => crate::schedule::on_call(policy, s, now, &[])
            .map(|oc| vec![oc.person])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The events that open the postmortem a resolution owes, if the severity
/// requires one and the incident has none yet (a re-resolution keeps the
/// first). `actor` resolved it; they own it when no target names anyone.
pub(super) fn opened_on_resolution(
    incident: &Incident,
    policy: &Policy,
    now: Timestamp,
    actor: &str,
) -> Option<EventKind> {
    let rule = policy.severity(&incident.severity)?.postmortem.as_ref()?;
    if !rule.required || incident.postmortem.is_some() {
        return None;
    }
    let pm = &policy.postmortems;
    let owner = first_named(&pm.owner, incident, policy, now)
        .or_else(|| policy.people.contains_key(actor).then(|| actor.to_string()));
    let review = pm.review.as_ref().and_then(|r| {
        let at = match (r.within, r.within_business_days) {
            (Some(w), _) => now.checked_add(w.as_signed()).ok()?,
            (None, Some(n)) => policy.calendar.add_business_days(now, n),
            (None, None) => return None,
        };
        Some(Review {
            at,
            place: r.place.clone(),
            participants: all_named(&r.participants, incident, policy, now),
        })
    });
    Some(EventKind::PostmortemOpened {
        owner,
        due_at: policy.postmortem_due(&incident.severity, now),
        review,
    })
}

/// When the postmortem is due: as set when it opened (a later resolution
/// after a reopen keeps the first deadline).
pub fn due_at(incident: &Incident, _policy: &Policy) -> Option<Timestamp> {
    incident.postmortem.as_ref()?.due_at
}

/// Everyone invited to the review: its participants and the action items'
/// owners who are people in the policy.
pub fn review_invitees(incident: &Incident, policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let review = incident.postmortem.as_ref().and_then(|p| p.review.as_ref());
    let from_review = review.map(|r| r.participants.as_slice()).unwrap_or(&[]);
    let owners = incident
        .action_items
        .iter()
        .map(|a| &a.owner)
        .filter(|o| policy.people.contains_key(o.as_str()));
    for p in from_review.iter().chain(owners) {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// One row of the draft's timeline.
#[derive(Serialize)]
struct Row {
    time: String,
    event: String,
}

#[derive(Serialize)]
struct SectionView {
    title: String,
    text: String,
}

/// The postmortem's document: as saved, or else drafted from the log.
pub fn document(
    policy: &Policy,
    incident: &Incident,
    events: &[Event],
    now: Timestamp,
    link_base: &str,
) -> Result<String, CommandError> {
    if let Some(doc) = incident
        .postmortem
        .as_ref()
        .and_then(|p| p.document.clone())
    {
        return Ok(doc);
    }
    draft(policy, incident, events, now, link_base)
}

/// Draft the document from the template and the log: what the log knows is
/// filled in (header, timeline, status updates, action items, links), the
/// rest is marked [`TO_BE_WRITTEN`].
pub fn draft(
    policy: &Policy,
    incident: &Incident,
    events: &[Event],
    now: Timestamp,
    link_base: &str,
) -> Result<String, CommandError> {
    let end = incident.resolved_at.unwrap_or(now);
    let multi_day =
        incident.declared_at.strftime("%F").to_string() != end.strftime("%F").to_string();
    let time = |t: Timestamp| {
        if multi_day {
            t.strftime("%m-%d %H:%M").to_string()
        } else {
            t.strftime("%H:%M").to_string()
        }
    };
    let timeline: Vec<Row> = events
        .iter()
        .filter_map(|e| {
            timeline_line(&e.kind).map(|line| Row {
                time: time(e.at),
                event: line,
            })
        })
        .collect();
    let updates: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StatusUpdated {
                status,
                visibility,
                message,
                ..
            } => Some(format!(
                "- **{} UTC, {} ({})**: {}",
                time(e.at),
                status.as_str(),
                if *visibility == Visibility::Public {
                    "public"
                } else {
                    "internal"
                },
                message.replace('\n', " ")
            )),
            _ => None,
        })
        .collect();
    let duration =
        crate::Duration::from_secs(end.duration_since(incident.declared_at).as_secs().max(0));
    let link = if link_base.is_empty() {
        String::new()
    } else {
        format!(
            "{}/incidents/{}",
            link_base.trim_end_matches('/'),
            incident.id
        )
    };
    let rule = policy
        .severity(&incident.severity)
        .and_then(|s| s.postmortem.as_ref());
    let titles: Vec<String> = match rule.map(|r| r.sections.as_slice()) {
        Some(s) if !s.is_empty() => s.to_vec(),
        _ => DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect(),
    };
    let resolution = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::Resolved { summary } if !summary.is_empty() => Some(summary.clone()),
        _ => None,
    });
    let sections: Vec<SectionView> = titles
        .iter()
        .map(|title| {
            let t = title.to_ascii_lowercase();
            let text = if t.contains("timeline") {
                let mut s = String::from("| Time (UTC) | Event |\n|------|-------|\n");
                for r in &timeline {
                    s.push_str(&format!("| {} | {} |\n", r.time, r.event.replace('|', "\\|")));
                }
                s.trim_end().to_string()
            } else if t.contains("action item") || t.contains("follow-up") {
                action_table(policy, incident)
            } else if t.contains("summary") {
                let mut s = incident.summary.trim().to_string();
                if let Some(r) = &resolution {
                    s.push_str(&format!("\n\nResolution: {r}"));
                }
                if s.trim().is_empty() { TO_BE_WRITTEN.into() } else { format!("{}\n\n{TO_BE_WRITTEN}", s.trim()) }
            } else if t.contains("impact") {
                format!(
                    "- **Services**: {}\n- **Users Affected**: {TO_BE_WRITTEN}\n- **Revenue Impact**: {TO_BE_WRITTEN}\n- **Requests Failed**: {TO_BE_WRITTEN}\n- **Duration**: {duration}",
                    if incident.services.is_empty() { "none named".to_string() } else { incident.services.join(", ") },
                )
            } else if t.contains("update") || t.contains("actions taken") {
                if updates.is_empty() { TO_BE_WRITTEN.into() } else { updates.join("\n") }
            } else if t.contains("related") || t.contains("documentation") {
                if link.is_empty() {
                    format!("- Incident log: {}", incident.id)
                } else {
                    format!("- Incident log: {link}")
                }
            } else {
                TO_BE_WRITTEN.into()
            };
            SectionView {
                title: title.clone(),
                text,
            }
        })
        .collect();
    let pm = incident.postmortem.as_ref();
    let owner = pm
        .and_then(|p| p.owner.as_deref())
        .map(|o| display_name(policy, o))
        .unwrap_or_else(|| "unassigned".into());
    let due = pm
        .and_then(|p| p.due_at)
        .map(|d| d.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "no deadline".into());
    let commander = incident
        .holders(COMMANDER_ROLE)
        .first()
        .map(|p| display_name(policy, p))
        .unwrap_or_else(|| "unassigned".into());
    let template = policy
        .postmortems
        .template
        .as_deref()
        .unwrap_or(DEFAULT_TEMPLATE);
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let ctx = minijinja::context! {
        incident => minijinja::context! {
            id => &incident.id,
            title => &incident.title,
            severity => &incident.severity,
            summary => &incident.summary,
            services => &incident.services,
            tags => &incident.tags,
            commander => commander,
            url => link,
        },
        date => incident.declared_at.strftime("%F").to_string(),
        duration => duration.to_string(),
        started => incident.declared_at.strftime("%H:%M UTC").to_string(),
        ended => end.strftime("%H:%M UTC").to_string(),
        postmortem => minijinja::context! { owner => owner, due => due },
        sections => Value::from(Serde(&sections)),
        timeline => Value::from(Serde(&timeline)),
        updates => updates,
        action_items => Value::from(Serde(&incident.action_items)),
        org => minijinja::context! { name => &policy.organization.name },
        now => now.to_string(),
    };
    env.render_str(template, ctx)
        .map(|s| format!("{}\n", s.trim_end()))
        .map_err(|e| {
            CommandError::invalid(
                "template_error",
                format!("the postmortem template failed to render: {e:#}"),
            )
        })
}

fn action_table(policy: &Policy, incident: &Incident) -> String {
    if incident.action_items.is_empty() {
        return format!(
            "| ID | Action | Owner | Due Date | Status |\n|----|--------|-------|----------|--------|\n\n{TO_BE_WRITTEN} (add them with `firebell actions add {}`)",
            incident.id
        );
    }
    let mut s = String::from(
        "| ID | Action | Owner | Due Date | Status |\n|----|--------|-------|----------|--------|\n",
    );
    for a in &incident.action_items {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            a.id,
            a.title.replace('|', "\\|"),
            display_name(policy, &a.owner),
            a.due_at
                .map(|d| d.strftime("%F").to_string())
                .unwrap_or_else(|| "-".into()),
            a.status.label(),
        ));
    }
    s.trim_end().to_string()
}

/// The timeline line an event gets in the document; none for the plumbing
/// (notification outcomes, alert counts, the postmortem's own edits).
fn timeline_line(kind: &EventKind) -> Option<String> {
    let line = match kind {
        EventKind::Notification { .. }
        | EventKind::AlertsChanged { .. }
        | EventKind::PostmortemEdited { .. }
        | EventKind::ReviewScheduled { .. }
        | EventKind::ActionItemUpdated { .. }
        | EventKind::ActionItemFiled { .. } => return None,
        EventKind::Reminded { reminder, .. }
            if reminder.starts_with("postmortem")
                || reminder.starts_with("review")
                || reminder.starts_with("action") =>
        {
            return None;
        }
        EventKind::StatusUpdated {
            status, message, ..
        } => format!(
            "Status {}: {}",
            status.as_str(),
            message.lines().next().unwrap_or("")
        ),
        other => other.describe().lines().next().unwrap_or("").to_string(),
    };
    Some(line)
}

/// Why the document cannot go to review yet: the sections still marked
/// [`TO_BE_WRITTEN`] and the ones the policy asks for that are missing.
pub fn unfinished(document: &str, policy: &Policy, severity: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut heading = String::from("(top)");
    for line in document.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.trim().to_string();
        } else if line.contains(TO_BE_WRITTEN) && !out.contains(&heading) {
            out.push(heading.clone());
        }
    }
    let required = policy
        .severity(severity)
        .and_then(|s| s.postmortem.as_ref())
        .map(|r| r.sections.clone())
        .unwrap_or_default();
    for section in required {
        let present = document
            .lines()
            .filter_map(|l| {
                l.trim_start_matches('#')
                    .strip_prefix(' ')
                    .filter(|_| l.starts_with('#'))
            })
            .any(|h| h.trim().eq_ignore_ascii_case(section.trim()));
        if !present {
            out.push(format!("{section} (missing)"));
        }
    }
    out
}

/// The export's path: the severity's `path` pattern with `{date}` (the
/// declaration's UTC date), `{slug}` (from the title) and `{id}`.
pub fn export_path(policy: &Policy, incident: &Incident) -> String {
    let pattern = policy
        .severity(&incident.severity)
        .and_then(|s| s.postmortem.as_ref())
        .and_then(|r| r.path.clone())
        .unwrap_or_else(|| "postmortems/{date}-{slug}.md".into());
    pattern
        .replace("{date}", &incident.declared_at.strftime("%F").to_string())
        .replace("{slug}", &slug(&incident.title))
        .replace("{id}", &incident.id)
}

/// `"API 5xx > 1% (EU)"` → `api-5xx-1-eu`; at most 60 characters.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut s: String = out.trim_end_matches('-').chars().take(60).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.is_empty() { "incident".into() } else { s }
}

/// The id the next action item gets.
pub(super) fn next_action_id(incident: &Incident) -> u32 {
    incident
        .action_items
        .iter()
        .map(|a| a.id)
        .max()
        .unwrap_or(0)
        + 1
}
