// Alerts: the ingest log, its merge into `alerts`, the processor's reads and
// writes, and the alert-group mapping. Every writer of alert rows or of the
// mapping begins with `begin_alert_write` (or `begin_alert_write_in`, scoped).
// Included once per backend (see `backend/mod.rs`).

use std::borrow::Borrow;
use std::collections::HashMap;

use firebell_core::alert::{Alert, IncomingAlert};
use firebell_core::{Incident, Timestamp};

use super::{Conn, Db, Handle};
use crate::alert_ids::KeyLookup;
use crate::backend::AlertScope;
use crate::codec::{
    AlertGroup, AlertRow, AlertSlot, Appended, Extension, FoldedAhead, InPlace, KEYS_PER_QUERY,
    LOG_ROWS_PER_ROUND, LogBatch, LogEntry, Logged, MergedBatch, ROWS_PER_STATEMENT, alert_columns,
    alert_counts, alert_limit, decode_logged, distinct_processed, group_taken, into_alerts,
    keep_keys, list_alerts_query, log_insert_query, log_rows_query, logged_keys,
    mark_processed_query, merge_batch, select_alerts_by_key, take_log_rows, to_ms,
};
use crate::{AlertFilter, Append, NewIncident, ProcessedAlert, StoreError};

impl Handle {
    pub(crate) async fn open_alerts(&self) -> Result<(), StoreError> {
        self.key_lookup().await.map(|_| ())
    }

    pub(crate) async fn lock_alerts(&self) -> Result<(), StoreError> {
        self.hold_alerts_lock()
    }

