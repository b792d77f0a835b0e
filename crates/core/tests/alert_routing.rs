//! The routing tree: Alertmanager's semantics (depth-first, first match wins
//! unless `continue`, inheritance, grouping), its validation with
//! line:column, and the seed runbooks' alert thresholds routed by the
//! example policies to the services and severities their runbooks imply.

use std::path::PathBuf;

use firebell_core::Policy;
use firebell_core::alert::routing::{DEFAULT_GROUP_BY, DEFAULT_RECEIVER, ROOT_PATH};
use firebell_core::alert::{LabelSet, RouteMatch, route};
use firebell_core::policy::{MatcherList, OnAlertsResolved, PolicyError, PolicyErrors, Route};
use proptest::prelude::*;

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(src: &str) -> Policy {
    Policy::parse(src, "p.toml").unwrap_or_else(|e| panic!("policy does not load:\n{e}"))
}

fn errors(src: &str) -> Vec<PolicyError> {
    match Policy::parse(src, "p.toml") {
        Ok(_) => panic!("expected errors, the policy loaded:\n{src}"),
        Err(PolicyErrors(errors)) => errors,
    }
}

fn load_example(name: &str) -> Policy {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let src =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Policy::parse(&src, name).unwrap_or_else(|e| panic!("{name} does not load:\n{e}"))
}

/// The single route `labels` take (panics if `continue` made several).
fn only(policy: &Policy, pairs: &[(&str, &str)]) -> RouteMatch {
    let mut matches = route(policy, &labels(pairs));
    assert_eq!(matches.len(), 1, "{pairs:?} matched {matches:#?}");
    matches.remove(0)
}

/// (service, severity) of the single route `labels` take.
fn decides(policy: &Policy, pairs: &[(&str, &str)]) -> (Option<String>, Option<String>) {
    let m = only(policy, pairs);
    (m.service, m.severity)
}

fn to(service: &str, severity: &str) -> (Option<String>, Option<String>) {
    (Some(service.into()), Some(severity.into()))
}

const BASE: &str = r#"
[[severities]]
name = "P1"
[[severities]]
name = "P2"
[[severities]]
name = "P3"

[services.api]
[services.db]
[services.ml]
[services.web]
"#;

fn with_base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

// --- Semantics -------------------------------------------------------------

