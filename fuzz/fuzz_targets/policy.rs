//! The policy loader must answer any text with a policy or located errors —
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(errors) = firebell_core::Policy::parse(text, "fuzz.toml")
    {
        assert!(
            !errors.0.is_empty(),
            "an error result lists at least one problem"
        );
    }
});