    pub(crate) async fn log_alerts<E: Borrow<LogEntry>>(
        &self,
        received_at: Timestamp,
        entries: &[E],
        urgent: &[LogEntry],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("log_alerts");
        if let Some(mut insert) = log_insert_query::<Db, E>(received_at, entries, urgent) {
            // A new group's report goes with the pipeline; the rest is bulk.
            let lane = match urgent.is_empty() {
                true => crate::backend::Lane::Bulk,
                false => crate::backend::Lane::Pipeline,
            };
            let mut conn = self.writer_in(lane).await?;
            insert.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub(crate) async fn log_alerts_merging_urgent<F>(
        &self,
        received_at: Timestamp,
        entries: &[LogEntry],
        urgent: &[LogEntry],
        extensions: &[Extension],
        merge: F,
    ) -> Result<Appended, StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
    {
        let _t = Self::timer("log_alerts_merging_urgent");
        let (Some(lookup), false) = (
            self.merge_on_append(),
            urgent.is_empty() && extensions.is_empty(),
        ) else {
            return self
                .log_everything(received_at, entries, urgent, extensions)
                .await;
        };
        // The fast lane's declaration of new groups' incidents follows.
        let lane = match urgent.is_empty() {
            true => crate::backend::Lane::Bulk,
            false => crate::backend::Lane::Relay,
        };
        let mut tx = self.begin_alert_write_in(lane, &AlertScope::All).await?;
        let extended = extend_in_place(&mut tx, lookup, received_at, extensions).await?;
        let unextended = extensions
            .iter()
            .zip(&extended)
            .filter(|(_, done)| !**done)
            .map(|(e, _)| e);
        let rest = [Extension::log_entry(unextended)?];
        let all: Vec<&LogEntry> = entries.iter().chain(&rest).collect();
        let Some(mut insert) = log_insert_query::<Db, _>(received_at, &all, urgent) else {
            tx.commit().await?;
            return Ok(Appended {
                merged: Some(Vec::new()),
                extended,
            });
        };
        let rows: Vec<(i64, bool)> = insert
            .push(" RETURNING seq, urgent")
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        let mut seqs: Vec<i64> = rows.iter().filter(|r| r.1).map(|r| r.0).collect();
        seqs.sort_unstable();
        match merge_log_rows(&mut tx, lookup, &seqs, merge).await {
            Ok(merged) => {
                tx.commit().await?;
                Ok(Appended {
                    merged: Some(merged.results),
                    extended,
                })
            }
            // Whatever stops the merge (a report no backend can store, say)
            // must not stop the append: log them as usual, and the log's
            // merge counts the fault against its row.
            Err(e) => {
                tracing::warn!(error = %e, "merging new groups' reports as they were logged failed; they are logged to merge later");
                tx.rollback().await?;
                self.log_everything(received_at, entries, urgent, extensions)
                    .await
            }
        }
    }

    /// Log the entries, and the extensions' reports, without merging or
    /// extending anything.
    async fn log_everything(
        &self,
        received_at: Timestamp,
        entries: &[LogEntry],
        urgent: &[LogEntry],
        extensions: &[Extension],
    ) -> Result<Appended, StoreError> {
        let rest = [Extension::log_entry(extensions)?];
        let all: Vec<&LogEntry> = entries.iter().chain(&rest).collect();
        self.log_alerts(received_at, &all, urgent).await?;
        Ok(Appended {
            merged: None,
            extended: vec![false; extensions.len()],
        })
    }

    pub(crate) async fn merge_logged_alerts<F>(
        &self,
        max_alerts: usize,
        merge: F,
    ) -> Result<Vec<Alert>, StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
    {
        let _t = Self::timer("merge_logged_alerts");
        // Most calls (every read of alerts settles the log first) find it
        // empty: a plain read says so without taking the write lock.
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ingest_log)")
            .fetch_one(self.reader())
            .await?;
        if !any {
            return Ok(Vec::new());
        }
        let lookup = self.key_lookup().await?;
        let mut tx = self
            .begin_alert_write_in(crate::backend::Lane::Bulk, &AlertScope::All)
            .await?;
        let heads: Vec<(i64, i64)> =
            sqlx::query_as("SELECT seq, alert_count FROM ingest_log ORDER BY seq LIMIT $1")
                .bind(LOG_ROWS_PER_ROUND)
                .fetch_all(&mut *tx)
                .await?;
        let seqs = take_log_rows(&heads, max_alerts);
        if seqs.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        match merge_log_rows(&mut tx, lookup, &seqs, merge).await {
            Ok(m) => {
                tx.commit().await?;
                Ok(m.results)
            }
            Err(e) => Err(one_row_named(&seqs, e)),
        }
    }

    pub(crate) async fn read_logged_alerts(
        &self,
        lane: crate::LogLane,
        max_alerts: usize,
        after: Option<i64>,
    ) -> Result<LogBatch, StoreError> {
        let _t = Self::timer("read_logged_alerts");
        let heads: Vec<(i64, i64)> = sqlx::query_as(match lane {
            crate::LogLane::Oldest => {
                "SELECT seq, alert_count FROM ingest_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            }
            crate::LogLane::Urgent => {
                "SELECT seq, alert_count FROM ingest_log WHERE urgent AND seq > $1 \
                 ORDER BY seq LIMIT $2"
            }
        })
        .bind(after.unwrap_or(i64::MIN))
        .bind(LOG_ROWS_PER_ROUND)
        .fetch_all(self.reader())
        .await?;
        let seqs = take_log_rows(&heads, max_alerts);
        if seqs.is_empty() {
            return decode_logged(lane, Vec::new());
        }
        let mut select = log_rows_query::<Db>("SELECT seq, received_at_ms, alerts", &seqs);
        let rows: Vec<(i64, i64, String)> =
            select.build_query_as().fetch_all(self.reader()).await?;
        decode_logged(lane, rows).map_err(|e| one_row_named(&seqs, e))
    }

    pub(crate) async fn fold_ahead<P, F>(
        &self,
        batch: &mut LogBatch<P>,
        merge: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(Option<&Alert>, &IncomingAlert, &P, Timestamp) -> (Alert, bool),
    {
        let _t = Self::timer("fold_ahead");
        if batch.is_empty() {
            return Ok(());
        }
        let lookup = self.key_lookup().await?;
        let reports = batch.all();
        let mut conn = self.reader().acquire().await?;
        let (seen, _) = load_alerts(&mut conn, lookup, &logged_keys(&reports)).await?;
        drop(conn);
        // Only a merge that records news uses it, and that keeps no results.
        let folded = merge_batch(&reports, seen.clone(), merge, false)?;
        drop(reports);
        batch.set_ahead(FoldedAhead { seen, folded });
        Ok(())
    }

    pub(crate) async fn merge_read_alerts<P, F>(
        &self,
        batch: &mut LogBatch<P>,
        mut merge: F,
        mut record: Option<crate::RecordNews<'_>>,
    ) -> Result<MergedBatch, StoreError>
    where
        P: AlertGroup + Sync,
        F: FnMut(Option<&Alert>, &IncomingAlert, &P, Timestamp) -> (Alert, bool) + Send,
    {
        let _t = Self::timer("merge_read_alerts");
        if batch.is_empty() {
            return Ok(MergedBatch::default());
        }
        let mut ahead = batch.take_ahead();
        let batch = &*batch;
        let lookup = self.key_lookup().await?;
        let lane = match batch.lane() {
            crate::LogLane::Oldest => crate::backend::Lane::Bulk,
            crate::LogLane::Urgent => crate::backend::Lane::Pipeline,
        };
        let mut scope = batch.scope();
        loop {
            let mut tx = self.begin_alert_write_in(lane, &scope).await?;
            // Claim the rows: those another merge took meanwhile are gone.
            let seqs = batch.seqs();
            let mut claimed: Vec<i64> = log_rows_query::<Db>("DELETE", &seqs)
                .push(" RETURNING seq")
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await?;
            claimed.sort_unstable();
            let incoming = batch.claimed(&claimed);
            if incoming.is_empty() {
                tx.rollback().await?;
                return Ok(MergedBatch::default());
            }
            // Reborrowed for this try: a try undone leaves it for the next.
            let news: Option<crate::RecordNews<'_>> = match &mut record {
                Some(record) => Some(&mut **record),
                None => None,
            };
            // The merge ahead covers the whole batch and kept no per-report
            // results: it serves only when every row was claimed and the
            // merge records news (whose caller wants no results).
            let ahead = ahead
                .take()
                .filter(|_| incoming.len() == batch.len() && news.is_some());
            let merged =
                merge_reports(&mut tx, lookup, &scope, &incoming, &mut merge, news, ahead).await;
            match merged {
                Ok(Some(m)) => {
                    tx.commit().await?;
                    return Ok(MergedBatch {
                        reports: m.reports,
                        alerts: m.results,
                        recorded: m.recorded,
                        merged_ahead: m.merged_ahead,
                    });
                }
                // A stored alert lies outside the groups locked: again,
                // holding them all.
                Ok(None) => {
                    tx.rollback().await?;
                    scope = AlertScope::All;
                }
                Err(e) => return Err(one_row_named(&claimed, e)),
            }
        }
    }

    pub(crate) async fn pending_alerts_by_key(
        &self,
        keys: &[String],
    ) -> Result<Vec<Alert>, StoreError> {
        let _t = Self::timer("pending_alerts_by_key");
        let lookup = self.key_lookup().await?;
        let mut alerts = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let mut query = select_alerts_by_key::<Db>(&chunk, lookup);
            query.push(" AND pending ORDER BY updated_at_ms, key");
            let rows: Vec<AlertRow> = query.build_query_as().fetch_all(self.reader()).await?;
            alerts.extend(into_alerts(keep_keys(rows, &chunk))?);
        }
        Ok(alerts)
    }

    pub(crate) async fn logged_alert_backlog(&self) -> Result<u64, StoreError> {
        let _t = Self::timer("logged_alert_backlog");
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(alert_count), 0) AS BIGINT) FROM ingest_log",
        )
        .fetch_one(self.reader())
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn pending_alerts(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        let _t = Self::timer("pending_alerts");
        let rows: Vec<AlertRow> = sqlx::query_as(concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE pending ORDER BY updated_at_ms, key LIMIT $1"
        ))
        .bind(alert_limit(limit))
        .fetch_all(self.reader())
        .await?;
        into_alerts(rows)
    }

    pub(crate) async fn sweep_expired_alerts(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _t = Self::timer("sweep_expired_alerts");
        // Most rounds find nothing: a plain read says so without taking the
        // writer (SQLite) or the whole alerts lock (PostgreSQL), which would
        // wait for a merge in flight and hold up every alert write behind it.
        // One that expires after this read is swept by the next round.
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM alerts \
             WHERE processed_firing AND NOT pending AND ends_at_ms <= $1)",
        )
        .bind(to_ms(now))
        .fetch_one(self.reader())
        .await?;
        if !any {
            return Ok(0);
        }
        let mut tx = self.begin_alert_write().await?;
        let swept = sqlx::query(
            "UPDATE alerts SET pending = TRUE \
             WHERE processed_firing AND NOT pending AND ends_at_ms <= $1",
        )
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(swept)
    }

    pub(crate) async fn repend_unattached_firing_alerts(
        &self,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let _t = Self::timer("repend_unattached_firing_alerts");
        let mut tx = self.begin_alert_write().await?;
        let repended = sqlx::query(
            "UPDATE alerts SET pending = TRUE \
             WHERE NOT pending AND (ends_at_ms IS NULL OR ends_at_ms > $1) \
             AND NOT EXISTS (SELECT 1 FROM incidents \
                 WHERE incidents.id = alerts.incident_id AND incidents.status <> 'resolved')",
        )
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(repended)
    }

    pub(crate) async fn open_incident_for_group(
        &self,
        group_key: &str,
    ) -> Result<Option<String>, StoreError> {
        let _t = Self::timer("open_incident_for_group");
        Ok(
            sqlx::query_scalar("SELECT incident_id FROM incident_groups WHERE group_key = $1")
                .bind(group_key)
                .fetch_optional(self.reader())
                .await?,
        )
    }

    pub(crate) async fn create_incident_for_group(
        &self,
        stem: &str,
        digits: u8,
        group_key: &str,
        new: &NewIncident,
        alerts: &[ProcessedAlert],
        first: crate::FirstDuties<'_>,
    ) -> Result<Incident, StoreError> {
        let _t = Self::timer("create_incident_for_group");
        let lookup = self.key_lookup().await?;
        // The claim of its first page follows.
        // Its alerts are this group's (the processor took them by it).
        let mut tx = self
            .begin_alert_write_in(
                crate::backend::Lane::Relay,
                &AlertScope::Groups(vec![group_key]),
            )
            .await?;
        // Checked first so a taken group does not even use up a number.
        if let Some(incident_id) = group_holder(&mut tx, group_key).await? {
            tx.rollback().await?;
            return Err(StoreError::GroupTaken { incident_id });
        }
        let incident = super::incidents::insert_incident(&mut tx, stem, digits, new).await?;
        if incident.is_open() {
            let claimed = sqlx::query(
                "INSERT INTO incident_groups (group_key, incident_id) VALUES ($1, $2) \
                 ON CONFLICT (group_key) DO NOTHING",
            )
            .bind(group_key)
            .bind(&incident.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                let holder = group_holder(&mut tx, group_key).await?;
                tx.rollback().await?;
                return Err(group_taken(group_key, holder));
            }
        }
        mark_processed(&mut tx, lookup, alerts, Some(&incident.id)).await?;
        let incident =
            super::incidents::write_first_duties(&mut tx, lookup, incident, first).await?;
        tx.commit().await?;
        Ok(incident)
    }

    pub(crate) async fn mark_alerts_processed(
        &self,
        alerts: &[ProcessedAlert],
    ) -> Result<(), StoreError> {
        let _t = Self::timer("mark_alerts_processed");
        if alerts.is_empty() {
            return Ok(());
        }
        let lookup = self.key_lookup().await?;
        let mut tx = self.begin_alert_write().await?;
        mark_processed(&mut tx, lookup, alerts, None).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_alert(&self, key: &str) -> Result<Option<Alert>, StoreError> {
        let _t = Self::timer("get_alert");
        let lookup = self.key_lookup().await?;
        let mut query = select_alerts_by_key::<Db>(&[key], lookup);
        let rows: Vec<AlertRow> = query.build_query_as().fetch_all(self.reader()).await?;
        keep_keys(rows, &[key])
            .into_iter()
            .next()
            .map(AlertRow::into_alert)
            .transpose()
    }

    pub(crate) async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let _t = Self::timer("list_alerts");
        let mut query = list_alerts_query::<Db>(filter, &super::LABEL_SQL);
        let rows: Vec<AlertRow> = query.build_query_as().fetch_all(self.reader()).await?;
        into_alerts(rows)
    }

    pub(crate) async fn alert_counts(
        &self,
        incident_id: &str,
        now: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        let _t = Self::timer("alert_counts");
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN ends_at_ms IS NULL OR ends_at_ms > $1 \
             THEN 1 ELSE 0 END), 0) AS BIGINT), COUNT(*) FROM alerts WHERE incident_id = $2",
        )
        .bind(to_ms(now))
        .bind(incident_id)
        .fetch_one(self.reader())
        .await?;
        alert_counts(counts)
    }
}

