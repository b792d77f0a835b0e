//! `[[integrations]]` (PagerDuty Events v2 senders) and `[[webhooks]]`
//! (signed generic webhooks): what loads, what is refused and where, how a
//! PagerDuty severity becomes a rung of the ladder, and that secrets never
//! leave the policy through its serialization.

use firebell_core::Policy;
use firebell_core::policy::{PolicyError, PolicyErrors, REDACTED};

/// Four severities, two services; cases append to it (it ends on line 10).
const BASE: &str = r#"[[severities]]
name = "P0"
[[severities]]
name = "P1"
[[severities]]
name = "P2"
[[severities]]
name = "P3"
[services.api]
[services.web]
"#;

fn load(extra: &str) -> Policy {
    Policy::parse(&format!("{BASE}{extra}"), "p.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn errors(extra: &str) -> Vec<PolicyError> {
    match Policy::parse(&format!("{BASE}{extra}"), "p.toml") {
        Ok(_) => panic!("expected errors:\n{extra}"),
        Err(PolicyErrors(errors)) => errors,
    }
}

const INTEGRATION: &str = r#"
[[integrations]]
name = "datadog"
routing_key = "0123456789abcdef0123456789ABCDEF"
service = "api"
severity_map = { warning = "p1" }
"#;

#[test]
fn an_integration_loads_and_maps_pagerduty_severities_onto_the_ladder() {
    let p = load(INTEGRATION);
    let i = &p.integrations[0];
    assert_eq!(i.name, "datadog");
    assert_eq!(i.service.as_deref(), Some("api"));
    // By position unless mapped; a mapping is reported in the ladder's spelling.
    assert_eq!(i.severity_for(&p, "critical").as_deref(), Some("P0"));
    assert_eq!(i.severity_for(&p, "error").as_deref(), Some("P1"));
    assert_eq!(i.severity_for(&p, "warning").as_deref(), Some("P1"));
    assert_eq!(i.severity_for(&p, "info").as_deref(), Some("P3"));
    assert_eq!(i.severity_for(&p, "disaster"), None);
}

#[test]
fn a_short_ladder_maps_the_lower_pagerduty_severities_to_its_last_rung() {
    let p = Policy::parse(
        "[[severities]]\nname = \"SEV1\"\n[[severities]]\nname = \"SEV2\"\n[[integrations]]\nname = \"x\"\nrouting_key = \"k\"\n",
        "p.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let i = &p.integrations[0];
    let got: Vec<_> = ["critical", "error", "warning", "info"]
        .iter()
        .map(|s| i.severity_for(&p, s).unwrap_or_default())
        .collect();
    assert_eq!(got, ["SEV1", "SEV2", "SEV2", "SEV2"]);
}

#[test]
fn integration_problems_are_all_reported_at_their_values_without_echoing_keys() {
    let errs = errors(
        r#"
[[integrations]]
name = "a b"
routing_key = "not-a-key!"
service = "billing"
severity_map = { fatal = "P0", critical = "P9" }

[[integrations]]
name = "second"
routing_key = "samekey123"

[[integrations]]
name = "third"
routing_key = "samekey123"
"#,
    );
    let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (13, "integrations[0].name"),
            (14, "integrations[0].routing_key"),
            (15, "integrations[0].service"),
            (16, "integrations[0].severity_map.fatal"),
            (16, "integrations[0].severity_map.critical"),
            (24, "integrations[2].routing_key"),
        ],
        "{errs:#?}"
    );
    assert!(errs[1].message.contains("1 to 64 ASCII letters and digits"));
    assert!(errs[2].message.contains("unknown service `billing`"));
    assert!(errs[3].message.contains("not a PagerDuty severity"));
    assert!(errs[4].message.contains("unknown severity `P9`"));
    assert!(errs[5].message.contains("integrations[1] (`second`)"));
    for e in &errs {
        assert!(
            !e.message.contains("samekey123") && !e.message.contains("not-a-key"),
            "a routing key leaked into {e}"
        );
    }
}

#[test]
fn a_webhook_loads_with_its_field_mapping() {
    let p = load(
        r#"
[[webhooks]]
name = "grafana-oncall"
secret_env = "GRAFANA_WEBHOOK_SECRET"
service = "web"
severity = "p2"

[webhooks.fields]
title = "alert.title"
status = "alert.state"

[webhooks.status_map]
alerting = "firing"
ok = "resolved"
"#,
    );
    let w = &p.webhooks[0];
    assert_eq!(w.secret_env.as_deref(), Some("GRAFANA_WEBHOOK_SECRET"));
    let paths: Vec<_> = w.fields.paths().into_iter().collect();
    assert!(paths.contains(&("title", "alert.title")));
    assert!(paths.contains(&("status", "alert.state")));
    assert!(
        paths.contains(&("labels", "labels")),
        "unmapped fields read their own name"
    );
    assert_eq!(w.status_map["alerting"], "firing");
}

#[test]
fn webhook_problems_are_all_reported() {
    let errs = errors(
        r#"
[[webhooks]]
name = "no-secret"

[[webhooks]]
name = "both"
secret_env = "X"
secret = "0123456789abcdef"

[[webhooks]]
name = "short"
secret = "hunter2"
severity = "P7"

[[webhooks]]
name = "bad/name"
secret_env = "1BAD"
fields = { title = "alert..title", key = "" }
status_map = { alerting = "on" }
"#,
    );
    let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        got,
        [
            "webhooks[0].name",
            "webhooks[1].secret",
            "webhooks[2].secret",
            "webhooks[2].severity",
            "webhooks[3].name",
            "webhooks[3].secret_env",
            "webhooks[3].fields.title",
            "webhooks[3].fields.key",
            "webhooks[3].status_map.alerting",
        ],
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("`secret_env`"));
    assert!(errs[1].message.contains("not both"));
    assert!(errs[2].message.contains("at least 16 characters"));
    assert!(!errs[2].message.contains("hunter2"), "{}", errs[2]);
    assert!(errs[8].message.contains("\"firing\" or \"resolved\""));
}

#[test]
fn an_unknown_key_in_a_webhook_is_named_with_the_keys_allowed() {
    let errs = errors("[[webhooks]]\nname = \"w\"\nsecret_env = \"S\"\nsevrity = \"P1\"\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!((errs[0].line, errs[0].column), (14, 1));
    assert!(
        errs[0].message.contains("did you mean `severity`?"),
        "{}",
        errs[0]
    );
}

#[test]
fn secrets_never_leave_through_serialization() {
    let p = load(&format!(
        "{INTEGRATION}\n[[webhooks]]\nname = \"w\"\nsecret = \"an inline secret, 32 chars long!\"\n"
    ));
    let json = serde_json::to_string(&p).unwrap_or_default();
    assert!(!json.contains("0123456789abcdef0123456789ABCDEF"), "{json}");
    assert!(!json.contains("an inline secret"), "{json}");
    assert!(json.contains(REDACTED), "{json}");
}
