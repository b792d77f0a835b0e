//! Semantic checks: what the types alone cannot say about a policy.
//!
//! Names are unique, references resolve (teams, people, services, severities),
//! zones exist, clock times and dates are real, templates compile and use
//! only variables the renderer provides, route matchers parse. Every problem
//! is collected — a policy check that stops at the first error makes people
//! run it ten times.

use std::collections::{BTreeMap, HashSet};

use jiff::tz::TimeZone;
use minijinja::{Environment, UndefinedBehavior};

use super::calendar::{WEEKDAY_NAMES, parse_date, parse_hhmm, parse_weekday};
use super::source::KeyPath;
use super::{
    Calendar, CheckKind, Contact, ContactKind, HealthCheck, IncidentIds, Policy, Rotation, Route,
    ScheduleLayer, Severity, Template,
};
use crate::alert::routing::GROUP_BY_ALL;
use crate::incident::COMMANDER_ROLE;

mod change;
mod escalation;
pub use escalation::TARGET_KINDS;

/// Channels a severity may list, in no particular order.
pub const CHANNELS: [&str; 8] = [
    "chat",
    "email",
    "phone",
    "sms",
    "status_page",
    "ticket",
    "slack",
    "webhook",
];

/// Variables a template may use at the top level (besides minijinja's globals).
pub const TEMPLATE_ROOTS: [&str; 4] = ["incident", "org", "vars", "now"];

/// Fields of `incident` in a template's context.
pub const TEMPLATE_INCIDENT_FIELDS: [&str; 19] = [
    "id",
    "url",
    "title",
    "severity",
    "severity_label",
    "severity_description",
    "status",
    "summary",
    "services",
    "tags",
    "declared_at",
    "declared_time_utc",
    "detected_at",
    "duration",
    "commander",
    "roles",
    "update_every",
    "ack_within",
    "respond_within",
];

/// Fields of `org` in a template's context.
pub const TEMPLATE_ORG_FIELDS: [&str; 3] = ["name", "incident_channel", "status_page_url"];

/// The only policy language version.
pub const POLICY_VERSION: u32 = 1;

/// Longest sensible "N business days"; a larger number is a typo.
const MAX_BUSINESS_DAYS: u32 = 366;

/// Methods an HTTP check may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Labels on heartbeat and check alerts that Firebell sets itself.
const RESERVED_MONITOR_LABELS: [&str; 5] =
    ["alertname", "heartbeat", "check", "service", "severity"];

/// Longest heartbeat or check name.
const MAX_MONITOR_NAME: usize = 100;

/// Most consecutive failures a check may wait for.
const MAX_FAILURE_THRESHOLD: u32 = 100;

/// One semantic problem, about the value (or, with `at_key`, the key) at `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: KeyPath,
    pub(crate) message: String,
    pub(crate) at_key: bool,
    /// For a multi-line string value: the 1-based line inside it the problem is on.
    pub(crate) line_in_value: Option<usize>,
}

/// Every semantic problem in `policy`.
pub(crate) fn validate(policy: &Policy) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
    };
    let root = KeyPath::root();
    if policy.version != POLICY_VERSION {
        v.err(
            root.key("version"),
            format!(
                "unsupported version {}; this Firebell reads version {POLICY_VERSION}",
                policy.version
            ),
        );
    }
    v.organization(policy);
    v.calendar(&policy.calendar, &root.key("calendar"));
    v.incident_ids(&policy.incident_ids, &root.key("incident_ids"));
    v.severities(&policy.severities);
    v.roles(policy);
    v.commander_role(policy);
    v.checklists(policy);
    v.templates(&policy.templates);
    v.services(policy);
    v.teams(policy);
    v.people(policy);
    v.obligations(policy);
    if let Some(root) = &policy.routing {
        v.routing(policy, root);
    }
    v.heartbeats(policy);
    v.checks(policy);
    v.integrations(policy);
    v.webhooks(policy);
    v.schedules(policy);
    v.escalation(policy);
    v.retention(policy);
    v.maintenance(policy);
    v.ack_links(policy);
    v.status_page(policy);
    v.change_safety(policy);
    v.problems
}

struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn err(&mut self, path: KeyPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            message: message.into(),
            at_key: false,
            line_in_value: None,
        });
    }

    fn err_at_key(&mut self, path: KeyPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            message: message.into(),
            at_key: true,
            line_in_value: None,
        });
    }

    /// `value` must be non-blank.
    fn required(&mut self, path: KeyPath, value: &str, what: &str) -> bool {
        let ok = !value.trim().is_empty();
        if !ok {
            self.err(path, format!("{what} must not be empty"));
        }
        ok
    }

    /// Reports every case-insensitive repeat of a name, pointing at the later one.
    fn unique<'a>(&mut self, names: impl IntoIterator<Item = (KeyPath, &'a str)>, what: &str) {
        let mut seen: BTreeMap<String, KeyPath> = BTreeMap::new();
        for (path, name) in names {
            if name.trim().is_empty() {
                continue;
            }
            match seen.get(&name.to_lowercase()) {
                Some(first) => self.err(
                    path,
                    format!("duplicate {what} `{name}` (first at {first})"),
                ),
                None => {
                    seen.insert(name.to_lowercase(), path);
                }
            }
        }
    }

    fn time_zone(&mut self, path: KeyPath, name: &str) {
        if let Err(e) = TimeZone::get(name) {
            self.err(path, format!("unknown time zone `{name}` ({e}); use an IANA name like \"Asia/Riyadh\" or \"UTC\""));
        }
    }

    fn locale(&mut self, path: KeyPath, tag: &str, at_key: bool) {
        if !is_locale_tag(tag) {
            let message =
                format!("`{tag}` is not a locale tag; write it like \"en\", \"ar\" or \"en-GB\"");
            if at_key {
                self.err_at_key(path, message)
            } else {
                self.err(path, message)
            }
        }
    }

    fn organization(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("organization");
        let org = &policy.organization;
        if let Some(locale) = &org.default_locale {
            self.locale(path.key("default_locale"), locale, false);
        }
        if let Some(url) = &org.status_page_url
            && !is_http_url(url)
        {
            self.err(
                path.key("status_page_url"),
                format!("`{url}` is not an http(s) URL"),
            );
        }
    }

    fn calendar(&mut self, cal: &Calendar, path: &KeyPath) {
        self.time_zone(path.key("time_zone"), &cal.time_zone);
        let days = path.key("working_days");
        if cal.working_days.is_empty() {
            self.err(days.clone(), "at least one working day is required");
        }
        let mut seen = HashSet::new();
        for (i, day) in cal.working_days.iter().enumerate() {
            match parse_weekday(day) {
                None => self.err(
                    days.index(i),
                    format!(
                        "unknown day `{day}`; expected one of: {}",
                        WEEKDAY_NAMES.join(", ")
                    ),
                ),
                Some(d) if !seen.insert(d) => {
                    self.err(days.index(i), format!("`{day}` is listed twice"))
                }
                Some(_) => {}
            }
        }
        let hours = path.key("working_hours");
        let start = parse_hhmm(&cal.working_hours.start);
        let end = parse_hhmm(&cal.working_hours.end);
        for (key, value, parsed) in [
            ("start", &cal.working_hours.start, start),
            ("end", &cal.working_hours.end, end),
        ] {
            if parsed.is_none() {
                self.err(
                    hours.key(key),
                    format!("`{value}` is not a time of day; write it as HH:MM, e.g. \"09:00\""),
                );
            }
        }
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            self.err(
                hours.key("end"),
                format!("working hours end ({e}) must be after they start ({s})"),
            );
        }
        for (i, day) in cal.holidays.iter().enumerate() {
            if parse_date(day).is_none() {
                self.err(
                    path.key("holidays").index(i),
                    format!("`{day}` is not a date; write it as YYYY-MM-DD, e.g. \"2026-09-23\""),
                );
            }
        }
    }

    fn incident_ids(&mut self, ids: &IncidentIds, path: &KeyPath) {
        let prefix_ok = !ids.prefix.is_empty()
            && ids
                .prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !prefix_ok {
            self.err(
                path.key("prefix"),
                format!(
                    "prefix `{}` must be non-empty upper-case ASCII letters, digits or `-`, like \"INC\" (ids are typed in any case and read in upper case)",
                    ids.prefix
                ),
            );
        }
        if !(1..=9).contains(&ids.digits) {
            self.err(
                path.key("digits"),
                format!("digits must be 1 to 9, not {}", ids.digits),
            );
        }
        self.time_zone(path.key("time_zone"), &ids.time_zone);
    }

    fn severities(&mut self, severities: &[Severity]) {
        let path = KeyPath::root().key("severities");
        if severities.is_empty() {
            self.err(
                path.clone(),
                "at least one severity is required (add a [[severities]] table)",
            );
        }
        self.unique(
            severities
                .iter()
                .enumerate()
                .map(|(i, s)| (path.index(i).key("name"), s.name.as_str())),
            "severity name",
        );
        for (i, sev) in severities.iter().enumerate() {
            let at = path.index(i);
            self.required(at.key("name"), &sev.name, "a severity's name");
            for (j, channel) in sev.channels.iter().enumerate() {
                if !CHANNELS.contains(&channel.as_str()) {
                    self.err(
                        at.key("channels").index(j),
                        format!(
                            "unknown channel `{channel}`; expected one of: {}",
                            CHANNELS.join(", ")
                        ),
                    );
                } else if sev.channels[..j].contains(channel) {
                    self.err(
                        at.key("channels").index(j),
                        format!("channel `{channel}` is listed twice"),
                    );
                }
            }
            if sev.respond_within.is_some() && sev.respond_within_business_days.is_some() {
                self.err(
                    at.key("respond_within_business_days"),
                    "give either `respond_within` or `respond_within_business_days`, not both",
                );
            }
            self.business_days(
                at.key("respond_within_business_days"),
                sev.respond_within_business_days,
            );
            if let Some(rule) = &sev.postmortem {
                let pm = at.key("postmortem");
                if rule.within.is_some() && rule.within_business_days.is_some() {
                    self.err(
                        pm.key("within_business_days"),
                        "give either `within` or `within_business_days`, not both",
                    );
                }
                self.business_days(pm.key("within_business_days"), rule.within_business_days);
                if let Some(p) = &rule.path {
                    self.required(pm.key("path"), p, "a postmortem path");
                }
            }
        }
    }

    fn business_days(&mut self, path: KeyPath, n: Option<u32>) {
        if let Some(n) = n
            && !(1..=MAX_BUSINESS_DAYS).contains(&n)
        {
            self.err(
                path,
                format!("business days must be 1 to {MAX_BUSINESS_DAYS}, not {n}"),
            );
        }
    }

    fn roles(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("roles");
        let roles = &policy.roles;
        for (i, role) in roles.iter().enumerate() {
            self.required(path.index(i).key("key"), &role.key, "a role's key");
            self.required(path.index(i).key("name"), &role.name, "a role's name");
        }
        self.unique(
            roles
                .iter()
                .enumerate()
                .map(|(i, r)| (path.index(i).key("key"), r.key.as_str())),
            "role key",
        );
        // `short` is accepted wherever a key is, so it may not equal another
        // role's key, nor an earlier role's short.
        for (i, role) in roles.iter().enumerate() {
            let Some(short) = &role.short else { continue };
            let at = path.index(i).key("short");
            if !self.required(at.clone(), short, "a role's short name") {
                continue;
            }
            let clash = roles.iter().enumerate().find(|(j, other)| {
                *j != i
                    && (other.key.eq_ignore_ascii_case(short)
                        || (*j < i
                            && other
                                .short
                                .as_deref()
                                .is_some_and(|s| s.eq_ignore_ascii_case(short))))
            });
            if let Some((j, other)) = clash {
                self.err(
                    at,
                    format!(
                        "short name `{short}` is already used by roles[{j}] (`{}`)",
                        other.key
                    ),
                );
            }
        }
    }

    /// `commander_within` is about the role the incident core treats as the
    /// commander; without it the rule could never be met.
    fn commander_role(&mut self, policy: &Policy) {
        if policy.role(COMMANDER_ROLE).is_some() {
            return;
        }
        let path = KeyPath::root().key("severities");
        for (i, sev) in policy.severities.iter().enumerate() {
            if sev.commander_within.is_some() {
                self.err(
                    path.index(i).key("commander_within"),
                    format!("needs a role with key `{COMMANDER_ROLE}` in [[roles]]"),
                );
            }
        }
    }

    fn checklists(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("checklists");
        let lists = &policy.checklists;
        self.unique(
            lists
                .iter()
                .enumerate()
                .map(|(i, c)| (path.index(i).key("key"), c.key.as_str())),
            "checklist key",
        );
        for (i, list) in lists.iter().enumerate() {
            let at = path.index(i);
            self.required(at.key("key"), &list.key, "a checklist's key");
            self.required(at.key("title"), &list.title, "a checklist's title");
            for (j, sev) in list.severities.iter().enumerate() {
                if policy.severity(sev).is_none() {
                    self.err(
                        at.key("severities").index(j),
                        unknown("severity", "severities", sev, policy.severity_names()),
                    );
                }
            }
            if list.items.is_empty() {
                self.err(
                    at.key("items"),
                    "a checklist needs at least one item ([[checklists.items]])",
                );
            }
            let items = at.key("items");
            self.unique(
                list.items
                    .iter()
                    .enumerate()
                    .map(|(j, it)| (items.index(j).key("key"), it.key.as_str())),
                "item key",
            );
            for (j, item) in list.items.iter().enumerate() {
                self.required(items.index(j).key("key"), &item.key, "an item's key");
                self.required(items.index(j).key("text"), &item.text, "an item's text");
            }
        }
    }

    fn templates(&mut self, templates: &BTreeMap<String, Template>) {
        let path = KeyPath::root().key("templates");
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let globals: HashSet<String> = env.globals().map(|(name, _)| name.to_string()).collect();
        for (name, template) in templates {
            let at = path.key(name);
            if template.body.is_empty() {
                self.err(
                    at.clone(),
                    "a template needs at least one body, e.g. body.en = \"...\"",
                );
            }
            for (locale, body) in &template.body {
                let body_path = at.key("body").key(locale);
                self.locale(body_path.clone(), locale, true);
                match env.template_from_str(body) {
                    Err(e) => self.problems.push(Problem {
                        path: body_path,
                        message: format!("template does not compile: {}", describe(&e)),
                        at_key: false,
                        line_in_value: e.line(),
                    }),
                    Ok(compiled) => {
                        let mut used: Vec<String> =
                            compiled.undeclared_variables(true).into_iter().collect();
                        used.sort();
                        for var in used {
                            if let Some(problem) = unknown_variable(&var, &globals) {
                                self.err(body_path.clone(), problem);
                            }
                        }
                    }
                }
            }
        }
    }

    fn services(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("services");
        for (key, service) in &policy.services {
            let at = path.key(key);
            if let Some(team) = &service.owner_team
                && !policy.teams.contains_key(team)
            {
                self.err(
                    at.key("owner_team"),
                    unknown(
                        "team",
                        "teams",
                        team,
                        policy.teams.keys().map(String::as_str),
                    ),
                );
            }
            for (i, dep) in service.dependencies.iter().enumerate() {
                if dep == key {
                    self.err(
                        at.key("dependencies").index(i),
                        format!("service `{key}` cannot depend on itself"),
                    );
                } else if !policy.services.contains_key(dep) {
                    self.err(
                        at.key("dependencies").index(i),
                        unknown(
                            "service",
                            "services",
                            dep,
                            policy.services.keys().map(String::as_str),
                        ),
                    );
                }
            }
            for (i, person) in service.contacts.iter().enumerate() {
                if !policy.people.contains_key(person) {
                    self.err(
                        at.key("contacts").index(i),
                        unknown(
                            "person",
                            "people",
                            person,
                            policy.people.keys().map(String::as_str),
                        ),
                    );
                }
            }
            for (i, target) in service.stakeholders.iter().enumerate() {
                self.target(policy, at.key("stakeholders").index(i), target, false);
            }
            for (i, link) in service.runbooks.iter().enumerate() {
                self.required(
                    at.key("runbooks").index(i).key("url"),
                    &link.url,
                    "a runbook's url",
                );
            }
        }
    }

    fn teams(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("teams");
        for (key, team) in &policy.teams {
            for (i, member) in team.members.iter().enumerate() {
                if !policy.people.contains_key(member) {
                    self.err(
                        path.key(key).key("members").index(i),
                        unknown(
                            "person",
                            "people",
                            member,
                            policy.people.keys().map(String::as_str),
                        ),
                    );
                } else if team.members[..i].contains(member) {
                    self.err(
                        path.key(key).key("members").index(i),
                        format!("`{member}` is listed twice"),
                    );
                }
            }
        }
    }

    fn people(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("people");
        for (key, person) in &policy.people {
            let at = path.key(key);
            if let Some(locale) = &person.locale {
                self.locale(at.key("locale"), locale, false);
            }
            if let Some(tz) = &person.time_zone {
                self.time_zone(at.key("time_zone"), tz);
            }
            for (i, contact) in person.contacts.iter().enumerate() {
                self.contact(at.key("contacts").index(i), contact);
            }
        }
    }

    fn contact(&mut self, path: KeyPath, contact: &Contact) {
        let address = contact.address.trim();
        if !self.required(path.key("address"), address, "a contact's address") {
            return;
        }
        let bad = |what: &str| format!("`{}` does not look like {what}", contact.address);
        match contact.kind.as_str() {
            "email" if !is_email(address) => self.err(path.key("address"), bad("an email address")),
            "phone" | "sms" if !is_phone(address) => self.err(
                path.key("address"),
                bad("a phone number (digits, optionally +, spaces, - and parentheses)"),
            ),
            "webhook" if !is_http_url(address) => {
                self.err(path.key("address"), bad("an http(s) URL"))
            }
            kind if kind.parse::<ContactKind>().is_err() => self.err(
                path.key("kind"),
                format!(
                    "unknown contact kind `{kind}`; expected one of: {}",
                    ContactKind::names()
                ),
            ),
            _ => {}
        }
    }

    fn obligations(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("obligations");
        let obligations = &policy.obligations;
        self.unique(
            obligations
                .iter()
                .enumerate()
                .map(|(i, o)| (path.index(i).key("key"), o.key.as_str())),
            "obligation key",
        );
        for (i, ob) in obligations.iter().enumerate() {
            let at = path.index(i);
            self.required(at.key("key"), &ob.key, "an obligation's key");
            self.required(at.key("title"), &ob.title, "an obligation's title");
            if ob.tags.is_empty() {
                self.err(
                    at.key("tags"),
                    "an obligation needs at least one tag: tagging an incident is what starts its clock",
                );
            }
            match ob.within {
                None => self.err(
                    at.key("within"),
                    "`within` is required: how long after detection the deadline is",
                ),
                Some(within) => {
                    for (j, before) in ob.remind_before.iter().enumerate() {
                        if *before >= within {
                            self.err(
                                at.key("remind_before").index(j),
                                format!("a reminder {before} before a {within} deadline would fire before the clock starts"),
                            );
                        }
                    }
                }
            }
        }
    }

    /// `[[heartbeats]]`: names usable in a URL, an interval, references resolve.
    fn heartbeats(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("heartbeats");
        self.unique(
            policy
                .heartbeats
                .iter()
                .enumerate()
                .map(|(i, h)| (path.index(i).key("name"), h.name.as_str())),
            "heartbeat name",
        );
        for (i, hb) in policy.heartbeats.iter().enumerate() {
            let at = path.index(i);
            self.monitor_name(at.key("name"), &hb.name, "a heartbeat's name");
            match hb.interval {
                None => self.err(
                    at.key("interval"),
                    "`interval` is required: how often the job pings, e.g. \"5m\" or \"1d\"",
                ),
                Some(d) if d.as_secs() < 1 => {
                    self.err(at.key("interval"), "`interval` must be at least 1s")
                }
                Some(_) => {}
            }
            self.monitor_refs(policy, &at, hb.service.as_deref(), hb.severity.as_deref());
            self.monitor_labels(&at, &hb.labels);
            for (k, list) in hb.watchdog.iter().enumerate() {
                match list.matchers() {
                    Err(e) => self.err(
                        at.key("watchdog").index(k),
                        format!("invalid matcher `{}`: {e}", list.as_str()),
                    ),
                    Ok([]) => self.err(
                        at.key("watchdog").index(k),
                        "an empty matcher; write one like 'alertname=\"Watchdog\"'",
                    ),
                    Ok(_) => {}
                }
            }
        }
    }

    /// `[[checks]]`: a kind with its target, sane timings, references resolve.
    fn checks(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("checks");
        self.unique(
            policy
                .checks
                .iter()
                .enumerate()
                .map(|(i, c)| (path.index(i).key("name"), c.name.as_str())),
            "check name",
        );
        for (i, check) in policy.checks.iter().enumerate() {
            let at = path.index(i);
            self.monitor_name(at.key("name"), &check.name, "a check's name");
            match check.kind {
                None => self.err(
                    at.key("kind"),
                    "`kind` is required: \"http\" (with `url`) or \"tcp\" (with `address`)",
                ),
                Some(CheckKind::Http) => self.http_check(&at, check),
                Some(CheckKind::Tcp) => self.tcp_check(&at, check),
            }
            let interval = check.interval();
            if interval.as_secs() < 1 {
                self.err(at.key("interval"), "`interval` must be at least 1s");
            }
            let timeout = check.timeout();
            if timeout.as_signed().is_zero() {
                self.err(at.key("timeout"), "`timeout` must be more than 0s");
            } else if timeout >= interval {
                // Point at whichever of the two the file sets (the timeout if both).
                let key = if check.timeout.is_some() || check.interval.is_none() {
                    "timeout"
                } else {
                    "interval"
                };
                self.err(
                    at.key(key),
                    format!("the timeout ({timeout}) must be shorter than the interval ({interval}): a probe must end before the next one starts"),
                );
            }
            if let Some(n) = check.failure_threshold
                && !(1..=MAX_FAILURE_THRESHOLD).contains(&n)
            {
                self.err(
                    at.key("failure_threshold"),
                    format!("failure_threshold must be 1 to {MAX_FAILURE_THRESHOLD}, not {n}"),
                );
            }
            self.monitor_refs(
                policy,
                &at,
                check.service.as_deref(),
                check.severity.as_deref(),
            );
            self.monitor_labels(&at, &check.labels);
        }
    }

    fn http_check(&mut self, at: &KeyPath, check: &HealthCheck) {
        match &check.url {
            None => self.err(
                at.key("url"),
                "an http check needs `url`, e.g. \"https://api.example.com/health\"",
            ),
            Some(url) => {
                if let Err(why) = check_http_url(url) {
                    self.err(at.key("url"), why);
                }
            }
        }
        if let Some(method) = &check.method
            && !HTTP_METHODS.contains(&method.to_ascii_uppercase().as_str())
        {
            self.err(
                at.key("method"),
                format!(
                    "unknown HTTP method `{method}`; expected one of: {}",
                    HTTP_METHODS.join(", ")
                ),
            );
        }
        for (j, pattern) in check.expected_status.iter().enumerate() {
            if let Some(why) = pattern.error() {
                self.err(at.key("expected_status").index(j), why);
            }
        }
        if let Some(text) = &check.body_contains {
            if text.is_empty() {
                self.err(
                    at.key("body_contains"),
                    "body_contains must not be empty (leave it out to accept any body)",
                );
            } else if check.method() == "HEAD" {
                self.err(
                    at.key("body_contains"),
                    "a HEAD request has no body to search; use GET",
                );
            }
        }
        if check.address.is_some() {
            self.err(
                at.key("address"),
                "`address` is for tcp checks; an http check uses `url`",
            );
        }
    }

    fn tcp_check(&mut self, at: &KeyPath, check: &HealthCheck) {
        match &check.address {
            None => self.err(
                at.key("address"),
                "a tcp check needs `address`, e.g. \"db.internal:5432\"",
            ),
            Some(address) => {
                if let Err(why) = check_host_port(address) {
                    self.err(at.key("address"), why);
                }
            }
        }
        let http_only = [
            ("url", check.url.is_some()),
            ("method", check.method.is_some()),
            ("expected_status", !check.expected_status.is_empty()),
            ("body_contains", check.body_contains.is_some()),
        ];
        for (key, set) in http_only {
            if set {
                self.err(
                    at.key(key),
                    format!("`{key}` is for http checks; a tcp check uses `address`"),
                );
            }
        }
    }

    /// A heartbeat's or check's name: it is in URLs and alert keys.
    fn monitor_name(&mut self, path: KeyPath, name: &str, what: &str) {
        if !self.required(path.clone(), name, what) {
            return;
        }
        let ok = name.len() <= MAX_MONITOR_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            self.err(
                path,
                format!("`{name}` may only use lowercase letters, digits, `-` and `_` (at most {MAX_MONITOR_NAME}), like \"nightly-backup\""),
            );
        }
    }

    fn monitor_refs(
        &mut self,
        policy: &Policy,
        at: &KeyPath,
        service: Option<&str>,
        severity: Option<&str>,
    ) {
        if let Some(service) = service
            && !policy.services.contains_key(service)
        {
            self.err(
                at.key("service"),
                unknown(
                    "service",
                    "services",
                    service,
                    policy.services.keys().map(String::as_str),
                ),
            );
        }
        if let Some(severity) = severity
            && policy.severity(severity).is_none()
        {
            self.err(
                at.key("severity"),
                unknown("severity", "severities", severity, policy.severity_names()),
            );
        }
    }

    /// Extra labels: Prometheus label names, not the ones Firebell sets itself.
    fn monitor_labels(&mut self, at: &KeyPath, labels: &BTreeMap<String, String>) {
        for name in labels.keys() {
            let path = at.key("labels").key(name);
            if RESERVED_MONITOR_LABELS.contains(&name.as_str()) {
                let hint = match name.as_str() {
                    "service" | "severity" => format!("; set the `{name}` key instead"),
                    _ => String::new(),
                };
                self.err_at_key(
                    path,
                    format!("the label `{name}` is set by Firebell itself{hint}"),
                );
            } else if !is_label_name(name) {
                self.err_at_key(
                    path,
                    format!("`{name}` is not a label name: letters, digits and `_`, not starting with a digit"),
                );
            }
        }
    }

    /// The route tree: matchers parse, names resolve, `group_by` is sane.
    fn routing(&mut self, policy: &Policy, root: &Route) {
        let path = KeyPath::root().key("routing");
        if !root.matchers.is_empty() {
            self.err(
                path.key("matchers"),
                "the root route catches every alert and cannot have matchers; put them on a [[routing.routes]] entry",
            );
        }
        self.route(policy, root, &path);
    }

    fn route(&mut self, policy: &Policy, route: &Route, path: &KeyPath) {
        self.escalation_ref(
            policy,
            path.key("escalation_policy"),
            route.escalation_policy.as_deref(),
        );
        if let Some(receiver) = &route.receiver {
            self.required(path.key("receiver"), receiver, "a route's receiver");
        }
        if let Some(group_by) = &route.group_by {
            let at = path.key("group_by");
            for (i, label) in group_by.iter().enumerate() {
                if label.is_empty() || label.chars().any(char::is_control) {
                    self.err(
                        at.index(i),
                        format!("{label:?} is not a label name (empty or with control characters)"),
                    );
                } else if group_by[..i].contains(label) {
                    self.err(at.index(i), format!("`{label}` is listed twice"));
                }
            }
            if group_by.len() > 1 && group_by.iter().any(|l| l == GROUP_BY_ALL) {
                self.err(
                    at,
                    format!("`\"{GROUP_BY_ALL}\"` (group by every label) cannot be combined with other labels"),
                );
            }
        }
        if let Some(service) = &route.service
            && !policy.services.contains_key(service)
        {
            self.err(
                path.key("service"),
                unknown(
                    "service",
                    "services",
                    service,
                    policy.services.keys().map(String::as_str),
                ),
            );
        }
        if let Some(severity) = &route.severity
            && policy.severity(severity).is_none()
        {
            self.err(
                path.key("severity"),
                unknown("severity", "severities", severity, policy.severity_names()),
            );
        }
        if let Some(runbook) = &route.runbook {
            self.required(
                path.key("runbook").key("url"),
                &runbook.url,
                "a runbook's url",
            );
        }
        for (i, list) in route.matchers.iter().enumerate() {
            match list.matchers() {
                Err(e) => self.err(
                    path.key("matchers").index(i),
                    format!("invalid matcher `{}`: {e}", list.as_str()),
                ),
                Ok([]) => self.err(
                    path.key("matchers").index(i),
                    "an empty matcher; write one like 'alertname=\"HighErrorRate\"'",
                ),
                Ok(_) => {}
            }
        }
        for (i, child) in route.routes.iter().enumerate() {
            self.route(policy, child, &path.key("routes").index(i));
        }
    }
}

