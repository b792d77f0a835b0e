//! Label matchers in Alertmanager syntax: `severity="critical"`, `job=~"api|web"`.
//!
//! The same syntax appears in four places — amtool's `filter` query
//! parameters, silences, the policy's routes and people typing at a prompt —
//! so there is one parser, and its errors say where the input went wrong
//! ("expected an operator after `foo` at column 4") instead of "bad matcher".
//!
//! Semantics follow Alertmanager: a label that is absent matches as the empty
//! string, and regexes are anchored (`=~"crit"` does not match `critical`).
//! The regex is compiled once, when the matcher is made or deserialized, and
//! kept in the struct; only `{name, op, value}` is stored.
//!
//! The grammar (a superset of what amtool and Alertmanager's parsers accept
//! in practice):
//!
//! ```text
//! matchers := ws? ( "{" list "}" | list ) ws?
//! list     := ( matcher ( sep matcher )* ","? )?      sep: "," or whitespace
//! matcher  := name ws? op ws? value
//! name     := bare | quoted                            bare: no space or {}!=~,\"'`
//! op       := "=" | "!=" | "=~" | "!~"
//! value    := quoted | unquoted                        unquoted: up to space , or }
//! quoted   := '"' ( char | '\"' | '\\' | '\n' )* '"'   another \x is a literal backslash
//! ```

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::LabelSet;

/// `=`, `!=`, `=~`, `!~`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchOp {
    /// The operator as written: `=`, `!=`, `=~`, `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// From Alertmanager's wire flags (`isRegex`, `isEqual`), as amtool and
    /// the v2 API send matchers.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchOp {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// Positive (`=`, `=~`) rather than negated (`!=`, `!~`).
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One matcher. Regexes are anchored (`^(?:…)$`) as in Alertmanager; a label
/// that is absent matches as the empty string.
///
/// Build one with [`Matcher::new`] (or parse one): that validates the name
/// and compiles the regex. Serialized as `{"name", "op", "value"}`;
/// deserializing validates and compiles again.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawMatcher")]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored regex for `=~` / `!~`, compiled from `value`.
    #[serde(skip)]
    re: Option<Regex>,
}

/// The stored form, before validation.
#[derive(Deserialize)]
struct RawMatcher {
    name: String,
    op: MatchOp,
    value: String,
}

impl TryFrom<RawMatcher> for Matcher {
    type Error = MatcherError;

    fn try_from(raw: RawMatcher) -> Result<Matcher, MatcherError> {
        Matcher::new(&raw.name, raw.op, &raw.value)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Matcher {}

/// Why a matcher (or a list of them) was refused, in words for the person
/// who wrote it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

const REGEX_PREFIX: &str = "^(?:";
const REGEX_SUFFIX: &str = ")$";

impl Matcher {
    /// A validated matcher: the name must be non-empty without control
    /// characters (Alertmanager 0.27+ allows any UTF-8 name), a regex value
    /// must compile.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        validate_label_name(name)?;
        let re = if op.is_regex() {
            Some(compile(value)?)
        } else {
            None
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value: value.into(),
            re,
        })
    }

    /// From Alertmanager's wire shape `{name, value, isRegex, isEqual}`.
    pub fn from_flags(
        name: &str,
        value: &str,
        is_regex: bool,
        is_equal: bool,
    ) -> Result<Matcher, MatcherError> {
        Matcher::new(name, MatchOp::from_flags(is_regex, is_equal), value)
    }

    /// Whether `labels` satisfy this matcher; an absent label is `""`.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether a label value satisfies this matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex_matches(v),
            MatchOp::NotRegex => !self.regex_matches(v),
        }
    }

    /// The fields are public, so `value` may have been changed after the
    /// regex was compiled; then the regex is compiled afresh (and an invalid
    /// one matches nothing) rather than answering for the old value.
    fn regex_matches(&self, v: &str) -> bool {
        match &self.re {
            Some(re) if anchored_source(re) == Some(self.value.as_str()) => re.is_match(v),
            _ => compile(&self.value).is_ok_and(|re| re.is_match(v)),
        }
    }

    /// `=~` or `!~`.
    pub fn is_regex(&self) -> bool {
        self.op.is_regex()
    }

    /// `=` or `=~` (Alertmanager's `isEqual`).
    pub fn is_equal(&self) -> bool {
        self.op.is_equal()
    }
}

