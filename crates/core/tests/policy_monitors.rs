//! `[[heartbeats]]` and `[[checks]]`: what loads with which defaults, and
//! every mistake reported at its line and column with a message that says
//! what to write instead.

use firebell_core::policy::{CheckKind, PolicyError, PolicyErrors};
use firebell_core::{Duration, Policy};

/// Two severities and a service; cases append to it (it ends on line 6).
const BASE: &str = r#"[[severities]]
name = "SEV-1"
[[severities]]
name = "SEV-2"
[services.api]
description = "API"
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

#[test]
fn monitors_load_with_their_defaults() {
    let p = load(
        r#"
[[heartbeats]]
name = "nightly-backup"
interval = "1d"

[[checks]]
name = "api-health"
kind = "http"
url = "https://api.example.com/health"

[[checks]]
name = "db"
kind = "tcp"
address = "db.internal:5432"
interval = "1m"
timeout = "2s"
failure_threshold = 3
service = "api"
severity = "sev-1"
labels = { team = "platform" }
"#,
    );
    let hb = &p.heartbeats[0];
    assert_eq!(hb.interval, Some(Duration::from_hours(24)));
    assert_eq!(hb.grace(), Duration::from_mins(144), "a tenth of a day");
    let http = &p.checks[0];
    assert_eq!(http.kind, Some(CheckKind::Http));
    assert_eq!(
        (http.interval(), http.timeout(), http.failure_threshold()),
        (Duration::from_secs(30), Duration::from_secs(5), 2)
    );
    assert_eq!(http.method(), "GET");
    assert_eq!(http.target(), "GET https://api.example.com/health");
    let tcp = &p.checks[1];
    assert_eq!(tcp.target(), "TCP db.internal:5432");
    assert_eq!(
        (tcp.interval(), tcp.timeout(), tcp.failure_threshold()),
        (Duration::from_mins(1), Duration::from_secs(2), 3)
    );
}

/// `(extra, path, fragment of the message)`: each produces exactly one error.
const CASES: &[(&str, &str, &str)] = &[
    (
        "[[heartbeats]]\nname = \"Nightly Backup\"\ninterval = \"1d\"\n",
        "heartbeats[0].name",
        "lowercase letters, digits",
    ),
    (
        "[[heartbeats]]\nname = \"x\"\n",
        "heartbeats[0].interval",
        "`interval` is required",
    ),
    (
        "[[heartbeats]]\nname = \"x\"\ninterval = \"1h\"\nservice = \"db\"\n",
        "heartbeats[0].service",
        "unknown service `db`",
    ),
    (
        "[[heartbeats]]\nname = \"x\"\ninterval = \"1h\"\nseverity = \"P0\"\n",
        "heartbeats[0].severity",
        "unknown severity `P0`",
    ),
    (
        "[[heartbeats]]\nname = \"x\"\ninterval = \"1h\"\n[[heartbeats]]\nname = \"x\"\ninterval = \"2h\"\n",
        "heartbeats[1].name",
        "duplicate heartbeat name `x`",
    ),
    (
        "[[heartbeats]]\nname = \"x\"\ninterval = \"1h\"\nlabels = { severity = \"high\" }\n",
        "heartbeats[0].labels.severity",
        "set the `severity` key instead",
    ),
    (
        "[[heartbeats]]\nname = \"x\"\ninterval = \"1h\"\nlabels = { \"team name\" = \"x\" }\n",
        "heartbeats[0].labels.\"team name\"",
        "not a label name",
    ),
    (
        "[[checks]]\nname = \"x\"\nurl = \"https://a.example/\"\n",
        "checks[0].kind",
        "`kind` is required",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\n",
        "checks[0].url",
        "an http check needs `url`",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"api.example.com/health\"\n",
        "checks[0].url",
        "is not a URL",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"ftp://files.example.com/\"\n",
        "checks[0].url",
        "not an http(s) URL",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"https://a.example/\"\nmethod = \"FETCH\"\n",
        "checks[0].method",
        "unknown HTTP method `FETCH`",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"https://a.example/\"\nexpected_status = [200, \"6xx\"]\n",
        "checks[0].expected_status[1]",
        "not an HTTP status",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"https://a.example/\"\nexpected_status = [99]\n",
        "checks[0].expected_status[0]",
        "from 100 to 599",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"https://a.example/\"\nmethod = \"HEAD\"\nbody_contains = \"ok\"\n",
        "checks[0].body_contains",
        "HEAD request has no body",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"http\"\nurl = \"https://a.example/\"\naddress = \"a:1\"\n",
        "checks[0].address",
        "`address` is for tcp checks",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\n",
        "checks[0].address",
        "a tcp check needs `address`",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db.internal\"\n",
        "checks[0].address",
        "has no port",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db.internal:99999\"\n",
        "checks[0].address",
        "is not a port",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db internal:5432\"\n",
        "checks[0].address",
        "not a host name",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db:5432\"\nurl = \"https://a.example/\"\n",
        "checks[0].url",
        "`url` is for http checks",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db:5432\"\ntimeout = \"30s\"\n",
        "checks[0].timeout",
        "must be shorter than the interval (30s)",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db:5432\"\ninterval = \"3s\"\n",
        "checks[0].interval",
        "the timeout (5s) must be shorter",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db:5432\"\nfailure_threshold = 0\n",
        "checks[0].failure_threshold",
        "1 to 100",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db:5432\"\nseverity = \"SEV-9\"\n",
        "checks[0].severity",
        "unknown severity `SEV-9`",
    ),
    (
        "[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db:5432\"\n[[checks]]\nname = \"X\"\nkind = \"tcp\"\naddress = \"db:5433\"\n",
        "checks[1].name",
        "duplicate check name `X`",
    ),
];

