//! The bulk writes on SQLite, the scheduler's claim and a batch's incident
//! rows, and a merge's alert rows: one prepared statement per table, stepped
//! once per row on the writer's own handle (see [`super::handle`]). The same rows as PostgreSQL's
//! multi-row statements, which suit a server reached over a socket, where
//! each statement is a round trip.

use std::collections::{HashMap, HashSet};

use firebell_core::Timestamp;
use firebell_core::alert::Alert;
use rusqlite::{OptionalExtension, ToSql, named_params, params, params_from_iter};

use super::Conn;
use super::batch::Stored;
use crate::codec::{
    ALERT_UPSERT_COLUMNS, AlertSlot, EncodedAlert, InPlace, alert_id_taken, to_i64, to_ms,
};
use crate::outbox::new_id;
use crate::{Append, Encoded, StoreError};

/// The projections, events, timers and notification intents of `appends`
/// (the versions were checked under lock). `moved` names the incidents whose
/// status or severity changed; the others are written without them, as
/// naming an indexed column in `SET` rewrites its index entries.
pub(crate) async fn write_rows(
    conn: &mut Conn,
    appends: &[&Encoded],
    moved: &HashSet<&str>,
) -> Result<(), StoreError> {
    super::handle::on_handle(conn, |db| {
        write_states(db, appends, moved)?;
        write_events(db, appends)?;
        let appends: Vec<&Append> = appends.iter().map(|e| &e.append).collect();
        write_timers(db, &appends)?;
        write_intents(db, &appends)
    })
    .await
}

/// Read the incidents' versions (missing ones are absent); the writer's
/// transaction is what locks them here.
pub(crate) async fn lock_versions(
    conn: &mut Conn,
    ids: &[&str],
) -> Result<HashMap<String, Stored>, StoreError> {
    super::handle::on_handle(conn, |db| {
        let mut read =
            db.prepare("SELECT version, status, severity FROM incidents WHERE id = ?1")?;
        let mut stored = HashMap::with_capacity(ids.len());
        for id in ids {
            let row = read
                .query_row([id], |r| {
                    Ok(Stored {
                        version: r.get(0)?,
                        status: r.get(1)?,
                        severity: r.get(2)?,
                    })
                })
                .optional()?;
            if let Some(row) = row {
                stored.insert(id.to_string(), row);
            }
        }
        Ok(stored)
    })
    .await
}

fn write_states(
    db: &rusqlite::Connection,
    appends: &[&Encoded],
    moved: &HashSet<&str>,
) -> Result<(), StoreError> {
    let mut same = db.prepare(
        "UPDATE incidents SET title = ?2, updated_at_ms = ?3, resolved_at_ms = ?4, \
         version = ?5, state = ?6 WHERE id = ?1",
    )?;
    let mut indexed = db.prepare(
        "UPDATE incidents SET title = ?2, updated_at_ms = ?3, resolved_at_ms = ?4, \
         version = ?5, state = ?6, status = ?7, severity = ?8 WHERE id = ?1",
    )?;
    for e in appends {
        let (s, state) = (&e.append.state, &e.state);
        let (updated, resolved) = (to_ms(s.updated_at), s.resolved_at.map(to_ms));
        let version = to_i64(s.version, "version")?;
        if moved.contains(s.id.as_str()) {
            let status = s.status.as_str();
            indexed.execute(params![
                s.id, s.title, updated, resolved, version, state, status, s.severity
            ])?;
        } else {
            same.execute(params![s.id, s.title, updated, resolved, version, state])?;
        }
    }
    Ok(())
}

fn write_events(db: &rusqlite::Connection, appends: &[&Encoded]) -> Result<(), StoreError> {
    let mut insert = db.prepare(
        "INSERT INTO incident_events (incident_id, seq, at_ms, actor, type, payload) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for a in appends {
        let id = &a.append.state.id;
        for (e, payload) in a.append.events.iter().zip(&a.events) {
            let (seq, kind) = (to_i64(e.seq, "seq")?, e.kind.type_name());
            insert.execute(params![id, seq, to_ms(e.at), e.actor, kind, payload])?;
        }
    }
    Ok(())
}

