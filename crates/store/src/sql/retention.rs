// Pruning (see `crate::retention`).
// Included once per backend (see `backend/mod.rs`).

use super::Handle;
use crate::StoreError;
use crate::codec::to_ms;
use crate::retention::{CHUNK, PruneBefore, Pruned, Target};

impl Handle {
    pub(crate) async fn prune(&self, before: &PruneBefore) -> Result<Pruned, StoreError> {
        let _t = Self::timer("prune");
        let mut pruned = Pruned::default();
        for target in Target::ALL {
            loop {
                let mut tx = if target.writes_alerts() {
                    self.begin_alert_write().await?
                } else {
                    self.begin_write().await?
                };
                let n = sqlx::query(target.statement())
                    .bind(to_ms(target.cutoff(before)))
                    .bind(CHUNK)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                target.count(&mut pruned, n);
                if n < CHUNK as u64 {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}