/// A row merged (or read) alone that failed on its own: name it, so the
/// caller can count the try against it.
fn one_row_named(seqs: &[i64], e: StoreError) -> StoreError {
    match seqs {
        [seq] if e.fault() == crate::Fault::Row => StoreError::Row {
            queue: crate::Queue::IngestLog,
            item: seq.to_string(),
            source: Box::new(e),
        },
        _ => e,
    }
}

/// Write the extensions in place: each moves a firing alert's `endsAt`
/// later and its `updatedAt` to `received_at`, as a merge of its report
/// would (the report changes nothing else), if the stored row still ends
/// where its caller knows it does and is not newer. Returns which were
/// written.
async fn extend_in_place(
    conn: &mut Conn,
    lookup: KeyLookup<'_>,
    received_at: Timestamp,
    extensions: &[Extension],
) -> Result<Vec<bool>, StoreError> {
    let now = to_ms(received_at);
    let mut rows: Vec<InPlace> = Vec::with_capacity(extensions.len());
    for e in extensions {
        let Some(ends_at) = e.report.ends_at else {
            continue;
        };
        let (stored_ends, new_ends) = (to_ms(e.stored_ends_at), to_ms(ends_at));
        if new_ends < stored_ends || stored_ends <= now {
            continue;
        }
        let row = |id| InPlace {
            id,
            key: &e.report.key,
            stored_ends,
            new_ends,
        };
        match lookup {
            KeyLookup::Index => rows.push(row(0)),
            KeyLookup::Ids(ids) => rows.extend(ids.candidates(&e.report.key).into_iter().map(row)),
        }
    }
    let written = super::rows::extend_alerts(conn, &rows, now).await?;
    Ok(extensions
        .iter()
        .map(|e| written.contains(&e.report.key))
        .collect())
}

