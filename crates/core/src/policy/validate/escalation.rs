//! Validation of escalation policies, escalation rules, reminders and
//! notifiers: every name they refer to must exist, and every notifier must be
//! able to deliver.

use super::{KeyPath, Validator, check_http_url, is_email, unknown};
use crate::policy::ContactKind;
use crate::policy::{EscalationPolicy, EscalationRule, Notifier, Policy};

/// The target kinds escalation steps, rules and reminders accept.
pub const TARGET_KINDS: [&str; 4] = ["person", "schedule", "team", "role"];

/// Most steps in one policy and most rounds: a longer ladder is a typo.
const MAX_STEPS: usize = 20;
const MAX_REPEAT: u32 = 20;

impl Validator {
    pub(super) fn escalation(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("escalation_policies");
        self.unique(
            policy
                .escalation_policies
                .iter()
                .enumerate()
                .map(|(i, p)| (path.index(i).key("name"), p.name.as_str())),
            "escalation policy name",
        );
        for (i, ep) in policy.escalation_policies.iter().enumerate() {
            self.escalation_policy(policy, &path.index(i), ep);
        }
        let path = KeyPath::root().key("escalation_rules");
        self.unique(
            policy
                .escalation_rules
                .iter()
                .enumerate()
                .map(|(i, r)| (path.index(i).key("name"), r.name.as_str())),
            "escalation rule name",
        );
        for (i, rule) in policy.escalation_rules.iter().enumerate() {
            self.escalation_rule(policy, &path.index(i), rule);
        }
        let reminders = KeyPath::root().key("reminders");
        // The defaults name roles a policy may not define; they then reach
        // nobody and fall through to `paged`. Only what a policy writes is checked.
        let defaults = crate::policy::Reminders::default();
        for (field, targets) in [
            ("update", &policy.reminders.update),
            ("commander", &policy.reminders.commander),
            ("obligation", &policy.reminders.obligation),
        ] {
            let default = match field {
                "update" => &defaults.update,
                "commander" => &defaults.commander,
                _ => &defaults.obligation,
            };
            if targets == default {
                continue;
            }
            for (i, t) in targets.iter().enumerate() {
                self.target(policy, reminders.key(field).index(i), t, true);
            }
        }
        // The postmortem's owner chain and its review's participants.
        let pm = KeyPath::root().key("postmortems");
        if policy.postmortems.owner != crate::policy::Postmortems::default().owner {
            for (i, t) in policy.postmortems.owner.iter().enumerate() {
                self.target(policy, pm.key("owner").index(i), t, true);
            }
        }
        if let Some(review) = &policy.postmortems.review {
            let at = pm.key("review");
            if review.within.is_some() && review.within_business_days.is_some() {
                self.err(
                    at.key("within_business_days"),
                    "give either `within` or `within_business_days`, not both",
                );
            }
            if review.participants != crate::policy::ReviewRule::default().participants {
                for (i, t) in review.participants.iter().enumerate() {
                    self.target(policy, at.key("participants").index(i), t, true);
                }
            }
        }
        if let Some(template) = &policy.postmortems.template {
            let mut env = minijinja::Environment::new();
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            if let Err(e) = env.template_from_str(template) {
                self.err(
                    pm.key("template"),
                    format!("the postmortem template does not parse: {e:#}"),
                );
            }
        }
        if policy.action_items.remind_every.as_secs() < 60 {
            self.err(
                KeyPath::root().key("action_items").key("remind_every"),
                "`remind_every` must be at least 1m",
            );
        }
        if let Some(t) = &policy.action_items.tracker {
            let at = KeyPath::root().key("action_items").key("tracker");
            if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                self.err(
                    at.key("url"),
                    format!("the tracker's url must be http(s)://…, not {:?}", t.url),
                );
            }
        }
        // Recurring duties: a key, a schedule that is one, owners that are
        // people (there is no incident for a role or `paged` to mean).
        let duties = KeyPath::root().key("duties");
        let mut keys = std::collections::BTreeSet::new();
        for (i, duty) in policy.duties.iter().enumerate() {
            let at = duties.index(i);
            let ok_key = !duty.key.is_empty()
                && duty.key.len() <= 64
                && duty
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok_key {
                self.err(
                    at.key("key"),
                    format!(
                        "a duty's key {:?} must be 1-64 lowercase letters, digits and `-`",
                        duty.key
                    ),
                );
            } else if !keys.insert(duty.key.as_str()) {
                self.err(
                    at.key("key"),
                    format!("duty key {:?} is used twice", duty.key),
                );
            }
            if duty.title.trim().is_empty() {
                self.err(at.key("title"), "a duty needs a `title`");
            }
            if let Err(e) = crate::duties::DutySchedule::of(duty, &policy.calendar) {
                self.err(at.key("every"), e.0);
            }
            for (k, sev) in duty.after_incidents.iter().enumerate() {
                self.severity_ref(policy, at.key("after_incidents").index(k), Some(sev));
            }
            if duty.owner.is_empty() {
                self.err(
                    at.key("owner"),
                    "a duty needs an `owner`, e.g. [\"person:alice\"]",
                );
            }
            for (k, t) in duty.owner.iter().enumerate() {
                if t == "paged" || t.starts_with("role:") {
                    self.err(
                        at.key("owner").index(k),
                        format!("`{t}` names people of an incident; a duty's owner is a person:, team: or schedule:"),
                    );
                } else {
                    self.target(policy, at.key("owner").index(k), t, false);
                }
            }
        }
        // Every place that names an escalation policy.
        let org = KeyPath::root().key("organization");
        self.escalation_ref(
            policy,
            org.key("escalation_policy"),
            policy.organization.escalation_policy.as_deref(),
        );
        for (i, admin) in policy.organization.admins.iter().enumerate() {
            self.person_ref(policy, org.key("admins").index(i), admin);
        }
        for (i, sev) in policy.severities.iter().enumerate() {
            self.escalation_ref(
                policy,
                KeyPath::root()
                    .key("severities")
                    .index(i)
                    .key("escalation_policy"),
                sev.escalation_policy.as_deref(),
            );
        }
        for (key, service) in &policy.services {
            self.escalation_ref(
                policy,
                KeyPath::root()
                    .key("services")
                    .key(key)
                    .key("escalation_policy"),
                service.escalation_policy.as_deref(),
            );
        }
        for (key, team) in &policy.teams {
            if let Some(schedule) = &team.schedule
                && policy.schedule(schedule).is_none()
            {
                self.err(
                    KeyPath::root().key("teams").key(key).key("schedule"),
                    unknown(
                        "schedule",
                        "schedules",
                        schedule,
                        policy.schedules.iter().map(|s| s.name.as_str()),
                    ),
                );
            }
        }
        let path = KeyPath::root().key("notifiers");
        for (kind, notifier) in &policy.notifiers {
            self.notifier(&path.key(kind), kind, notifier);
        }
    }

    pub(super) fn escalation_ref(&mut self, policy: &Policy, path: KeyPath, name: Option<&str>) {
        if let Some(name) = name
            && policy.escalation_policy(name).is_none()
        {
            self.err(
                path,
                unknown(
                    "escalation policy",
                    "escalation_policies",
                    name,
                    policy.escalation_policies.iter().map(|p| p.name.as_str()),
                ),
            );
        }
    }

    fn person_ref(&mut self, policy: &Policy, path: KeyPath, person: &str) {
        if !policy.people.contains_key(person) {
            self.err(
                path,
                unknown(
                    "person",
                    "people",
                    person,
                    policy.people.keys().map(String::as_str),
                ),
            );
        }
    }

    fn escalation_policy(&mut self, policy: &Policy, at: &KeyPath, ep: &EscalationPolicy) {
        self.required(at.key("name"), &ep.name, "an escalation policy's name");
        if ep.steps.is_empty() {
            self.err(
                at.key("steps"),
                "an escalation policy needs at least one step (add a [[escalation_policies.steps]] table)",
            );
        } else if ep.steps.len() > MAX_STEPS {
            self.err(
                at.key("steps"),
                format!("{} steps; at most {MAX_STEPS} are allowed", ep.steps.len()),
            );
        }
        if ep.repeat > MAX_REPEAT {
            self.err(
                at.key("repeat"),
                format!("repeat {}; at most {MAX_REPEAT}", ep.repeat),
            );
        }
        if ep.repeat_after.is_some_and(|d| d.as_secs() == 0) {
            self.err(
                at.key("repeat_after"),
                "must be longer than 0m (a round that repeats at once pages in a loop)",
            );
        }
        for (j, step) in ep.steps.iter().enumerate() {
            let sp = at.key("steps").index(j);
            if step.targets.is_empty() {
                self.err(
                    sp.key("targets"),
                    "a step needs at least one target, e.g. \"schedule:primary\"",
                );
            }
            for (k, t) in step.targets.iter().enumerate() {
                self.target(policy, sp.key("targets").index(k), t, false);
            }
        }
    }

    fn escalation_rule(&mut self, policy: &Policy, at: &KeyPath, rule: &EscalationRule) {
        self.required(at.key("name"), &rule.name, "an escalation rule's name");
        if rule.notify.is_empty() && !rule.escalate && rule.escalate_to.is_none() {
            self.err(
                at.key("notify"),
                "a rule must notify someone, set `escalate = true` or `escalate_to = \"<step>\"`",
            );
        }
        for (k, t) in rule.notify.iter().enumerate() {
            self.target(policy, at.key("notify").index(k), t, true);
        }
        let when = at.key("when");
        for (i, sev) in rule.when.severities.iter().enumerate() {
            self.severity_ref(policy, when.key("severities").index(i), Some(sev));
        }
        for (i, service) in rule.when.services.iter().enumerate() {
            self.service_ref(policy, when.key("services").index(i), Some(service));
        }
        if let Some(target) = &rule.escalate_to {
            let known = policy.escalation_policies.iter().any(|ep| {
                ep.steps.iter().any(|s| {
                    s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(target))
                })
            });
            if !known {
                self.err(
                    at.key("escalate_to"),
                    format!("no escalation policy has a step named `{target}`"),
                );
            }
        }
        let timed = [
            rule.when.unresolved_for,
            rule.when.unacknowledged_for,
            rule.when.no_commander_for,
            rule.when.update_overdue_for,
            rule.when.still_investigating_for,
        ]
        .iter()
        .filter(|d| d.is_some())
        .count();
        if timed > 1 {
            self.err(
                when,
                "give at most one of unresolved_for, unacknowledged_for, no_commander_for, update_overdue_for, still_investigating_for (write two rules for two clocks)",
            );
        }
    }

    /// `person:<key>` and friends; `paged` where reminders allow it.
    pub(super) fn target(&mut self, policy: &Policy, path: KeyPath, target: &str, paged_ok: bool) {
        if paged_ok && target == "paged" {
            return;
        }
        let Some((kind, name)) = target.split_once(':') else {
            self.err(
                path,
                format!(
                    "`{target}` is not a target; write kind:name with kind one of {}{}",
                    TARGET_KINDS.join(", "),
                    if paged_ok { ", or `paged`" } else { "" }
                ),
            );
            return;
        };
        match kind {
            "person" => self.person_ref(policy, path, name),
            "schedule" if policy.schedule(name).is_none() => self.err(
                path,
                unknown(
                    "schedule",
                    "schedules",
                    name,
                    policy.schedules.iter().map(|s| s.name.as_str()),
                ),
            ),
            "team" if !policy.teams.contains_key(name) => self.err(
                path,
                unknown(
                    "team",
                    "teams",
                    name,
                    policy.teams.keys().map(String::as_str),
                ),
            ),
            "role" if policy.role(name).is_none() => self.err(
                path,
                unknown(
                    "role",
                    "roles",
                    name,
                    policy.roles.iter().map(|r| r.key.as_str()),
                ),
            ),
            "schedule" | "team" | "role" => {}
            other => self.err(
                path,
                format!(
                    "unknown target kind `{other}`; expected one of {}",
                    TARGET_KINDS.join(", ")
                ),
            ),
        }
    }

    fn notifier(&mut self, at: &KeyPath, kind: &str, n: &Notifier) {
        if kind.parse::<ContactKind>().is_err() {
            self.err_at_key(
                at.clone(),
                format!(
                    "notifiers are keyed by contact kind; `{kind}` is not one of {}",
                    ContactKind::names()
                ),
            );
            return;
        }
        if let Some(url) = &n.url
            && let Err(e) = check_http_url(url)
        {
            self.err(at.key("url"), e);
        }
        if n.max_attempts == Some(0) {
            self.err(at.key("max_attempts"), "must be at least 1");
        }
        if n.timeout.is_some_and(|t| t.as_secs() == 0) {
            self.err(at.key("timeout"), "must be longer than 0s");
        }
        if n.log {
            // Printed, not sent: no relay or gateway to check.
            return;
        }
        match kind {
            "email" => match &n.smtp {
                None => self.err(
                    at.key("smtp"),
                    "the email notifier needs smtp = { host = \"...\", from = \"...\" }",
                ),
                Some(smtp) => {
                    let sp = at.key("smtp");
                    self.required(sp.key("host"), &smtp.host, "smtp.host");
                    if self.required(sp.key("from"), &smtp.from, "smtp.from") {
                        let addr = smtp
                            .from
                            .rsplit_once('<')
                            .map(|(_, a)| a.trim_end_matches('>'))
                            .unwrap_or(&smtp.from);
                        if !is_email(addr.trim()) {
                            self.err(
                                sp.key("from"),
                                format!(
                                    "`{}` is not an address like \"Firebell <firebell@example.com>\"",
                                    smtp.from
                                ),
                            );
                        }
                    }
                    if let Some(tls) = &smtp.tls
                        && !matches!(tls.as_str(), "starttls" | "tls" | "none")
                    {
                        self.err(
                            sp.key("tls"),
                            format!("unknown tls mode `{tls}`; expected starttls, tls or none"),
                        );
                    }
                }
            },
            "slack" | "sms" | "phone" if n.url.is_none() => self.err(
                at.key("url"),
                format!("the {kind} notifier needs a url to POST to"),
            ),
            _ => {}
        }
    }
}
