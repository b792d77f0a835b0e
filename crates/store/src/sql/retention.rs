// Pruning (see `crate::retention`).
// Included once per backend (see `backend/mod.rs`).

use super::Handle;
use crate::StoreError;
use crate::alert_ids::KeyLookup;
use crate::codec::to_ms;
use crate::retention::{CHUNK, PruneBefore, Pruned, Target};

impl Handle {
    pub(crate) async fn prune(&self, before: &PruneBefore) -> Result<Pruned, StoreError> {
        let _t = Self::timer("prune");
        let mut pruned = Pruned::default();
        let lookup = self.key_lookup().await?;
        for target in Target::ALL {
            loop {
                let mut tx = if target.writes_alerts() {
                    self.begin_alert_write().await?
                } else {
                    self.begin_write().await?
                };
                let cutoff = to_ms(target.cutoff(before));
                let n = match (target, lookup) {
                    // The key map forgets a row only once its delete commits.
                    (Target::Alerts, KeyLookup::Ids(ids)) => {
                        let gone: Vec<(i64, String)> = sqlx::query_as(Target::ALERTS_BY_ID)
                            .bind(cutoff)
                            .bind(CHUNK)
                            .fetch_all(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        for (id, key) in &gone {
                            ids.remove(key, *id);
                        }
                        gone.len() as u64
                    }
                    _ => {
                        let n = sqlx::query(target.statement())
                            .bind(cutoff)
                            .bind(CHUNK)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        tx.commit().await?;
                        n
                    }
                };
                target.count(&mut pruned, n);
                if n < CHUNK as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}