/// Merge the log rows `seqs` into the alerts and delete them, in `tx`.
async fn merge_log_rows<F>(
    tx: &mut Conn,
    lookup: KeyLookup<'_>,
    seqs: &[i64],
    mut merge: F,
) -> Result<MergedRows, StoreError>
where
    F: FnMut(Option<&Alert>, &IncomingAlert, Timestamp) -> (Alert, bool) + Send,
{
    let mut select = log_rows_query::<Db>("SELECT seq, received_at_ms, alerts", seqs);
    let rows: Vec<(i64, i64, String)> = select.build_query_as().fetch_all(&mut *tx).await?;
    let batch = decode_logged(crate::LogLane::Oldest, rows)?;
    let incoming = batch.claimed(seqs);
    let merged = merge_reports(
        tx,
        lookup,
        &AlertScope::All,
        &incoming,
        |stored, report, (), at| merge(stored, report, at),
        None,
        None,
    )
    .await?
    .ok_or_else(|| StoreError::Corrupt("a merge of every group found one outside it".into()))?;
    let mut delete = log_rows_query::<Db>("DELETE", seqs);
    delete.build().execute(&mut *tx).await?;
    Ok(merged)
}

/// Merge `incoming` (reports of log rows this transaction holds) into the
/// alerts, in `tx`, recording news for open incidents when asked; with
/// `ahead`, the same merge done before the transaction, kept if it started
/// from the alerts stored now. `None`,
/// with nothing written: a stored alert lies outside `scope`, the groups
/// the transaction locked.
async fn merge_reports<P, F>(
    tx: &mut Conn,
    lookup: KeyLookup<'_>,
    scope: &AlertScope<'_>,
    incoming: &[&Logged<P>],
    merge: F,
    record: Option<crate::RecordNews<'_>>,
    ahead: Option<FoldedAhead>,
) -> Result<Option<MergedRows>, StoreError>
where
    P: Sync,
    F: FnMut(Option<&Alert>, &IncomingAlert, &P, Timestamp) -> (Alert, bool) + Send,
{
    let (stored, mut stored_ids) = load_alerts(tx, lookup, &logged_keys(incoming)).await?;
    if !stored.values().all(|a| scope.covers(&a.group_key)) {
        return Ok(None);
    }
    // The merge done ahead stands if it started from what is stored now.
    // A recording merge's caller counts; the others get each report's alert.
    let (batch, merged_ahead) = match ahead {
        Some(ahead) if ahead.seen == stored => (ahead.folded, true),
        _ => (
            merge_batch(incoming, stored, merge, record.is_none())?,
            false,
        ),
    };
    // Where rows are found by id, a new alert gets its id now, in the map
    // before this transaction commits (see `crate::alert_ids`).
    let slots: Option<Vec<AlertSlot>> = match lookup {
        KeyLookup::Index => None,
        KeyLookup::Ids(ids) => Some(
            batch
                .rows
                .iter()
                .map(|(a, _)| {
                    stored_ids
                        .remove(&a.key)
                        .unwrap_or_else(|| AlertSlot::New(ids.insert(&a.key)))
                })
                .collect(),
        ),
    };
    // The news first, so that its alerts are written once, as processed.
    let (recorded, marks) = match record {
        Some(record) => record_news(tx, &batch.rows, record).await,
        None => (Vec::new(), HashMap::new()),
    };
    let mut merged = Rows::default();
    let mut processed = Rows::default();
    let mut slots = slots.map(Vec::into_iter);
    for (mut alert, pending) in batch.rows {
        let slot = slots.as_mut().and_then(Iterator::next);
        match marks.get(alert.key.as_str()) {
            Some((incident, firing)) => {
                alert.incident_id = Some(incident.clone());
                processed.push(alert, *firing, slot);
            }
            None => merged.push(alert, pending, slot),
        }
    }
    merged.write(tx, false).await?;
    processed.write(tx, true).await?;
    Ok(Some(MergedRows {
        results: batch.results,
        reports: batch.reports,
        recorded,
        merged_ahead,
        _written: [merged, processed],
    }))
}