#[test]
fn without_routing_everything_takes_the_default_root_route() {
    let policy = parse(BASE);
    let m = only(&policy, &[("alertname", "X"), ("service", "api")]);
    assert_eq!(m.path, ROOT_PATH);
    assert_eq!(m.receiver, DEFAULT_RECEIVER);
    assert_eq!((m.service, m.severity, m.runbook), (None, None, None));
    assert_eq!(DEFAULT_GROUP_BY, ["alertname"]);
    assert_eq!(m.group_labels, labels(&[("alertname", "X")]));
    assert_eq!(m.group_key, r#"root:{alertname="X"}"#);
}

const TREE: &str = r#"
[routing]
receiver = "team-default"
group_by = ["alertname", "service"]
service = "web"

[[routing.routes]]
matchers = ['service="api"']
service = "api"
severity = "P2"
runbook = { title = "API", url = "https://wiki/api" }

[[routing.routes.routes]]
matchers = ['severity="critical"']
severity = "p1"

[[routing.routes.routes]]
matchers = ['severity=~"warning|info"', 'team="core"']
receiver = "core"
group_by = ["..."]

[[routing.routes]]
matchers = ['service="db"']
service = "db"
severity = "P1"
continue = true

[[routing.routes]]
matchers = ['service=~"db|cache"']
severity = "P3"
group_by = []
"#;

#[test]
fn the_first_matching_child_wins_depth_first() {
    let policy = parse(&with_base(TREE));
    let m = only(
        &policy,
        &[
            ("alertname", "Down"),
            ("service", "api"),
            ("severity", "critical"),
        ],
    );
    assert_eq!(m.path, "0.0");
    // The ladder's spelling, though the route wrote `p1`.
    assert_eq!(m.severity.as_deref(), Some("P1"));
    // Inherited from the parent route and the root.
    assert_eq!(m.service.as_deref(), Some("api"));
    assert_eq!(m.receiver, "team-default");
    assert_eq!(m.runbook.map(|r| r.url), Some("https://wiki/api".into()));
    assert_eq!(m.group_key, r#"0.0:{alertname="Down",service="api"}"#);
}

#[test]
fn a_node_with_no_matching_child_is_itself_the_match() {
    let policy = parse(&with_base(TREE));
    let m = only(&policy, &[("alertname", "Slow"), ("service", "api")]);
    assert_eq!(m.path, "0");
    assert_eq!(m.severity.as_deref(), Some("P2"));
    // Nothing but the root matches: the root's own settings.
    let m = only(&policy, &[("alertname", "Other"), ("service", "mail")]);
    assert_eq!(m.path, ROOT_PATH);
    assert_eq!(m.service.as_deref(), Some("web"));
    assert_eq!(m.severity, None);
}

#[test]
fn all_matchers_of_a_route_must_hold() {
    let policy = parse(&with_base(TREE));
    let core = [
        ("alertname", "Slow"),
        ("service", "api"),
        ("severity", "info"),
        ("team", "core"),
    ];
    let m = only(&policy, &core);
    assert_eq!(m.path, "0.1");
    assert_eq!(m.receiver, "core");
    // group_by = ["..."]: every label.
    assert_eq!(m.group_labels, labels(&core));
    let other_team = only(
        &policy,
        &[("service", "api"), ("severity", "info"), ("team", "edge")],
    );
    assert_eq!(other_team.path, "0");
}

#[test]
fn continue_lets_later_siblings_match_too() {
    let policy = parse(&with_base(TREE));
    let matches = route(&policy, &labels(&[("alertname", "Lag"), ("service", "db")]));
    let got: Vec<(&str, Option<&str>, Option<&str>)> = matches
        .iter()
        .map(|m| (m.path.as_str(), m.service.as_deref(), m.severity.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("1", Some("db"), Some("P1")),
            // Route 2 sets no service: it inherits the root's, not its sibling's.
            ("2", Some("web"), Some("P3")),
        ]
    );
    // group_by = []: one group for the whole route.
    assert_eq!(matches[1].group_key, "2:{}");
    // Without `continue`, route 2 alone.
    let m = only(&policy, &[("service", "cache")]);
    assert_eq!(m.path, "2");
}

#[test]
fn group_labels_are_the_group_by_labels_present() {
    let policy = parse(&with_base(TREE));
    let m = only(&policy, &[("service", "api"), ("instance", "a:1")]);
    assert_eq!(m.group_labels, labels(&[("service", "api")]));
    assert_eq!(m.group_key, r#"0:{service="api"}"#);
}

#[test]
fn routes_nest_to_any_depth() {
    let policy = parse(&with_base(
        r#"
[routing]
[[routing.routes]]
matchers = ['a="1"']
[[routing.routes.routes]]
matchers = ['b="1"']
[[routing.routes.routes.routes]]
matchers = ['c="1"']
[[routing.routes.routes.routes.routes]]
matchers = ['d="1"']
severity = "P3"
"#,
    ));
    let m = only(&policy, &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]);
    assert_eq!(m.path, "0.0.0.0");
    assert_eq!(m.severity.as_deref(), Some("P3"));
    assert_eq!(only(&policy, &[("a", "1"), ("b", "1")]).path, "0.0");
}

#[test]
fn a_matcher_entry_may_hold_several_matchers() {
    let policy = parse(&with_base(
        r#"
[routing]
[[routing.routes]]
matchers = ['{service="api", severity="critical"}']
severity = "P1"
"#,
    ));
    assert_eq!(
        only(&policy, &[("service", "api"), ("severity", "critical")]).path,
        "0"
    );
    assert_eq!(only(&policy, &[("service", "api")]).path, ROOT_PATH);
}

// --- Validation --------------------------------------------------------------

#[test]
fn matcher_syntax_errors_are_located_at_the_matcher_string() {
    let src = with_base(
        r#"
[routing]
[[routing.routes]]
matchers = ['service="api"', 'severity=~"(crit"']
[[routing.routes.routes]]
matchers = ["team"]
"#,
    );
    let errs = errors(&src);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let line_of = |needle: &str| {
        src.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_default()
    };
    let first = &errs[0];
    assert_eq!(first.path, "routing.routes[0].matchers[1]");
    assert_eq!((first.line, first.column), (line_of("(crit"), 30));
    assert!(
        first.message.contains("invalid regular expression"),
        "{}",
        first.message
    );
    let second = &errs[1];
    assert_eq!(second.path, "routing.routes[0].routes[0].matchers[0]");
    assert_eq!((second.line, second.column), (line_of("[\"team\"]"), 13));
    assert!(
        second.message.contains("expected an operator") && second.message.contains("column 5"),
        "{}",
        second.message
    );
}

#[test]
fn unknown_services_and_severities_are_refused() {
    let errs = errors(&with_base(
        r#"
[routing]
service = "apii"
[[routing.routes]]
matchers = ['a="b"']
severity = "P9"
runbook = { title = "x", url = "" }
"#,
    ));
    let got: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "routing.service",
                "unknown service `apii`; defined services: api, db, ml, web"
            ),
            (
                "routing.routes[0].severity",
                "unknown severity `P9`; defined severities: P1, P2, P3"
            ),
            (
                "routing.routes[0].runbook.url",
                "a runbook's url must not be empty"
            ),
        ]
    );
}

