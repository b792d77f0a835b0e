//! Pruning what stopped mattering (`[retention]` in the policy): resolved
//! alerts no open incident holds, expired silences, ended maintenance
//! windows and old change records. Incidents, their events and their
//! notifications are never pruned. Deletes go in chunks so a large backlog
//! never holds the writer for long.

use firebell_core::Timestamp;
use serde::Serialize;

use crate::common::{OpTimer, to_ms};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Backend, StoreError};

/// Rows deleted per statement.
const CHUNK: i64 = 5_000;

/// Delete what ended before each cutoff.
#[derive(Clone, Copy, Debug)]
pub struct PruneBefore {
    pub alerts: Timestamp,
    pub silences: Timestamp,
    pub changes: Timestamp,
}

/// What a prune deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub alerts: u64,
    pub silences: u64,
    pub maintenance_windows: u64,
    pub changes: u64,
}

/// The statements, in the backend's placeholder style: each deletes at most
/// `CHUNK` rows older than its one parameter.
fn statements(pg: bool) -> [(&'static str, String); 4] {
    let p = |n: usize| if pg { format!("${n}") } else { "?".to_string() };
    [
        (
            "alerts",
            // Resolved, processed, and not holding an open incident's history.
            format!(
                "DELETE FROM alerts WHERE key IN (SELECT key FROM alerts \
                 WHERE ends_at_ms IS NOT NULL AND ends_at_ms < {} AND NOT pending AND NOT processed_firing \
                 AND (incident_id IS NULL OR incident_id IN (SELECT id FROM incidents WHERE status = 'resolved')) \
                 LIMIT {CHUNK})",
                p(1)
            ),
        ),
        (
            "silences",
            format!(
                "DELETE FROM silences WHERE id IN (SELECT id FROM silences WHERE ends_at_ms < {} LIMIT {CHUNK})",
                p(1)
            ),
        ),
        (
            "maintenance_windows",
            format!(
                "DELETE FROM maintenance_windows WHERE id IN (SELECT id FROM maintenance_windows \
                 WHERE ends_at_ms IS NOT NULL AND ends_at_ms < {} LIMIT {CHUNK})",
                p(1)
            ),
        ),
        (
            "changes",
            format!(
                "DELETE FROM changes WHERE id IN (SELECT id FROM changes WHERE at_ms < {} LIMIT {CHUNK})",
                p(1)
            ),
        ),
    ]
}

fn cutoff(what: &str, before: &PruneBefore) -> i64 {
    to_ms(match what {
        "alerts" => before.alerts,
        "changes" => before.changes,
        _ => before.silences,
    })
}

fn count(pruned: &mut Pruned, what: &str, n: u64) {
    match what {
        "alerts" => pruned.alerts += n,
        "silences" => pruned.silences += n,
        "maintenance_windows" => pruned.maintenance_windows += n,
        _ => pruned.changes += n,
    }
}

impl SqliteStore {
    pub(crate) async fn prune(&self, before: &PruneBefore) -> Result<Pruned, StoreError> {
        let _t = OpTimer::start(Backend::Sqlite, "prune");
        let mut pruned = Pruned::default();
        for (what, sql) in statements(false) {
            loop {
                let n = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(cutoff(what, before))
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                count(&mut pruned, what, n);
                if n < CHUNK as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}

impl PgStore {
    pub(crate) async fn prune(&self, before: &PruneBefore) -> Result<Pruned, StoreError> {
        let _t = OpTimer::start(Backend::Postgres, "prune");
        let mut pruned = Pruned::default();
        for (what, sql) in statements(true) {
            loop {
                let mut tx = self.pool.begin().await?;
                // Alert writers take this lock first; pruning alerts is one.
                if what == "alerts" {
                    crate::postgres::lock_alerts(&mut tx).await?;
                }
                let n = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(cutoff(what, before))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                count(&mut pruned, what, n);
                if n < CHUNK as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}