/// Longest integration or webhook name, and longest routing key.
const MAX_SENDER_NAME: usize = 64;
/// Shortest inline webhook secret: anything shorter can be guessed.
const MIN_WEBHOOK_SECRET: usize = 16;

/// Ingest senders: PagerDuty integrations and signed webhooks. Messages about
/// routing keys and secrets never repeat them: reload errors are shown by the
/// API to every viewer.
impl Validator {
    fn integrations(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("integrations");
        let list = &policy.integrations;
        self.unique(
            list.iter()
                .enumerate()
                .map(|(i, x)| (path.index(i).key("name"), x.name.as_str())),
            "integration name",
        );
        for (i, integration) in list.iter().enumerate() {
            let at = path.index(i);
            self.sender_name(
                at.key("name"),
                &integration.name,
                "an integration's name",
                "-_.",
            );
            let key = &integration.routing_key;
            let key_ok = (1..=MAX_SENDER_NAME).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_alphanumeric());
            if !key_ok {
                self.err(
                    at.key("routing_key"),
                    format!("a routing key must be 1 to {MAX_SENDER_NAME} ASCII letters and digits (PagerDuty's are 32)"),
                );
            } else if let Some(j) = list[..i].iter().position(|o| o.routing_key == *key) {
                self.err(
                    at.key("routing_key"),
                    format!(
                        "this routing key is already used by integrations[{j}] (`{}`); each must be unique",
                        list[j].name
                    ),
                );
            }
            self.service_ref(policy, at.key("service"), integration.service.as_deref());
            for (word, severity) in &integration.severity_map {
                let entry = at.key("severity_map").key(word);
                if !super::PAGERDUTY_SEVERITIES.contains(&word.as_str()) {
                    self.err_at_key(
                        entry,
                        format!(
                            "`{word}` is not a PagerDuty severity; expected one of: {}",
                            super::PAGERDUTY_SEVERITIES.join(", ")
                        ),
                    );
                } else {
                    self.severity_ref(policy, entry, Some(severity));
                }
            }
        }
    }

    fn webhooks(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("webhooks");
        let list = &policy.webhooks;
        self.unique(
            list.iter()
                .enumerate()
                .map(|(i, w)| (path.index(i).key("name"), w.name.as_str())),
            "webhook name",
        );
        for (i, hook) in list.iter().enumerate() {
            let at = path.index(i);
            self.sender_name(at.key("name"), &hook.name, "a webhook's name", "-_");
            match (&hook.secret_env, &hook.secret) {
                (None, None) => self.err(
                    at.key("name"),
                    "a webhook needs `secret_env` (the environment variable holding its signing secret) or `secret`",
                ),
                (Some(_), Some(_)) => self.err(
                    at.key("secret"),
                    "give either `secret_env` or `secret`, not both",
                ),
                (Some(var), None) => {
                    let ok = var
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !ok {
                        self.err(
                            at.key("secret_env"),
                            format!("`{var}` is not an environment variable name; use letters, digits and `_`, like \"FIREBELL_WEBHOOK_SECRET\""),
                        );
                    }
                }
                (None, Some(secret)) => {
                    if secret.chars().count() < MIN_WEBHOOK_SECRET {
                        self.err(
                            at.key("secret"),
                            format!("a secret must be at least {MIN_WEBHOOK_SECRET} characters (better: 32 random bytes, kept in `secret_env`)"),
                        );
                    }
                }
            }
            self.service_ref(policy, at.key("service"), hook.service.as_deref());
            self.severity_ref(policy, at.key("severity"), hook.severity.as_deref());
            for (field, dotted) in hook.fields.paths() {
                let bad = dotted.is_empty() || dotted.split('.').any(str::is_empty);
                if bad {
                    self.err(
                        at.key("fields").key(field),
                        format!("`{dotted}` is not a path; write dotted keys like \"alert.title\" (array positions as numbers: \"alerts.0.title\")"),
                    );
                }
            }
            for (word, status) in &hook.status_map {
                if status != "firing" && status != "resolved" {
                    self.err(
                        at.key("status_map").key(word),
                        format!(
                            "`{status}` is not a status; map `{word}` to \"firing\" or \"resolved\""
                        ),
                    );
                }
            }
        }
    }

    /// Letters, digits and the `extra` punctuation; not too long.
    fn sender_name(&mut self, path: KeyPath, name: &str, what: &str, extra: &str) {
        if !self.required(path.clone(), name, what) {
            return;
        }
        let ok = name.len() <= MAX_SENDER_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        if !ok {
            let punctuation: Vec<String> = extra.chars().map(|c| format!("`{c}`")).collect();
            self.err(
                path,
                format!(
                    "`{name}`: use at most {MAX_SENDER_NAME} ASCII letters, digits and {}",
                    punctuation.join(", ")
                ),
            );
        }
    }

    fn service_ref(&mut self, policy: &Policy, path: KeyPath, service: Option<&str>) {
        if let Some(service) = service
            && !policy.services.contains_key(service)
        {
            self.err(
                path,
                unknown(
                    "service",
                    "services",
                    service,
                    policy.services.keys().map(String::as_str),
                ),
            );
        }
    }

    fn severity_ref(&mut self, policy: &Policy, path: KeyPath, severity: Option<&str>) {
        if let Some(severity) = severity
            && policy.severity(severity).is_none()
        {
            self.err(
                path,
                unknown("severity", "severities", severity, policy.severity_names()),
            );
        }
    }
}