#[test]
fn every_mistake_is_reported_at_its_place() {
    for (extra, path, fragment) in CASES {
        let errors = errors(extra);
        // The duplicate-name case's upper-case name is a second problem of its own.
        let e = errors
            .iter()
            .find(|e| e.path == *path)
            .unwrap_or_else(|| panic!("case {path}: no error there, got {errors:#?}"));
        assert!(
            e.message.contains(fragment),
            "case {path}: {:?} lacks {fragment:?}",
            e.message
        );
        assert!(e.line > 6, "case {path}: located in the appended text: {e}");
        if *path != "checks[1].name" {
            assert_eq!(errors.len(), 1, "case {path}: {errors:#?}");
        }
    }
}

#[test]
fn errors_point_at_the_value_and_type_errors_are_explained() {
    let e = errors("[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"db\"\n");
    assert_eq!((e[0].line, e[0].column), (10, 11), "{}", e[0]);
    let e = errors("[[checks]]\nname = \"x\"\nkind = \"udp\"\naddress = \"db:1\"\n");
    assert_eq!(e[0].path, "checks[0].kind");
    assert!(
        e[0].message.contains("`http`") && e[0].message.contains("`tcp`"),
        "{}",
        e[0]
    );
    let e = errors("[[heartbeats]]\nname = \"x\"\ninterval = 60\n");
    assert_eq!(e[0].path, "heartbeats[0].interval");
    assert!(e[0].message.contains("duration string"), "{}", e[0]);
    let e = errors("[[checks]]\nname = \"x\"\nkind = \"tcp\"\naddres = \"db:1\"\n");
    assert!(
        e.iter()
            .any(|e| e.message.contains("did you mean `address`?")),
        "{e:#?}"
    );
}

#[test]
fn ipv6_addresses_and_status_classes_are_accepted() {
    let p = load(
        r#"
[[checks]]
name = "v6"
kind = "tcp"
address = "[::1]:5432"

[[checks]]
name = "redirects-ok"
kind = "http"
url = "http://127.0.0.1:8080/health?deep=1"
method = "head"
expected_status = ["2xx", 301, "3XX"]
"#,
    );
    assert_eq!(p.checks[1].method(), "HEAD");
    assert!(p.checks[1].accepts_status(302));
}
