//! Every policy in `examples/` loads, says what its runbook says, and its
//! templates render against a real incident with and without optional vars.

use std::collections::BTreeMap;
use std::path::PathBuf;

use firebell_core::incident::{Context, Declare, Direction, Incident, declare, render_template};
use firebell_core::policy::{DEMO_POLICY, Paging};
use firebell_core::{Duration, Policy, Timestamp};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn load(name: &str) -> Policy {
    let path = examples_dir().join(name);
    let src =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Policy::parse(&src, name).unwrap_or_else(|e| panic!("{name} does not load:\n{e}"))
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
}

fn mins(m: i64) -> Option<Duration> {
    Some(Duration::from_mins(m))
}

/// An incident of `severity` on the policy's first service, declared at `now`.
fn incident(policy: &Policy, severity: &str, now: Timestamp) -> Incident {
    let ctx = Context {
        policy,
        now,
        actor: "system",
        link_base: "",
    };
    let d = Declare {
        title: "Checkout fails".into(),
        severity: severity.into(),
        summary: "Payments return 502".into(),
        services: policy.services.keys().take(1).cloned().collect(),
        ..Default::default()
    };
    let (mut incident, _) = declare(&d, &ctx).unwrap_or_else(|e| panic!("declare {severity}: {e}"));
    incident.id = "INC-20260507-001".into();
    incident
}

#[test]
fn every_example_loads() {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    names.sort();
    for expected in [
        "agent-factory.toml",
        "dashflow.toml",
        "dealix-incident-rollback.toml",
        "dealix-sev.toml",
        "demo.toml",
        "django-crm.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "examples/{expected} is missing"
        );
    }
    for name in &names {
        let policy = load(name);
        assert!(!policy.severities.is_empty(), "{name}");
    }
}

