// Change safety: recorded changes (deploys, migrations, flags, config), the
// freezes and overrides people set, and the upstream providers' status.
// Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;
use firebell_core::change::ManualFreeze;

use super::Handle;
use crate::codec::{ChangeRow, FreezeRow, encode_enum, encode_json, from_ms, to_ms};
use crate::{ChangeRecord, ProviderStatus, StoreError};

macro_rules! change_columns {
    () => {
        "id, source, summary, service, environment, at_ms, payload, kind, details"
    };
}

macro_rules! freeze_columns {
    () => {
        "id, kind, environment, service, reason, created_by, \
         created_at_ms, until_ms, lifted_at_ms, lifted_by"
    };
}

impl Handle {
    pub(crate) async fn record_change(&self, change: &ChangeRecord) -> Result<(), StoreError> {
        let _t = Self::timer("record_change");
        sqlx::query(
            "INSERT INTO changes \
             (id, source, summary, service, environment, at_ms, payload, kind, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, summary = excluded.summary, \
             service = excluded.service, environment = excluded.environment, \
             at_ms = excluded.at_ms, payload = excluded.payload, kind = excluded.kind, \
             details = excluded.details",
        )
        .bind(&change.id)
        .bind(&change.source)
        .bind(&change.summary)
        .bind(&change.service)
        .bind(&change.environment)
        .bind(to_ms(change.at))
        .bind(encode_json(
            &change.payload,
            &format!("payload of change {}", change.id),
        )?)
        .bind(encode_enum(&change.kind, "change kind")?)
        .bind(encode_json(
            &change.details,
            &format!("details of change {}", change.id),
        )?)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(crate) async fn get_change(&self, id: &str) -> Result<Option<ChangeRecord>, StoreError> {
        let _t = Self::timer("get_change");
        let row: Option<ChangeRow> = sqlx::query_as(concat!(
            "SELECT ",
            change_columns!(),
            " FROM changes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.map(ChangeRow::into_change).transpose()
    }

    pub(crate) async fn list_changes(
        &self,
        service: Option<&str>,
        since: Timestamp,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let _t = Self::timer("list_changes");
        // Two texts rather than `$1 IS NULL OR …`, so a service's read uses
        // its index under a generic plan too.
        let rows: Vec<ChangeRow> = match service {
            Some(service) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    change_columns!(),
                    " FROM changes \
                     WHERE service = $1 AND at_ms >= $2 ORDER BY at_ms DESC, id"
                ))
                .bind(service)
                .bind(to_ms(since))
                .fetch_all(self.reader())
                .await?
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    change_columns!(),
                    " FROM changes \
                     WHERE at_ms >= $1 ORDER BY at_ms DESC, id"
                ))
                .bind(to_ms(since))
                .fetch_all(self.reader())
                .await?
            }
        };
        rows.into_iter().map(ChangeRow::into_change).collect()
    }

    /// Changes to any of `services` at or after `since`, newest first.
    pub(crate) async fn changes_of(
        &self,
        services: &[String],
        since: Timestamp,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut out = Vec::new();
        for service in services {
            out.extend(self.list_changes(Some(service), since).await?);
        }
        out.sort_by(|a, b| b.at.cmp(&a.at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub(crate) async fn create_freeze(&self, freeze: &ManualFreeze) -> Result<(), StoreError> {
        let _t = Self::timer("create_freeze");
        sqlx::query(
            "INSERT INTO freezes (id, kind, environment, service, reason, created_by, \
             created_at_ms, until_ms, lifted_at_ms, lifted_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
        )
        .bind(&freeze.id)
        .bind(freeze.kind.as_str())
        .bind(&freeze.environment)
        .bind(&freeze.service)
        .bind(&freeze.reason)
        .bind(&freeze.created_by)
        .bind(to_ms(freeze.created_at))
        .bind(to_ms(freeze.until))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Freezes and overrides not lifted that end after `after`, soonest end first.
    pub(crate) async fn list_freezes(
        &self,
        after: Timestamp,
    ) -> Result<Vec<ManualFreeze>, StoreError> {
        let _t = Self::timer("list_freezes");
        let rows: Vec<FreezeRow> = sqlx::query_as(concat!(
            "SELECT ",
            freeze_columns!(),
            " FROM freezes \
             WHERE until_ms > $1 AND lifted_at_ms IS NULL ORDER BY until_ms, id"
        ))
        .bind(to_ms(after))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(FreezeRow::into_freeze).collect()
    }

    /// Lift a freeze or override; `None` if there is none in force by that id.
    pub(crate) async fn lift_freeze(
        &self,
        id: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Option<ManualFreeze>, StoreError> {
        let _t = Self::timer("lift_freeze");
        let row: Option<FreezeRow> = sqlx::query_as(concat!(
            "UPDATE freezes SET lifted_at_ms = $2, lifted_by = $3 \
             WHERE id = $1 AND lifted_at_ms IS NULL AND until_ms > $2 \
             RETURNING ",
            freeze_columns!(),
            ""
        ))
        .bind(id)
        .bind(to_ms(now))
        .bind(by)
        .fetch_optional(self.writer())
        .await?;
        row.map(FreezeRow::into_freeze).transpose()
    }

    /// Store what a provider's status page said; `changed` when its
    /// indicator moved (or it is new), which the caller records on incidents.
    pub(crate) async fn record_provider_status(
        &self,
        status: &ProviderStatus,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("record_provider_status");
        let before: Option<(String,)> =
            sqlx::query_as("SELECT indicator FROM provider_status WHERE provider = $1")
                .bind(&status.provider)
                .fetch_optional(self.writer())
                .await?;
        let changed = before.as_ref().is_none_or(|(i,)| *i != status.indicator);
        sqlx::query(
            "INSERT INTO provider_status \
             (provider, indicator, description, checked_at_ms, changed_at_ms, error) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (provider) DO UPDATE SET indicator = excluded.indicator, \
             description = excluded.description, checked_at_ms = excluded.checked_at_ms, \
             changed_at_ms = CASE WHEN provider_status.indicator = excluded.indicator \
               THEN provider_status.changed_at_ms ELSE excluded.changed_at_ms END, \
             error = excluded.error",
        )
        .bind(&status.provider)
        .bind(&status.indicator)
        .bind(&status.description)
        .bind(to_ms(status.checked_at))
        .bind(to_ms(status.changed_at))
        .bind(&status.error)
        .execute(self.writer())
        .await?;
        Ok(changed)
    }

    pub(crate) async fn provider_statuses(&self) -> Result<Vec<ProviderStatus>, StoreError> {
        let _t = Self::timer("provider_statuses");
        let rows: Vec<(String, String, String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT provider, indicator, description, checked_at_ms, changed_at_ms, error \
             FROM provider_status ORDER BY provider",
        )
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(
                |(provider, indicator, description, checked, changed, error)| {
                    Ok(ProviderStatus {
                        provider,
                        indicator,
                        description,
                        checked_at: from_ms(checked)?,
                        changed_at: from_ms(changed)?,
                        error,
                    })
                },
            )
            .collect()
    }
}
