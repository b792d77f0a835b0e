//! `POST /api/v2/alerts` bodies: JSON decoding and per-alert validation must
//! accept or refuse with a message, never panic; and the reading that borrows
//! the body (`PostedAlert`, the door's) must agree with the owned one.
#![no_main]
use firebell_core::alert::{AlertSource, fingerprint};
use firebell_server::api::alertmanager::{PostableAlert, check_alert, validate_alert};
use firebell_server::api::posted::PostedAlert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = "2026-11-23T10:00:00Z".parse().expect("valid instant");
    let borrowed = serde_json::from_slice::<Vec<PostedAlert>>(data);
    let owned = serde_json::from_slice::<Vec<PostableAlert>>(data);
    assert_eq!(borrowed.is_ok(), owned.is_ok(), "both readings agree");
    if let (Ok(borrowed), Ok(alerts)) = (borrowed, owned) {
        for (i, (b, a)) in borrowed.iter().zip(alerts).enumerate() {
            assert_eq!(fingerprint(&b.labels), fingerprint(&a.labels));
            let checked = check_alert(i, b, now).map(|_| ());
            match validate_alert(i, a, AlertSource::Alertmanager, now) {
                Ok(alert) => {
                    assert_eq!(alert.key.len(), 16);
                    assert!(checked.is_ok());
                }
                Err(message) => {
                    assert!(message.starts_with(&format!("alerts[{i}]")));
                    assert_eq!(checked, Err(message));
                }
            }
        }
    }
});
