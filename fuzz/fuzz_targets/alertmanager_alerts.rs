//! `POST /api/v2/alerts` bodies: JSON decoding and per-alert validation must
//! accept or refuse with a message, never panic.
#![no_main]
use firebell_core::alert::AlertSource;
use firebell_server::api::alertmanager::{PostableAlert, validate_alert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = "2026-11-23T10:00:00Z".parse().expect("valid instant");
    if let Ok(alerts) = serde_json::from_slice::<Vec<PostableAlert>>(data) {
        for (i, a) in alerts.into_iter().enumerate() {
            match validate_alert(i, a, AlertSource::Alertmanager, now) {
                Ok(alert) => assert_eq!(alert.key.len(), 16),
                Err(message) => assert!(message.starts_with(&format!("alerts[{i}]"))),
            }
        }
    }
});
