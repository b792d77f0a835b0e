//! Parsing and validating a policy file, reporting every problem at once.
//!
//! Four passes, each located by key path and line:column:
//!
//! 1. **Syntax.** toml's parser; a file that is not TOML stops here.
//! 2. **Types.** serde stops at the first type error, so on each one the
//!    offending entry is reported, removed from the tree, and deserialization
//!    retried — every type error is found, and the rest of the file still loads.
//! 3. **Unknown keys.** The model does not deny unknown fields; `serde_ignored`
//!    reports each one, with the keys allowed there (read from the model, see
//!    [`super::schema`]) and a "did you mean" for near misses.
//! 4. **Meaning.** [`super::validate`] checks references, names, zones,
//!    templates. Problems below an entry that already had a type error are
//!    dropped: they are echoes of it.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::Policy;
use super::schema::Shape;
use super::source::{KeyPath, Seg, Tree, line_col};
use super::validate::{POLICY_VERSION, validate};

/// One problem in a policy file, located for a human.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `severities[2].update_every`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.path, self.message
        )
    }
}

/// Every problem found in one policy file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The `path` of a syntax error, which has no key path.
pub const SYNTAX_PATH: &str = "(syntax)";

/// Type errors reported before giving up on a file (each costs one re-parse).
const MAX_TYPE_ERRORS: usize = 50;

/// Reads the roster file a policy names (the path as written): its text,
/// and the name its problems are reported under.
pub type ReadRoster<'a> = &'a dyn Fn(&str) -> Result<(String, String), String>;

/// The sections a roster file may hold: who, and how to reach them.
pub const ROSTER_SECTIONS: [&str; 4] = ["people", "teams", "schedules", "escalation_policies"];

impl Policy {
    /// Parse and validate policy text; `origin` names the file in error
    /// messages. A policy that names a `roster` cannot be read this way
    /// (see [`Policy::parse_with`]).
    ///
    /// On failure, every problem found is returned, sorted by position.
    pub fn parse(src: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        Policy::parse_with(src, origin, &|path| {
            Err(format!(
                "the policy names roster {path:?}, and text alone has no files to read it from"
            ))
        })
    }

    /// [`Policy::parse`], reading the file the policy's `roster` names with
    /// `read` (given the path as written; it answers the text and the name
    /// to report problems under). The roster's people, teams, schedules and
    /// escalation policies join the policy's before it is validated: a
    /// roster entry replaces the policy's of the same key or name.
    pub fn parse_with(
        src: &str,
        origin: &str,
        read: ReadRoster<'_>,
    ) -> Result<Policy, PolicyErrors> {
        let mut report = Report {
            src,
            origin,
            errors: Vec::new(),
        };
        let Some(root) = syntax(src, &mut report) else {
            return Err(report.finish());
        };
        let tree = Tree { root };
        let (policy, broken) = deserialize(&tree, &mut report);
        let Some(mut policy) = policy else {
            return Err(report.finish());
        };
        // The roster: read, checked on its own (syntax, types, keys; those
        // problems are reported at the policy's `roster`, naming the roster's
        // file:line:col), then merged so the whole is validated together.
        let roster_span = tree.value_span(&KeyPath::root().key("roster"));
        let mut roster_file: Option<(String, String)> = None;
        if let Some(path) = policy.roster.clone() {
            match read(&path) {
                Ok(file) => roster_file = Some(file),
                Err(e) => report.push(roster_span.clone(), "roster", &e),
            }
        }
        let mut from_roster = RosterKeys::default();
        if let Some((text, name)) = &roster_file {
            match roster(text, name) {
                Ok(r) => {
                    from_roster = RosterKeys::of(&r);
                    merge_roster(&mut policy, r);
                }
                Err(errors) => {
                    for e in errors.0 {
                        report.push(roster_span.clone(), "roster", &e.to_string());
                    }
                }
            }
        }
        let roster_tree = roster_file.as_ref().and_then(|(text, name)| {
            let mut ignored = Report {
                src: text,
                origin: name,
                errors: Vec::new(),
            };
            syntax(text, &mut ignored).map(|root| Tree { root })
        });
        let mut in_roster: Vec<PolicyError> = Vec::new();

        if !tree.contains(&KeyPath::root().key("version")) {
            policy.version = POLICY_VERSION;
        }
        for problem in validate(&policy) {
            if broken.iter().any(|b| problem.path.starts_with(b)) {
                continue;
            }
            // A problem in an entry the roster gave is located in the roster.
            if let (Some((text, name)), Some(rtree)) = (&roster_file, &roster_tree)
                && let Some(path) = from_roster.locate(&policy, &problem.path)
            {
                let span = if problem.at_key {
                    rtree.key_span(&path)
                } else {
                    rtree.value_span(&path)
                };
                let (line, column) = line_col(text, span.start);
                in_roster.push(PolicyError {
                    file: name.clone(),
                    line,
                    column,
                    path: path.to_string(),
                    message: problem.message.clone(),
                });
                continue;
            }
            let mut span = if problem.at_key {
                tree.key_span(&problem.path)
            } else {
                tree.value_span(&problem.path)
            };
            if let Some(line) = problem.line_in_value {
                span.start = line_start_in_string(src, &span, line);
            }
            report.push(span, &problem.path.to_string(), &problem.message);
        }
        if report.errors.is_empty() && in_roster.is_empty() {
            Ok(policy)
        } else {
            let mut errors = report.finish();
            errors.0.extend(in_roster);
            Err(errors)
        }
    }
}