/// What a merge of log rows did: each report's alert (unless recording),
/// how many reports, the changes recorded, and whether the merge done
/// ahead was kept.
struct MergedRows {
    results: Vec<Alert>,
    reports: usize,
    recorded: Vec<Append>,
    merged_ahead: bool,
    /// The rows written, freed by the caller once the transaction is over
    /// rather than while it holds the writer.
    _written: [Rows; 2],
}

/// Alert rows to upsert, with their slots where rows are found by id.
#[derive(Default)]
struct Rows {
    rows: Vec<(Alert, bool)>,
    slots: Vec<AlertSlot>,
}

impl Rows {
    fn push(&mut self, alert: Alert, flag: bool, slot: Option<AlertSlot>) {
        self.rows.push((alert, flag));
        self.slots.extend(slot);
    }

    /// Upsert them (`processed`: already recorded), the backend's own way.
    async fn write(&self, tx: &mut Conn, processed: bool) -> Result<(), StoreError> {
        super::rows::upsert_alerts(tx, &self.rows, &self.slots, processed).await
    }
}

/// The news of a merge for open incidents, written in its transaction (see
/// [`crate::Store::merge_read_alerts`]): per group with pending
/// alerts in the batch and an open incident, the change `record` decides.
/// Returns the changes written and, by alert key, the incident and whether
/// firing, for the caller to write those alerts processed. Each group's
/// write is a savepoint of its own; one that fails is undone alone and its
/// alerts stay pending for the processor, which meets the same fault in its
/// own write and counts it.
async fn record_news(
    tx: &mut Conn,
    rows: &[(Alert, bool)],
    record: crate::RecordNews<'_>,
) -> (Vec<Append>, HashMap<String, (String, bool)>) {
    let mut groups: std::collections::BTreeMap<&str, Vec<&Alert>> = Default::default();
    for (alert, pending) in rows {
        if *pending {
            groups
                .entry(alert.group_key.as_str())
                .or_default()
                .push(alert);
        }
    }
    let mut written = Vec::new();
    let mut marks = HashMap::new();
    if groups.is_empty() {
        return (written, marks);
    }
    // Most groups of a flood have no open incident yet or share one: look
    // them up together, so a merge of many groups costs a query per few
    // hundred, not a savepoint and a query each.
    let keys: Vec<&str> = groups.keys().copied().collect();
    let open = match savepoint(tx).await {
        Ok(()) => {
            let found = open_incidents_of(tx, &keys).await;
            end_savepoint(tx, found).await
        }
        Err(e) => Err(e),
    };
    let open = match open {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(error = %e, "looking up a merge's open incidents failed; its alerts wait for the processor");
            return (written, marks);
        }
    };
    // Incidents in one order for every merge: two at once (of disjoint
    // groups, on PostgreSQL) whose groups share incidents lock them in the
    // same order, and cannot deadlock.
    let mut news: Vec<(&Incident, &str, Vec<&Alert>)> = groups
        .into_iter()
        .filter_map(|(group, alerts)| open.get(group).map(|i| (i, group, alerts)))
        .collect();
    news.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    for (incident, group_key, alerts) in news {
        match record_group(tx, incident, alerts, &mut *record).await {
            Ok(Some(append)) => {
                for a in &append.alerts {
                    if let Some(incident) = &a.incident_id {
                        marks.insert(a.key.clone(), (incident.clone(), a.firing));
                    }
                }
                written.push(append);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, group = group_key, "recording a merge's news failed; its alerts wait for the processor");
            }
        }
    }
    (written, marks)
}