/// What every label value a matcher accepts satisfies, in a form a database
/// can test before it decodes a row: the store narrows a read with it, and
/// the matcher itself still decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueTest {
    Equals(String),
    /// Starts with one of these (none of them empty).
    StartsWith(Vec<String>),
}

/// Most prefixes a regex is narrowed by: past it, the read is not narrowed.
const MAX_PREFIXES: usize = 16;

impl Matcher {
    /// A test on this matcher's label value that every accepted label set
    /// passes, when there is one worth making. `None` for `!=` and `!~`, and
    /// for anything that accepts the empty string, which an absent label
    /// also is.
    pub fn value_test(&self) -> Option<ValueTest> {
        if self.matches_value("") {
            return None;
        }
        match self.op {
            MatchOp::Equal => Some(ValueTest::Equals(self.value.clone())),
            MatchOp::Regex => regex_prefixes(&self.value).map(ValueTest::StartsWith),
            MatchOp::NotEqual | MatchOp::NotRegex => None,
        }
    }
}

/// Literal prefixes one of which starts every string `pattern` matches in
/// full, when there are few and none is empty. Too many are cut shorter
/// (`x[0-9]{2}` gives `x00`…`x99`, cut to `x0`…`x9`).
fn regex_prefixes(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::Extractor;
    let hir = regex_syntax::parse(pattern).ok()?;
    let mut seq = Extractor::new().extract(&hir);
    let mut len = seq.max_literal_len()?;
    while seq.len()? > MAX_PREFIXES && len > 1 {
        len -= 1;
        seq.keep_first_bytes(len);
        seq.dedup();
    }
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > MAX_PREFIXES {
        return None;
    }
    literals
        .iter()
        .map(|l| {
            let prefix = String::from_utf8(l.as_bytes().to_vec()).ok()?;
            (!prefix.is_empty()).then_some(prefix)
        })
        .collect()
}

/// The pattern a compiled matcher regex was built from, without the anchors.
fn anchored_source(re: &Regex) -> Option<&str> {
    re.as_str()
        .strip_prefix(REGEX_PREFIX)?
        .strip_suffix(REGEX_SUFFIX)
}

fn compile(value: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("{REGEX_PREFIX}{value}{REGEX_SUFFIX}"))
        .map_err(|e| MatcherError(format!("invalid regular expression `{value}`: {e}")))
}

fn validate_label_name(name: &str) -> Result<(), MatcherError> {
    if name.is_empty() {
        return Err(MatcherError("a label name must not be empty".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(MatcherError(format!(
            "label name {name:?} contains a control character"
        )));
    }
    Ok(())
}

/// Characters that end a bare (unquoted) label name; a name containing any
/// of them is printed quoted.
fn is_reserved_in_name(c: char) -> bool {
    c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
}

/// Writes `s` between double quotes, escaping `\`, `"` and newline.
fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// `name<op>"value"`: the value always quoted, the name quoted only if it
/// could not be read back bare.
fn write_pair(f: &mut impl fmt::Write, name: &str, op: &str, value: &str) -> fmt::Result {
    if name.is_empty() || name.contains(is_reserved_in_name) {
        write_quoted(f, name)?;
    } else {
        f.write_str(name)?;
    }
    f.write_str(op)?;
    write_quoted(f, value)
}

/// Appends `name<op>"value"` to `out`, as [`Matcher`]'s `Display` writes it.
pub(crate) fn push_label_pair(out: &mut String, name: &str, op: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = write_pair(out, name, op, value);
}

/// Alertmanager syntax: `name="value"`, `severity=~"crit|page"`.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pair(f, &self.name, self.op.as_str(), &self.value)
    }
}