#[test]
fn the_root_route_cannot_have_matchers() {
    let errs = errors(&with_base("[routing]\nmatchers = ['a=\"b\"']\n"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].path, "routing.matchers");
    assert!(
        errs[0].message.contains("cannot have matchers"),
        "{}",
        errs[0].message
    );
}

#[test]
fn group_by_is_checked_like_alertmanager() {
    let errs = errors(&with_base(
        r#"
[routing]
group_by = ["alertname", "...", "alertname"]
[[routing.routes]]
group_by = [""]
receiver = " "
matchers = ["", "a=b"]
"#,
    ));
    let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        got,
        [
            "routing.group_by",
            "routing.group_by[2]",
            "routing.routes[0].group_by[0]",
            "routing.routes[0].receiver",
            "routing.routes[0].matchers[0]",
        ],
        "{errs:#?}"
    );
}

#[test]
fn unknown_route_keys_list_the_allowed_ones_at_any_depth() {
    let errs = errors(&with_base(
        r#"
[routing]
[[routing.routes]]
[[routing.routes.routes]]
matcher = ['a="b"']
"#,
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.path, "routing.routes[0].routes[0].matcher");
    assert!(
        e.message.contains("did you mean `matchers`?"),
        "{}",
        e.message
    );
    assert!(e.message.contains("continue"), "{}", e.message);
}

#[test]
fn a_matcher_that_is_not_a_string_is_a_type_error() {
    let errs = errors(&with_base(
        "[routing]\n[[routing.routes]]\nmatchers = [5]\n",
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].message.contains("a matcher string"),
        "{}",
        errs[0].message
    );
}

#[test]
fn on_alerts_resolved_defaults_to_note_and_accepts_resolve() {
    let policy = parse(&with_base(""));
    assert!(
        policy
            .severities
            .iter()
            .all(|s| s.on_alerts_resolved == OnAlertsResolved::Note)
    );
    let policy = parse(&format!(
        "[[severities]]\nname = \"P0\"\non_alerts_resolved = \"resolve\"\n{BASE}"
    ));
    assert_eq!(
        policy.severities[0].on_alerts_resolved,
        OnAlertsResolved::Resolve
    );
    let errs = errors("[[severities]]\nname = \"P0\"\non_alerts_resolved = \"close\"\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        (errs[0].line, errs[0].path.as_str()),
        (3, "severities[0].on_alerts_resolved")
    );
    assert!(
        errs[0].message.contains("note") && errs[0].message.contains("resolve"),
        "{}",
        errs[0].message
    );
}

#[test]
fn routing_round_trips_through_toml() -> Result<(), toml::ser::Error> {
    let policy = parse(&with_base(TREE));
    let text = toml::to_string(&policy)?;
    let again = parse(&text);
    assert_eq!(again.routing, policy.routing);
    assert_eq!(
        route(&again, &labels(&[("service", "db")])),
        route(&policy, &labels(&[("service", "db")]))
    );
    Ok(())
}

#[test]
fn the_documented_routing_example_loads_and_routes_as_described() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read docs: {e}"));
    let section = doc
        .split("\n## routing\n")
        .nth(1)
        .expect("docs have a routing section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the routing section has a TOML example");
    let p = parse(&format!("[[severities]]\nname = \"P0\"\n{BASE}{example}"));
    assert_eq!(
        decides(&p, &[("alertname", "HighErrorRate")]),
        to("api", "P1")
    );
    assert_eq!(decides(&p, &[("service", "db")]), to("db", "P2"));
    assert_eq!(
        decides(&p, &[("service", "db"), ("severity", "critical")]),
        to("db", "P0")
    );
    let both = route(&p, &labels(&[("team", "ml"), ("service", "db")]));
    let services: Vec<Option<&str>> = both.iter().map(|m| m.service.as_deref()).collect();
    assert_eq!(services, [Some("ml"), Some("db")], "continue: {both:#?}");
}