/// The open incidents of these alert groups, as stored, by group key.
async fn open_incidents_of(
    tx: &mut Conn,
    groups: &[&str],
) -> Result<HashMap<String, Incident>, StoreError> {
    let mut open = HashMap::new();
    for chunk in groups.chunks(KEYS_PER_QUERY) {
        let mut q = sqlx::QueryBuilder::<Db>::new(
            "SELECT g.group_key, i.id, i.state FROM incident_groups g \
             JOIN incidents i ON i.id = g.incident_id WHERE g.group_key IN (",
        );
        let mut list = q.separated(", ");
        for group in chunk {
            list.push_bind(*group);
        }
        q.push(")");
        let rows: Vec<(String, String, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
        for (group, id, state) in rows {
            open.insert(group, crate::codec::decode_incident(&id, &state)?);
        }
    }
    Ok(open)
}

/// Begin a part of the transaction that can be undone alone
/// ([`end_savepoint`]): PostgreSQL refuses every later statement of a
/// transaction in which one failed.
async fn savepoint(tx: &mut Conn) -> Result<(), StoreError> {
    sqlx::query("SAVEPOINT news").execute(&mut *tx).await?;
    Ok(())
}

/// Keep the part begun by [`savepoint`] if it succeeded, else undo it; the
/// transaction goes on either way.
async fn end_savepoint<T>(tx: &mut Conn, done: Result<T, StoreError>) -> Result<T, StoreError> {
    let end = match done {
        Ok(_) => "RELEASE SAVEPOINT news",
        Err(_) => "ROLLBACK TO SAVEPOINT news",
    };
    sqlx::query(end).execute(&mut *tx).await?;
    if done.is_err() {
        sqlx::query("RELEASE SAVEPOINT news")
            .execute(&mut *tx)
            .await?;
    }
    done
}

/// One group's news (see [`record_news`]), in a savepoint.
async fn record_group(
    tx: &mut Conn,
    incident: &Incident,
    alerts: Vec<&Alert>,
    record: crate::RecordNews<'_>,
) -> Result<Option<Append>, StoreError> {
    let Some(append) = record(incident, &alerts) else {
        return Ok(None);
    };
    crate::codec::check_append(&append.state, append.expected_version, &append.events)?;
    savepoint(tx).await?;
    let written = super::incidents::write_change(tx, &append).await;
    end_savepoint(tx, written).await?;
    Ok(Some(append))
}

async fn group_holder(conn: &mut Conn, group_key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT incident_id FROM incident_groups WHERE group_key = $1")
            .bind(group_key)
            .fetch_optional(conn)
            .await?,
    )
}

