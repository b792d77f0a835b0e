//! Where things are in the policy text.
//!
//! Every problem the loader reports is located by a [`KeyPath`]
//! (`severities[1].update_every`). This module maps such paths to byte spans
//! in toml's spanned tree, maps error spans back to paths, and turns byte
//! offsets into the 1-based line:column an editor understands.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path to a key or value in the policy, printed as `checklists[0].items[2].key`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

impl KeyPath {
    pub(crate) fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// This path extended by a table key.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        KeyPath(segs)
    }

    /// This path extended by an array index.
    pub(crate) fn index(&self, index: usize) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        KeyPath(segs)
    }

    pub(crate) fn segments(&self) -> &[Seg] {
        &self.0
    }

    pub(crate) fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    /// The path without its last step (the root stays the root).
    pub(crate) fn parent(&self) -> KeyPath {
        let mut segs = self.0.clone();
        segs.pop();
        KeyPath(segs)
    }

    /// Whether `self` is `prefix` or lies below it.
    pub(crate) fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The last table key on the path, if the path ends in one.
    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A key TOML accepts unquoted (`A-Za-z0-9_-`).
fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 1-based line and column (in characters) of byte `offset` in `src`.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut column = before[line_start..].chars().count() + 1;
    // A byte-order mark is not a column anyone can see.
    if line == 1 && before.starts_with('\u{feff}') {
        column -= 1;
    }
    (line, column)
}

/// The spanned document a policy was parsed from.
pub(crate) struct Tree<'i> {
    pub(crate) root: Spanned<DeTable<'i>>,
}

impl<'i> Tree<'i> {
    /// Span of the value at `path`; if the path does not exist (a missing key),
    /// the span of its deepest existing ancestor, so the error points at the
    /// table that lacks the key. The root is located at the file's start.
    pub(crate) fn value_span(&self, path: &KeyPath) -> Range<usize> {
        let mut best = 0..0;
        let mut table = Some(self.root.get_ref());
        let mut value: Option<&Spanned<DeValue<'i>>> = None;
        for seg in path.segments() {
            let next = match (seg, table, value) {
                (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
                (Seg::Index(i), None, Some(v)) => match v.get_ref() {
                    DeValue::Array(a) => a.get(*i),
                    _ => None,
                },
                _ => None,
            };
            let Some(next) = next else { break };
            best = next.span();
            value = Some(next);
            table = match next.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        best
    }

    /// Span of the key that ends `path` (for "unknown key" errors); falls back
    /// to [`Tree::value_span`] when the path does not end in an existing key.
    pub(crate) fn key_span(&self, path: &KeyPath) -> Range<usize> {
        let parent = path.parent();
        let table = if parent.segments().is_empty() {
            Some(self.root.get_ref())
        } else {
            match self.value_at(&parent).map(Spanned::get_ref) {
                Some(DeValue::Table(t)) => Some(t),
                _ => None,
            }
        };
        if let Some(key) = path.last_key()
            && let Some((k, _)) = table.and_then(|t| t.get_key_value(key))
        {
            return k.span();
        }
        self.value_span(path)
    }

    /// The path of the deepest value whose span contains `span`; the root if none.
    ///
    /// toml spans a `[table]` by its header only, not its body, so this searches
    /// the whole tree rather than descending through containing spans.
    pub(crate) fn path_at(&self, span: &Range<usize>) -> KeyPath {
        let mut best = KeyPath::root();
        walk(
            table_children(self.root.get_ref()),
            span,
            &mut KeyPath::root(),
            &mut best,
        );
        best
    }

    /// The value at exactly `path`, if it exists.
    pub(crate) fn value_at(&self, path: &KeyPath) -> Option<&Spanned<DeValue<'i>>> {
        let mut value: Option<&Spanned<DeValue<'i>>> = None;
        for seg in path.segments() {
            let container = value.map(Spanned::get_ref);
            value = Some(match (seg, container) {
                (Seg::Key(k), None) => self.root.get_ref().get(k.as_str())?,
                (Seg::Key(k), Some(DeValue::Table(t))) => t.get(k.as_str())?,
                (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i)?,
                _ => return None,
            });
        }
        value
    }

    /// Whether `path` exists in the document.
    pub(crate) fn contains(&self, path: &KeyPath) -> bool {
        path.segments().is_empty() || self.value_at(path).is_some()
    }

    /// Remove the table entry at `path`, or — if `path` ends inside an array —
    /// the entry holding that array. Array elements are never removed, so the
    /// indices in every other path stay valid. Returns the path removed.
    pub(crate) fn remove(&mut self, path: &KeyPath) -> Option<KeyPath> {
        let segs = path.segments();
        let last_key = segs.iter().rposition(|s| matches!(s, Seg::Key(_)))?;
        let entry = KeyPath(segs[..=last_key].to_vec());
        let Seg::Key(key) = &segs[last_key] else {
            return None;
        };
        let table = self.table_mut(&segs[..last_key])?;
        table.remove(key.as_str()).map(|_| entry)
    }

    fn table_mut(&mut self, segs: &[Seg]) -> Option<&mut DeTable<'i>> {
        let mut table = self.root.get_mut();
        let mut rest = segs;
        while let Some((seg, tail)) = rest.split_first() {
            let Seg::Key(k) = seg else { return None };
            let mut value = table.get_mut(k.as_str())?.get_mut();
            rest = tail;
            while let Some((Seg::Index(i), tail)) = rest.split_first() {
                let DeValue::Array(a) = value else {
                    return None;
                };
                value = a.get_mut(*i)?.get_mut();
                rest = tail;
            }
            let DeValue::Table(t) = value else {
                return None;
            };
            table = t;
        }
        Some(table)
    }
}