/// Shortest `custom` shift: longer than any DST change (at most 2h), so
/// hand-offs stay strictly increasing in time.
pub const MIN_CUSTOM_SHIFT_HOURS: i64 = 4;

impl Validator {
    /// `[retention]`: at least an hour each, so a typo cannot prune what is
    /// still being worked on.
    fn retention(&mut self, policy: &Policy) {
        let at = KeyPath::root().key("retention");
        let r = &policy.retention;
        for (key, d) in [
            ("alerts", r.alerts),
            ("silences", r.silences),
            ("changes", r.changes),
            ("subscriber_messages", r.subscriber_messages),
        ] {
            if d.as_secs() < 3600 {
                self.err(
                    at.key(key),
                    format!("{d} is too short; keep records at least 1h"),
                );
            }
        }
    }

    /// `[maintenance]`: no negative spans, and nothing absurd (a year of
    /// notice or a week of watch is a typo).
    fn maintenance(&mut self, policy: &Policy) {
        let at = KeyPath::root().key("maintenance");
        let m = &policy.maintenance;
        for (key, d, max_days) in [
            ("notice", m.notice, 90),
            ("watch_after", m.watch_after, 7),
            ("post_every", m.post_every, 1),
            ("emergency_review_within", m.emergency_review_within, 30),
        ] {
            if d.as_secs() < 0 || d.as_secs() > max_days * 86_400 {
                self.err(
                    at.key(key),
                    format!("{d} is out of range; use 0s to {max_days}d"),
                );
            }
        }
        // A post every few seconds would bury the page.
        if m.post_every.as_secs() > 0 && m.post_every.as_secs() < 300 {
            self.err(
                at.key("post_every"),
                format!("{} is too often; post at most every 5m", m.post_every),
            );
        }
    }