/// The stored alerts with these keys, by key, and where rows are found by
/// id, their slots.
async fn load_alerts(
    conn: &mut Conn,
    lookup: KeyLookup<'_>,
    keys: &[&str],
) -> Result<(HashMap<String, Alert>, HashMap<String, AlertSlot>), StoreError> {
    let mut stored = HashMap::with_capacity(keys.len());
    let mut ids = HashMap::new();
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let mut query = select_alerts_by_key::<Db>(chunk, lookup);
        let rows: Vec<AlertRow> = query.build_query_as().fetch_all(&mut *conn).await?;
        for row in keep_keys(rows, chunk) {
            let id = row.id();
            let alert = row.into_alert()?;
            if let Some(id) = id {
                let incident_id = alert.incident_id.clone();
                ids.insert(alert.key.clone(), AlertSlot::Stored { id, incident_id });
            }
            stored.insert(alert.key.clone(), alert);
        }
    }
    Ok((stored, ids))
}

/// Mark alerts processed inside the caller's transaction (see
/// [`mark_processed_query`]).
pub(super) async fn mark_processed(
    conn: &mut Conn,
    lookup: KeyLookup<'_>,
    alerts: &[ProcessedAlert],
    incident: Option<&str>,
) -> Result<(), StoreError> {
    let distinct = distinct_processed(alerts);
    let found: Vec<(&ProcessedAlert, Option<i64>)> = match lookup {
        KeyLookup::Index => distinct.into_iter().map(|a| (a, None)).collect(),
        KeyLookup::Ids(ids) => distinct
            .into_iter()
            .flat_map(|a| {
                ids.candidates(&a.key)
                    .into_iter()
                    .map(move |id| (a, Some(id)))
            })
            .collect(),
    };
    for chunk in found.chunks(ROWS_PER_STATEMENT) {
        mark_processed_query::<Db>(chunk, incident)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
