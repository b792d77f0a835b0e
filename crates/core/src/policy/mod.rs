//! The policy is the runbook as code: one TOML file describing severities,
//! roles, checklists, templates, services, people and obligations.
//!
//! [`Policy::parse`] turns text into a validated policy or a list of every
//! problem found, each with line:column and key path. Lookups used by the
//! incident core (severity by name, role by key or short name, ...) live here.
//!
//! - `model`: the types, one per section of the file.
//! - `load`: syntax → types → unknown keys → meaning, every problem located
//!   (with `source` for spans and paths, `schema` for the keys allowed where).
//! - `validate`: the semantic rules.
//! - `calendar`: business hours and business days, and the deadlines that use them.
//!
//! The language is documented for its users in `docs/policy.md`.

mod calendar;
mod load;
mod model;
mod reach;
mod schema;
mod source;
mod validate;

pub use calendar::WEEKDAY_NAMES;
pub use load::{PolicyError, PolicyErrors, ROSTER_SECTIONS, ReadRoster, SYNTAX_PATH};
pub use model::*;
pub use reach::unreachable_warnings;
pub use validate::{
    CHANNELS, POLICY_VERSION, TARGET_KINDS, TEMPLATE_INCIDENT_FIELDS, TEMPLATE_ORG_FIELDS,
    TEMPLATE_ROOTS,
};

/// The demo policy embedded in the binary; `firebell serve` uses it when no
/// `--policy` is given.
pub const DEMO_POLICY: &str = include_str!("../../../../examples/demo.toml");

impl Policy {
    /// The embedded demo policy, parsed. Panics only if the shipped file is broken,
    /// which a test guards.
    pub fn demo() -> Policy {
        Policy::parse(DEMO_POLICY, "demo.toml").expect("embedded demo policy is valid")
    }

    /// Severity by name, case-insensitively (`p1` finds `P1`).
    pub fn severity(&self, name: &str) -> Option<&Severity> {
        self.severities
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Position on the ladder: 0 is the most severe.
    pub fn severity_rank(&self, name: &str) -> Option<usize> {
        self.severities
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn severity_names(&self) -> Vec<&str> {
        self.severities.iter().map(|s| s.name.as_str()).collect()
    }

    /// Role by key or short name, case-insensitively (`ic` finds `incident_commander`).
    pub fn role(&self, key_or_short: &str) -> Option<&Role> {
        self.roles.iter().find(|r| {
            r.key.eq_ignore_ascii_case(key_or_short)
                || r.short
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(key_or_short))
        })
    }

    /// Checklists that open on an incident of this severity and these tags.
    pub fn checklists_for<'a>(
        &'a self,
        severity: &'a str,
        tags: &'a [String],
    ) -> impl Iterator<Item = &'a Checklist> + 'a {
        self.checklists.iter().filter(move |c| {
            let sev = c
                .severities
                .iter()
                .any(|s| s.eq_ignore_ascii_case(severity));
            let tag = c.tags.iter().any(|t| tags.contains(t));
            (sev && (c.tags.is_empty() || tag)) || (c.severities.is_empty() && tag)
        })
    }

    /// Obligations whose clock an incident with these tags starts.
    pub fn obligations_for<'a>(
        &'a self,
        tags: &'a [String],
    ) -> impl Iterator<Item = &'a Obligation> + 'a {
        self.obligations
            .iter()
            .filter(move |o| o.tags.iter().any(|t| tags.contains(t)))
    }

    /// An escalation policy by name (case-insensitive).
    pub fn escalation_policy(&self, name: &str) -> Option<&EscalationPolicy> {
        self.escalation_policies
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// A schedule by name (case-insensitive).
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn default_locale(&self) -> &str {
        self.organization.default_locale.as_deref().unwrap_or("en")
    }

    /// What an open incident of `severity` does to its components on the
    /// status page: the policy's `[status_page.impact]`, or the ladder's
    /// default (top: major outage, second: partial, rest: degraded).
    /// Unknown severities are not shown.
    pub fn status_impact(&self, severity: &str) -> Impact {
        if let Some((_, impact)) = self
            .status_page
            .impact
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(severity))
        {
            return *impact;
        }
        match self.severity_rank(severity) {
            Some(0) => Impact::MajorOutage,
            Some(1) => Impact::PartialOutage,
            Some(_) => Impact::DegradedPerformance,
            None => Impact::None,
        }
    }

    /// The status page's locales, the default first.
    pub fn status_locales(&self) -> Vec<&str> {
        if self.status_page.locales.is_empty() {
            vec![self.default_locale()]
        } else {
            self.status_page
                .locales
                .iter()
                .map(String::as_str)
                .collect()
        }
    }
}
