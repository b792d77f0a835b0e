//! The policy loader: every problem found, each at the right line:column,
//! with the key path and a message that says what was expected.

use firebell_core::Policy;
use firebell_core::policy::{PolicyError, PolicyErrors};

/// Parse `src` expecting failure; the errors in file order.
fn errors(src: &str) -> Vec<PolicyError> {
    match Policy::parse(src, "p.toml") {
        Ok(_) => panic!("expected errors, the policy loaded:\n{src}"),
        Err(PolicyErrors(errors)) => errors,
    }
}

/// The single error `src` produces.
fn only_error(src: &str) -> PolicyError {
    let errors = errors(src);
    assert_eq!(errors.len(), 1, "expected one error, got: {errors:#?}");
    errors.into_iter().next().expect("one error")
}

/// A minimal valid policy; cases append to it (it ends on line 3).
const BASE: &str = "[[severities]]\nname = \"P0\"\ndescription = \"Down\"\n";

fn with_base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn at(e: &PolicyError) -> (usize, usize) {
    (e.line, e.column)
}

#[test]
fn the_base_policy_loads_and_defaults_its_version() {
    let p = Policy::parse(BASE, "p.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.version, 1, "absent version means 1");
    assert_eq!(p.severity_names(), ["P0"]);
}

#[test]
fn a_syntax_error_is_located_by_the_toml_parser() {
    let e = only_error("version = 1\n[[severities]]\nname = \"P0\"\ndescription = Down\n");
    assert_eq!(at(&e), (4, 15));
    assert_eq!(e.path, "(syntax)");
    assert!(e.message.contains("quoted"), "{}", e.message);
    assert_eq!(
        e.to_string(),
        format!("p.toml:4:15: (syntax): {}", e.message)
    );
}

#[test]
fn a_duplicate_key_is_a_syntax_error_at_the_second_one() {
    let e = only_error("[[severities]]\nname = \"P0\"\nname = \"P1\"\n");
    assert_eq!((at(&e), e.path.as_str()), ((3, 1), "(syntax)"));
    assert!(e.message.contains("duplicate key"), "{}", e.message);
}

#[test]
fn an_unknown_key_in_the_second_severity_is_located_and_explained() {
    let src = "version = 1\n\n[[severities]]\nname = \"P0\"\n\n[[severities]]\nname = \"P1\"\n  updte_every = \"30m\"\n";
    let e = only_error(src);
    assert_eq!(at(&e), (8, 3));
    assert_eq!(e.path, "severities[1].updte_every");
    assert!(
        e.message
            .starts_with("unknown key `updte_every`; did you mean `update_every`?"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("expected one of: name, label, description,"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_keys_are_found_at_every_depth() {
    let src = "colour = \"red\"\n\
               [[severities]]\nname = \"P0\"\n\
               [severities.postmortem]\nwithin = \"48h\"\nowner = \"x\"\n\
               [people.alice]\nname = \"Alice\"\ncontacts = [{ kind = \"slack\", address = \"@a\", handle = \"a\" }]\n";
    let errors = errors(src);
    let found: Vec<(&str, (usize, usize))> =
        errors.iter().map(|e| (e.path.as_str(), at(e))).collect();
    assert_eq!(
        found,
        [
            ("colour", (1, 1)),
            ("severities[0].postmortem.owner", (6, 1)),
            ("people.alice.contacts[0].handle", (9, 47)),
        ]
    );
    assert!(
        errors[0]
            .message
            .contains("expected one of: version, organization, calendar"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[2]
            .message
            .ends_with("expected one of: kind, address"),
        "{}",
        errors[2].message
    );
}

#[test]
fn a_type_error_says_what_was_expected_and_where() {
    let e = only_error(&with_base("update_every = 15\n"));
    assert_eq!(at(&e), (4, 16));
    assert_eq!(e.path, "severities[0].update_every");
    assert!(
        e.message
            .contains("expected a duration string like \"15m\""),
        "{}",
        e.message
    );
}

#[test]
fn a_bad_duration_string_is_explained() {
    let e = only_error(&with_base("respond_within = \"soon\"\n"));
    assert_eq!(
        (at(&e), e.path.as_str()),
        ((4, 18), "severities[0].respond_within")
    );
    assert!(
        e.message.contains("\"soon\"") && e.message.contains("15m"),
        "{}",
        e.message
    );
}

#[test]
fn an_unknown_enum_value_lists_the_allowed_ones() {
    let e = only_error(&with_base("paging = \"sometimes\"\n"));
    assert_eq!((at(&e), e.path.as_str()), ((4, 10), "severities[0].paging"));
    assert!(
        e.message.contains("`always`, `business_hours`, `never`"),
        "{}",
        e.message
    );
}

#[test]
fn an_unquoted_date_is_explained() {
    let e = only_error(&with_base(
        "[calendar]\nholidays = [\"2026-01-01\", 2026-09-23]\n",
    ));
    assert_eq!((at(&e), e.path.as_str()), ((5, 27), "calendar.holidays[1]"));
    assert!(e.message.contains("\"2026-09-23\""), "{}", e.message);
}

#[test]
fn type_errors_in_different_sections_are_all_reported() {
    let src = "[calendar]\ntime_zone = 3\n\n[[severities]]\nname = \"P0\"\nupdate_every = 15\n\n[[severities]]\nname = \"P1\"\nack_within = true\n";
    let found: Vec<(String, (usize, usize))> = errors(src)
        .iter()
        .map(|e| (e.path.clone(), at(e)))
        .collect();
    assert_eq!(
        found,
        [
            ("calendar.time_zone".to_string(), (2, 13)),
            ("severities[0].update_every".to_string(), (6, 16)),
            ("severities[1].ack_within".to_string(), (10, 14)),
        ]
    );
}

#[test]
fn a_semantic_error_points_at_the_offending_value() {
    let e = only_error(&with_base(
        "\n[teams.platform]\nname = \"Platform\"\n\n[services.api]\nowner_team = \"platfrom\"\n",
    ));
    assert_eq!(at(&e), (9, 14));
    assert_eq!(e.path, "services.api.owner_team");
    assert_eq!(
        e.message,
        "unknown team `platfrom`; defined teams: platform"
    );
}

#[test]
fn three_separate_problems_are_all_reported_in_file_order() {
    let src = "version = 1\n\
               [[severities]]\n\
               name = \"P0\"\n\
               update_every = 15\n\
               [[checklists]]\n\
               key = \"first\"\n\
               title = \"First\"\n\
               severities = [\"P9\"]\n\
               items = [{ key = \"a\", text = \"A\" }]\n\
               [services.api]\n\
               owner = \"platform\"\n";
    let errors = errors(src);
    let found: Vec<(usize, usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (4, 16, "severities[0].update_every"),
            (8, 15, "checklists[0].severities[0]"),
            (11, 1, "services.api.owner")
        ],
        "{errors:#?}"
    );
    let text = PolicyErrors(errors).to_string();
    assert_eq!(text.lines().count(), 3, "one line per problem:\n{text}");
    assert!(text.lines().all(|l| l.starts_with("p.toml:")), "{text}");
}

#[test]
fn echoes_of_a_type_error_are_not_reported() {
    // `name = 5` is dropped; "a severity's name must not be empty" would be an echo.
    let e = only_error("[[severities]]\nname = 5\n");
    assert_eq!((at(&e), e.path.as_str()), ((2, 8), "severities[0].name"));
    assert!(e.message.contains("expected a string"), "{}", e.message);
}

#[test]
fn a_whole_section_of_the_wrong_type_is_reported_once() {
    let errors = errors("version = 1\nseverities = \"P0\"\n");
    let found: Vec<(&str, (usize, usize))> =
        errors.iter().map(|e| (e.path.as_str(), at(e))).collect();
    assert_eq!(found, [("severities", (2, 14))], "{errors:#?}");
}

/// `(extra TOML appended to BASE, path of the error, fragment of its message)`.
/// Each case must produce exactly that one error, located at that path's value.
const SEMANTIC_CASES: &[(&str, &str, &str)] = &[
    (
        "[[severities]]\nname = \"p0\"\n",
        "severities[1].name",
        "duplicate severity name `p0`",
    ),
    (
        "[[severities]]\nname = \"  \"\n",
        "severities[1].name",
        "must not be empty",
    ),
    (
        "channels = [\"chat\", \"pigeon\"]\n",
        "severities[0].channels[1]",
        "unknown channel `pigeon`",
    ),
    (
        "channels = [\"chat\", \"chat\"]\n",
        "severities[0].channels[1]",
        "listed twice",
    ),
    (
        "postmortem = { within = \"48h\", within_business_days = 3 }\n",
        "severities[0].postmortem.within_business_days",
        "not both",
    ),
    (
        "postmortem = { within_business_days = 0 }\n",
        "severities[0].postmortem.within_business_days",
        "1 to 366",
    ),
    (
        "respond_within = \"1h\"\nrespond_within_business_days = 1\n",
        "severities[0].respond_within_business_days",
        "not both",
    ),
    (
        "[[roles]]\nkey = \"ic\"\nname = \"IC\"\n[[roles]]\nkey = \"IC\"\nname = \"Other\"\n",
        "roles[1].key",
        "duplicate role key `IC`",
    ),
    (
        "[[roles]]\nkey = \"incident_commander\"\nname = \"IC\"\nshort = \"IC\"\n[[roles]]\nkey = \"comms\"\nname = \"C\"\nshort = \"ic\"\n",
        "roles[1].short",
        "already used by roles[0]",
    ),
    (
        "[[roles]]\nkey = \"scribe\"\n",
        "roles[0].name",
        "must not be empty",
    ),
    (
        "[[checklists]]\nkey = \"a\"\ntitle = \"A\"\nitems = [{ key = \"x\", text = \"X\" }]\n[[checklists]]\nkey = \"a\"\ntitle = \"B\"\nitems = [{ key = \"y\", text = \"Y\" }]\n",
        "checklists[1].key",
        "duplicate checklist key `a`",
    ),
    (
        "[[checklists]]\nkey = \"a\"\ntitle = \"A\"\nitems = [{ key = \"x\", text = \"X\" }, { key = \"x\", text = \"Y\" }]\n",
        "checklists[0].items[1].key",
        "duplicate item key `x`",
    ),
    (
        "[[checklists]]\nkey = \"a\"\ntitle = \"A\"\nseverities = [\"P0\", \"P7\"]\nitems = [{ key = \"x\", text = \"X\" }]\n",
        "checklists[0].severities[1]",
        "unknown severity `P7`; defined severities: P0",
    ),
    (
        "[[checklists]]\nkey = \"a\"\ntitle = \"A\"\n",
        "checklists[0].items",
        "at least one item",
    ),
    (
        "[templates.x]\ndescription = \"nothing\"\n",
        "templates.x",
        "at least one body",
    ),
    (
        "[templates.x.body]\nen = \"{{ incident.title \"\n",
        "templates.x.body.en",
        "template does not compile",
    ),
    (
        "[templates.x.body]\nen = \"{{ incident.titel }}\"\n",
        "templates.x.body.en",
        "unknown variable `incident.titel`",
    ),
    (
        "[templates.x.body]\nen = \"{{ org.channel }}\"\n",
        "templates.x.body.en",
        "unknown variable `org.channel`",
    ),
    (
        "[templates.x.body]\nen = \"{{ incidnet.id }}\"\n",
        "templates.x.body.en",
        "unknown variable `incidnet`",
    ),
    (
        "[services.api]\ndependencies = [\"api\"]\n",
        "services.api.dependencies[0]",
        "cannot depend on itself",
    ),
    (
        "[services.api]\ndependencies = [\"db\"]\n",
        "services.api.dependencies[0]",
        "unknown service `db`",
    ),
    (
        "[services.api]\ncontacts = [\"bob\"]\n",
        "services.api.contacts[0]",
        "unknown person `bob`",
    ),
    (
        "[teams.t]\nmembers = [\"bob\"]\n",
        "teams.t.members[0]",
        "unknown person `bob`; no people are defined",
    ),
    (
        "[calendar]\ntime_zone = \"Asia/Ryadh\"\n",
        "calendar.time_zone",
        "unknown time zone `Asia/Ryadh`",
    ),
    (
        "[calendar]\nworking_days = [\"sun\", \"fri\", \"Sun\"]\n",
        "calendar.working_days[2]",
        "listed twice",
    ),
    (
        "[calendar]\nworking_days = [\"sunday\"]\n",
        "calendar.working_days[0]",
        "expected one of: sun, mon",
    ),
    (
        "[calendar]\nworking_days = []\n",
        "calendar.working_days",
        "at least one working day",
    ),
    (
        "[calendar]\nworking_hours = { start = \"9am\", end = \"17:00\" }\n",
        "calendar.working_hours.start",
        "HH:MM",
    ),
    (
        "[calendar]\nworking_hours = { start = \"17:00\", end = \"09:00\" }\n",
        "calendar.working_hours.end",
        "must be after",
    ),
    (
        "[calendar]\nholidays = [\"2026-02-30\"]\n",
        "calendar.holidays[0]",
        "YYYY-MM-DD",
    ),
    (
        "[incident_ids]\nprefix = \"INC_\"\n",
        "incident_ids.prefix",
        "ASCII letters, digits or `-`",
    ),
    (
        "[incident_ids]\ndigits = 0\n",
        "incident_ids.digits",
        "1 to 9",
    ),
    (
        "[incident_ids]\ntime_zone = \"Nowhere\"\n",
        "incident_ids.time_zone",
        "unknown time zone",
    ),
    (
        "[people.a]\ntime_zone = \"Mars/Base\"\n",
        "people.a.time_zone",
        "unknown time zone",
    ),
    (
        "[people.a]\nlocale = \"arabic\"\n",
        "people.a.locale",
        "not a locale tag",
    ),
    (
        "[people.a]\ncontacts = [{ kind = \"pager\", address = \"123\" }]\n",
        "people.a.contacts[0].kind",
        "unknown contact kind `pager`",
    ),
    (
        "[people.a]\ncontacts = [{ kind = \"email\", address = \"alice.example.com\" }]\n",
        "people.a.contacts[0].address",
        "email address",
    ),
    (
        "[people.a]\ncontacts = [{ kind = \"phone\", address = \"[On-call phone]\" }]\n",
        "people.a.contacts[0].address",
        "phone number",
    ),
    (
        "[people.a]\ncontacts = [{ kind = \"webhook\", address = \"hooks.example.com\" }]\n",
        "people.a.contacts[0].address",
        "http(s) URL",
    ),
    (
        "[people.a]\ncontacts = [{ kind = \"slack\" }]\n",
        "people.a.contacts[0].address",
        "must not be empty",
    ),
    (
        "[[obligations]]\nkey = \"pdpl\"\ntitle = \"Notify\"\ntags = [\"breach\"]\n",
        "obligations[0].within",
        "`within` is required",
    ),
    (
        "[[obligations]]\nkey = \"pdpl\"\ntitle = \"Notify\"\ntags = [\"breach\"]\nwithin = \"72h\"\n[[obligations]]\nkey = \"pdpl\"\ntitle = \"Again\"\ntags = [\"breach\"]\nwithin = \"1h\"\n",
        "obligations[1].key",
        "duplicate obligation key `pdpl`",
    ),
    (
        "[[obligations]]\nkey = \"pdpl\"\ntitle = \"Notify\"\ntags = [\"breach\"]\nwithin = \"72h\"\nremind_before = [\"24h\", \"96h\"]\n",
        "obligations[0].remind_before[1]",
        "before the clock starts",
    ),
    (
        "[[obligations]]\nkey = \"pdpl\"\ntitle = \"Notify\"\nwithin = \"72h\"\n",
        "obligations[0].tags",
        "at least one tag",
    ),
    (
        "commander_within = \"15m\"\n",
        "severities[0].commander_within",
        "needs a role with key `incident_commander`",
    ),
    (
        "[organization]\ndefault_locale = \"english\"\n",
        "organization.default_locale",
        "not a locale tag",
    ),
    (
        "[organization]\nstatus_page_url = \"status.example.com\"\n",
        "organization.status_page_url",
        "http(s) URL",
    ),
];

#[test]
fn every_semantic_rule_is_checked_and_located() {
    for (extra, path, fragment) in SEMANTIC_CASES {
        // Table headers must come after the base severity's keys; bare keys
        // belong to it.
        let src = with_base(extra);
        let errors = errors(&src);
        assert_eq!(
            errors.len(),
            1,
            "case {path}: expected one error, got {errors:#?}"
        );
        let e = &errors[0];
        assert_eq!(e.path, *path, "case {path}: {e}");
        assert!(
            e.message.contains(fragment),
            "case {path}: {:?} lacks {fragment:?}",
            e.message
        );
        assert!(
            e.line > 3 || *path == "severities",
            "case {path}: located in the appended text, not the base: {e}"
        );
    }
}

#[test]
fn semantic_errors_point_at_values_or_at_the_table_missing_a_key() {
    // A present value: its first character.
    let e = only_error(&with_base("[calendar]\ntime_zone = \"Mars/Base\"\n"));
    assert_eq!(at(&e), (5, 13));
    // A missing required key: the header of the table that lacks it.
    let e = only_error(&with_base(
        "\n[[obligations]]\nkey = \"pdpl\"\ntitle = \"Notify\"\ntags = [\"breach\"]\n",
    ));
    assert_eq!(at(&e), (5, 1));
    // A bad locale key in a template body: the key itself.
    let e = only_error(&with_base("[templates.x.body]\nenglish = \"hi\"\n"));
    assert_eq!(
        (at(&e), e.path.as_str()),
        ((5, 1), "templates.x.body.english")
    );
}

#[test]
fn a_template_error_is_located_on_its_line_inside_the_template() {
    let src = with_base(
        "[templates.x]\nbody.en = \"\"\"\nline one\n{{ incident.title }}\n{% if %}\n\"\"\"\n",
    );
    let e = only_error(&src);
    assert_eq!(e.path, "templates.x.body.en");
    assert_eq!(at(&e), (8, 1), "{e}");
    assert!(
        e.message.contains("line 3 of the template"),
        "{}",
        e.message
    );
}

#[test]
fn an_empty_file_needs_a_severity() {
    let e = only_error("");
    assert_eq!((at(&e), e.path.as_str()), ((1, 1), "severities"));
    assert!(e.message.contains("at least one severity"), "{}", e.message);
}

#[test]
fn only_version_one_is_read() {
    for version in ["0", "2"] {
        let e = only_error(&format!("version = {version}\n{BASE}"));
        assert_eq!((at(&e), e.path.as_str()), ((1, 11), "version"));
        assert!(
            e.message
                .contains(&format!("unsupported version {version}")),
            "{}",
            e.message
        );
    }
}

#[test]
fn errors_serialize_for_the_api() -> Result<(), serde_json::Error> {
    let Err(errs) = Policy::parse(
        "version = 2\n[[severities]]\nname = \"P0\"\n",
        "policy.toml",
    ) else {
        panic!("version 2 must be refused");
    };
    let json = serde_json::to_value(&errs)?;
    assert_eq!(json[0]["file"], "policy.toml");
    assert_eq!(
        (json[0]["line"].as_u64(), json[0]["column"].as_u64()),
        (Some(1), Some(11))
    );
    assert_eq!(json[0]["path"], "version");
    Ok(())
}

/// Outside input never panics the loader: every prefix of a real policy
/// either loads or yields located errors.
#[test]
fn truncated_policies_never_panic_and_stay_located() {
    let src = firebell_core::policy::DEMO_POLICY;
    let cuts = (0..src.len())
        .filter(|i| src.is_char_boundary(*i))
        .step_by(5);
    for cut in cuts {
        let part = &src[..cut];
        if let Err(PolicyErrors(errors)) = Policy::parse(part, "cut.toml") {
            assert!(!errors.is_empty(), "an Err has at least one error");
            let lines = part.lines().count().max(1) + 1;
            for e in errors {
                assert!(
                    e.line >= 1 && e.line <= lines && e.column >= 1,
                    "{e} (cut at {cut})"
                );
            }
        }
    }
}

#[test]
fn maintenance_notice_and_watch_are_checked() {
    let ok = Policy::parse(
        &with_base("[maintenance]\nnotice = \"7d\"\nwatch_after = \"1h\"\n"),
        "p.toml",
    )
    .expect("a week's notice and an hour's watch load");
    assert_eq!(ok.maintenance.notice.as_secs(), 7 * 86_400);
    assert_eq!(ok.maintenance.watch_after.as_secs(), 3_600);
    let e = only_error(&with_base("[maintenance]\nnotice = \"400d\"\n"));
    assert_eq!(e.path, "maintenance.notice");
    assert!(e.message.contains("0s to 90d"), "{}", e.message);
    let e = only_error(&with_base("[maintenance]\nwatch_after = 60\n"));
    assert_eq!(e.path, "maintenance.watch_after");
}

#[test]
fn ack_links_lapse_after_a_day_unless_the_policy_says_otherwise() {
    let default = Policy::parse(&with_base(""), "p.toml").expect("the base loads");
    assert_eq!(default.ack_links.valid_for.as_secs(), 24 * 3_600);
    let ok = Policy::parse(&with_base("[ack_links]\nvalid_for = \"2h\"\n"), "p.toml")
        .expect("two hours load");
    assert_eq!(ok.ack_links.valid_for.as_secs(), 7_200);
    for (text, says) in [
        ("\"30s\"", "1m to 7d"),
        ("\"8d\"", "1m to 7d"),
        ("\"-1h\"", "negative"),
        ("3600", "duration"),
    ] {
        let e = only_error(&with_base(&format!("[ack_links]\nvalid_for = {text}\n")));
        assert_eq!(e.path, "ack_links.valid_for", "{text}");
        assert!(e.message.contains(says), "{text}: {}", e.message);
    }
}
