//! The two backends, and how one text of every statement serves both.
//!
//! A backend module (`sqlite`, `postgres`) holds only what really differs:
//! connection setup, how a write transaction begins (SQLite's
//! `BEGIN IMMEDIATE`; PostgreSQL's `BEGIN`, plus the `alerts` lock for alert
//! writers), and the row-lock suffixes (`for_update!`, `skip_locked!`, empty
//! on SQLite, whose single writer already serialises), and the bulk writes,
//! whose cost differs (`rows`): the scheduler's claim, a batch's incident
//! rows and a merge's alert rows, as multi-row statements on PostgreSQL,
//! where each statement is a round trip, and as prepared statements stepped
//! on SQLite's own handle, where sqlx's hand-off of each statement and row
//! to its worker thread is the cost.
//!
//! Every other operation is written once, under `src/sql/`, with `$N` placeholders
//! and `CAST(… AS …)` (both drivers bind `$N`). [`operations!`] includes those
//! files into each backend module, where `Db`, `Conn` and `Handle` name that
//! backend's concrete types, so the compiler checks each body against both
//! drivers and no call goes through `sqlx::Any`. An operation is an inherent
//! method of `Handle`; a helper that runs inside a caller's transaction takes
//! `&mut Conn`, and other files reach it as `super::<file>::<helper>`, which
//! resolves within the same backend.

pub(crate) mod postgres;
pub(crate) mod sqlite;
mod turns;

pub(crate) use turns::current_lane;
pub use turns::{Lane, in_lane};

/// Include every file of `src/sql/` as a submodule of the calling backend
/// module. Paths are relative to this directory, where both callers live.
macro_rules! operations {
    () => {
        mod alerts {
            include!("../sql/alerts.rs");
        }
        mod batch {
            include!("../sql/batch.rs");
        }
        mod changes {
            include!("../sql/changes.rs");
        }
        mod duties {
            include!("../sql/duties.rs");
        }
        mod follow_ups {
            include!("../sql/follow_ups.rs");
        }
        mod incidents {
            include!("../sql/incidents.rs");
        }
        mod leases {
            include!("../sql/leases.rs");
        }
        mod outbox {
            include!("../sql/outbox.rs");
        }
        mod overrides {
            include!("../sql/overrides.rs");
        }
        mod retention {
            include!("../sql/retention.rs");
        }
        mod set_aside {
            include!("../sql/set_aside.rs");
        }
        mod signals {
            include!("../sql/signals.rs");
        }
        mod subscribers {
            include!("../sql/subscribers.rs");
        }
        mod tokens {
            include!("../sql/tokens.rs");
        }
    };
}
pub(crate) use operations;

/// Which alert rows and group mappings a write transaction may touch. On
/// PostgreSQL it is what the transaction locks first (see
/// `PgStore::begin_alert_write_in`): a scope of a few groups lets writes of
/// other groups (a new group's first alert and its incident, during a flood
/// of another) run beside it. SQLite's single writer serialises anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AlertScope<'a> {
    /// Any alert or group: the whole `alerts` lock, held alone.
    All,
    /// Only alerts stored in, and mappings of, these groups (sorted, no
    /// repeats).
    Groups(Vec<&'a str>),
}

impl<'a> AlertScope<'a> {
    /// Most groups a scope names one by one; a write of more takes them all.
    /// Bounds the locks one transaction holds (PostgreSQL's lock table is
    /// shared and fixed in size).
    pub(crate) const MAX_GROUPS: usize = 64;

    /// The scope of writes to these groups: [`AlertScope::All`] if any is
    /// unknown (`None`), or there are more than [`AlertScope::MAX_GROUPS`].
    pub(crate) fn of(groups: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut named = Vec::new();
        for group in groups {
            let Some(group) = group else {
                return AlertScope::All;
            };
            // Reports come in runs of one group: skip the repeats cheaply.
            if named.last() != Some(&group) {
                named.push(group);
            }
        }
        named.sort_unstable();
        named.dedup();
        match named.len() {
            1..=Self::MAX_GROUPS => AlertScope::Groups(named),
            _ => AlertScope::All,
        }
    }

    /// Whether an alert stored in `group` is within it.
    pub(crate) fn covers(&self, group: &str) -> bool {
        match self {
            AlertScope::All => true,
            AlertScope::Groups(groups) => groups.binary_search(&group).is_ok(),
        }
    }
}

#[cfg(test)]
mod scope_tests {
    use super::AlertScope;

    #[test]
    fn a_scope_names_few_known_groups_or_takes_them_all() {
        let scope = AlertScope::of([Some("b"), Some("a"), Some("b"), Some("a")]);
        assert_eq!(scope, AlertScope::Groups(vec!["a", "b"]));
        assert!(scope.covers("a") && !scope.covers("c"));
        assert_eq!(AlertScope::of([Some("a"), None]), AlertScope::All);
        assert_eq!(AlertScope::of([]), AlertScope::All);
        let many: Vec<String> = (0..=AlertScope::MAX_GROUPS)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(
            AlertScope::of(many.iter().map(|g| Some(g.as_str()))),
            AlertScope::All
        );
        assert!(AlertScope::All.covers("anything"));
    }
}
