//! PagerDuty Events v2 bodies (`/v2/enqueue`): a trigger becomes an alert,
//! an acknowledge or resolve is accepted, anything else is refused with
//! PagerDuty's 400 — never a panic.
#![no_main]
use std::sync::OnceLock;

use firebell_core::Policy;
use firebell_server::api::pagerduty::check_event;
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let demo = firebell_core::policy::DEMO_POLICY;
        let src = format!(
            "{demo}\n[[integrations]]\nname = \"fuzz\"\nrouting_key = \"0123456789abcdef0123456789abcdef\"\nservice = \"api\"\n"
        );
        Policy::parse(&src, "fuzz.toml").expect("the fuzz policy loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let policy = policy();
    let integration = &policy.integrations[0];
    let now = "2026-11-23T10:00:00Z".parse().expect("valid instant");
    match check_event(data, policy, integration, now) {
        Ok(Some(alert)) => assert!(alert.key.starts_with("pd:fuzz:")),
        Ok(None) => {}
        Err(e) => assert_eq!(e.0.status().as_u16(), 400),
    }
});