/// Which entries of the merged policy the roster gave, to locate their
/// problems in the roster's own file.
#[derive(Default)]
struct RosterKeys {
    people: Vec<String>,
    teams: Vec<String>,
    schedules: Vec<String>,
    escalation_policies: Vec<String>,
}

impl RosterKeys {
    fn of(roster: &Policy) -> RosterKeys {
        RosterKeys {
            people: roster.people.keys().cloned().collect(),
            teams: roster.teams.keys().cloned().collect(),
            schedules: roster.schedules.iter().map(|s| s.name.clone()).collect(),
            escalation_policies: roster
                .escalation_policies
                .iter()
                .map(|e| e.name.clone())
                .collect(),
        }
    }

    /// `path` (in the merged policy) as a path in the roster file, if the
    /// entry it lies in came from the roster.
    fn locate(&self, merged: &Policy, path: &KeyPath) -> Option<KeyPath> {
        let segs = path.segments();
        let (Some(Seg::Key(section)), Some(second)) = (segs.first(), segs.get(1)) else {
            return None;
        };
        let entry = match (section.as_str(), second) {
            ("people", Seg::Key(k)) if self.people.contains(k) => Seg::Key(k.clone()),
            ("teams", Seg::Key(k)) if self.teams.contains(k) => Seg::Key(k.clone()),
            ("schedules", Seg::Index(i)) => {
                let name = &merged.schedules.get(*i)?.name;
                Seg::Index(self.schedules.iter().position(|n| n == name)?)
            }
            ("escalation_policies", Seg::Index(i)) => {
                let name = &merged.escalation_policies.get(*i)?.name;
                Seg::Index(self.escalation_policies.iter().position(|n| n == name)?)
            }
            _ => return None,
        };
        let mut out = KeyPath::root().key(section);
        out.push(entry);
        for s in &segs[2..] {
            out.push(s.clone());
        }
        Some(out)
    }
}

/// Pass 1: the TOML tree of `src`, or `None` with its syntax error reported.
fn syntax<'i>(src: &'i str, report: &mut Report<'_>) -> Option<Spanned<DeTable<'i>>> {
    match DeTable::parse(src) {
        Ok(root) => Some(root),
        Err(e) => {
            report.push(e.span().unwrap_or(0..0), SYNTAX_PATH, e.message());
            None
        }
    }
}

/// A roster file: only [`ROSTER_SECTIONS`], read with the policy's own
/// passes (types, unknown keys) and located in its own file.
fn roster(src: &str, origin: &str) -> Result<Policy, PolicyErrors> {
    let mut report = Report {
        src,
        origin,
        errors: Vec::new(),
    };
    let Some(root) = syntax(src, &mut report) else {
        return Err(report.finish());
    };
    for (key, _) in root.get_ref().iter() {
        if !ROSTER_SECTIONS.contains(&key.get_ref().as_ref()) {
            report.push(
                key.span(),
                key.get_ref(),
                &format!(
                    "a roster holds only {}; `{}` belongs in the policy",
                    ROSTER_SECTIONS.join(", "),
                    key.get_ref()
                ),
            );
        }
    }
    let tree = Tree { root };
    let (policy, _) = deserialize(&tree, &mut report);
    match policy {
        Some(p) if report.errors.is_empty() => Ok(p),
        _ => Err(report.finish()),
    }
}

/// The roster's entries join the policy's, replacing those of the same key.
fn merge_roster(policy: &mut Policy, roster: Policy) {
    for (key, person) in roster.people {
        policy.people.insert(key, person);
    }
    for (key, team) in roster.teams {
        policy.teams.insert(key, team);
    }
    for s in roster.schedules {
        policy.schedules.retain(|x| x.name != s.name);
        policy.schedules.push(s);
    }
    for e in roster.escalation_policies {
        policy.escalation_policies.retain(|x| x.name != e.name);
        policy.escalation_policies.push(e);
    }
}

/// Errors collected so far, located in `src`.
struct Report<'a> {
    src: &'a str,
    origin: &'a str,
    errors: Vec<(usize, PolicyError)>,
}

