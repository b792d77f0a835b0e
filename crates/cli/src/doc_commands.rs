//! Every `firebell …` command the documentation shows parses with the
//! binary's own command line: a renamed flag or a removed subcommand fails
//! here instead of in a reader's terminal.
//!
//! The commands are read, when the test runs, from the fenced code blocks of
//! `README.md` and `docs/*.md`. A command line is one that starts with
//! `firebell` once its decoration is taken off: a `$ ` prompt, a YAML `- ` or
//! `run: ` (CI examples), a `cargo run -p firebell --` prefix, an assignment
//! `ID=$(firebell …)` (the command inside is checked), or a pipe into it
//! (`printf … | firebell password set …`). Backslash continuations are joined,
//! `# comments` and everything after a `|`, `&&`, `;` or redirection are
//! dropped, `[optional]` usage brackets are opened, and shell variables
//! (`$ID`, `"${VERSION}"`, CI's `${{ github.sha }}`) become plausible values.
//! Lines using shell syntax this cannot follow (command substitution inside
//! an argument, backticks) are listed as skipped, not failed.

use std::path::{Path, PathBuf};

use clap::Parser;
use clap::error::ErrorKind;

use super::Cli;

/// One documented command: where it is, as written, and its words.
#[derive(Debug)]
struct Documented {
    place: String,
    text: String,
    words: Result<Vec<String>, String>,
}

/// The value a documented shell variable stands for.
fn placeholder(name: &str) -> String {
    let name = name.trim().to_ascii_uppercase();
    let id_like =
        name == "ID" || name.ends_with("_ID") || name.contains("INCIDENT") || name == "INC";
    if id_like {
        "INC-20261205-001".into()
    } else {
        "example".into()
    }
}

/// Shell words of `line` (one logical command line), with variables
/// substituted, stopping at a comment or a control operator. `Err` for
/// syntax this does not follow.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    // `$NAME`, `${NAME}` or `${{ expr }}` at `chars[i]` (the `$`): the
    // placeholder and the index after it.
    let variable = |i: usize| -> Result<(String, usize), String> {
        let at = |j: usize, s: &str| {
            s.chars()
                .enumerate()
                .all(|(k, c)| chars.get(j + k) == Some(&c))
        };
        let until = |from: usize, end: &str| {
            (from..chars.len())
                .find(|&j| at(j, end))
                .ok_or_else(|| format!("unclosed `{end}`"))
        };
        if at(i + 1, "{{") {
            let close = until(i + 3, "}}")?;
            let expr: String = chars[i + 3..close].iter().collect();
            return Ok((placeholder(&expr), close + 2));
        }
        if at(i + 1, "{") {
            let close = until(i + 2, "}")?;
            let name: String = chars[i + 2..close].iter().collect();
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}`: parameter expansion"));
            }
            return Ok((placeholder(&name), close + 1));
        }
        let len = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .count();
        if len == 0 {
            return Err(format!(
                "`${}`: not a variable",
                chars.get(i + 1).copied().unwrap_or(' ')
            ));
        }
        let name: String = chars[i + 1..i + 1 + len].iter().collect();
        Ok((placeholder(&name), i + 1 + len))
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                i += 1;
            }
            '#' if !in_word => break,
            '|' | '&' | ';' | '<' | '>' => break,
            '`' => return Err("backticks".into()),
            '(' | ')' => return Err(format!("`{c}` outside quotes")),
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    word.push(next);
                }
                in_word = true;
                i += 2;
            }
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or("unclosed '")?;
                word.extend(&chars[i + 1..i + 1 + end]);
                in_word = true;
                i += end + 2;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unclosed \"".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('`') => return Err("backticks".into()),
                        Some('$') if chars.get(i + 1) == Some(&'(') => {
                            return Err("command substitution in an argument".into());
                        }
                        Some('$') => {
                            let (value, next) = variable(i)?;
                            word.push_str(&value);
                            i = next;
                        }
                        Some(&c) => {
                            word.push(c);
                            i += 1;
                        }
                    }
                }
                in_word = true;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                return Err("command substitution in an argument".into());
            }
            '$' => {
                let (value, next) = variable(i)?;
                word.push_str(&value);
                in_word = true;
                i = next;
            }
            c => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    // Usage notation: `[--schedule primary] [--all]` shows optional words.
    Ok(words
        .into_iter()
        .map(|w| {
            let w = w.strip_prefix('[').unwrap_or(&w);
            w.strip_suffix(']').unwrap_or(w).to_string()
        })
        .filter(|w| !w.is_empty())
        .collect())
}

/// The words of the `firebell …` command in `line`, as a shell would
/// split them (the help's examples are checked with this too).
pub(crate) fn words(line: &str) -> Result<Vec<String>, String> {
    let command = command_in(line).ok_or_else(|| format!("no firebell command in {line:?}"))?;
    shell_words(&command)
}