#[test]
fn every_template_renders_in_every_locale_with_and_without_vars() {
    let full: BTreeMap<String, String> = [
        ("impact", "All EU customers"),
        ("eta", "30m"),
        ("root_cause", "A bad config push"),
        ("fix", "Rolled back"),
        ("postmortem_date", "2026-05-10"),
        ("action_items", "Add a canary"),
        ("progress", "Rollback in progress"),
        ("symptoms", "502s"),
        ("users", "1,000"),
        ("features", "Checkout"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let declared = t("2026-05-07T13:00:00Z");
    let now = t("2026-05-07T14:30:00Z");
    for entry in std::fs::read_dir(examples_dir()).expect("examples/ exists") {
        let name = entry
            .expect("dir entry")
            .file_name()
            .into_string()
            .expect("utf-8 name");
        if !name.ends_with(".toml") {
            continue;
        }
        let policy = load(&name);
        for severity in policy.severity_names() {
            let inc = incident(&policy, severity, declared);
            for (template, def) in &policy.templates {
                for locale in def.body.keys() {
                    for vars in [&BTreeMap::new(), &full] {
                        let msg = render_template(&policy, &inc, template, Some(locale), vars, now)
                            .unwrap_or_else(|e| {
                                panic!("{name} {template}.{locale} ({severity}): {e}")
                            });
                        assert!(
                            !msg.text.trim().is_empty(),
                            "{name} {template}.{locale} renders empty"
                        );
                        assert!(
                            !msg.text.contains("{{"),
                            "{name} {template}.{locale}: {}",
                            msg.text
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn demo_has_what_other_tests_rely_on() {
    let demo = Policy::parse(DEMO_POLICY, "demo.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(demo.severity_names(), ["P0", "P1", "P2", "P3"]);
    assert_eq!(
        demo.role("IC").map(|r| r.key.as_str()),
        Some("incident_commander")
    );
    assert!(demo.role("scribe").is_some());
    assert_eq!(
        demo.people.get("omar").and_then(|p| p.locale.as_deref()),
        Some("ar")
    );
    for person in ["alice", "omar", "sara"] {
        assert!(demo.people.contains_key(person), "{person}");
    }
    assert!(demo.services.contains_key("api") && demo.services.contains_key("web"));
    for template in ["initial", "update", "resolution"] {
        let body = &demo.templates[template].body;
        assert!(
            body.contains_key("en") && body.contains_key("ar"),
            "{template} in en and ar"
        );
    }
    assert_eq!(demo.checklists_for("P0", &[]).count(), 1);
}

#[test]
fn demo_renders_arabic_right_to_left() {
    let demo = Policy::demo();
    let now = t("2026-05-07T13:00:00Z");
    let inc = incident(&demo, "P0", now);
    let msg = render_template(&demo, &inc, "initial", Some("ar"), &BTreeMap::new(), now)
        .expect("renders");
    assert_eq!(msg.direction, Direction::Rtl);
    assert!(
        msg.text.contains("قيد التحقيق"),
        "status in Arabic: {}",
        msg.text
    );
    assert!(msg.text.contains("التحديث القادم خلال 15m"), "{}", msg.text);
}

/// s000: Sun–Thu week in Riyadh, P0–P3 ladder, roles, first-10-minutes, PDPL.
#[test]
fn dealix_incident_rollback_says_what_seed_000_says() {
    let p = load("dealix-incident-rollback.toml");
    assert_eq!(p.calendar.time_zone, "Asia/Riyadh");
    assert_eq!(p.calendar.working_days, ["sun", "mon", "tue", "wed", "thu"]);
    assert_eq!(p.severity_names(), ["P0", "P1", "P2", "P3"]);
    assert_eq!(p.severity("P0").and_then(|s| s.commander_within), mins(15));
    assert_eq!(p.severity("P1").and_then(|s| s.update_every), mins(30));
    let paging: Vec<Paging> = p.severities.iter().map(|s| s.paging).collect();
    assert_eq!(
        paging,
        [
            Paging::Always,
            Paging::Always,
            Paging::BusinessHours,
            Paging::Never
        ]
    );
    let roles: Vec<&str> = p.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        roles,
        ["Incident Commander", "Ops Lead", "Comms Lead", "Scribe"]
    );

    let first: Vec<_> = p.checklists_for("P1", &[]).collect();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].key, "first-10-minutes");
    let items: Vec<&str> = first[0].items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        items,
        [
            "declare",
            "stop-the-bleeding",
            "freeze",
            "preserve",
            "communicate"
        ]
    );
    assert_eq!(p.checklists_for("P2", &[]).count(), 0);

    let breach = vec!["personal-data-breach".to_string()];
    assert_eq!(
        p.checklists_for("P2", &breach)
            .map(|c| c.items.len())
            .collect::<Vec<_>>(),
        [5]
    );
    let pdpl: Vec<_> = p.obligations_for(&breach).collect();
    assert_eq!(pdpl.len(), 1);
    assert_eq!(pdpl[0].within, Some(Duration::from_hours(72)));
    assert!(!pdpl[0].remind_before.is_empty());
    assert_eq!(pdpl[0].steps.len(), 5);

    let pm = p
        .severity("P0")
        .and_then(|s| s.postmortem.clone())
        .expect("P0 postmortem rule");
    assert_eq!(pm.within_business_days, Some(3));
    assert_eq!(pm.path.as_deref(), Some("docs/incidents/{date}-{slug}.md"));
    assert!(
        p.severity("P2")
            .and_then(|s| s.postmortem.as_ref())
            .is_none()
    );
}

/// s000: resolved Thursday 16:00 Riyadh → postmortem due Tuesday 16:00 (Fri/Sat off).
#[test]
fn dealix_postmortem_is_due_three_business_days_after_resolution() {
    let p = load("dealix-incident-rollback.toml");
    let thursday_16_riyadh = t("2026-05-07T13:00:00Z");
    assert_eq!(
        p.postmortem_due("P1", thursday_16_riyadh),
        Some(t("2026-05-12T13:00:00Z"))
    );
    assert_eq!(
        p.postmortem_due("P2", thursday_16_riyadh),
        None,
        "P2 needs no postmortem"
    );
}

/// s001: SEV ladder, SEV-1 checklists, the Arabic customer message verbatim.
#[test]
fn dealix_sev_says_what_seed_001_says() {
    let p = load("dealix-sev.toml");
    assert_eq!(p.severity_names(), ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]);
    let respond: Vec<_> = p.severities.iter().map(|s| s.respond_within).collect();
    assert_eq!(respond, [mins(15), mins(60), mins(240), mins(24 * 60)]);
    assert_eq!(
        p.severity("SEV-1").map(|s| s.channels.clone()),
        Some(vec!["slack".into(), "email".into()])
    );
    assert_eq!(
        p.severity("SEV-2").map(|s| s.channels.clone()),
        Some(vec!["slack".into(), "status_page".into()])
    );
    assert_eq!(
        p.severity("SEV-4").map(|s| (s.paging, s.channels.clone())),
        Some((Paging::Never, vec!["ticket".into()]))
    );

    let lists: Vec<(&str, Option<Duration>)> = p
        .checklists_for("SEV-1", &[])
        .map(|c| (c.key.as_str(), c.within))
        .collect();
    assert_eq!(
        lists,
        [
            ("within-5-minutes", mins(5)),
            ("within-15-minutes", mins(15))
        ]
    );
    assert_eq!(p.checklists_for("SEV-2", &[]).count(), 0);

    let customer = &p.templates["customer"];
    assert_eq!(
        customer.body["ar"],
        "نواجه مشكلة فنية مؤقتة في النظام. الفريق يعمل على حلها.\nسنحدثكم خلال 30 دقيقة.\n— فريق Dealix"
    );
    assert!(customer.body.contains_key("en"));
    assert_eq!(
        p.severity("SEV-1").and_then(|s| s.update_every),
        mins(30),
        "the promised 30-minute update"
    );

    for sev in ["SEV-1", "SEV-2"] {
        let pm = p
            .severity(sev)
            .and_then(|s| s.postmortem.clone())
            .expect("postmortem rule");
        assert_eq!(pm.within, Some(Duration::from_hours(48)));
        assert_eq!(
            pm.path.as_deref(),
            Some("docs/ops/postmortems/{date}-summary.md")
        );
    }
    let resolved = t("2026-05-07T13:00:00Z");
    assert_eq!(
        p.postmortem_due("SEV-2", resolved),
        Some(t("2026-05-09T13:00:00Z"))
    );
    assert_eq!(p.postmortem_due("SEV-3", resolved), None);

    assert_eq!(
        p.people["sami"].description,
        "Founder, on-call 24/7. Backend down."
    );
    assert_eq!(p.services["payments"].contacts, ["moyasar-support"]);
    assert_eq!(p.services["dns"].contacts, ["registrar"]);
    assert_eq!(p.services["hosting"].contacts, ["railway-support"]);
}

#[test]
fn dealix_sev_customer_message_renders_verbatim() {
    let p = load("dealix-sev.toml");
    let now = t("2026-05-07T13:00:00Z");
    let inc = incident(&p, "SEV-1", now);
    let msg = render_template(&p, &inc, "customer", None, &BTreeMap::new(), now).expect("renders");
    assert_eq!(msg.locale, "ar", "the policy's default locale");
    assert_eq!(msg.direction, Direction::Rtl);
    assert_eq!(msg.text, p.templates["customer"].body["ar"]);
}

/// s002: updates every 15 minutes; mitigated and resolved notices exist.
#[test]
fn django_crm_says_what_seed_002_says() {
    let p = load("django-crm.toml");
    for sev in &p.severities {
        assert_eq!(sev.update_every, mins(15), "{}", sev.name);
        assert!(
            sev.postmortem.as_ref().is_some_and(|r| r.required),
            "{}",
            sev.name
        );
    }
    assert!(p.templates.contains_key("mitigated") && p.templates.contains_key("resolved"));
    let investigation = p
        .checklists
        .iter()
        .find(|c| c.key == "investigation")
        .expect("investigation checklist");
    assert!(
        investigation
            .items
            .iter()
            .any(|i| i.key == "capture-metadata")
    );
}

/// s003: response and update targets, declaration template, ids, PIR.
#[test]
fn dashflow_says_what_seed_003_says() {
    let p = load("dashflow.toml");
    let respond: Vec<_> = p.severities.iter().map(|s| s.respond_within).collect();
    assert_eq!(respond, [mins(15), mins(60), mins(240), None]);
    assert_eq!(
        p.severity("P3")
            .and_then(|s| s.respond_within_business_days),
        Some(1)
    );
    let updates: Vec<_> = p.severities.iter().map(|s| s.update_every).collect();
    assert_eq!(
        updates,
        [mins(15), mins(30), mins(60), Some(Duration::from_hours(24))]
    );
    assert_eq!(
        (
            p.incident_ids.prefix.as_str(),
            p.incident_ids.time_zone.as_str()
        ),
        ("INC", "UTC")
    );
    assert_eq!(p.incident_ids.digits, 3);
    assert_eq!(
        p.organization.incident_channel.as_deref(),
        Some("#incident-dashflow")
    );
    for sev in &p.severities {
        let pm = sev.postmortem.as_ref().expect("PIR rule");
        assert_eq!(pm.within, Some(Duration::from_hours(48)), "{}", sev.name);
    }
    assert_eq!(p.people["john"].name, "John Doe");
    assert_eq!(p.people["jane"].name, "Jane Smith");
}

/// s003: P3 declared Friday evening is due for a response on Monday.
#[test]
fn dashflow_p3_response_is_due_the_next_business_day() {
    let p = load("dashflow.toml");
    let friday_evening = t("2026-05-08T19:00:00Z");
    assert_eq!(
        p.response_due("P3", friday_evening),
        Some(t("2026-05-11T19:00:00Z"))
    );
    assert_eq!(
        p.response_due("P0", friday_evening),
        Some(t("2026-05-08T19:15:00Z"))
    );
}

#[test]
fn dashflow_declaration_renders_the_runbook_message() {
    let p = load("dashflow.toml");
    let now = t("2026-05-07T13:05:00Z");
    let inc = incident(&p, "P0", now);
    let vars = BTreeMap::from([("impact".to_string(), "All users".to_string())]);
    let msg = render_template(&p, &inc, "declaration", None, &vars, now).expect("renders");
    assert_eq!(
        msg.text,
        "INCIDENT: [P0] - Checkout fails\nTime: 13:05 UTC\nImpact: All users\nStatus: Investigating\n\
         Incident Commander: unassigned\nCommunication Channel: #incident-dashflow\n\
         Status Page: https://status.example.com"
    );
}

/// s004: channels by severity, templates with their fields, postmortem 48 h.
#[test]
fn agent_factory_says_what_seed_004_says() {
    let p = load("agent-factory.toml");
    let p0 = p.severity("P0").expect("P0");
    assert_eq!(p0.channels, ["chat", "email", "phone", "sms"]);
    assert_eq!(
        p.severity("P1").map(|s| s.channels.clone()),
        Some(vec!["chat".into(), "email".into()])
    );
    let paging: Vec<Paging> = p.severities.iter().map(|s| s.paging).collect();
    assert_eq!(
        paging,
        [
            Paging::Always,
            Paging::Always,
            Paging::BusinessHours,
            Paging::BusinessHours
        ]
    );
    assert_eq!(p0.ack_within, mins(5));
    assert_eq!(
        p0.postmortem.as_ref().and_then(|r| r.within),
        Some(Duration::from_hours(48))
    );

    let now = t("2026-05-07T15:20:00Z");
    let inc = incident(&p, "P0", t("2026-05-07T13:00:00Z"));
    let vars = BTreeMap::from([
        ("root_cause".to_string(), "Pool exhausted".to_string()),
        ("fix".to_string(), "Raised the pool size".to_string()),
    ]);
    let resolved = render_template(&p, &inc, "resolution", None, &vars, now).expect("renders");
    for field in [
        "**Duration:** 2h20m",
        "**Root Cause:** Pool exhausted",
        "**Fix Applied:** Raised the pool size",
    ] {
        assert!(
            resolved.text.contains(field),
            "{field} in:\n{}",
            resolved.text
        );
    }
    let update = render_template(&p, &inc, "update", None, &BTreeMap::new(), now).expect("renders");
    assert!(update.text.contains("**ETA:** Unknown"), "{}", update.text);
}

/// A parsed policy serializes (the API shows it) and reads back the same.
#[test]
fn examples_round_trip_through_toml() {
    for entry in std::fs::read_dir(examples_dir()).expect("examples/ exists") {
        let name = entry
            .expect("dir entry")
            .file_name()
            .into_string()
            .expect("utf-8 name");
        if !name.ends_with(".toml") {
            continue;
        }
        let policy = load(&name);
        let text = toml::to_string(&policy).unwrap_or_else(|e| panic!("{name} serializes: {e}"));
        let again =
            Policy::parse(&text, &name).unwrap_or_else(|e| panic!("{name} re-reads:\n{e}\n{text}"));
        assert_eq!(again, policy, "{name}");
    }
}