impl Report<'_> {
    fn push(&mut self, span: Range<usize>, path: &str, message: &str) {
        let (line, column) = line_col(self.src, span.start);
        let error = PolicyError {
            file: self.origin.to_string(),
            line,
            column,
            path: path.to_string(),
            message: message.to_string(),
        };
        if !self.errors.iter().any(|(_, e)| *e == error) {
            self.errors.push((span.start, error));
        }
    }

    fn finish(mut self) -> PolicyErrors {
        self.errors.sort_by_key(|(offset, _)| *offset);
        PolicyErrors(self.errors.into_iter().map(|(_, e)| e).collect())
    }
}

/// Passes 2 and 3: the policy (if the types could be recovered) and the
/// paths of entries dropped for type errors.
fn deserialize(tree: &Tree<'_>, report: &mut Report<'_>) -> (Option<Policy>, Vec<KeyPath>) {
    let mut work = Tree {
        root: tree.root.clone(),
    };
    let mut broken = Vec::new();
    loop {
        let value = Spanned::new(
            work.root.span(),
            DeValue::Table(work.root.get_ref().clone()),
        );
        let mut unknown = Vec::new();
        let result: Result<Policy, _> =
            serde_ignored::deserialize(ValueDeserializer::from(value), |path| {
                unknown.push(key_path(&path))
            });
        match result {
            Ok(policy) => {
                let shape = if unknown.is_empty() {
                    Shape::Leaf
                } else {
                    Shape::of::<Policy>()
                };
                for path in unknown {
                    let message = unknown_key_message(&shape, &path);
                    report.push(tree.key_span(&path), &path.to_string(), &message);
                }
                return (Some(policy), broken);
            }
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let path = work.path_at(&span);
                let message = match work.value_at(&path).map(Spanned::get_ref) {
                    // An unquoted date parses as a TOML datetime; serde calls it a "map".
                    Some(DeValue::Datetime(dt)) => {
                        format!("expected a string; put the date or time in quotes: \"{dt}\"")
                    }
                    _ => e.message().to_string(),
                };
                report.push(span, &path.to_string(), &message);
                match work.remove(&path) {
                    Some(removed) if broken.len() < MAX_TYPE_ERRORS => broken.push(removed),
                    _ => return (None, broken),
                }
            }
        }
    }
}

/// Byte offset where line `line` (1-based) of the string value at `span`
/// begins in the source. A newline right after a multi-line string's opening
/// quotes is not content, as TOML says. A line continuation (trailing `\`)
/// would shift this by a line; the offset stays inside the value regardless.
fn line_start_in_string(src: &str, span: &Range<usize>, line: usize) -> usize {
    let Some(raw) = src.get(span.clone()) else {
        return span.start;
    };
    let mut offset = span.start;
    let mut body = raw;
    for quotes in [r#"""""#, "'''", "\"", "'"] {
        if let Some(rest) = body.strip_prefix(quotes) {
            body = rest;
            if quotes.len() == 3 {
                body = rest
                    .strip_prefix("\r\n")
                    .or_else(|| rest.strip_prefix('\n'))
                    .unwrap_or(rest);
            }
            offset += raw.len() - body.len();
            break;
        }
    }
    for _ in 1..line {
        let Some(nl) = body.find('\n') else { break };
        offset += nl + 1;
        body = &body[nl + 1..];
    }
    offset
}

/// serde_ignored's path as ours (wrappers like `Some` are not steps).
fn key_path(path: &serde_ignored::Path<'_>) -> KeyPath {
    use serde_ignored::Path;
    let mut steps = Vec::new();
    let mut at = path;
    loop {
        at = match at {
            Path::Root => break,
            Path::Seq { parent, index } => {
                steps.push(Seg::Index(*index));
                parent
            }
            Path::Map { parent, key } => {
                steps.push(Seg::Key(key.clone()));
                parent
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => parent,
        };
    }
    let mut out = KeyPath::root();
    for step in steps.into_iter().rev() {
        out.push(step);
    }
    out
}

/// "unknown key `updte_every`; did you mean `update_every`? expected one of: ..."
fn unknown_key_message(shape: &Shape, path: &KeyPath) -> String {
    let key = path.last_key().unwrap_or_default();
    let mut message = format!("unknown key `{key}`");
    let allowed = shape
        .at(path.parent().segments())
        .and_then(Shape::field_names)
        .unwrap_or_default();
    let nearest = allowed
        .iter()
        .map(|name| (edit_distance(key, name), *name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 4))
        .min();
    if let Some((_, name)) = nearest {
        message.push_str(&format!("; did you mean `{name}`?"));
    }
    if !allowed.is_empty() {
        message.push_str(if nearest.is_some() { " " } else { "; " });
        message.push_str(&format!("expected one of: {}", allowed.join(", ")));
    }
    message
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("updte_every", "update_every"), 1);
        assert_eq!(edit_distance("name", "name"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
