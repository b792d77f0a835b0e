//! The signed-webhook check sees attacker-controlled headers and bodies before
//! anything else: it must refuse garbage with a message, never panic.
#![no_main]
use firebell_server::api::webhooks::verify_signature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (String, Vec<u8>)| {
    let (header, body) = data;
    let mut headers = axum_http::HeaderMap::new();
    if let Ok(value) = header.parse() {
        headers.insert("x-firebell-signature", value);
    }
    let now = firebell_core::Timestamp::from_second(1_800_000_000).expect("valid instant");
    let _ = verify_signature(&headers, "fuzz-secret", &body, now);
});