/// Every incident's timers replaced by its agenda.
fn write_timers(db: &rusqlite::Connection, appends: &[&Append]) -> Result<(), StoreError> {
    let mut clear = db.prepare("DELETE FROM timers WHERE incident_id = ?1")?;
    let mut insert =
        db.prepare("INSERT INTO timers (incident_id, duty, fire_at_ms) VALUES (?1, ?2, ?3)")?;
    for a in appends {
        clear.execute([&a.state.id])?;
        for d in &a.timers {
            insert.execute(params![a.state.id, d.duty.to_string(), to_ms(d.at)])?;
        }
    }
    Ok(())
}

/// Notification intents, each stored once per incident and key.
fn write_intents(db: &rusqlite::Connection, appends: &[&Append]) -> Result<(), StoreError> {
    let mut insert = db.prepare(
        "INSERT INTO notifications (id, incident_id, intent_key, duty, person, channel, \
         address, locale, subject, body, stop_on_ack, ack_round, state, attempts, \
         next_attempt_at_ms, created_at_ms, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending', 0, ?13, ?13, ?13) \
         ON CONFLICT (incident_id, intent_key) DO NOTHING",
    )?;
    for a in appends {
        let at = to_ms(a.state.updated_at);
        for i in &a.intents {
            insert.execute(params![
                new_id(),
                a.state.id,
                i.key,
                i.duty.to_string(),
                i.person,
                i.channel.as_str(),
                i.address,
                i.locale,
                i.subject,
                i.text,
                i.stop_on_ack,
                i64::from(i.ack_round),
                at
            ])?;
        }
    }
    Ok(())
}

