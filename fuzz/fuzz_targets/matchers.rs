//! Matcher syntax from amtool and query strings: parse, and if it parses,
//! printing and parsing again gives the same matchers.
#![no_main]
use firebell_core::alert::parse_matchers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(matchers) = parse_matchers(text)
    {
        let printed: Vec<String> = matchers.iter().map(ToString::to_string).collect();
        let again = parse_matchers(&printed.join(",")).expect("printed matchers parse");
        assert_eq!(matchers, again);
    }
});
