//! Pruning what stopped mattering (`[retention]` in the policy): resolved
//! alerts no open incident holds, expired silences, ended maintenance
//! windows, old change records, status page subscribers' finished messages
//! and sign-ups never confirmed. Incidents, their events and their
//! notifications are never pruned. Deletes go in chunks so a large backlog
//! never holds the writer for long. The loop is in `sql/retention.rs`.

use firebell_core::Timestamp;
use serde::Serialize;

/// Rows deleted per statement.
pub(crate) const CHUNK: i64 = 5_000;

/// Delete what ended before each cutoff.
#[derive(Clone, Copy, Debug)]
pub struct PruneBefore {
    pub alerts: Timestamp,
    pub silences: Timestamp,
    pub changes: Timestamp,
    /// Subscriber messages that are done (delivered, given up, cancelled),
    /// and the record of posts fanned out.
    pub subscriber_messages: Timestamp,
    /// Sign-ups never confirmed, made before this (the confirmation link
    /// no longer works): an address nobody vouched for is not kept.
    pub lapsed_signups: Timestamp,
}

/// What a prune deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub alerts: u64,
    pub silences: u64,
    pub maintenance_windows: u64,
    pub changes: u64,
    pub subscriber_messages: u64,
    pub lapsed_signups: u64,
}

/// One kind of record that is pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Alerts,
    Silences,
    MaintenanceWindows,
    Changes,
    SubscriberMessages,
    SubscriberPosts,
    LapsedSignups,
}

impl Target {
    pub(crate) const ALL: [Target; 7] = [
        Target::Alerts,
        Target::Silences,
        Target::MaintenanceWindows,
        Target::Changes,
        Target::SubscriberMessages,
        Target::SubscriberPosts,
        Target::LapsedSignups,
    ];

    /// [`Target::Alerts`]'s delete where rows are found by id (SQLite, see
    /// [`crate::alert_ids`]): it returns what it deleted, for the key map.
    pub(crate) const ALERTS_BY_ID: &'static str = "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts \
         WHERE ends_at_ms IS NOT NULL AND ends_at_ms < $1 AND NOT pending \
         AND NOT processed_firing AND (incident_id IS NULL OR incident_id IN \
         (SELECT id FROM incidents WHERE status = 'resolved')) LIMIT $2) RETURNING id, key";

    /// The delete: at most `$2` rows that ended before `$1`.
    pub(crate) fn statement(self) -> &'static str {
        match self {
            // Resolved, processed, and not holding an open incident's history.
            Target::Alerts => {
                "DELETE FROM alerts WHERE key IN (SELECT key FROM alerts \
                 WHERE ends_at_ms IS NOT NULL AND ends_at_ms < $1 AND NOT pending \
                 AND NOT processed_firing AND (incident_id IS NULL OR incident_id IN \
                 (SELECT id FROM incidents WHERE status = 'resolved')) LIMIT $2)"
            }
            Target::Silences => {
                "DELETE FROM silences WHERE id IN \
                 (SELECT id FROM silences WHERE ends_at_ms < $1 LIMIT $2)"
            }
            Target::MaintenanceWindows => {
                "DELETE FROM maintenance_windows WHERE id IN (SELECT id FROM maintenance_windows \
                 WHERE ends_at_ms IS NOT NULL AND ends_at_ms < $1 LIMIT $2)"
            }
            Target::Changes => {
                "DELETE FROM changes WHERE id IN \
                 (SELECT id FROM changes WHERE at_ms < $1 LIMIT $2)"
            }
            Target::SubscriberMessages => {
                "DELETE FROM subscriber_messages WHERE id IN (SELECT id FROM subscriber_messages \
                 WHERE state IN ('delivered', 'dead', 'cancelled') AND created_at_ms < $1 LIMIT $2)"
            }
            Target::SubscriberPosts => {
                "DELETE FROM subscriber_posts WHERE key IN \
                 (SELECT key FROM subscriber_posts WHERE fanned_out_at_ms < $1 LIMIT $2)"
            }
            // Their messages go with them (ON DELETE CASCADE).
            Target::LapsedSignups => {
                "DELETE FROM subscribers WHERE id IN (SELECT id FROM subscribers \
                 WHERE state = 'pending' AND created_at_ms < $1 LIMIT $2)"
            }
        }
    }

    /// Its cutoff: maintenance windows follow silences.
    pub(crate) fn cutoff(self, before: &PruneBefore) -> Timestamp {
        match self {
            Target::Alerts => before.alerts,
            Target::Silences | Target::MaintenanceWindows => before.silences,
            Target::Changes => before.changes,
            Target::SubscriberMessages | Target::SubscriberPosts => before.subscriber_messages,
            Target::LapsedSignups => before.lapsed_signups,
        }
    }

    /// Whether deleting it is an alert write (see `begin_alert_write`).
    pub(crate) fn writes_alerts(self) -> bool {
        self == Target::Alerts
    }

    pub(crate) fn count(self, pruned: &mut Pruned, n: u64) {
        match self {
            Target::Alerts => pruned.alerts += n,
            Target::Silences => pruned.silences += n,
            Target::MaintenanceWindows => pruned.maintenance_windows += n,
            Target::Changes => pruned.changes += n,
            Target::SubscriberMessages => pruned.subscriber_messages += n,
            // Bookkeeping of what was sent; not worth a figure of its own.
            Target::SubscriberPosts => {}
            Target::LapsedSignups => pruned.lapsed_signups += n,
        }
    }
}