/// The `firebell …` command in one logical line of a code block, if any.
fn command_in(line: &str) -> Option<String> {
    let mut line = line.trim();
    // Decorations: a prompt, a YAML list item, a CI step's `run:`, "# or:".
    loop {
        let before = line;
        for prefix in ["$ ", "- ", "run: ", "script: ", "# or: "] {
            if let Some(rest) = line.strip_prefix(prefix) {
                line = rest.trim_start();
            }
        }
        if line == before {
            break;
        }
    }
    // `ID=$(firebell declare … -q)`: the command inside.
    if let Some((name, rest)) = line.split_once("=$(")
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        let inner = rest.rfind(')').map(|end| &rest[..end])?;
        return command_in(inner);
    }
    // `cargo run -p firebell -- serve`, `cargo run --release -p firebell -- …`.
    if line.starts_with("cargo run") && line.contains("-p firebell") {
        let (_, args) = line.split_once(" -- ")?;
        return Some(format!("firebell {args}"));
    }
    if line == "firebell" || line.starts_with("firebell ") {
        return Some(line.to_string());
    }
    // `printf '%s\n' "$PASSWORD" | firebell password set alice`.
    let (_, piped) = line.rsplit_once("| firebell ")?;
    Some(format!("firebell {piped}"))
}

/// The documented commands of one Markdown file.
fn commands_of(path: &Path, name: &str) -> Vec<Documented> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        if marker.len() >= 3 {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_none() {
            continue;
        }
        // Join backslash continuations.
        let mut logical = line.trim_end().to_string();
        while logical.ends_with('\\') && !logical.ends_with("\\\\") {
            logical.pop();
            match lines.next() {
                Some((_, next)) => {
                    logical.push(' ');
                    logical.push_str(next.trim());
                }
                None => break,
            }
        }
        if let Some(command) = command_in(&logical) {
            out.push(Documented {
                place: format!("{name}:{}", n + 1),
                words: shell_words(&command),
                text: command,
            });
        }
    }
    out
}

/// README.md and docs/*.md, read now (the documentation changes more often
/// than this test).
fn documented_commands() -> Vec<Documented> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![("README.md".to_string(), root.join("README.md"))];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    for path in docs {
        let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
        files.push((name, path));
    }
    files
        .iter()
        .flat_map(|(name, path)| commands_of(path, name))
        .collect()
}

#[test]
fn every_documented_command_parses() {
    let commands = documented_commands();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for doc in &commands {
        let words = match &doc.words {
            Ok(words) => words,
            Err(why) => {
                skipped.push(format!("{}: {}  ({why})", doc.place, doc.text));
                continue;
            }
        };
        if let Err(e) = Cli::try_parse_from(words) {
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                continue;
            }
            let message = e.to_string();
            let first = message
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            failures.push(format!("{}: {}\n      {first}", doc.place, doc.text));
        }
    }
    eprintln!("{} documented commands", commands.len());
    for s in &skipped {
        eprintln!("skipped (shell syntax): {s}");
    }
    assert!(
        commands.len() >= 20,
        "only {} documented commands found: is the extraction broken?",
        commands.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} documented commands do not parse:\n  {}",
        failures.len(),
        commands.len(),
        failures.join("\n  ")
    );
}

#[test]
fn documented_commands_are_read_as_a_shell_would() {
    let words = |line: &str| shell_words(&command_in(line).expect("a command")).unwrap();
    assert_eq!(
        words(r#"firebell ack "$ID"   # the id from declare"#),
        ["firebell", "ack", "INC-20261205-001"]
    );
    assert_eq!(
        words("ID=$(firebell declare --title \"Checkout failing\" --severity P1 -q)"),
        [
            "firebell",
            "declare",
            "--title",
            "Checkout failing",
            "--severity",
            "P1",
            "-q"
        ]
    );
    assert_eq!(
        words("$ firebell policy check policy.toml"),
        ["firebell", "policy", "check", "policy.toml"]
    );
    assert_eq!(
        words("cargo run -p firebell -- serve"),
        ["firebell", "serve"]
    );
    assert_eq!(
        words(r#"run: firebell deploy record --version "${{ github.sha }}" --link "$CI_URL/x""#),
        [
            "firebell",
            "deploy",
            "record",
            "--version",
            "example",
            "--link",
            "example/x"
        ]
    );
    assert_eq!(
        words(r#"printf '%s\n' "$PASSWORD" | firebell password set alice --role responder"#),
        [
            "firebell",
            "password",
            "set",
            "alice",
            "--role",
            "responder"
        ]
    );
    assert_eq!(
        words("firebell override list [--schedule primary] [--all]"),
        [
            "firebell",
            "override",
            "list",
            "--schedule",
            "primary",
            "--all"
        ]
    );
    assert_eq!(
        words("firebell list --json | jq '.items[0].id'"),
        ["firebell", "list", "--json"]
    );
    assert!(shell_words("firebell ack $(cat id)").is_err());
    assert_eq!(command_in("receiver = \"firebell\""), None);
}
