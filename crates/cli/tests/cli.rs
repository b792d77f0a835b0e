//! The `firebell` binary end to end: `serve` as a real process on an ephemeral
//! port, and the client commands against it, on SQLite and PostgreSQL.

use std::path::PathBuf;
use std::process::Command;

mod common;

use common::*;

/// The issue's acceptance flow: declare → ack → assign IC → update from the
/// Arabic template → resolve, all through the CLI; `show` has the whole
/// timeline, and it survives a restart.
fn incident_lifecycle_through_the_cli(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(backend, dir.path()) else {
        return;
    };
    let server = ServeProcess::start(&db, dir.path());
    let token = server
        .admin_token
        .clone()
        .expect("a fresh database prints an admin token");
    let url = server.url.clone();
    let run = |args: &[&str]| ok(&firebell(&url, &token, args));

    let declared = run(&[
        "declare",
        "--title",
        "Checkout failing",
        "--severity",
        "P1",
        "--service",
        "api",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&declared).unwrap();
    let id = v["incident"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("INC-") && id.ends_with("-001"), "{id}");

    run(&["ack", &id]);
    run(&["role", &id, "IC", "alice"]);
    let updated = run(&[
        "update",
        &id,
        "--status",
        "identified",
        "--public",
        "--template",
        "update",
        "--locale",
        "ar",
        "--var",
        "eta=30m",
    ]);
    assert!(updated.contains("(template update, ar)"), "{updated}");
    let preview = run(&[
        "update",
        &id,
        "--template",
        "update",
        "--locale",
        "ar",
        "--dry-run",
    ]);
    assert!(preview.contains("rtl"), "{preview}");
    let set = run(&[
        "component",
        &id,
        "api.webhooks",
        "operational",
        "--reason",
        "webhooks unaffected",
    ]);
    assert!(set.contains("api.webhooks shown as operational"), "{set}");
    let refused = firebell(
        &url,
        &token,
        &["component", &id, "api.webhooks", "on_fire", "--reason", "x"],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("possible values"),
        "{refused:?}"
    );
    let tagged = run(&["tag", &id, "--add", "data-loss", "--add", "cannot-rollback"]);
    assert!(
        tagged.contains("tagged data-loss, cannot-rollback"),
        "{tagged}"
    );
    let untagged = run(&["tag", &id, "--remove", "data-loss"]);
    assert!(untagged.contains("untagged data-loss"), "{untagged}");
    let nothing = firebell(&url, &token, &["tag", &id]);
    assert!(!nothing.status.success());
    run(&["resolve", &id, "--summary", "rolled back"]);

    let shown = run(&["show", &id]);
    for expected in [
        "declared P1",
        "acknowledged",
        "assigned incident_commander → alice",
        "update [public] identified",
        "resolved rolled back",
        "(resolved)",
    ] {
        assert!(
            shown.contains(expected),
            "show lacks {expected:?}:\n{shown}"
        );
    }
    let listed = run(&["list", "--status", "resolved"]);
    assert!(
        listed.contains(&id) && listed.contains("Checkout failing"),
        "{listed}"
    );

    // A refused command: readable message, exit 1, nothing written.
    let refused = firebell(&url, &token, &["ack", &id]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("is resolved") && err.contains("incident_resolved") && err.contains("409"),
        "{err}"
    );

    // The resolution set the postmortem's review meeting; its invitation
    // goes out on the scheduler's next tick. Wait for it, so nothing else
    // is due while the server restarts.
    let mut shown = String::new();
    for _ in 0..100 {
        shown = run(&["show", &id]);
        if shown.contains("reminder review_invitation") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(shown.contains("reminder review_invitation"), "{shown}");
    server.stop();
    let server = ServeProcess::start(&db, dir.path());
    assert!(
        server.admin_token.is_none(),
        "no second admin token after a restart"
    );
    let after = ok(&firebell(&server.url, &token, &["show", &id]));
    assert_eq!(after, shown, "the timeline survives a restart");
    server.stop();
}

#[test]
fn sqlite_incident_lifecycle_through_the_cli() {
    incident_lifecycle_through_the_cli("sqlite");
}

#[test]
fn postgres_incident_lifecycle_through_the_cli() {
    incident_lifecycle_through_the_cli("postgres");
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    for args in [
        vec!["declare", "--severity", "P1"],
        vec!["list", "--limit", "0"],
        vec!["update", "INC-1", "--message", "x", "--template", "update"],
        vec!["update", "INC-1", "--template", "t", "--var", "novalue"],
        vec!["token", "create", "--role", "root"],
        vec!["frobnicate"],
        vec!["serve", "--max-connections", "0"],
        vec!["serve", "--header-read-timeout-seconds", "0"],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env_remove("FIREBELL_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} printed no message");
    }
}

/// The connection settings reach the server: a half-sent request is closed
/// at the header-read timeout set by flag, and one set to 0 in the config file
/// is refused.
#[test]
fn serve_applies_the_connection_settings() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let db = database("sqlite", dir.path()).unwrap();
    let server = ServeProcess::start_with(&db, dir.path(), &["--header-read-timeout-seconds", "1"]);
    let mut half = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let sent = std::time::Instant::now();
    half.set_read_timeout(Some(std::time::Duration::from_secs(8)))
        .unwrap();
    let mut buf = [0u8; 64];
    match half.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
    let waited = sent.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "closed at the timeout ({waited:?})"
    );
    server.stop();

    let config = dir.path().join("firebell.toml");
    std::fs::write(&config, "idle_timeout_seconds = 0\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--database-url",
            &db,
        ])
        .env_remove("FIREBELL_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("idle_timeout_seconds"), "{stderr}");
}

