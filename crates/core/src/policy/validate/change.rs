//! Validation of change safety: `[freeze]`, `[changes]`, `[rollback]`, the
//! services' rollback procedures, `[[runbooks]]` and `[providers]`. Every
//! name they refer to must exist and every instant, URL and matcher parse.

use super::{KeyPath, Validator, check_http_url, unknown};
use crate::policy::{MatcherList, Policy};

impl Validator {
    pub(super) fn change_safety(&mut self, policy: &Policy) {
        self.freeze(policy);
        self.rollback(policy);
        self.runbooks(policy);
        self.providers(policy);
    }

    fn freeze(&mut self, policy: &Policy) {
        let at = KeyPath::root().key("freeze");
        for (i, s) in policy.freeze.severities.iter().enumerate() {
            self.severity_ref(policy, at.key("severities").index(i), Some(s));
        }
        for (i, w) in policy.freeze.windows.iter().enumerate() {
            let at = at.key("windows").index(i);
            if w.name.trim().is_empty() {
                self.err(at.key("name"), "a freeze window needs a `name`");
            }
            let start = w.start.parse::<jiff::Timestamp>();
            let end = w.end.parse::<jiff::Timestamp>();
            if let Err(e) = &start {
                self.err(
                    at.key("start"),
                    format!("`start` must be an RFC 3339 instant like \"2026-12-24T00:00:00+03:00\": {e}"),
                );
            }
            if let Err(e) = &end {
                self.err(
                    at.key("end"),
                    format!(
                        "`end` must be an RFC 3339 instant like \"2027-01-02T00:00:00+03:00\": {e}"
                    ),
                );
            }
            if let (Ok(s), Ok(e)) = (start, end)
                && e <= s
            {
                self.err(at.key("end"), "`end` must be after `start`");
            }
            self.service_refs(policy, &at.key("services"), &w.services);
        }
    }

    fn rollback(&mut self, policy: &Policy) {
        let at = KeyPath::root().key("rollback");
        let rb = &policy.rollback;
        self.unique(
            rb.criteria
                .iter()
                .enumerate()
                .map(|(i, c)| (at.key("criteria").index(i).key("name"), c.name.as_str())),
            "rollback criterion name",
        );
        for (i, c) in rb.criteria.iter().enumerate() {
            let at = at.key("criteria").index(i);
            if c.name.trim().is_empty() {
                self.err(at.key("name"), "a rollback criterion needs a `name`");
            }
            self.matcher_lists(&at.key("matchers"), &c.matchers);
            if c.metric.is_some() != c.above.is_some() {
                self.err(
                    at.key("above"),
                    "`metric` and `above` go together: the check-in value and its threshold",
                );
            }
            self.severity_ref(policy, at.key("severity"), c.severity.as_deref());
        }
        if !crate::incident::is_valid_tag(rb.tag.trim()) {
            self.err(
                at.key("tag"),
                format!(
                    "`tag` {:?} is not a valid incident tag: use 1-64 letters, digits, - _ . : /",
                    rb.tag
                ),
            );
        }
        for (i, s) in rb.migration_window_except.iter().enumerate() {
            self.severity_ref(policy, at.key("migration_window_except").index(i), Some(s));
        }
        for (i, t) in rb.notify.iter().enumerate() {
            self.target(policy, at.key("notify").index(i), t, true);
        }
        if let Some(hook) = &rb.hook
            && let Err(e) = check_http_url(&hook.url)
        {
            self.err(at.key("hook").key("url"), e);
        }
        for (key, service) in &policy.services {
            let at = KeyPath::root().key("services").key(key).key("rollback");
            for (i, p) in service.rollback.iter().enumerate() {
                if service.rollback[..i].iter().any(|q| q.kind == p.kind) {
                    self.err(
                        at.index(i).key("kind"),
                        format!("service `{key}` has a second `{}` procedure", p.kind),
                    );
                }
            }
        }
    }

    fn runbooks(&mut self, policy: &Policy) {
        let path = KeyPath::root().key("runbooks");
        self.unique(
            policy
                .runbooks
                .iter()
                .enumerate()
                .map(|(i, r)| (path.index(i).key("key"), r.key.as_str())),
            "runbook key",
        );
        for (i, rb) in policy.runbooks.iter().enumerate() {
            let at = path.index(i);
            if rb.key.trim().is_empty() || rb.key.contains(['.', ':']) {
                self.err(
                    at.key("key"),
                    "a runbook needs a `key` without `.` or `:` (it names its steps)",
                );
            }
            if rb.steps.is_empty() {
                self.err(at.key("steps"), "a runbook needs at least one step");
            }
            self.unique(
                rb.steps
                    .iter()
                    .enumerate()
                    .map(|(j, s)| (at.key("steps").index(j).key("key"), s.key.as_str())),
                "step key",
            );
            for (j, s) in rb.steps.iter().enumerate() {
                let at = at.key("steps").index(j);
                if s.key.trim().is_empty() || s.text.trim().is_empty() {
                    self.err(at, "a step needs a `key` and a `text`");
                } else if let (Some(a), Some(b)) = (s.after, s.before)
                    && a >= b
                {
                    self.err(at.key("before"), "`before` must be later than `after`");
                }
            }
            self.matcher_lists(&at.key("matchers"), &rb.matchers);
            self.service_refs(policy, &at.key("services"), &rb.services);
            for (j, p) in rb.contacts.iter().enumerate() {
                if !policy.people.contains_key(p) {
                    self.err(
                        at.key("contacts").index(j),
                        unknown(
                            "person",
                            "people",
                            p,
                            policy.people.keys().map(String::as_str),
                        ),
                    );
                }
            }
            for (j, t) in rb.notify.iter().enumerate() {
                self.target(policy, at.key("notify").index(j), t, true);
            }
        }
    }

    fn providers(&mut self, policy: &Policy) {
        for (key, p) in &policy.providers {
            let at = KeyPath::root().key("providers").key(key);
            if let Err(e) = check_http_url(&p.status_url) {
                self.err(at.key("status_url"), e);
            }
            if p.poll_every.as_secs() < 10 {
                self.err(at.key("poll_every"), "`poll_every` must be at least 10s");
            }
        }
        for (key, service) in &policy.services {
            for (i, p) in service.providers.iter().enumerate() {
                if !policy.providers.contains_key(p) {
                    self.err(
                        KeyPath::root()
                            .key("services")
                            .key(key)
                            .key("providers")
                            .index(i),
                        unknown(
                            "provider",
                            "providers",
                            p,
                            policy.providers.keys().map(String::as_str),
                        ),
                    );
                }
            }
        }
    }

    fn service_refs(&mut self, policy: &Policy, at: &KeyPath, services: &[String]) {
        for (i, s) in services.iter().enumerate() {
            if !policy.services.contains_key(s) {
                self.err(
                    at.index(i),
                    unknown(
                        "service",
                        "services",
                        s,
                        policy.services.keys().map(String::as_str),
                    ),
                );
            }
        }
    }

    fn matcher_lists(&mut self, at: &KeyPath, lists: &[MatcherList]) {
        for (i, list) in lists.iter().enumerate() {
            match list.matchers() {
                Err(e) => self.err(
                    at.index(i),
                    format!("invalid matcher `{}`: {e}", list.as_str()),
                ),
                Ok([]) => self.err(
                    at.index(i),
                    "an empty matcher; write one like 'alertname=\"HighErrorRate\"'",
                ),
                Ok(_) => {}
            }
        }
    }
}
