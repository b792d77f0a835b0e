//! Alertmanager webhook bodies (`/api/v1/alertmanager/webhook`): accepted as
//! alerts or refused with a 400 naming the problem, never a panic.
#![no_main]
use firebell_server::api::alertmanager_webhook::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = "2026-11-23T10:00:00Z".parse().expect("valid instant");
    match parse(data, now) {
        Ok(alerts) => {
            for a in alerts {
                assert!(!a.key.is_empty());
            }
        }
        Err(e) => assert_eq!(e.status().as_u16(), 400),
    }
});