#[test]
fn client_errors_are_explained() {
    let no_token = Command::new(BIN)
        .args(["list"])
        .env_remove("FIREBELL_TOKEN")
        .env_remove("FIREBELL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("FIREBELL_TOKEN"));

    // Port 9 (discard) on loopback: nothing listens there in the test environment.
    let unreachable = firebell("http://127.0.0.1:9", "fb_x", &["list"]);
    assert_eq!(unreachable.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach Firebell"));

    let dir = tempfile::tempdir().unwrap();
    let bad_config = dir.path().join("firebell.toml");
    std::fs::write(
        &bad_config,
        "listen = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", bad_config.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_adress"));
}

/// `firebell health` is the container's health check (no curl in the
/// image): no token, exit 0 on 2xx, 1 on any other answer, 3 unreachable.
#[test]
fn health_probes_a_server_without_a_token() {
    let probe = |args: &[&str], url: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("health")
            .args(args)
            .env_remove("FIREBELL_TOKEN")
            .env_remove("FIREBELL_CONFIG")
            .env_remove("FIREBELL_URL");
        if let Some(url) = url {
            cmd.env("FIREBELL_URL", url);
        }
        cmd.output().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(&database("sqlite", dir.path()).unwrap(), dir.path());

    let out = probe(&["--url", &server.url], None);
    let stdout = ok(&out);
    assert!(stdout.contains("/health: HTTP 200"), "{stdout}");
    assert!(stdout.contains(r#""status":"ok""#), "{stdout}");
    let stdout = ok(&probe(&["--ready"], Some(&server.url)));
    assert!(stdout.contains("/ready: HTTP 200"), "{stdout}");
    assert!(stdout.contains(r#""status":"ready""#), "{stdout}");
    server.stop();

    // Something that answers, but not 2xx (a server not ready, say).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_ready = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        let body = r#"{"status":"not_ready"}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let out = probe(&["--url", &not_ready, "--ready"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/ready: HTTP 503"), "{stderr}");
    assert!(stderr.contains("not_ready"), "{stderr}");

    let out = probe(&["--url", "http://127.0.0.1:9"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach Firebell"));
    let out = probe(&["--url", "127.0.0.1:8080"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs its scheme"));
}

#[test]
fn policy_check_accepts_the_examples_and_locates_errors() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "five seeds and the demo: {files:?}");
    let out = Command::new(BIN)
        .arg("policy")
        .arg("check")
        .args(&files)
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert_eq!(stdout.matches(": ok (").count(), files.len(), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "version = 1\n\n[[severities]]\nname = \"P1\"\nupdate_every = \"soon\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["policy", "check", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml:5:"),
        "error located at line 5: {err}"
    );
    assert!(err.contains("update_every"), "{err}");

    // `--json`: one item per file, each problem located; same exit codes.
    let out = Command::new(BIN)
        .args(["policy", "check", "--json", broken.to_str().unwrap()])
        .arg(&files[0])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["next_cursor"], serde_json::Value::Null, "{json}");
    let items = json["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{json}");
    assert_eq!(items[0]["ok"], false, "{json}");
    assert_eq!(items[0]["problems"][0]["line"], 5, "{json}");
    assert!(
        items[0]["problems"][0]["path"]
            .as_str()
            .is_some_and(|p| p.contains("update_every")),
        "{json}"
    );
    assert_eq!(items[1]["ok"], true, "{json}");
    assert!(
        items[1]["summary"]["severities"].as_u64() > Some(0),
        "{json}"
    );
    let out = Command::new(BIN)
        .args(["policy", "check", "--json"])
        .args(&files)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON");
    assert_eq!(json["items"].as_array().map(Vec::len), Some(files.len()));
}

#[test]
fn password_set_works_on_the_database_directly() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("p.db").display());
    let set = |password: &str| {
        let mut child = Command::new(BIN)
            .args([
                "password",
                "set",
                "alice",
                "--role",
                "responder",
                "--database-url",
                &db,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let short = set("short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 characters"));
    let out = ok(&set("a long enough secret"));
    assert!(
        out.contains("password set for alice (role responder)"),
        "{out}"
    );

    // The server signs her in with it.
    let server = ServeProcess::start(&db, dir.path());
    let login = |password: &str| {
        let body = format!(
            "person=alice&password={}&next=%2F",
            password.replace(' ', "+")
        );
        let mut stream =
            std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer.lines().next().unwrap_or_default().to_string()
    };
    assert!(login("a long enough secret").contains("303"), "signed in");
    assert!(login("a wrong secret").contains("401"));
    let removed = ok(&Command::new(BIN)
        .args(["password", "remove", "alice", "--database-url", &db])
        .output()
        .unwrap());
    assert!(removed.contains("password removed for alice"), "{removed}");
    assert!(login("a long enough secret").contains("401"));
}

#[test]
fn token_create_works_on_the_database_directly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    let out = Command::new(BIN)
        .args([
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "grafana",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert!(stdout.contains("created token \"grafana\""), "{stdout}");
    let secret = stdout
        .lines()
        .find(|l| l.starts_with("fb_"))
        .expect("secret printed");
    assert!(secret.len() > 40);
    let listed = ok(&Command::new(BIN)
        .args(["token", "list", "--database-url", &db])
        .output()
        .unwrap());
    assert!(
        listed.contains("grafana") && listed.contains("viewer") && !listed.contains(secret),
        "{listed}"
    );
    // One timestamp format in tables: RFC 3339 to the second, a space for `T`.
    let created = listed.lines().nth(1).unwrap_or_default();
    assert!(
        created
            .split_whitespace()
            .any(|w| w.len() == 10 && w.as_bytes()[4] == b'-')
            && created
                .split_whitespace()
                .any(|w| w.len() == 9 && w.ends_with('Z')),
        "{listed}"
    );
    // `--json`: the API's list shape.
    let json: serde_json::Value = serde_json::from_str(&ok(&Command::new(BIN)
        .args(["token", "list", "--json", "--database-url", &db])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(json["next_cursor"], serde_json::Value::Null, "{json}");
    let items = json["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|t| t["name"] == "grafana" && t["role"] == "viewer"),
        "{json}"
    );
    let dup = Command::new(BIN)
        .args([
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "grafana",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
}

#[test]
fn sighup_reloads_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::copy(examples().join("demo.toml"), &policy).unwrap();
    let db = format!("sqlite:{}", dir.path().join("f.db").display());
    // Poll once an hour, so only the signal can trigger the reload.
    let server = ServeProcess::start_with(
        &db,
        dir.path(),
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--policy-poll-seconds",
            "3600",
        ],
    );
    let token = server.admin_token.clone().unwrap();
    let text = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("\"P3\"", "\"P4\"");
    std::fs::write(&policy, text).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        let out = firebell(
            &server.url,
            &token,
            &["declare", "--title", "t", "--severity", "P4"],
        );
        if out.status.success() {
            server.stop();
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("SIGHUP did not reload the policy; log: {}", log(dir.path()));
}

#[test]
fn route_test_shows_the_matching_route() {
    let out = Command::new(BIN)
        .args([
            "route",
            "test",
            "--labels",
            "alertname=HighErrorRate,service=api,severity=critical",
        ])
        .env_remove("FIREBELL_POLICY")
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert!(
        stdout.contains("severity: P1") && stdout.contains("service:  api"),
        "{stdout}"
    );
    let dashflow = examples().join("dashflow.toml");
    let out = Command::new(BIN)
        .args([
            "route",
            "test",
            "--policy",
            dashflow.to_str().unwrap(),
            "--labels",
            "alertname=PodCrashLooping",
        ])
        .output()
        .unwrap();
    let stdout = ok(&out);
    assert!(stdout.contains("severity: P2"), "{stdout}");
    let bad = Command::new(BIN)
        .args(["route", "test", "--labels", "novalue"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn alerts_silences_and_maintenance_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("f.db").display());
    let server = ServeProcess::start(&db, dir.path());
    let token = server.admin_token.clone().unwrap();
    let run = |args: &[&str]| ok(&firebell(&server.url, &token, args));

    let added = run(&[
        "silence",
        "add",
        "alertname=\"DiskFull\"",
        "--duration",
        "2h",
        "--comment",
        "disk swap",
    ]);
    assert!(
        added.contains("active") && added.contains("alertname=\"DiskFull\""),
        "{added}"
    );
    let id = added
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(run(&["silence", "list"]).contains(&id));
    assert!(run(&["silence", "expire", &id]).contains("expired"));

    let started = run(&[
        "maintenance",
        "start",
        "--service",
        "web",
        "--title",
        "DB upgrade",
    ]);
    assert!(
        started.contains("mode") && started.contains("until ended"),
        "{started}"
    );
    let mid = started
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(run(&["maintenance", "end", &mid]).contains("ended"));
    // Emergency maintenance owes a review (s003.maintenance-emergency).
    let emergency = run(&[
        "maintenance",
        "start",
        "--emergency",
        "--service",
        "api",
        "--title",
        "Hotfix",
        "--duration",
        "30m",
    ]);
    assert!(emergency.contains("due "), "{emergency}");
    let eid = emergency
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let reviewed = run(&[
        "maintenance",
        "review",
        &eid,
        "--summary",
        "could not wait; add an alert",
    ]);
    assert!(reviewed.contains("done"), "{reviewed}");
    let bad = firebell(
        &server.url,
        &token,
        &["maintenance", "start", "--service", "nope", "--title", "x"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown_service"));
    // Under --json the error is the server's error body, on stderr; the
    // exit code is the same.
    let bad = firebell(
        &server.url,
        &token,
        &[
            "maintenance",
            "start",
            "--service",
            "nope",
            "--title",
            "x",
            "--json",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_slice(&bad.stderr).expect("JSON on stderr");
    assert_eq!(error["error"]["code"], "unknown_service", "{error}");
    assert!(error["error"]["message"].as_str().is_some(), "{error}");
    // An error the server did not send: the same shape, exit code 3.
    let unreachable = firebell("http://127.0.0.1:9", &token, &["alerts", "--json"]);
    assert_eq!(unreachable.status.code(), Some(3));
    let error: serde_json::Value =
        serde_json::from_slice(&unreachable.stderr).expect("JSON on stderr");
    assert_eq!(error["error"]["code"], "unreachable", "{error}");

    // Every list under --json is {"items": [...], "next_cursor": …}.
    for list in [
        &["alerts", "--json"][..],
        &["silence", "list", "--json"],
        &["maintenance", "list", "--json"],
        &["oncall", "--json"],
        &["override", "list", "--json"],
    ] {
        let json: serde_json::Value = serde_json::from_str(&run(list)).unwrap();
        assert!(json["items"].is_array(), "{list:?}: {json}");
        assert_eq!(
            json["next_cursor"],
            serde_json::Value::Null,
            "{list:?}: {json}"
        );
    }
    let windows: serde_json::Value =
        serde_json::from_str(&run(&["maintenance", "list", "--json"])).unwrap();
    assert!(
        windows["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == eid.as_str() && w["review_state"] == "done"),
        "{windows}"
    );

    // An alert posted the Alertmanager way shows in `firebell alerts`.
    let status = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"[{"labels":{"alertname":"CliAlert","service":"api"}}]"#,
        ])
        .arg(format!("{}/api/v2/alerts", server.url))
        .output();
    if let Ok(out) = status {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
        let listed = run(&["alerts"]);
        assert!(
            listed.contains("CliAlert") && listed.contains("firing"),
            "{listed}"
        );
    }
    assert!(
        run(&["oncall"]).contains("primary"),
        "the demo policy has a weekly rotation"
    );

    // A customer signs up on the status page (the demo takes webhooks);
    // admins see, inspect and remove subscribers.
    let signed = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"webhook":"http://127.0.0.1:9/hooks/status","components":["api.webhooks"]}"#)
        .arg(format!("{}/status/subscriptions", server.url))
        .output();
    if let Ok(out) = signed {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "202");
        let listed = run(&["subscribers", "list", "--state", "pending"]);
        assert!(
            listed.contains("http://127.0.0.1:9/hooks/status") && listed.contains("api.webhooks"),
            "{listed}"
        );
        let sid = listed
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        // The confirmation request was queued with the sign-up.
        let sent = run(&["subscribers", "messages", &sid]);
        assert!(sent.contains("confirm:"), "{sent}");
        assert!(run(&["subscribers", "remove", &sid]).contains("unsubscribed"));
        assert!(run(&["subscribers", "list", "--state", "pending"]).contains("no subscribers"));
    }
    server.stop();
}

#[test]
fn heartbeats_and_checks_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("f.db").display());
    let server = ServeProcess::start(&db, dir.path());
    let token = server.admin_token.clone().unwrap();
    let run = |args: &[&str]| ok(&firebell(&server.url, &token, args));

    // The demo policy's nightly backup heartbeat, not pinged yet.
    let before = run(&["checks"]);
    assert!(
        before.contains("HEARTBEAT")
            && before.contains("api-db-backup")
            && before.contains("waiting"),
        "{before}"
    );
    let pinged = run(&["heartbeat", "api-db-backup"]);
    assert!(
        pinged.starts_with("heartbeat api-db-backup pinged at "),
        "{pinged}"
    );
    let after = run(&["checks", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(v["heartbeats"][0]["state"], "up", "{v}");
    assert_eq!(v["checks"], serde_json::json!([]));

    let unknown = firebell(&server.url, &token, &["heartbeat", "no-such-job"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("heartbeat_not_found"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// `firebell override add/list/remove` against the Agent Factory policy's
/// `primary` schedule: the CTO covers for two hours from now, `oncall` shows
/// it, and removing it hands the schedule back to the rotation.
#[test]
fn overrides_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("f.db").display());
    let policy = examples().join("agent-factory.toml");
    let server = ServeProcess::start_with(&db, dir.path(), &["--policy", policy.to_str().unwrap()]);
    let token = server.admin_token.clone().unwrap();
    let run = |args: &[&str]| ok(&firebell(&server.url, &token, args));

    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap();
    let from = (now - jiff::SignedDuration::from_mins(1)).to_string();
    let until = (now + jiff::SignedDuration::from_hours(2)).to_string();
    let added = run(&[
        "override",
        "add",
        "--schedule",
        "primary",
        "--person",
        "cto",
        "--from",
        &from,
        "--until",
        &until,
        "--reason",
        "launch week",
    ]);
    assert!(
        added.contains("primary") && added.contains("cto") && added.contains("active"),
        "{added}"
    );
    let id = added
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let listed = run(&["override", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("launch week"),
        "{listed}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "override",
        "list",
        "--schedule",
        "primary",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["next_cursor"], serde_json::Value::Null, "{json}");
    assert_eq!(json["items"][0]["id"], id.as_str());
    assert_eq!(json["items"][0]["person"], "cto");
    let oncall = run(&["oncall", "--schedule", "primary"]);
    assert!(oncall.contains("(cto, override)"), "{oncall}");

    let removed = run(&["override", "remove", &id]);
    assert!(
        removed.contains(&format!("removed override {id}")),
        "{removed}"
    );
    assert!(run(&["override", "list", "--all"]).contains("no overrides"));
    assert!(!run(&["oncall", "--schedule", "primary"]).contains("override"));

    // Removing it again, an unknown person, a bad time: refused, exit 1 or 2.
    let again = firebell(&server.url, &token, &["override", "remove", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("override_not_found"));
    let add = |person: &str, from: &str| {
        firebell(
            &server.url,
            &token,
            &[
                "override",
                "add",
                "--schedule",
                "primary",
                "--person",
                person,
                "--from",
                from,
                "--until",
                &until,
            ],
        )
    };
    let unknown = add("nobody", &from);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown_person"));
    let bad_time = add("cto", "tomorrow");
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("RFC 3339"));
    server.stop();
}

/// `firebell simulate` on every example policy, at its top severity: it runs
/// offline, exits 0 and names the escalation policy that applies.
#[test]
fn simulate_runs_on_every_example() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "five seeds and the demo: {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let policy = firebell_core::Policy::parse(&text, &file.display().to_string())
            .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
        let top = &policy.severities[0].name;
        let out = Command::new(BIN)
            .args(["simulate", "--policy", file.to_str().unwrap()])
            .args(["--severity", top, "--for", "4h"])
            .env_remove("FIREBELL_POLICY")
            .env_remove("FIREBELL_CONFIG")
            .output()
            .unwrap();
        let stdout = ok(&out);
        let header = stdout.lines().next().unwrap_or_default();
        assert!(
            header.starts_with(top.as_str()) && header.contains("escalation policy: "),
            "{}: {stdout}",
            file.display()
        );
    }
}

/// A small policy, a fixed start: the plan line by line. L2 pages before
/// the acknowledgement at 25 min; the resolution ends it.
#[test]
fn simulate_prints_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        r#"
version = 1
[organization]
name = "Sim"

[[severities]]
name = "P0"
channels = ["sms", "chat"]
escalation_policy = "ladder"

[people.alice]
name = "Alice"
contacts = [{ kind = "sms", address = "+1 555 0100" }, { kind = "slack", address = "@alice" }]

[people.bob]
name = "Bob"
contacts = [{ kind = "slack", address = "@bob" }]

[[escalation_policies]]
name = "ladder"
[[escalation_policies.steps]]
name = "L1"
targets = ["person:alice"]
[[escalation_policies.steps]]
name = "L2"
after = "20m"
targets = ["person:bob"]

[notifiers.sms]
url = "https://sms.example.com/send"
[notifiers.slack]
url = "https://hooks.example.com/x"
"#,
    )
    .unwrap();
    let simulate = |extra: &[&str]| {
        Command::new(BIN)
            .args(["simulate", "--policy", policy.to_str().unwrap()])
            .args(["--start", "2026-11-23T10:00:00Z"])
            .args(extra)
            .env_remove("FIREBELL_POLICY")
            .env_remove("FIREBELL_CONFIG")
            .output()
            .unwrap()
    };
    let args = [
        "--severity",
        "P0",
        "--title",
        "API down",
        "--for",
        "1h",
        "--ack-after",
        "25m",
        "--resolve-after",
        "50m",
    ];
    let stdout = ok(&simulate(&args));
    let expected = [
        "P0 \"API down\" declared 2026-11-23 10:00 UTC, simulated for 1h, acknowledged after 25m, resolved after 50m; escalation policy: ladder (severity P0)",
        "AT                    +OFFSET  WHAT          WHO (channels)      WHY",
        "2026-11-23 10:00:00Z  +0m      escalated L1  alice (sms, slack)  declared",
        "2026-11-23 10:20:00Z  +20m     escalated L2  bob (slack)         not acknowledged by 2026-11-23 10:20 UTC",
        "2026-11-23 10:25:00Z  +25m     acknowledged  -                   acknowledged 25m after declaration (scenario)",
        "2026-11-23 10:50:00Z  +50m     resolved      -                   resolved 50m after declaration (scenario)",
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");

    // Acknowledged before L2 is due: only L1 is paged.
    let early = ok(&simulate(&[
        "--severity",
        "P0",
        "--for",
        "1h",
        "--ack-after",
        "10m",
    ]));
    assert!(
        early.contains("escalated L1") && !early.contains("L2"),
        "{early}"
    );

    // The same plan as JSON.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&simulate(&[&args[..], &["--json"]].concat()))).unwrap();
    assert_eq!(json["escalation_policy"], "ladder");
    assert_eq!(json["plan"][1]["what"], "escalated L2");
    assert_eq!(json["plan"][1]["offset"], "+20m");
    assert_eq!(json["plan"][1]["notify"][0]["person"], "bob");
    assert_eq!(json["plan"][1]["notify"][0]["channels"][0], "slack");

    // Bad arguments exit 2 with a message; a broken policy file exits 1.
    for bad in [
        &["--severity", "P0", "--for", "soon"][..],
        &["--severity", "P0", "--for", "1h", "--ack-after", "-5m"],
        &["--severity", "P7", "--for", "1h"],
        &["--for", "1h"],
        &["--severity", "P0", "--for", "1h", "--start", "tomorrow"],
        &[
            "--severity",
            "P0",
            "--for",
            "1h",
            "--escalation-policy",
            "nope",
        ],
        &["--severity", "P0"],
    ] {
        let out = simulate(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error"), "{bad:?}: {err}");
    }
    let err = String::from_utf8_lossy(&simulate(&["--severity", "P0", "--for", "soon"]).stderr)
        .to_string();
    assert!(err.contains("soon") && err.contains("--for"), "{err}");
    let err =
        String::from_utf8_lossy(&simulate(&["--severity", "P7", "--for", "1h"]).stderr).to_string();
    assert!(err.contains("P7"), "{err}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "version = 1\n[[severities]]\nname = \"P1\"\nupdate_every = \"soon\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["simulate", "--policy", broken.to_str().unwrap()])
        .args(["--severity", "P1", "--for", "1h"])
        .env_remove("FIREBELL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.toml:4:"));
}

/// `firebell notifications` against a real server: an empty outbox, the JSON
/// shape, and an unknown incident refused.
#[test]
fn notifications_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("f.db").display());
    let server = ServeProcess::start(&db, dir.path());
    let token = server.admin_token.clone().unwrap();
    let listed = ok(&firebell(&server.url, &token, &["notifications"]));
    assert!(
        listed.contains("no notifications") || listed.starts_with("CREATED"),
        "{listed}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&firebell(
        &server.url,
        &token,
        &["notifications", "--limit", "5", "--json"],
    )))
    .unwrap();
    assert!(json["items"].is_array(), "{json}");
    let unknown = firebell(
        &server.url,
        &token,
        &["notifications", "--incident", "INC-19990101-001"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(!unknown.stderr.is_empty());
    let bad_limit = firebell(&server.url, &token, &["notifications", "--limit", "0"]);
    assert_eq!(bad_limit.status.code(), Some(2));
    server.stop();
}

/// A notification receiver for tests of the real binary: plain HTTP on
/// 127.0.0.1, one thread, every request answered 200 and recorded as
/// (Idempotency-Key, JSON body).
/// The server is killed (SIGKILL) mid-escalation and started again: every
/// step is paged, none twice (one delivery per idempotency key, and no key
/// for a step that was already paged).
fn killed_mid_escalation(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(backend, dir.path()) else {
        return;
    };
    let sink = PageSink::start();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            r#"
version = 1
[organization]
name = "Kill test"
escalation_policy = "ladder"
[[severities]]
name = "P0"
[people.a]
name = "A"
contacts = [{{ kind = "sms", address = "+1 555 0001" }}]
[people.b]
name = "B"
contacts = [{{ kind = "sms", address = "+1 555 0002" }}]
[people.c]
name = "C"
contacts = [{{ kind = "sms", address = "+1 555 0003" }}]
[[escalation_policies]]
name = "ladder"
[[escalation_policies.steps]]
targets = ["person:a"]
[[escalation_policies.steps]]
after = "3s"
targets = ["person:b"]
[[escalation_policies.steps]]
after = "3s"
targets = ["person:c"]
[notifiers.sms]
url = "{}/sms"
"#,
            sink.url
        ),
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let mut server = ServeProcess::start_with(&db, dir.path(), &["--policy", &policy_arg]);
    let token = server.admin_token.clone().unwrap();
    ok(&firebell(
        &server.url,
        &token,
        &["declare", "--title", "API down", "--severity", "P0"],
    ));
    assert_eq!(sink.wait_for(1, 10), ["a"], "L1 is paged at once");
    // Killed before L2 falls due; down until after it did.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let server = ServeProcess::start_with(&db, dir.path(), &["--policy", &policy_arg]);
    assert_eq!(sink.wait_for(3, 20), ["a", "b", "c"], "no step lost");
    // Give a doubled page every chance to show up, then check none did.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(sink.people(), ["a", "b", "c"], "no step doubled");
    let out = ok(&firebell(&server.url, &token, &["notifications", "--json"]));
    let items: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = items["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{out}");
    // A page in flight at the kill may be delivered but not yet recorded: it
    // stays claimed until its lease lapses, then goes again with the same
    // idempotency key (which the receiver above counts once).
    assert!(
        items
            .iter()
            .all(|n| n["state"] == "delivered" || (n["state"] == "sending" && n["person"] == "a")),
        "{out}"
    );
    server.stop();
}

#[test]
fn sqlite_killed_mid_escalation() {
    killed_mid_escalation("sqlite");
}

#[test]
fn postgres_killed_mid_escalation() {
    killed_mid_escalation("postgres");
}

/// `firebell escalation` and `firebell agenda` against a real server with the
/// DashFlow policy: the ladders and rules in force, and a P0's next duties.
#[test]
fn escalation_and_agenda_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("f.db").display());
    let policy = examples().join("dashflow.toml").display().to_string();
    let server = ServeProcess::start_with(&db, dir.path(), &["--policy", &policy]);
    let token = server.admin_token.clone().unwrap();
    let run = |args: &[&str]| firebell(&server.url, &token, args);

    let listed = ok(&run(&["escalation"]));
    assert!(listed.contains("p0-ladder — "), "{listed}");
    assert!(listed.contains("L2  after 30m"), "{listed}");
    assert!(listed.contains("l3-flags"), "{listed}");
    assert!(listed.contains("escalate-at-once"), "{listed}");
    assert!(
        listed.contains("NAME") && listed.contains("ESCALATE"),
        "{listed}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&run(&["escalation", "--json"]))).unwrap();
    assert!(
        json["policies"].is_array() && json["rules"].is_array(),
        "{json}"
    );

    let declared: serde_json::Value = serde_json::from_str(&ok(&run(&[
        "declare",
        "--title",
        "API down",
        "--severity",
        "P0",
        "--json",
    ])))
    .unwrap();
    let id = declared["incident"]["id"].as_str().unwrap().to_string();
    // L1 is paged at once by the scheduler; then L2 is 30 minutes away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let agenda = loop {
        let agenda: serde_json::Value =
            serde_json::from_str(&ok(&run(&["agenda", &id, "--json"]))).unwrap();
        if agenda["escalation_level"] == 1 || std::time::Instant::now() > deadline {
            break agenda;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(agenda["escalation_policy"], "p0-ladder", "{agenda}");
    assert_eq!(agenda["escalation_level"], 1, "{agenda}");
    assert!(
        agenda["due"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["key"] == "step:1"),
        "{agenda}"
    );
    let shown = ok(&run(&["agenda", &id]));
    assert!(
        shown.contains("escalation policy p0-ladder, level 1"),
        "{shown}"
    );
    assert!(shown.contains("DUE "), "{shown}");
    assert!(shown.contains("escalation step 2"), "{shown}");
    assert!(shown.contains("rule p0-down-15m"), "{shown}");
    assert!(shown.contains("response target"), "{shown}");
    assert!(
        shown.contains("in 14m") || shown.contains("in 15m"),
        "{shown}"
    );

    let unknown = run(&["agenda", "INC-19990101-001"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("INC-19990101-001"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    assert_eq!(run(&["agenda"]).status.code(), Some(2));
    server.stop();
}

/// Two replicas on one PostgreSQL database; one is frozen (SIGSTOP) in the
/// middle of a flood, so likely inside a transaction holding the alerts
/// lock, then thawed (SIGCONT). Meanwhile the other merges new alerts and
/// pages every step (the frozen one's transaction is cut by the database,
/// its claims lapse); after the thaw the frozen one pages nothing twice and
/// merges nothing stale, every alert either replica acknowledged is there,
/// and it is ready again by itself.
#[test]
fn postgres_a_frozen_replica_is_fenced_and_the_other_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database("postgres", dir.path()) else {
        return;
    };
    let sink = PageSink::start();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            r#"
version = 1
[organization]
name = "Freeze test"
escalation_policy = "ladder"
[[severities]]
name = "P0"
[people.a]
name = "A"
contacts = [{{ kind = "sms", address = "+1 555 0001" }}]
[people.b]
name = "B"
contacts = [{{ kind = "sms", address = "+1 555 0002" }}]
[people.c]
name = "C"
contacts = [{{ kind = "sms", address = "+1 555 0003" }}]
[[escalation_policies]]
name = "ladder"
[[escalation_policies.steps]]
targets = ["person:a"]
[[escalation_policies.steps]]
after = "4s"
targets = ["person:b"]
[[escalation_policies.steps]]
after = "4s"
targets = ["person:c"]
[notifiers.sms]
url = "{}/sms"
"#,
            sink.url
        ),
    )
    .unwrap();
    let policy_arg = policy.display().to_string();
    let a_dir = dir.path().join("a");
    let b_dir = dir.path().join("b");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = ServeProcess::start_with(&db, &a_dir, &["--policy", &policy_arg]);
    let token = a.admin_token.clone().unwrap();
    let b = ServeProcess::start_with(&db, &b_dir, &["--policy", &policy_arg]);
    let short = std::time::Duration::from_secs(2);

    // A flood at A, recording what A acknowledged.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop_flood = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (url, token, acked, stop) = (
            a.url.clone(),
            token.clone(),
            acked.clone(),
            stop_flood.clone(),
        );
        std::thread::spawn(move || {
            let mut batch = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                batch += 1;
                let names: Vec<String> = (0..50).map(|i| format!("Flood{batch}x{i}")).collect();
                let body: Vec<serde_json::Value> = names
                    .iter()
                    .map(|n| serde_json::json!({"labels": {"alertname": n, "service": "flood"}}))
                    .collect();
                let body = serde_json::Value::Array(body).to_string();
                match http(&url, "POST", "/api/v2/alerts", &token, &body, short) {
                    Some((200, _)) => acked.lock().unwrap().extend(names),
                    _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        })
    };

    let declared = ok(&firebell(
        &b.url,
        &token,
        &[
            "declare",
            "--title",
            "API down",
            "--severity",
            "P0",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&declared).unwrap();
    let id = v["incident"]["id"].as_str().unwrap().to_string();
    let pages_of = |id: &str| -> Vec<(String, String)> {
        sink.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, body)| body["incident_id"] == id)
            .map(|(key, body)| (key.clone(), body["person"].as_str().unwrap_or("?").into()))
            .collect()
    };
    let wait_pages = |n: usize, secs: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while pages_of(&id).len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        pages_of(&id)
    };
    assert_eq!(wait_pages(1, 15).len(), 1, "L1 is paged");
    std::thread::sleep(std::time::Duration::from_millis(700));

    // Freeze A mid-flood.
    signal(&a.child, "-STOP");
    stop_flood.store(true, std::sync::atomic::Ordering::Relaxed);
    let stopped_at = std::time::Instant::now();

    // B merges a new alert while A is frozen (A's open transaction, if any,
    // is cut by the database, releasing the alerts lock).
    let fresh = r#"[{"labels": {"alertname": "WhileFrozen", "service": "api"}}]"#;
    let got = http(&b.url, "POST", "/api/v2/alerts", &token, fresh, short);
    assert_eq!(
        got.map(|g| g.0),
        Some(200),
        "B takes alerts while A is frozen"
    );
    let merged = loop {
        let listed = http(
            &b.url,
            "GET",
            "/api/v2/alerts?filter=alertname%3D%22WhileFrozen%22",
            &token,
            "",
            std::time::Duration::from_secs(10),
        );
        if let Some((200, body)) = &listed
            && body.contains("WhileFrozen")
        {
            break true;
        }
        // Usually ~16 s (the 15 s cut, then the merge), at times ~37 s for a
        // reason not found yet: the bound leaves room for the slow mode
        // under a loaded CI machine.
        if stopped_at.elapsed() > std::time::Duration::from_secs(75) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        merged,
        "B merged while A was frozen; B's log:\n{}",
        log(&b_dir)
    );
    // B pages the later steps, whoever held what when A froze.
    let pages = wait_pages(3, 60);
    assert_eq!(
        pages.len(),
        3,
        "every step paged while A is frozen: {pages:?}"
    );

    // Thaw A: it must page nothing again and be ready by itself.
    signal(&a.child, "-CONT");
    flood.join().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let pages = pages_of(&id);
    let people: Vec<&str> = pages.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(people, ["a", "b", "c"], "each step paged once: {pages:?}");
    let ready = (0..40).any(|_| {
        let r = http(&a.url, "GET", "/ready", "", "", short);
        if matches!(r, Some((200, _))) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        false
    });
    assert!(
        ready,
        "A is ready again after the thaw; log:\n{}",
        log(&a_dir)
    );

    // Every alert A acknowledged before it froze is stored.
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "the flood reached A");
    let (status, body) = http(
        &b.url,
        "GET",
        "/api/v2/alerts?filter=service%3D%22flood%22",
        &token,
        "",
        std::time::Duration::from_secs(30),
    )
    .expect("B answers");
    assert_eq!(status, 200);
    let stored: std::collections::BTreeSet<String> =
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["labels"]["alertname"].as_str().map(String::from))
            .collect();
    let lost: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged alerts lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    b.stop();
    a.stop();
}

/// The learning loop from a terminal: a resolved P1's postmortem is shown,
/// edited in $EDITOR, moved on, its review scheduled and exported to the
/// policy's path; action items are added, listed overdue and completed.
#[test]
fn postmortems_and_action_items_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = database("sqlite", dir.path()).unwrap();
    let server = ServeProcess::start(&db, dir.path());
    let token = server.admin_token.clone().unwrap();
    let url = server.url.clone();
    let run = |args: &[&str]| ok(&firebell(&url, &token, args));
    let declared = run(&[
        "declare",
        "--title",
        "Checkout down",
        "--severity",
        "P1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&declared).unwrap();
    let id = v["incident"]["id"].as_str().unwrap().to_string();
    run(&["role", &id, "IC", "alice"]);
    // An item already past due, and one that is not.
    let added = run(&[
        "actions",
        "add",
        &id,
        "--title",
        "Add a canary stage",
        "--owner",
        "omar",
        "--due",
        "2020-01-01T00:00:00Z",
        "--priority",
        "high",
    ]);
    assert!(added.contains("action item 1 added"), "{added}");
    run(&[
        "actions",
        "add",
        &id,
        "--title",
        "Write the runbook",
        "--owner",
        "QA",
        "--due",
        "7d",
    ]);
    run(&["resolve", &id, "--summary", "rolled back"]);

    let shown = run(&["postmortem", "show", &id]);
    assert!(
        shown.contains("Postmortem of") && shown.contains("draft"),
        "{shown}"
    );
    assert!(shown.contains("owner:    alice"), "{shown}");
    assert!(shown.contains("draft from the log"), "{shown}");

    // $EDITOR fills every section left to write.
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/_To be written._/Written by the team./g' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(BIN)
        .args(["postmortem", "edit", &id])
        .env("FIREBELL_URL", &url)
        .env("FIREBELL_TOKEN", &token)
        .env("EDITOR", &editor)
        .env_remove("VISUAL")
        .env_remove("FIREBELL_CONFIG")
        .output()
        .unwrap();
    let saved = ok(&out);
    assert!(saved.contains("postmortem saved"), "{saved}");
    run(&["postmortem", "state", &id, "in-review"]);
    let refused = firebell(&url, &token, &["postmortem", "state", &id, "reviewed"]);
    assert_eq!(refused.status.code(), Some(2), "not a state");
    run(&[
        "postmortem",
        "review",
        &id,
        "--at",
        "2d",
        "--place",
        "weekly review",
    ]);

    let export = dir.path().join("repo");
    let written = run(&[
        "postmortem",
        "export",
        &id,
        "--dir",
        export.to_str().unwrap(),
    ]);
    let path = std::path::PathBuf::from(written.trim());
    assert!(path.starts_with(&export), "{written}");
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with("-checkout-down.md"), "{name}");
    let doc = std::fs::read_to_string(&path).unwrap();
    assert!(
        doc.contains("Written by the team.") && doc.contains("Add a canary stage"),
        "{doc}"
    );

    let overdue = run(&["actions", "--overdue"]);
    assert!(overdue.contains(&format!("{id}#1")), "{overdue}");
    assert!(
        !overdue.contains("Write the runbook"),
        "not due yet: {overdue}"
    );
    run(&["actions", "update", &id, "1", "--status", "complete"]);
    let overdue = run(&["actions", "--overdue"]);
    assert!(overdue.contains("no action items"), "{overdue}");
    let listed = run(&["postmortem", "list"]);
    assert!(
        listed.contains("in_review") && listed.contains(&id),
        "{listed}"
    );

    let shown = run(&["show", &id]);
    assert!(
        shown.contains("postmortem in_review — owner alice")
            && shown.contains("1. [complete] Add a canary stage — omar"),
        "{shown}"
    );

    // A drill at the policy's top severity, marked as one everywhere.
    let drill = run(&["drill", "start", "--scenario", "llm-outage", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&drill).unwrap();
    assert_eq!(v["incident"]["drill"], true);
    assert_eq!(v["incident"]["severity"], "P0");
    assert_eq!(v["incident"]["title"], "[DRILL] llm-outage");
    assert_eq!(
        v["incident"]["tags"],
        serde_json::json!(["drill:llm-outage"])
    );

    // The report counts the P1, not the drill.
    let report = run(&["report", "--since", "1d"]);
    assert!(report.contains(": 1 (drills not counted)"), "{report}");
    assert!(
        report.contains("MTTA") && report.contains("Postmortems:"),
        "{report}"
    );
    let csv = run(&["report", "--since", "1d", "--csv"]);
    assert!(csv.starts_with("id,severity,declared_at,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

/// The CI gate (s000.freeze-until-green): a CI-style shell step that runs
/// `firebell freeze check` before deploying is blocked while a P0 is open on
/// the service and goes ahead once it is resolved; the deploy it records
/// lands on the next incident.
#[test]
fn a_ci_script_obeys_the_freeze() {
    let dir = tempfile::tempdir().unwrap();
    let db = database("sqlite", dir.path()).unwrap();
    let policy = examples().join("dealix-incident-rollback.toml");
    let server = ServeProcess::start_with(&db, dir.path(), &["--policy", policy.to_str().unwrap()]);
    let token = server.admin_token.clone().unwrap();
    let url = server.url.clone();
    let script = format!(
        "{BIN} freeze check --service api || exit 3\n\
         {BIN} deploy record --service api --version v43 --previous-version v42 --id deploy-v43\n"
    );
    let ci = || {
        Command::new("sh")
            .args(["-c", &script])
            .env("FIREBELL_URL", &url)
            .env("FIREBELL_TOKEN", &token)
            .env_remove("FIREBELL_CONFIG")
            .output()
            .unwrap()
    };
    let run = |args: &[&str]| ok(&firebell(&url, &token, args));
    let declared = run(&[
        "declare",
        "--title",
        "Leads API down",
        "--severity",
        "P0",
        "--service",
        "api",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&declared).unwrap();
    let id = v["incident"]["id"].as_str().unwrap().to_string();
    let blocked = ci();
    let said = String::from_utf8_lossy(&blocked.stdout).to_string();
    assert_eq!(blocked.status.code(), Some(3), "{said}");
    assert!(said.contains("FROZEN") && said.contains(&id), "{said}");
    assert!(run(&["changes", "--service", "api"]).contains("no changes"));
    run(&["resolve", &id]);
    let passed = ci();
    let said = String::from_utf8_lossy(&passed.stdout).to_string();
    assert!(passed.status.success(), "{said}");
    assert!(
        said.contains("not frozen") && said.contains("recorded deploy-v43"),
        "{said}"
    );
    assert!(run(&["changes", "--service", "api"]).contains("v43"));
    server.stop();
}

/// The client's first mistakes get plain answers: an empty token is "no API
/// token", a URL without its scheme says so; and the server's log has no
/// colour codes when stderr is not a terminal.
#[test]
fn first_mistakes_get_plain_answers() {
    let out = firebell("http://127.0.0.1:9", "", &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no API token"), "{err}");
    let out = firebell("127.0.0.1:8080", "tok", &["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs its scheme"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let db = database("sqlite", dir.path()).unwrap();
    let server = ServeProcess::start(&db, dir.path());
    let token = server.admin_token.clone().unwrap();
    ok(&firebell(&server.url, &token, &["list"]));
    drop(server);
    let log = log(dir.path());
    assert!(log.contains("INFO") || log.contains("listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escapes in a log file: {log:?}"
    );
}

/// Issue 16, items 2, 6 and 9: values are checked and listed, durations
/// have one grammar, ids any case, completions and a man page, and a
/// policy that would page someone it cannot reach is warned about.
#[test]
fn input_is_checked_before_it_is_sent() {
    let err = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    // Checked by the CLI: no server needed.
    let out = firebell("http://127.0.0.1:9", "tok", &["list", "--status", "opn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err(&out).contains("[possible values: open, investigating"),
        "{}",
        err(&out)
    );
    for (value, says) in [
        ("1y", "unknown unit \"y\""),
        ("15 minutes", "no spaces"),
        ("PT15M", "expected a number"),
    ] {
        let out = firebell(
            "http://127.0.0.1:9",
            "tok",
            &["simulate", "--severity", "P1", "--for", value],
        );
        assert_eq!(out.status.code(), Some(2), "{value}");
        let e = err(&out);
        assert!(e.contains(says) && !e.contains("Span"), "{value}: {e}");
    }
    let completions = ok(&firebell("", "", &["completions", "bash"]));
    assert!(completions.contains("_firebell()"), "{completions:.200}");
    let man = ok(&firebell("", "", &["man"]));
    assert!(
        man.starts_with(".ie") || man.contains(".TH firebell"),
        "{man:.200}"
    );
    let help = ok(&firebell("", "", &["ack", "--help"]));
    assert!(help.contains("Example:\n  firebell ack"), "{help}");

    // `policy check` warns about people a paging severity cannot reach;
    // `--strict` fails on it.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    let demo = std::fs::read_to_string(examples().join("demo.toml")).unwrap();
    std::fs::write(&policy, demo.replace("[notifiers.slack]\nlog = true\n", "")).unwrap();
    let path = policy.to_str().unwrap();
    let out = firebell("", "", &["policy", "check", path]);
    assert!(out.status.success());
    assert!(
        err(&out).contains(
            "warning: P2 pages alice (escalation policy platform), who has no contact for its channels [chat]"
        ),
        "{}",
        err(&out)
    );
    let out = firebell("", "", &["policy", "check", "--strict", path]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));

    // Ids in any case.
    let db = database("sqlite", dir.path()).unwrap();
    let server = ServeProcess::start(&db, dir.path());
    let token = server.admin_token.clone().unwrap();
    let id = ok(&firebell(
        &server.url,
        &token,
        &[
            "declare",
            "--title",
            "Checkout failing",
            "--severity",
            "P2",
            "-q",
        ],
    ));
    let id = id.trim();
    assert!(id.starts_with("INC-"), "-q prints the id alone: {id:?}");
    let shown = ok(&firebell(
        &server.url,
        &token,
        &["show", &id.to_lowercase()],
    ));
    assert!(shown.contains(id), "{shown}");
    server.stop();
}

/// A client whose reader goes away (`firebell … | head -1`) stops quietly
/// instead of panicking on the closed pipe.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {BIN} completions bash | head -1"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
