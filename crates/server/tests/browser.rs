//! The console and the status page in a real browser: Debian's `chromium`
//! driven through `chromedriver` (WebDriver), with axe-core checking every
//! page for accessibility. Screenshots of the main pages, light and dark,
//! desktop and phone width, are written to `target/screenshots/`.
//!
//! Needs `chromium`, `chromium-driver` and axe-core (`scripts/browser-tools.sh`
//! installs them; `.ci/run` calls it). Without them the test says SKIPPED,
//! unless `FIREBELL_REQUIRE_BROWSER=1` (CI), where it fails instead.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// axe-core's script, from `FIREBELL_AXE_JS` or where the tools script puts it.
fn axe_path() -> PathBuf {
    std::env::var_os("FIREBELL_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".browser-tools/node_modules/axe-core/axe.min.js"))
}

/// Whether the browser tools are here; loud when not.
fn tools_present() -> bool {
    let missing: Vec<String> = [
        PathBuf::from(CHROMIUM),
        PathBuf::from(CHROMEDRIVER),
        axe_path(),
    ]
    .into_iter()
    .filter(|p| !p.exists())
    .map(|p| p.display().to_string())
    .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "browser tests need {} (run scripts/browser-tools.sh)",
        missing.join(", ")
    );
    if std::env::var("FIREBELL_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    false
}

/// A running chromedriver, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Dropped (killed and waited for) on every path from here.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await
                && r.status().is_success()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    /// A fresh browser (its own profile: its own cookies), light or dark.
    async fn browser(&self, dark: bool) -> Client {
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--lang=en-US",
        ];
        if dark {
            args.push("--force-dark-mode");
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

struct Checks {
    axe: String,
    shots: PathBuf,
}

impl Checks {
    /// axe-core on the current page: no serious or critical violation.
    async fn axe(&self, b: &Client, page: &str) {
        b.execute(&format!("{}\nreturn true;", self.axe), vec![])
            .await
            .unwrap();
        let found = b
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ["violations"] }).then(r => done(
                     r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
                       .map(v => v.impact + " " + v.id + ": " + v.help + " at " +
                            v.nodes.map(n => n.target.join(" ")).slice(0, 5).join(", "))));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(found, json!([]), "axe-core on {page}");
    }

    async fn shot(&self, b: &Client, name: &str) {
        let png = b.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Nothing wider than a 360 px phone screen.
    async fn fits_a_phone(&self, b: &Client, page: &str) {
        let widths = b
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        if scroll > inner {
            // Name the sections wider than the screen, to say where to look.
            let wide = b
                .execute(
                    "return [...document.querySelectorAll('main section, main table, main form')].filter(e => e.getBoundingClientRect().width > window.innerWidth).map(e => e.tagName + '#' + e.id + '.' + e.className);",
                    vec![],
                )
                .await
                .unwrap();
            panic!("{page} scrolls sideways at {inner} px: {scroll} px wide; too wide: {wide}");
        }
    }
}

async fn text_of(b: &Client, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn path_of(b: &Client) -> String {
    b.current_url().await.unwrap().path().to_string()
}

/// Click what submits a form, and wait for the next page to have loaded
/// (a marker in the old page is gone, the new one is complete).
async fn submit(b: &Client, css: &str) {
    b.execute("window.__oldPage = true;", vec![]).await.unwrap();
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for _ in 0..100 {
        let loaded = b
            .execute(
                "return window.__oldPage !== true && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if loaded.is_ok_and(|v| v == json!(true)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("submitting {css} loaded no page");
}

/// The path once it starts with `prefix` (a click's navigation may still be
/// under way when the click returns).
async fn wait_for_path(b: &Client, prefix: &str) -> String {
    for _ in 0..100 {
        let path = path_of(b).await;
        if path.starts_with(prefix) {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never reached {prefix}: at {}", path_of(b).await);
}

async fn sign_in(b: &Client, app: &TestApp) {
    b.goto(&app.url("/")).await.unwrap();
    assert_eq!(
        path_of(b).await,
        "/login",
        "not signed in: the sign-in page"
    );
    b.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&app.admin_token)
        .await
        .unwrap();
    submit(b, "form[action='/login'] button").await;
    assert_eq!(
        wait_for_path(b, "/").await,
        "/",
        "signed in: the incident list"
    );
}

/// Wait (up to 10 s) until `css`'s text contains `needle`.
async fn wait_for_text(b: &Client, css: &str, needle: &str) {
    for _ in 0..100 {
        if text_of(b, css).await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}: {}", text_of(b, css).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_the_status_page_in_a_real_browser() {
    if !tools_present() {
        return;
    }
    let checks = Checks {
        axe: std::fs::read_to_string(axe_path()).unwrap(),
        shots: repo().join("target/screenshots"),
    };
    std::fs::create_dir_all(&checks.shots).unwrap();
    let driver = Driver::start().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let a = driver.browser(false).await;

    // Sign in with the printed token, then declare from the list page.
    a.goto(&app.url("/")).await.unwrap();
    checks.axe(&a, "the sign-in page").await;
    checks.shot(&a, "login-desktop-light").await;
    sign_in(&a, &app).await;
    checks.axe(&a, "the incident list").await;
    a.find(Locator::Css("details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    a.find(Locator::Id("d-title"))
        .await
        .unwrap()
        .send_keys("Checkout failing for some customers")
        .await
        .unwrap();
    a.find(Locator::Id("d-severity"))
        .await
        .unwrap()
        .select_by_value("P1")
        .await
        .unwrap();
    a.find(Locator::Css("input[name=service][value=api]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&a, "form[action='/incidents'] button[type=submit]").await;
    let room = wait_for_path(&a, "/incidents/INC-").await;
    let id = room.trim_start_matches("/incidents/").to_string();
    assert!(text_of(&a, "h1").await.contains("Checkout failing"));
    checks.axe(&a, "the incident room").await;
    checks.shot(&a, "incident-desktop-light").await;

    // Keyboard: the first Tab reaches the skip link.
    a.execute("document.body.focus();", vec![]).await.unwrap();
    a.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = a
        .execute("return document.activeElement.className;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "skip", "Tab first reaches 'Skip to content'");

    // A second browser posts a public update; the first sees it appear
    // without a reload (a marker set in its page survives).
    a.execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    let b = driver.browser(false).await;
    sign_in(&b, &app).await;
    b.goto(&app.url(&room)).await.unwrap();
    b.find(Locator::Css("input[name=visibility][value=public]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(Locator::Id("u-message"))
        .await
        .unwrap()
        .send_keys("We found the cause and are rolling back.")
        .await
        .unwrap();
    // The preview shows exactly what will be posted, before it is.
    b.find(Locator::Id("preview-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&b, "#preview", "We found the cause").await;
    submit(&b, "#update-form button[type=submit]").await;
    wait_for_text(&a, "#timeline", "We found the cause and are rolling back.").await;
    assert_eq!(
        a.execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "live, not reloaded"
    );
    // Internal words from the second browser.
    b.find(Locator::Id("n-text"))
        .await
        .unwrap()
        .send_keys("SECRET internal note: db-3 credentials rotated")
        .await
        .unwrap();
    submit(&b, "form[action$='/notes'] button").await;
    b.find(Locator::Id("u-message"))
        .await
        .unwrap()
        .send_keys("SECRET internal update: blame the vendor")
        .await
        .unwrap();
    submit(&b, "#update-form button[type=submit]").await;
    wait_for_text(&a, "#timeline", "SECRET internal update").await;

    // The customer's view: the incident and its public update only.
    a.goto(&app.url("/status")).await.unwrap();
    let page = text_of(&a, "body").await;
    assert!(
        page.contains("Checkout failing for some customers"),
        "{page}"
    );
    assert!(page.contains("We found the cause and are rolling back."));
    assert!(page.contains("Partial outage"));
    assert!(!page.contains("SECRET"), "{page}");
    checks.axe(&a, "the status page").await;
    checks.shot(&a, "status-desktop-light").await;
    for path in [
        "/status/feed.atom",
        "/status/api/v2/summary.json",
        "/status/api/v2/incidents.json",
    ] {
        let body = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("We found the cause"), "{path}");
        assert!(!body.contains("SECRET"), "{path}: {body}");
    }
    // A customer subscribes from the page (the demo takes webhooks) and is
    // told to confirm; the admins see the sign-up in the console.
    a.find(Locator::Id("sub-webhook"))
        .await
        .unwrap()
        .send_keys("http://127.0.0.1:9/hooks/status")
        .await
        .unwrap();
    submit(&a, ".subscribe button[type=submit]").await;
    let answer = text_of(&a, "body").await;
    assert!(answer.contains("Almost done"), "{answer}");
    checks.axe(&a, "the subscription answer").await;
    a.goto(&app.url("/subscribers")).await.unwrap();
    let listed = text_of(&a, "main").await;
    assert!(
        listed.contains("http://127.0.0.1:9/hooks/status") && listed.contains("pending"),
        "{listed}"
    );
    // The learning loop's pages: the room with its postmortem and action
    // items, and the reports with their charts.
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/action-items"),
            json!({"title": "Add a canary stage", "owner": "omar", "due_at": "2026-12-01T10:00:00Z"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let (status, v) = app
        .post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    assert!(status.is_success(), "{v}");
    a.goto(&app.url(&format!("/incidents/{id}"))).await.unwrap();
    assert!(text_of(&a, "main").await.contains("Postmortem"));
    checks
        .axe(&a, "the incident room with its postmortem")
        .await;
    a.goto(&app.url("/reports")).await.unwrap();
    assert!(text_of(&a, "main").await.contains("Incidents per week"));
    checks.axe(&a, "the reports page").await;
    a.goto(&app.url("/duties")).await.unwrap();
    checks.axe(&a, "the duties page").await;
    a.goto(&app.url("/status?lang=ar")).await.unwrap();
    let dir = a
        .execute(
            "return [document.documentElement.dir, document.documentElement.lang, getComputedStyle(document.body).direction];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        dir,
        json!(["rtl", "ar", "rtl"]),
        "the Arabic page reads right to left"
    );
    checks.axe(&a, "the Arabic status page").await;
    checks.shot(&a, "status-ar-desktop-light").await;

    // Phone width: nothing scrolls sideways.
    a.set_window_size(360, 780).await.unwrap();
    for (path, name) in [
        ("/", "incidents-phone-light"),
        (room.as_str(), "incident-phone-light"),
        ("/status", "status-phone-light"),
    ] {
        a.goto(&app.url(path)).await.unwrap();
        checks.fits_a_phone(&a, path).await;
        checks.shot(&a, name).await;
    }
    a.set_window_size(1280, 900).await.unwrap();

    // A form without its CSRF token is refused, and nothing is written.
    a.goto(&app.url(&room)).await.unwrap();
    a.execute(
        "document.querySelector(\"form[action$='/notes'] input[name=csrf]\").remove();",
        vec![],
    )
    .await
    .unwrap();
    a.find(Locator::Id("n-text"))
        .await
        .unwrap()
        .send_keys("forged")
        .await
        .unwrap();
    submit(&a, "form[action$='/notes'] button").await;
    assert!(text_of(&a, "body").await.contains("anti-forgery"));
    let notes = app.events_of(&id, "note_added").await;
    assert_eq!(notes.len(), 1, "only the real note: {notes:?}");

    // Dark mode, for the screenshots (and axe's contrast check in it).
    let dark = driver.browser(true).await;
    sign_in(&dark, &app).await;
    assert_eq!(
        dark.execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![]
        )
        .await
        .unwrap(),
        json!(true)
    );
    checks.axe(&dark, "the incident list, dark").await;
    checks.shot(&dark, "incidents-desktop-dark").await;
    dark.goto(&app.url(&room)).await.unwrap();
    checks.axe(&dark, "the incident room, dark").await;
    checks.shot(&dark, "incident-desktop-dark").await;
    dark.goto(&app.url("/status")).await.unwrap();
    checks.axe(&dark, "the status page, dark").await;
    checks.shot(&dark, "status-desktop-dark").await;
    dark.set_window_size(360, 780).await.unwrap();
    dark.goto(&app.url(&room)).await.unwrap();
    checks.shot(&dark, "incident-phone-dark").await;

    // The other console pages pass axe too.
    for path in ["/oncall", "/alerts", "/maintenance", "/subscribers"] {
        dark.goto(&app.url(path)).await.unwrap();
        checks.axe(&dark, path).await;
        a.goto(&app.url(path)).await.unwrap();
        checks.axe(&a, path).await;
    }

    // An expired session goes back to the sign-in page.
    app.advance_mins(12 * 60 + 1);
    a.goto(&app.url(&room)).await.unwrap();
    assert_eq!(path_of(&a).await, "/login");

    for client in [a, b, dark] {
        client.close().await.unwrap();
    }
}