/// Claim the incidents of the earliest due timers (at most `limit` timers);
/// returns their ids, possibly twice. One statement, committed on its own,
/// its rows read here rather than handed across one by one.
pub(crate) async fn claim_due(
    conn: &mut Conn,
    now: Timestamp,
    limit: u32,
    token: &str,
    lease: Timestamp,
) -> Result<Vec<String>, StoreError> {
    super::handle::on_handle(conn, |db| {
        let mut claim = db.prepare(super::outbox::CLAIM_DUE)?;
        // By name: SQLite numbers `$N` in the order they first appear.
        let at = named_params! {
            "$1": token,
            "$2": to_ms(lease),
            "$3": to_ms(now),
            "$4": i64::from(limit),
        };
        let ids = claim.query_map(at, |row| row.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    })
    .await
}

/// The merge's alert rows, each written where its slot says (the store
/// keeps each key's id, see [`crate::alert_ids`]), with what
/// [`crate::codec::upsert_alerts_query`] writes. `processed`: written
/// already processed, each row's flag then saying whether it is firing.
///
/// A new alert is a plain insert, a stored one an update by id that names
/// its incident only when that changed. An upsert, or an update that names
/// the incident (a foreign key), makes SQLite keep a statement journal:
/// stepped once per row, that journal copied every page each row touched.
pub(crate) async fn upsert_alerts(
    conn: &mut Conn,
    rows: &[(Alert, bool)],
    slots: &[AlertSlot],
    processed: bool,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if slots.len() != rows.len() {
        return Err(StoreError::Corrupt(
            "alert rows and their ids differ in number".into(),
        ));
    }
    // ?1 to ?13 are a row's id and columns up to its group; then the
    // incident, pending and processed_firing.
    let insert = format!(
        "INSERT INTO alerts (id, {ALERT_UPSERT_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    );
    let flag = match processed {
        true => "pending = FALSE, processed_firing = ?14",
        false => "pending = pending OR ?14",
    };
    let update = |incident: &str| {
        format!(
            "UPDATE alerts SET source = ?3, labels = ?4, annotations = ?5, starts_at_ms = ?6, \
             ends_at_ms = ?7, generator_url = ?8, first_seen_at_ms = ?9, updated_at_ms = ?10, \
             service = ?11, severity = ?12, group_key = ?13, {flag}{incident} \
             WHERE id = ?1 AND key = ?2"
        )
    };
    super::handle::on_handle(conn, |db| {
        let mut insert = db.prepare(&insert)?;
        let mut update_same = db.prepare(&update(""))?;
        let mut update_moved = db.prepare(&update(", incident_id = ?15"))?;
        for ((a, flag), slot) in rows.iter().zip(slots) {
            let e = EncodedAlert::new(a)?;
            let (id, starts, ends) = (slot.id(), to_ms(a.starts_at), a.ends_at.map(to_ms));
            let (first_seen, updated) = (to_ms(a.first_seen_at), to_ms(a.updated_at));
            let columns: [&dyn ToSql; 13] = [
                &id,
                &a.key,
                &e.source,
                &e.labels,
                &e.annotations,
                &starts,
                &ends,
                &a.generator_url,
                &first_seen,
                &updated,
                &a.service,
                &a.severity,
                &a.group_key,
            ];
            let columns = columns.into_iter();
            let written = match slot {
                AlertSlot::New(_) => {
                    let (pending, firing) = match processed {
                        true => (false, *flag),
                        false => (*flag, false),
                    };
                    let tail: [&dyn ToSql; 3] = [&a.incident_id, &pending, &firing];
                    insert
                        .execute(params_from_iter(columns.chain(tail)))
                        .map_err(taken_on_conflict)?
                }
                AlertSlot::Stored { incident_id, .. } if *incident_id == a.incident_id => {
                    update_same.execute(params_from_iter(columns.chain([flag as &dyn ToSql])))?
                }
                AlertSlot::Stored { .. } => {
                    let tail: [&dyn ToSql; 2] = [flag, &a.incident_id];
                    update_moved.execute(params_from_iter(columns.chain(tail)))?
                }
            };
            if written != 1 {
                return Err(alert_id_taken());
            }
        }
        Ok(())
    })
    .await
}

/// A new alert's id found taken: another writer put a row there.
fn taken_on_conflict(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error().map(|e| e.extended_code) {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => alert_id_taken(),
        _ => e.into(),
    }
}

/// The extensions' rows (see `extend_in_place`): an update by id stepped
/// per row. One multi-row `UPDATE … FROM` made SQLite keep a statement
/// journal, which copied every page it touched to a temporary file.
/// Returns the keys written.
pub(crate) async fn extend_alerts(
    conn: &mut Conn,
    rows: &[InPlace<'_>],
    now: i64,
) -> Result<HashSet<String>, StoreError> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    super::handle::on_handle(conn, |db| {
        let mut extend = db.prepare(
            "UPDATE alerts SET ends_at_ms = ?4, updated_at_ms = ?5 \
             WHERE id = ?1 AND key = ?2 AND ends_at_ms = ?3 AND updated_at_ms <= ?5",
        )?;
        let mut written = HashSet::with_capacity(rows.len());
        for r in rows {
            if extend.execute(params![r.id, r.key, r.stored_ends, r.new_ends, now])? == 1 {
                written.insert(r.key.to_string());
            }
        }
        Ok(written)
    })
    .await
}

/// The service index's rows of the incidents `ids`: incident, service,
/// status, severity. A statement stepped per incident on the writer's
/// handle: as one `IN` list through sqlx, a mass firing prepared a
/// statement of hundreds of parameters for each batch.
pub(crate) async fn read_services(
    conn: &mut Conn,
    ids: &[&str],
) -> Result<Vec<(String, String, String, String)>, StoreError> {
    super::handle::on_handle(conn, |db| {
        let mut read = db.prepare(
            "SELECT service, status, severity FROM incident_services WHERE incident_id = ?1",
        )?;
        let mut stored = Vec::new();
        for id in ids {
            let rows = read.query_map([id], |r| {
                Ok((id.to_string(), r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            for row in rows {
                stored.push(row?);
            }
        }
        Ok(stored)
    })
    .await
}
