//! Label matchers and fingerprints as Alertmanager defines them: the syntax
//! amtool and the policy's routes use, the semantics of absent labels and
//! anchored regexes, and the FNV-1a fingerprint every system agrees on.

use firebell_core::alert::{
    LabelSet, MatchOp, Matcher, MatcherError, ValueTest, fingerprint, fingerprint_hex,
    format_labels, parse_matchers,
};
use proptest::prelude::*;

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher::new(name, op, value).unwrap_or_else(|e| panic!("{name}{op}{value}: {e}"))
}

fn parsed(s: &str) -> Vec<Matcher> {
    parse_matchers(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn parse_error(s: &str) -> String {
    match parse_matchers(s) {
        Ok(ms) => panic!("{s:?} should not parse, got {ms:?}"),
        Err(MatcherError(e)) => e,
    }
}

#[test]
fn parses_alertmanager_syntax_in_its_usual_forms() {
    let both = vec![
        m("alertname", MatchOp::Equal, "X"),
        m("severity", MatchOp::Regex, "crit|page"),
    ];
    for input in [
        r#"{alertname="X", severity=~"crit|page"}"#,
        r#"{alertname="X",severity=~"crit|page"}"#,
        r#"alertname="X", severity=~"crit|page""#,
        r#"alertname=X,severity=~crit|page"#,
        r#"  { alertname = "X" ,  severity =~ "crit|page" , }  "#,
        r#"alertname="X" severity=~"crit|page""#,
        r#"alertname=X severity=~crit|page"#,
        "{alertname=\"X\",\n severity=~\"crit|page\",\n}",
    ] {
        assert_eq!(parsed(input), both, "{input}");
    }
}

#[test]
fn parses_each_operator() {
    assert_eq!(parsed("a=b"), [m("a", MatchOp::Equal, "b")]);
    assert_eq!(parsed("a!=b"), [m("a", MatchOp::NotEqual, "b")]);
    assert_eq!(parsed("a=~b"), [m("a", MatchOp::Regex, "b")]);
    assert_eq!(parsed("a!~b"), [m("a", MatchOp::NotRegex, "b")]);
}

#[test]
fn empty_input_and_empty_braces_are_no_matchers() {
    assert!(parsed("").is_empty());
    assert!(parsed("   ").is_empty());
    assert!(parsed("{}").is_empty());
    assert!(parsed(" { } ").is_empty());
}

#[test]
fn values_may_be_empty() {
    assert_eq!(parsed(r#"a="""#), [m("a", MatchOp::Equal, "")]);
    assert_eq!(parsed("a="), [m("a", MatchOp::Equal, "")]);
    assert_eq!(
        parsed("{a=, b=c}"),
        [m("a", MatchOp::Equal, ""), m("b", MatchOp::Equal, "c")]
    );
}

#[test]
fn quoted_values_keep_commas_spaces_and_braces() {
    assert_eq!(
        parsed(r#"{msg="a, b } { c", x="y"}"#),
        [
            m("msg", MatchOp::Equal, "a, b } { c"),
            m("x", MatchOp::Equal, "y")
        ]
    );
}

#[test]
fn quoted_values_unescape_quote_backslash_and_newline() {
    let v = parsed(r#"quote="She said: \"Hi\"\n\\o/""#);
    assert_eq!(v[0].value, "She said: \"Hi\"\n\\o/");
    // Alertmanager's tolerance: a backslash before anything else is literal.
    assert_eq!(parsed(r#"path="C:\temp\d""#)[0].value, r"C:\temp\d");
    assert_eq!(parsed(r#"re=~"\d+""#)[0].value, r"\d+");
}

#[test]
fn utf8_and_quoted_label_names_are_accepted() {
    assert_eq!(parsed("größe=groß"), [m("größe", MatchOp::Equal, "groß")]);
    assert_eq!(
        parsed(r#"{"service name"="api"}"#),
        [m("service name", MatchOp::Equal, "api")]
    );
    assert_eq!(
        parsed("app.kubernetes.io/name=api")[0].name,
        "app.kubernetes.io/name"
    );
}

#[test]
fn an_operator_missing_is_reported_with_its_column() {
    let e = parse_error("foo");
    assert!(e.contains("expected an operator"), "{e}");
    assert!(e.contains("after `foo`"), "{e}");
    assert!(e.ends_with("at column 4"), "{e}");

    let e = parse_error("a=b, foo bar");
    assert!(e.contains("after `foo`") && e.contains("found `b`"), "{e}");
    assert!(e.ends_with("at column 10"), "{e}");

    let e = parse_error("a!b");
    assert!(e.contains("found `!`") && e.ends_with("column 2"), "{e}");
}

#[test]
fn bad_inputs_are_refused_with_precise_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"a="b"#, "unterminated quoted value starting at column 3"),
        (
            r#""a=b"#,
            "unterminated quoted label name starting at column 1",
        ),
        ("{a=b", "missing closing `}` at column 5"),
        ("a=b}", "unexpected `}` without an opening `{` at column 4"),
        (
            "{a=b} c=d",
            "unexpected `c` after the closing `}` at column 7",
        ),
        (
            "a=b,,c=d",
            "expected a matcher between commas, found `,` at column 5",
        ),
        (",a=b", "expected a matcher before `,` at column 1"),
        ("=b", "expected a label name, found `=` at column 1"),
        ("{=b}", "expected a label name, found `=` at column 2"),
        (
            r#"a="b"c=d"#,
            "expected `,` or a space between matchers, found `c` at column 6",
        ),
        (r#"a=b"c""#, "unexpected `\"` in an unquoted value"),
        ("a=~x{2}", "unexpected `{` in an unquoted value"),
        ("a=~(", "invalid regular expression `(`"),
        ("a=b, c=~[", "(matcher at column 6)"),
        ("\"\"=b", "a label name must not be empty"),
        ("\"a\\nb\"=c", "control character"),
    ];
    for (input, expected) in cases {
        let e = parse_error(input);
        assert!(e.contains(expected), "{input:?}: {e:?} lacks {expected:?}");
    }
}

#[test]
fn from_str_reads_exactly_one_matcher() -> Result<(), MatcherError> {
    let one: Matcher = r#"alertname="X""#.parse()?;
    assert_eq!(one, m("alertname", MatchOp::Equal, "X"));
    let braced: Matcher = "{severity=~crit}".parse()?;
    assert_eq!(braced, m("severity", MatchOp::Regex, "crit"));
    assert!("a=b,c=d".parse::<Matcher>().is_err());
    assert!("".parse::<Matcher>().is_err());
    Ok(())
}

#[test]
fn new_validates_names_and_regexes() {
    assert!(Matcher::new("", MatchOp::Equal, "x").is_err());
    assert!(Matcher::new("a\tb", MatchOp::Equal, "x").is_err());
    assert!(Matcher::new("ok", MatchOp::Regex, "(").is_err());
    assert!(Matcher::new("ok", MatchOp::NotRegex, "[").is_err());
    // Not a regex: anything goes.
    assert!(Matcher::new("ok", MatchOp::Equal, "(").is_ok());
    assert!(Matcher::new("ünïcödé name", MatchOp::Equal, "").is_ok());
}

#[test]
fn regexes_are_anchored() {
    let crit = m("severity", MatchOp::Regex, "crit");
    assert!(crit.matches(&labels(&[("severity", "crit")])));
    assert!(!crit.matches(&labels(&[("severity", "critical")])));
    assert!(!crit.matches(&labels(&[("severity", "subcrit")])));
    // Alternation is grouped before anchoring: not `^crit|page$`.
    let alt = m("severity", MatchOp::Regex, "crit|page");
    assert!(alt.matches(&labels(&[("severity", "page")])));
    assert!(!alt.matches(&labels(&[("severity", "critical")])));
    assert!(!alt.matches(&labels(&[("severity", "xpage")])));
    let not = m("severity", MatchOp::NotRegex, "crit|page");
    assert!(not.matches(&labels(&[("severity", "critical")])));
    assert!(!not.matches(&labels(&[("severity", "page")])));
}

#[test]
fn an_absent_label_matches_as_the_empty_string() {
    let none = LabelSet::new();
    assert!(m("team", MatchOp::Equal, "").matches(&none));
    assert!(!m("team", MatchOp::Equal, "db").matches(&none));
    assert!(m("team", MatchOp::NotEqual, "db").matches(&none));
    assert!(!m("team", MatchOp::NotEqual, "").matches(&none));
    assert!(m("team", MatchOp::Regex, "db|").matches(&none));
    assert!(m("team", MatchOp::Regex, ".*").matches(&none));
    assert!(!m("team", MatchOp::Regex, ".+").matches(&none));
    assert!(m("team", MatchOp::NotRegex, ".+").matches(&none));
    // An empty value is the same as absence.
    assert!(m("team", MatchOp::Equal, "").matches(&labels(&[("team", "")])));
}

#[test]
fn display_is_alertmanager_syntax() {
    assert_eq!(
        m("severity", MatchOp::Regex, "crit|page").to_string(),
        r#"severity=~"crit|page""#
    );
    assert_eq!(m("a", MatchOp::NotEqual, "b").to_string(), r#"a!="b""#);
    assert_eq!(m("a", MatchOp::NotRegex, "").to_string(), r#"a!~"""#);
    assert_eq!(
        m("msg", MatchOp::Equal, "say \"hi\"\n\\").to_string(),
        r#"msg="say \"hi\"\n\\""#
    );
    assert_eq!(
        m("service name", MatchOp::Equal, "x").to_string(),
        r#""service name"="x""#
    );
}

#[test]
fn display_round_trips_through_the_parser() {
    for matcher in [
        m("alertname", MatchOp::Equal, "Test"),
        m("msg", MatchOp::NotEqual, "a, \"b\" }\n{ \\c"),
        m("re", MatchOp::Regex, r"\d+\.\d+|x"),
        m("a b,c", MatchOp::NotRegex, ".*"),
        m("größe", MatchOp::Equal, ""),
    ] {
        let text = matcher.to_string();
        assert_eq!(parsed(&text), std::slice::from_ref(&matcher), "{text}");
    }
}

#[test]
fn wire_flags_are_alertmanagers() {
    let cases = [
        (MatchOp::Equal, false, true),
        (MatchOp::NotEqual, false, false),
        (MatchOp::Regex, true, true),
        (MatchOp::NotRegex, true, false),
    ];
    for (op, is_regex, is_equal) in cases {
        let matcher = m("a", op, "b");
        assert_eq!(
            (matcher.is_regex(), matcher.is_equal()),
            (is_regex, is_equal)
        );
        assert_eq!(MatchOp::from_flags(is_regex, is_equal), op);
        assert_eq!(
            Matcher::from_flags("a", "b", is_regex, is_equal).ok(),
            Some(matcher)
        );
    }
}

#[test]
fn serde_stores_name_op_value_and_recompiles_the_regex() -> Result<(), serde_json::Error> {
    let matcher = m("severity", MatchOp::Regex, "crit|page");
    let json = serde_json::to_value(&matcher)?;
    assert_eq!(
        json,
        serde_json::json!({"name": "severity", "op": "=~", "value": "crit|page"})
    );
    let back: Matcher = serde_json::from_value(json)?;
    assert!(back.matches(&labels(&[("severity", "page")])));
    assert!(!back.matches(&labels(&[("severity", "pager")])));
    let bad = serde_json::from_value::<Matcher>(
        serde_json::json!({"name": "a", "op": "=~", "value": "("}),
    );
    assert!(bad.is_err());
    let unknown_op = serde_json::from_value::<Matcher>(
        serde_json::json!({"name": "a", "op": "==", "value": "b"}),
    );
    assert!(unknown_op.is_err());
    Ok(())
}

/// FNV-1a 64 written out from its definition, independent of the crate:
/// offset basis 14695981039346656037, prime 1099511628211, XOR then multiply.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(14_695_981_039_346_656_037_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(1_099_511_628_211)
    })
}

#[test]
fn fingerprint_is_fnv1a_over_sorted_pairs_with_0xff_separators() {
    let alert = labels(&[("severity", "critical"), ("alertname", "Test")]);
    let mut bytes = Vec::new();
    for (name, value) in [("alertname", "Test"), ("severity", "critical")] {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0xff);
    }
    assert_eq!(fingerprint(&alert), fnv1a64(&bytes));
    // The same value computed by hand (Python, from the definition).
    assert_eq!(fingerprint_hex(&alert), "efcaa50ee41c2d76");
}

#[test]
fn fingerprint_matches_prometheus_test_vectors() {
    // prometheus/common model: TestMetricToFingerprint.
    assert_eq!(fingerprint(&LabelSet::new()), 14_695_981_039_346_656_037);
    let ls = labels(&[("name", "garland, briggs"), ("fear", "love is not enough")]);
    assert_eq!(fingerprint(&ls), 5_799_056_148_416_392_346);
}

#[test]
fn fingerprint_ignores_label_order_and_sees_every_byte() {
    let a = labels(&[("a", "1"), ("b", "2"), ("c", "3")]);
    let mut b = LabelSet::new();
    for (k, v) in [("c", "3"), ("a", "1"), ("b", "2")] {
        b.insert(k.into(), v.into());
    }
    assert_eq!(fingerprint(&a), fingerprint(&b));
    // The separator keeps name/value boundaries apart.
    assert_ne!(
        fingerprint(&labels(&[("ab", "c")])),
        fingerprint(&labels(&[("a", "bc")]))
    );
    assert_ne!(
        fingerprint(&a),
        fingerprint(&labels(&[("a", "1"), ("b", "2")]))
    );
    assert_eq!(fingerprint_hex(&a).len(), 16);
}

#[test]
fn label_sets_print_sorted_and_escaped() {
    assert_eq!(
        format_labels(&labels(&[("service", "api"), ("alertname", "X")])),
        r#"{alertname="X",service="api"}"#
    );
    assert_eq!(format_labels(&LabelSet::new()), "{}");
    assert_eq!(
        format_labels(&labels(&[("a", "say \"hi\"")])),
        r#"{a="say \"hi\""}"#
    );
}

fn op_strategy() -> impl Strategy<Value = MatchOp> {
    prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::Regex),
        Just(MatchOp::NotRegex),
    ]
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
        // Any name without control characters, including ones that must be quoted.
        "[^\\p{Cc}]{1,12}",
    ]
}

fn matcher_strategy() -> impl Strategy<Value = Matcher> {
    (name_strategy(), op_strategy(), any::<String>())
        .prop_filter_map("regex must compile", |(name, op, value)| {
            Matcher::new(&name, op, &value).ok()
        })
}

proptest! {
    #[test]
    fn display_then_parse_is_the_identity(matcher in matcher_strategy()) {
        let text = matcher.to_string();
        prop_assert_eq!(parse_matchers(&text), Ok(vec![matcher.clone()]), "{}", text);
        prop_assert_eq!(text.parse::<Matcher>(), Ok(matcher));
    }

    #[test]
    fn a_displayed_list_parses_back(
        list in proptest::collection::vec(matcher_strategy(), 0..5),
        spaced in any::<bool>(),
    ) {
        let sep = if spaced { ", " } else { "," };
        let text = format!(
            "{{{}}}",
            list.iter().map(ToString::to_string).collect::<Vec<_>>().join(sep)
        );
        prop_assert_eq!(parse_matchers(&text), Ok(list), "{}", text);
    }

    #[test]
    fn the_parser_never_panics(input in any::<String>()) {
        let _ = parse_matchers(&input);
    }

    /// The SQL narrowing never drops a match: every value a regex matcher
    /// accepts starts with one of its prefixes (values drawn from the
    /// pattern itself).
    #[test]
    fn every_match_passes_the_value_test(
        (pattern, values) in proptest::collection::vec(
            prop_oneof![
                Just("a"), Just("node-"), Just("ü"), Just("[0-9]"), Just("[a-c]{2}"),
                Just("x?"), Just("(ab|c)"), Just("(?i)q"), Just(".*"), Just("z+"), Just("|"),
            ],
            1..6,
        )
        .prop_map(|pieces| pieces.concat())
        .prop_filter("compiles", |p| Matcher::new("l", MatchOp::Regex, p).is_ok())
        .prop_flat_map(|p| {
            let values = proptest::collection::vec(
                proptest::string::string_regex(&p).expect("a pattern proptest can draw from"),
                1..8,
            );
            (Just(p), values)
        }),
    ) {
        let m = Matcher::new("l", MatchOp::Regex, &pattern).unwrap();
        if let Some(test) = m.value_test() {
            for v in values.iter().filter(|v| m.matches_value(v)) {
                let passes = match &test {
                    ValueTest::Equals(x) => v == x,
                    ValueTest::StartsWith(ps) => ps.iter().any(|p| v.starts_with(p.as_str())),
                };
                prop_assert!(passes, "{} accepts {:?} but {:?} refuses it", pattern, v, test);
            }
        }
    }
}