type Children<'a, 'i> = Vec<(Seg, &'a Spanned<DeValue<'i>>)>;

fn table_children<'a, 'i>(t: &'a DeTable<'i>) -> Children<'a, 'i> {
    t.iter()
        .map(|(k, v)| (Seg::Key(k.get_ref().to_string()), v))
        .collect()
}

/// Depth-first search for the deepest value whose span contains `span`.
fn walk(children: Children<'_, '_>, span: &Range<usize>, path: &mut KeyPath, best: &mut KeyPath) {
    for (seg, child) in children {
        path.push(seg);
        let s = child.span();
        if s.start <= span.start && span.end <= s.end && s != (0..0) && path.0.len() > best.0.len()
        {
            *best = path.clone();
        }
        match child.get_ref() {
            DeValue::Table(t) => walk(table_children(t), span, path, best),
            DeValue::Array(a) => {
                let items = a
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (Seg::Index(i), v))
                    .collect();
                walk(items, span, path, best);
            }
            _ => {}
        }
        path.0.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_toml_keys() {
        let p = KeyPath::root()
            .key("severities")
            .index(2)
            .key("update_every");
        assert_eq!(p.to_string(), "severities[2].update_every");
        let p = KeyPath::root()
            .key("services")
            .key("my api")
            .key("owner_team");
        assert_eq!(p.to_string(), "services.\"my api\".owner_team");
        assert_eq!(KeyPath::root().to_string(), "(top level)");
    }

    #[test]
    fn line_col_counts_characters() {
        let src = "a = 1\nنص = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        let quote = src.find('"').unwrap_or_default();
        assert_eq!(line_col(src, quote), (2, 6));
        assert_eq!(line_col(src, src.len()), (3, 1));
    }

    #[test]
    fn spans_round_trip_through_paths() -> Result<(), toml::de::Error> {
        let src = "[[s]]\nname = \"a\"\n\n[[s]]\nname = \"b\"\nx = [1, 2]\n";
        let tree = Tree {
            root: DeTable::parse(src)?,
        };
        let path = KeyPath::root().key("s").index(1).key("x").index(1);
        let span = tree.value_span(&path);
        assert_eq!(&src[span.clone()], "2");
        assert_eq!(tree.path_at(&span), path);
        let key = tree.key_span(&KeyPath::root().key("s").index(1).key("name"));
        assert_eq!(line_col(src, key.start), (5, 1));
        Ok(())
    }
}
