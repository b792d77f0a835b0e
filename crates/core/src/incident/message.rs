//! Rendering the policy's message templates (minijinja) against an incident.
//!
//! The rendered text is stored in the event, so the timeline shows what was
//! actually said even after the template changes. Undefined variables are
//! errors (strict mode), so a typo in a template fails loudly instead of
//! sending a customer a blank.

use std::collections::BTreeMap;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::command::{COMMANDER_ROLE, CommandError, display_name};
use super::event::Direction;
use super::state::Incident;
use crate::policy::Audience;
use crate::{Duration, Policy, Timestamp};

/// A template rendered for one locale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedMessage {
    pub template: String,
    pub locale: String,
    pub direction: Direction,
    /// `internal` or `public`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub audience: Audience,
    pub text: String,
}

#[derive(Serialize)]
struct IncidentView<'a> {
    id: &'a str,
    /// The incident's one link (its room in the console); empty when the
    /// server's address is not known (offline rendering).
    url: String,
    title: &'a str,
    severity: &'a str,
    severity_label: &'a str,
    severity_description: &'a str,
    status: &'a str,
    summary: &'a str,
    services: &'a [String],
    tags: &'a [String],
    declared_at: String,
    declared_time_utc: String,
    detected_at: String,
    duration: String,
    commander: String,
    roles: BTreeMap<&'a str, Vec<String>>,
    update_every: String,
    ack_within: String,
    respond_within: String,
}

#[derive(Serialize)]
struct OrgView<'a> {
    name: &'a str,
    incident_channel: &'a str,
    status_page_url: &'a str,
}

/// Render template `name` in `locale` (default: the policy's) for `incident`,
/// with no link to it (see [`render_template_linked`]).
pub fn render_template(
    policy: &Policy,
    incident: &Incident,
    name: &str,
    locale: Option<&str>,
    vars: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<RenderedMessage, CommandError> {
    render_template_linked(policy, incident, name, locale, vars, now, "")
}

/// [`render_template`] where `incident.url` is the incident's link under
/// `link_base` (s003.incident-doc-link).
pub fn render_template_linked(
    policy: &Policy,
    incident: &Incident,
    name: &str,
    locale: Option<&str>,
    vars: &BTreeMap<String, String>,
    now: Timestamp,
    link_base: &str,
) -> Result<RenderedMessage, CommandError> {
    let template = policy.templates.get(name).ok_or_else(|| {
        let known: Vec<_> = policy.templates.keys().map(String::as_str).collect();
        CommandError::invalid(
            "unknown_template",
            format!(
                "unknown template {name:?}; the policy defines {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    })?;
    let locale = locale
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(policy.default_locale());
    let body = template.body.get(locale).ok_or_else(|| {
        let known: Vec<_> = template.body.keys().map(String::as_str).collect();
        CommandError::invalid(
            "unknown_locale",
            format!(
                "template {name:?} has no {locale:?} version; it has {}",
                known.join(", ")
            ),
        )
    })?;

    let mut view = incident_view(policy, incident, now);
    if !link_base.is_empty() {
        view.url = format!(
            "{}/incidents/{}",
            link_base.trim_end_matches('/'),
            incident.id
        );
    }
    let org = org_view(policy);

    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let ctx = minijinja::context! {
        incident => Value::from(Serde(&view)),
        org => Value::from(Serde(&org)),
        vars => Value::from(Serde(vars)),
        now => now.to_string(),
    };
    let text = env.render_str(body, ctx).map_err(|e| {
        CommandError::invalid(
            "template_error",
            format!(
                "template {name:?} ({locale}) failed to render: {}",
                describe(&e)
            ),
        )
    })?;
    Ok(RenderedMessage {
        template: name.to_string(),
        locale: locale.to_string(),
        direction: Direction::of_locale(locale),
        audience: template.audience,
        text: text.trim_end().to_string(),
    })
}

/// What a template sees as `incident`. The loader's list of allowed variables
/// (`TEMPLATE_INCIDENT_FIELDS`) must match these fields; a test checks it.
fn incident_view<'a>(
    policy: &'a Policy,
    incident: &'a Incident,
    now: Timestamp,
) -> IncidentView<'a> {
    let severity = policy.severity(&incident.severity);
    let fmt_opt = |d: Option<Duration>| d.map(|d| d.to_string()).unwrap_or_default();
    let elapsed = Duration::from_secs(now.duration_since(incident.declared_at).as_secs().max(0));
    IncidentView {
        id: &incident.id,
        url: String::new(),
        title: &incident.title,
        severity: &incident.severity,
        severity_label: severity.and_then(|s| s.label.as_deref()).unwrap_or(""),
        severity_description: severity.map(|s| s.description.as_str()).unwrap_or(""),
        status: incident.status.as_str(),
        summary: &incident.summary,
        services: &incident.services,
        tags: &incident.tags,
        declared_at: incident.declared_at.to_string(),
        declared_time_utc: incident.declared_at.strftime("%H:%M UTC").to_string(),
        detected_at: incident.detected_at.to_string(),
        duration: elapsed.to_string(),
        commander: incident
            .holders(COMMANDER_ROLE)
            .first()
            .map(|p| display_name(policy, p))
            .unwrap_or_else(|| "unassigned".to_string()),
        roles: incident
            .roles
            .iter()
            .map(|(role, people)| {
                (
                    role.as_str(),
                    people.iter().map(|p| display_name(policy, p)).collect(),
                )
            })
            .collect(),
        update_every: fmt_opt(severity.and_then(|s| s.update_every)),
        ack_within: fmt_opt(severity.and_then(|s| s.ack_within)),
        respond_within: fmt_opt(severity.and_then(|s| s.respond_within)),
    }
}

fn org_view(policy: &Policy) -> OrgView<'_> {
    OrgView {
        name: &policy.organization.name,
        incident_channel: policy
            .organization
            .incident_channel
            .as_deref()
            .unwrap_or(""),
        status_page_url: policy.organization.status_page_url.as_deref().unwrap_or(""),
    }
}

/// minijinja's error plus its detail (e.g. which variable was undefined).
fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{} ({detail})", e.kind()),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Context, Declare, declare};
    use crate::policy::{TEMPLATE_INCIDENT_FIELDS, TEMPLATE_ORG_FIELDS};

    fn keys(v: serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    /// The loader refuses template variables the renderer does not provide;
    /// both lists must stay the same.
    #[test]
    fn loader_and_renderer_agree_on_template_variables() {
        let policy = Policy::demo();
        let now: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let d = Declare {
            title: "t".into(),
            severity: "P1".into(),
            ..Default::default()
        };
        let (incident, _) = declare(
            &d,
            &Context {
                policy: &policy,
                now,
                actor: "a",
                link_base: "",
            },
        )
        .unwrap();
        let mut expected: Vec<String> = TEMPLATE_INCIDENT_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect();
        expected.sort();
        assert_eq!(
            keys(serde_json::to_value(incident_view(&policy, &incident, now)).unwrap()),
            expected
        );
        let mut expected: Vec<String> = TEMPLATE_ORG_FIELDS.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(
            keys(serde_json::to_value(org_view(&policy)).unwrap()),
            expected
        );
    }
}