    /// `[ack_links]`: long enough to reach a phone and be clicked, short
    /// enough that a forwarded or leaked page stops working soon.
    fn ack_links(&mut self, policy: &Policy) {
        let d = policy.ack_links.valid_for;
        if d.as_secs() < 60 || d.as_secs() > 7 * 86_400 {
            self.err(
                KeyPath::root().key("ack_links").key("valid_for"),
                format!("{d} is out of range; use 1m to 7d"),
            );
        }
    }

    /// `[status_page]`: impacts name real severities, locales are tags, and
    /// the uptime target is a percentage a service can miss.
    fn status_page(&mut self, policy: &Policy) {
        let at = KeyPath::root().key("status_page");
        let page = &policy.status_page;
        if let Some(target) = page.uptime_target
            && !(target > 0.0 && target < 100.0)
        {
            self.err(
                at.key("uptime_target"),
                format!("{target} is not a percentage below 100; write it like 99.9"),
            );
        }
        for name in page.impact.keys() {
            if policy.severity(name).is_none() {
                let known: Vec<_> = policy.severities.iter().map(|s| s.name.as_str()).collect();
                self.err_at_key(
                    at.key("impact").key(name),
                    format!(
                        "unknown severity `{name}`; the ladder has {}",
                        known.join(", ")
                    ),
                );
            }
        }
        for (i, locale) in page.locales.iter().enumerate() {
            self.locale(at.key("locales").index(i), locale, false);
        }
        for locale in page.digits.keys() {
            self.locale(at.key("digits").key(locale), locale, true);
        }
        if page.history_days > 90 {
            self.err(
                at.key("history_days"),
                format!("{} is out of range; use 0 to 90", page.history_days),
            );
        }
        let subs = &page.subscriptions;
        let sat = at.key("subscriptions");
        if let Some(name) = &subs.email_notifier {
            match policy.notifiers.get(name) {
                None => self.err(
                    sat.key("email_notifier"),
                    format!(
                        "unknown notifier `{name}`; define [notifiers.{name}] with an smtp table"
                    ),
                ),
                Some(n) if n.smtp.is_none() => self.err(
                    sat.key("email_notifier"),
                    format!(
                        "[notifiers.{name}] has no smtp table; subscriber mail needs an SMTP relay"
                    ),
                ),
                Some(_) => {}
            }
        }
        for (key, n) in [
            ("per_address_per_hour", subs.per_address_per_hour),
            ("per_client_per_hour", subs.per_client_per_hour),
        ] {
            if n == 0 || n > 10_000 {
                self.err(sat.key(key), format!("{n} is out of range; use 1 to 10000"));
            }
        }
        if subs.confirm_within.as_secs() < 600 || subs.confirm_within.as_secs() > 30 * 86_400 {
            self.err(
                sat.key("confirm_within"),
                format!("{} is out of range; use 10m to 30d", subs.confirm_within),
            );
        }
        if subs.maintenance_reminder.as_secs() < 0
            || subs.maintenance_reminder.as_secs() > 7 * 86_400
        {
            self.err(
                sat.key("maintenance_reminder"),
                format!(
                    "{} is out of range; use 0s to 7d",
                    subs.maintenance_reminder
                ),
            );
        }
        for (i, sev) in policy.severities.iter().enumerate() {
            let Some(name) = &sev.customer_notice else {
                continue;
            };
            let key = KeyPath::root()
                .key("severities")
                .index(i)
                .key("customer_notice");
            match policy.templates.get(name) {
                None => self.err(key, format!("unknown template `{name}`")),
                Some(t) if t.audience != super::model::Audience::Public => self.err(
                    key,
                    format!(
                        "template `{name}` is internal; a customer notice must be \
                         audience = \"public\""
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    /// `[[schedules]]`: unique names, a real zone, and layers that can rotate.
    fn schedules(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("schedules");
        self.unique(
            policy
                .schedules
                .iter()
                .enumerate()
                .map(|(i, s)| (path.index(i).key("name"), s.name.as_str())),
            "schedule name",
        );
        for (i, schedule) in policy.schedules.iter().enumerate() {
            let at = path.index(i);
            self.required(at.key("name"), &schedule.name, "a schedule's name");
            if let Some(tz) = &schedule.time_zone {
                self.time_zone(at.key("time_zone"), tz);
            }
            let layers = at.key("layers");
            if schedule.layers.is_empty() {
                self.err(
                    layers.clone(),
                    "a schedule needs at least one layer (add a [[schedules.layers]] table)",
                );
            }
            self.unique(
                schedule
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(j, l)| (layers.index(j).key("name"), l.name.as_str())),
                "layer name",
            );
            for (j, layer) in schedule.layers.iter().enumerate() {
                self.schedule_layer(policy, &layers.index(j), layer);
            }
        }
    }

    fn schedule_layer(&mut self, policy: &Policy, at: &KeyPath, layer: &ScheduleLayer) {
        self.required(at.key("name"), &layer.name, "a layer's name");
        match layer.rotation {
            None => self.err(
                at.key("rotation"),
                "`rotation` is required: \"daily\", \"weekly\" or \"custom\" (with `length`)",
            ),
            Some(Rotation::Custom) => match layer.length {
                None => self.err(
                    at.key("length"),
                    "a custom rotation needs `length`, the shift length, e.g. \"12h\"",
                ),
                Some(len)
                    if len.as_secs() < MIN_CUSTOM_SHIFT_HOURS * 3600 || len.as_secs() % 60 != 0 =>
                {
                    self.err(
                        at.key("length"),
                        format!(
                            "a shift of {len} is too short or not whole minutes; use at least \"{MIN_CUSTOM_SHIFT_HOURS}h\""
                        ),
                    )
                }
                Some(_) => {}
            },
            Some(_) if layer.length.is_some() => self.err(
                at.key("length"),
                "`length` is only for `rotation = \"custom\"`; daily and weekly shifts have fixed lengths",
            ),
            Some(_) => {}
        }
        match (&layer.handoff_day, layer.rotation) {
            (None, Some(Rotation::Weekly)) => self.err(
                at.key("handoff_day"),
                format!(
                    "a weekly rotation needs `handoff_day`, one of: {}",
                    WEEKDAY_NAMES.join(", ")
                ),
            ),
            (Some(day), Some(Rotation::Weekly)) if parse_weekday(day).is_none() => self.err(
                at.key("handoff_day"),
                format!(
                    "unknown day `{day}`; expected one of: {}",
                    WEEKDAY_NAMES.join(", ")
                ),
            ),
            (Some(_), Some(Rotation::Daily | Rotation::Custom)) => self.err(
                at.key("handoff_day"),
                "`handoff_day` is only for `rotation = \"weekly\"`",
            ),
            _ => {}
        }
        if parse_hhmm(&layer.handoff).is_none() {
            self.err(
                at.key("handoff"),
                format!(
                    "`{}` is not a time of day; write the hand-off as HH:MM, e.g. \"09:00\"",
                    layer.handoff
                ),
            );
        }
        if parse_date(&layer.start).is_none() {
            self.err(
                at.key("start"),
                format!(
                    "`{}` is not a date; write the rotation's first day as YYYY-MM-DD, e.g. \"2026-01-05\"",
                    layer.start
                ),
            );
        }
        let participants = at.key("participants");
        if layer.participants.is_empty() {
            self.err(
                participants.clone(),
                "a layer needs at least one participant (keys of [people])",
            );
        }
        for (k, person) in layer.participants.iter().enumerate() {
            if person.trim().is_empty() {
                self.err(participants.index(k), "a participant must not be empty");
            } else if !policy.people.is_empty() && !policy.people.contains_key(person) {
                self.err(
                    participants.index(k),
                    unknown(
                        "person",
                        "people",
                        person,
                        policy.people.keys().map(String::as_str),
                    ),
                );
            }
        }
    }
}

/// "unknown team `x`; defined teams: a, b" (or "...; no teams are defined").
fn unknown<'a>(
    what: &str,
    plural: &str,
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    if known.is_empty() {
        format!("unknown {what} `{name}`; no {plural} are defined")
    } else {
        format!(
            "unknown {what} `{name}`; defined {plural}: {}",
            known.join(", ")
        )
    }
}

/// Why `var` (as minijinja reports it, e.g. `incident.title`) is not in the
/// render context, if it is not.
fn unknown_variable(var: &str, globals: &HashSet<String>) -> Option<String> {
    let mut parts = var.split('.');
    let root = parts.next().unwrap_or_default();
    let field = parts.next();
    let fields: &[&str] = match root {
        "incident" => &TEMPLATE_INCIDENT_FIELDS,
        "org" => &TEMPLATE_ORG_FIELDS,
        "vars" | "now" => return None,
        _ if globals.contains(root) => return None,
        _ => {
            return Some(format!(
                "template uses unknown variable `{root}`; available: {}",
                TEMPLATE_ROOTS.join(", ")
            ));
        }
    };
    match field {
        Some(f) if !fields.contains(&f) => Some(format!(
            "template uses unknown variable `{root}.{f}`; {root} has: {}",
            fields.join(", ")
        )),
        _ => None,
    }
}

/// minijinja's error kind, detail and line within the template.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(detail) = e.detail() {
        s.push_str(": ");
        s.push_str(detail);
    }
    if let Some(line) = e.line() {
        s.push_str(&format!(" (line {line} of the template)"));
    }
    s
}

/// `en`, `ar`, `en-GB`, `zh_Hant_TW`: a 2–3 letter language, then 2–8
/// character subtags.
fn is_locale_tag(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Deliberately loose: one `@`, something before it, a dotted domain after, no spaces.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| !part.is_empty())
}