// --- The seeds' alert thresholds ---------------------------------------------

#[test]
fn s000_alert_thresholds_route_to_the_right_service_and_severity() {
    let p = load_example("dealix-incident-rollback.toml");
    // Error rate >1% 5m and p95 >10s 5m: the API, degraded (P2).
    assert_eq!(
        decides(&p, &[("alertname", "HighErrorRate")]),
        to("api", "P2")
    );
    assert_eq!(
        decides(&p, &[("alertname", "HighLatencyP95")]),
        to("api", "P2")
    );
    // The ladder's P1 bar, error rate >10%.
    assert_eq!(
        decides(&p, &[("alertname", "HighErrorRateMajor")]),
        to("api", "P1")
    );
    // LLM fallback >20% 10m: the router, with the LLM outage runbook attached.
    let llm = only(
        &p,
        &[("alertname", "LLMFallbackRateHigh"), ("provider", "openai")],
    );
    assert_eq!(
        (llm.service.as_deref(), llm.severity.as_deref()),
        (Some("llm-router"), Some("P2"))
    );
    assert!(
        llm.runbook
            .is_some_and(|r| r.title.contains("LLM provider outage")),
        "LLM fallback alerts carry the 2.1 runbook"
    );
    // Anything else arrives unrouted.
    assert_eq!(decides(&p, &[("alertname", "DiskFull")]), (None, None));
}

#[test]
fn s003_alert_rules_route_to_their_severities() {
    let p = load_example("dashflow.toml");
    let ns = ("namespace", "dashflow");
    assert_eq!(
        decides(&p, &[("alertname", "HighErrorRate"), ns]),
        to("dashflow", "P1")
    );
    assert_eq!(
        decides(&p, &[("alertname", "HighLatency"), ns]),
        to("dashflow", "P2")
    );
    assert_eq!(
        decides(
            &p,
            &[
                ("alertname", "PodCrashLooping"),
                ("pod", "dashflow-7f9c"),
                ns
            ]
        ),
        to("dashflow", "P2")
    );
    assert_eq!(
        decides(
            &p,
            &[("alertname", "PodCrashLooping"), ("scope", "all"), ns]
        ),
        to("dashflow", "P0")
    );
    assert_eq!(
        decides(&p, &[("alertname", "LowPodAvailability"), ns]),
        to("dashflow", "P1")
    );
    assert_eq!(
        decides(&p, &[("alertname", "HighCPU"), ns]),
        to("dashflow", "P2")
    );
    assert_eq!(
        decides(&p, &[("alertname", "HighMemory"), ns]),
        to("dashflow", "P2")
    );
    // Grouped per alert and namespace.
    let m = only(&p, &[("alertname", "HighCPU"), ns, ("pod", "x")]);
    assert_eq!(
        m.group_key,
        r#"4:{alertname="HighCPU",namespace="dashflow"}"#
    );
}

#[test]
fn s004_alert_thresholds_route_by_alertname_and_tier() {
    let p = load_example("agent-factory.toml");
    let tiered = |name: &str, tier: &str| decides(&p, &[("alertname", name), ("severity", tier)]);
    // P0: errors >1%, uptime <99%, DB pool >95%, security.
    assert_eq!(tiered("HighErrorRate", "P0"), to("api", "P0"));
    assert_eq!(
        decides(&p, &[("alertname", "UptimeBelowTarget")]),
        to("api", "P0")
    );
    assert_eq!(tiered("DatabasePoolSaturated", "P0"), to("database", "P0"));
    assert_eq!(
        decides(&p, &[("alertname", "SecurityIncidentDetected")]),
        to("api", "P0")
    );
    // Security is P0 whatever tier its rule claims.
    assert_eq!(tiered("SecurityIncidentDetected", "P2"), to("api", "P0"));
    // P1: errors >0.5%, p95 >1s, pool >85%, external API failures.
    assert_eq!(tiered("HighErrorRate", "P1"), to("api", "P1"));
    assert_eq!(tiered("HighLatencyP95", "P1"), to("api", "P1"));
    assert_eq!(tiered("DatabasePoolSaturated", "P1"), to("database", "P1"));
    assert_eq!(
        decides(
            &p,
            &[("alertname", "ExternalAPIFailures"), ("provider", "openai")]
        ),
        to("llm-providers", "P1")
    );
    // P2: errors >0.1%, p95 >500ms.
    assert_eq!(tiered("HighErrorRate", "P2"), to("api", "P2"));
    assert_eq!(tiered("HighLatencyP95", "P2"), to("api", "P2"));
    // The three error-rate tiers are three groups, not one.
    let keys: Vec<String> = ["P0", "P1", "P2"]
        .iter()
        .map(|t| only(&p, &[("alertname", "HighErrorRate"), ("severity", t)]).group_key)
        .collect();
    assert!(keys[0] != keys[1] && keys[1] != keys[2], "{keys:?}");
}