/// Exactly one matcher, with or without braces: `severity="critical"`.
impl FromStr for Matcher {
    type Err = MatcherError;

    fn from_str(s: &str) -> Result<Matcher, MatcherError> {
        let mut matchers = parse_matchers(s)?;
        match matchers.len() {
            1 => Ok(matchers.remove(0)),
            0 => Err(MatcherError(
                "expected a matcher like `name=\"value\"`".into(),
            )),
            n => Err(MatcherError(format!("expected one matcher, found {n}"))),
        }
    }
}

/// Parse `{a="b", c=~"d.*"}` or `a=b c!="d"` style input (as amtool sends).
///
/// Braces are optional (but paired), matchers are separated by commas or
/// whitespace, a trailing comma is allowed, and values may be unquoted when
/// they contain no whitespace, `,`, `{`, `}` or `"`. Empty input (or `{}`)
/// is an empty list. Errors name the 1-based column they were found at.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    Parser::new(s).list()
}

/// A cursor over the input, counting columns in characters.
struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser { src, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Skips whitespace; whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        self.pos > start
    }

    /// 1-based column (in characters) of byte offset `at`.
    fn column_at(&self, at: usize) -> usize {
        self.src[..at].chars().count() + 1
    }

    fn column(&self) -> usize {
        self.column_at(self.pos)
    }

    fn error(&self, message: impl fmt::Display) -> MatcherError {
        MatcherError(format!("{message} at column {}", self.column()))
    }

    /// What is at the cursor, for messages: "`x`" or "the end of the input".
    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end of the input".into(),
        }
    }

    fn list(mut self) -> Result<Vec<Matcher>, MatcherError> {
        self.skip_ws();
        let braced = self.eat('{');
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None if braced => return Err(self.error("missing closing `}`")),
                None => return Ok(out),
                Some('}') if braced => {
                    self.bump();
                    self.skip_ws();
                    return match self.peek() {
                        None => Ok(out),
                        Some(_) => Err(self.error(format!(
                            "unexpected {} after the closing `}}`",
                            self.found()
                        ))),
                    };
                }
                Some('}') => return Err(self.error("unexpected `}` without an opening `{`")),
                Some(',') => {
                    let what = if out.is_empty() {
                        "expected a matcher before `,`"
                    } else {
                        "expected a matcher between commas, found `,`"
                    };
                    return Err(self.error(what));
                }
                Some(_) => {}
            }
            out.push(self.matcher()?);
            // After a matcher: a comma, whitespace, a closing brace or the end.
            let spaced = self.skip_ws();
            if self.eat(',') {
                continue;
            }
            match self.peek() {
                None | Some('}') => {}
                Some(_) if spaced => {}
                Some(_) => {
                    return Err(self.error(format!(
                        "expected `,` or a space between matchers, found {}",
                        self.found()
                    )));
                }
            }
        }
    }

    fn matcher(&mut self) -> Result<Matcher, MatcherError> {
        let name_at = self.pos;
        let name = self.name()?;
        self.skip_ws();
        let op = self.op(&name)?;
        self.skip_ws();
        let value = self.value()?;
        Matcher::new(&name, op, &value).map_err(|e| {
            MatcherError(format!(
                "{} (matcher at column {})",
                e.0,
                self.column_at(name_at)
            ))
        })
    }

    fn name(&mut self) -> Result<String, MatcherError> {
        if self.peek() == Some('"') {
            return self.quoted("label name");
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| !is_reserved_in_name(c)) {
            self.bump();
        }
        if self.pos == start {
            return Err(self.error(format!("expected a label name, found {}", self.found())));
        }
        Ok(self.src[start..self.pos].to_string())
    }

    fn op(&mut self, name: &str) -> Result<MatchOp, MatcherError> {
        let rest = &self.src[self.pos..];
        let op = [
            MatchOp::Regex,
            MatchOp::NotRegex,
            MatchOp::NotEqual,
            MatchOp::Equal,
        ]
        .into_iter()
        .find(|op| rest.starts_with(op.as_str()));
        match op {
            Some(op) => {
                self.pos += op.as_str().len();
                Ok(op)
            }
            None => Err(self.error(format!(
                "expected an operator (=, !=, =~ or !~) after `{name}`, found {}",
                self.found()
            ))),
        }
    }

    fn value(&mut self) -> Result<String, MatcherError> {
        if self.peek() == Some('"') {
            return self.quoted("value");
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' || c == '}' {
                break;
            }
            if c == '"' || c == '{' {
                return Err(self.error(format!(
                    "unexpected `{c}` in an unquoted value; put the value in double quotes"
                )));
            }
            self.bump();
        }
        Ok(self.src[start..self.pos].to_string())
    }

    /// A double-quoted string; the cursor is on the opening quote.
    fn quoted(&mut self, what: &str) -> Result<String, MatcherError> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(MatcherError(format!(
                        "unterminated quoted {what} starting at column {}",
                        self.column_at(open)
                    )));
                }
                Some('"') => return Ok(out),
                Some('\\') => match self.peek() {
                    Some('"') => {
                        self.bump();
                        out.push('"');
                    }
                    Some('\\') => {
                        self.bump();
                        out.push('\\');
                    }
                    Some('n') => {
                        self.bump();
                        out.push('\n');
                    }
                    // Alertmanager's tolerance: a stray backslash is literal.
                    _ => out.push('\\'),
                },
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_value_is_not_matched_with_the_old_regex() -> Result<(), MatcherError> {
        let mut m = Matcher::new("a", MatchOp::Regex, "x+")?;
        assert!(m.matches_value("xx"));
        m.value = "y+".into();
        assert!(!m.matches_value("xx"));
        assert!(m.matches_value("yy"));
        m.value = "(".into();
        assert!(!m.matches_value("("), "an invalid regex matches nothing");
        Ok(())
    }

    #[test]
    fn a_value_test_holds_for_every_match_and_narrows_when_it_can() -> Result<(), MatcherError> {
        let test = |s: &str| s.parse::<Matcher>().map(|m| m.value_test());
        let prefixes = |p: &[&str]| {
            Some(ValueTest::StartsWith(
                p.iter().map(|s| s.to_string()).collect(),
            ))
        };
        assert_eq!(test(r#"job="api""#)?, Some(ValueTest::Equals("api".into())));
        assert_eq!(test(r#"instance=~"node-19.*""#)?, prefixes(&["node-19"]));
        assert_eq!(test(r#"job=~"api|web""#)?, prefixes(&["api", "web"]));
        assert_eq!(test(r#"job=~"api-?x""#)?, prefixes(&["api-x", "apix"]));
        // Nothing worth narrowing by, or a test an absent label would fail
        // though the matcher accepts it.
        for m in [
            r#"job="""#,
            r#"job=~".*""#,
            r#"job=~"a*""#,
            r#"job=~".+x""#,
            r#"job!="api""#,
            r#"job!~"api""#,
        ] {
            assert_eq!(test(m)?, None, "{m}");
        }
        // Each prefix starts every value the regex matches.
        for (m, values) in [
            (r#"v=~"(?i)ab""#, &["ab", "AB", "aB"][..]),
            (r#"v=~"x[0-9]{2}|yz""#, &["x12", "yz"][..]),
        ] {
            let m: Matcher = m.parse()?;
            let Some(ValueTest::StartsWith(ps)) = m.value_test() else {
                panic!("{m} narrows");
            };
            for v in values {
                assert!(m.matches_value(v));
                assert!(
                    ps.iter().any(|p| v.starts_with(p.as_str())),
                    "{m}: {v} vs {ps:?}"
                );
            }
        }
        Ok(())
    }
}