/// At least five digits; otherwise only `+`, spaces, `-`, `.` and parentheses.
fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    digits >= 5
        && s.chars()
            .all(|c| c.is_ascii_digit() || "+ -.()".contains(c))
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.chars().any(char::is_whitespace))
}

/// An absolute http(s) URL with a host, as a check can request it.
fn check_http_url(s: &str) -> Result<(), String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{s}` is not an http(s) URL (scheme `{}`)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    Ok(())
}

/// `host:port`, `1.2.3.4:port` or `[::1]:port`, with a port from 1 to 65535.
fn check_host_port(s: &str) -> Result<(), String> {
    let hint = "write it as host:port, e.g. \"db.internal:5432\" or \"[::1]:5432\"";
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("`{s}` has no port; {hint}"));
    };
    if !matches!(port.parse::<u16>(), Ok(1..)) {
        return Err(format!(
            "`{port}` is not a port (1 to 65535) in `{s}`; {hint}"
        ));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ok = !bare.is_empty()
        && if host.starts_with('[') {
            bare.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !bare.contains(':')
                && bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{host}` is not a host name or IP address in `{s}`; {hint}"
        ))
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_locale_tags() {
        for ok in ["en", "ar", "en-GB", "ar-SA", "zh_Hant_TW", "fil"] {
            assert!(is_locale_tag(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en-", "en GB", "12"] {
            assert!(!is_locale_tag(bad), "{bad}");
        }
    }

    #[test]
    fn recognises_contact_addresses() {
        assert!(is_email("oncall-dashflow@example.com"));
        assert!(!is_email("oncall@localhost"));
        assert!(!is_email("a b@example.com"));
        assert!(!is_email("@example.com"));
        assert!(is_phone("+1-555-0101"));
        assert!(is_phone("+966 (11) 555 0100"));
        assert!(!is_phone("[On-call phone]"));
        assert!(is_http_url("https://status.example.com"));
        assert!(!is_http_url("status.example.com"));
    }

    #[test]
    fn template_variables_must_exist_in_the_render_context() {
        let globals: HashSet<String> = ["range".to_string()].into();
        assert_eq!(unknown_variable("incident.title", &globals), None);
        assert_eq!(unknown_variable("vars.anything", &globals), None);
        assert_eq!(unknown_variable("range", &globals), None);
        let typo = unknown_variable("incident.titel", &globals).unwrap_or_default();
        assert!(
            typo.contains("`incident.titel`") && typo.contains("title"),
            "{typo}"
        );
        let stray = unknown_variable("incidnet", &globals).unwrap_or_default();
        assert!(stray.contains("`incidnet`"), "{stray}");
    }
}