#[test]
fn demo_routes_by_service_label_and_severity_label() {
    let p = Policy::demo();
    let at = |service: &str, severity: &str| {
        decides(
            &p,
            &[
                ("alertname", "X"),
                ("service", service),
                ("severity", severity),
            ],
        )
    };
    assert_eq!(at("api", "critical"), to("api", "P1"));
    assert_eq!(at("api", "warning"), to("api", "P2"));
    assert_eq!(at("web", "critical"), to("web", "P1"));
    assert_eq!(at("web", "warning"), to("web", "P2"));
    assert_eq!(at("billing", "critical"), (None, Some("P1".into())));
    assert_eq!(at("api", "info"), (Some("api".into()), None));
    let api = only(&p, &[("service", "api"), ("severity", "critical")]);
    assert!(api.runbook.is_some(), "the API route attaches its runbook");
}

// --- Properties ----------------------------------------------------------------

fn matcher_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["a", "b", "c"]),
        prop::sample::select(vec!["=", "!=", "=~", "!~"]),
        prop::sample::select(vec!["x", "y", "", "x|y", ".*", ".+"]),
    )
        .prop_map(|(n, op, v)| format!("{n}{op}\"{v}\""))
}

fn route_tree() -> impl Strategy<Value = Route> {
    let leaf = (
        prop::collection::vec(matcher_text(), 0..3),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["P1", "P2"])),
    )
        .prop_map(|(matchers, cont, severity)| Route {
            matchers: matchers.iter().map(|m| MatcherList::new(m)).collect(),
            continue_matching: cont,
            severity: severity.map(String::from),
            ..Route::default()
        });
    leaf.prop_recursive(4, 40, 4, |inner| {
        (
            prop::collection::vec(matcher_text(), 0..3),
            any::<bool>(),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(matchers, cont, routes)| Route {
                matchers: matchers.iter().map(|m| MatcherList::new(m)).collect(),
                continue_matching: cont,
                routes,
                ..Route::default()
            })
    })
}

fn label_set() -> impl Strategy<Value = LabelSet> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a".to_string(), "b".into(), "c".into()]),
        prop::sample::select(vec!["x".to_string(), "y".into(), "".into(), "z".into()]),
        0..3,
    )
}

proptest! {
    #[test]
    fn route_always_returns_at_least_one_match(
        children in prop::collection::vec(route_tree(), 0..4),
        labels in label_set(),
    ) {
        let mut policy = parse(BASE);
        policy.routing = Some(Route { routes: children, ..Route::default() });
        let matches = route(&policy, &labels);
        prop_assert!(!matches.is_empty());
        // Each match is a distinct node, reported in tree order.
        let paths: Vec<&str> = matches.iter().map(|m| m.path.as_str()).collect();
        let mut unique = paths.clone();
        unique.dedup();
        prop_assert_eq!(&unique, &paths);
        for m in &matches {
            let prefix = format!("{}:", m.path);
            prop_assert!(m.group_key.starts_with(&prefix), "{} vs {}", m.group_key, prefix);
        }
    }

    #[test]
    fn without_continue_there_is_exactly_one_match(
        children in prop::collection::vec(route_tree(), 0..4),
        labels in label_set(),
    ) {
        fn clear(r: &mut Route) {
            r.continue_matching = false;
            r.routes.iter_mut().for_each(clear);
        }
        let mut root = Route { routes: children, ..Route::default() };
        clear(&mut root);
        let mut policy = parse(BASE);
        policy.routing = Some(root);
        prop_assert_eq!(route(&policy, &labels).len(), 1);
    }
}
