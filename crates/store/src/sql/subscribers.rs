// The status page's subscribers and their outbox (see `crate::Subscriber`).
// Included once per backend (see `backend/mod.rs`).

use firebell_core::Timestamp;
use firebell_core::status_page::{SubscriberChannel, SubscriberState};

use super::Handle;
use crate::codec::{decode_json, encode_json, from_ms, to_ms};
use crate::outbox::{Completion, NotificationState, completion_columns, new_id};
use crate::{
    NewSubscriberMessage, OutgoingMessage, SignUp, StoreError, Subscriber, SubscriberMessageRecord,
};

type SubscriberRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

macro_rules! subscriber_columns {
    () => {
        "s.id, s.channel, s.address, s.components, s.locale, s.state, s.secret, s.client, \
         s.created_at_ms, s.confirmed_at_ms, s.ended_at_ms"
    };
}

/// A claimed message's row joined with its subscriber's.
#[derive(sqlx::FromRow)]
struct JoinedRow {
    m_id: String,
    post_key: String,
    subject: String,
    body: String,
    payload: String,
    attempts: i64,
    s_id: String,
    channel: String,
    address: String,
    components: String,
    locale: String,
    state: String,
    secret: Option<String>,
    client: String,
    created_at_ms: i64,
    confirmed_at_ms: Option<i64>,
    ended_at_ms: Option<i64>,
}

fn subscriber(row: SubscriberRow) -> Result<Subscriber, StoreError> {
    let (
        id,
        channel,
        address,
        components,
        locale,
        state,
        secret,
        client,
        created,
        confirmed,
        ended,
    ) = row;
    let corrupt = |e: String| StoreError::Corrupt(format!("subscriber {id}: {e}"));
    Ok(Subscriber {
        channel: channel.parse::<SubscriberChannel>().map_err(corrupt)?,
        state: state.parse::<SubscriberState>().map_err(corrupt)?,
        components: decode_json(&components, &format!("components of subscriber {id}"))?,
        address,
        locale,
        secret,
        client,
        created_at: from_ms(created)?,
        confirmed_at: confirmed.map(from_ms).transpose()?,
        ended_at: ended.map(from_ms).transpose()?,
        id,
    })
}

impl Handle {
    /// Count a sign-up attempt and return how many `address` and `client`
    /// made since `since`, this one included. Older attempts are dropped.
    pub(crate) async fn record_signup(
        &self,
        address: &str,
        client: &str,
        at: Timestamp,
        since: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        let _t = Self::timer("record_signup");
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM subscriber_signups WHERE at_ms < $1")
            .bind(to_ms(since))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO subscriber_signups (address, client, at_ms) VALUES ($1, $2, $3)")
            .bind(address)
            .bind(client)
            .bind(to_ms(at))
            .execute(&mut *tx)
            .await?;
        let by_address: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM subscriber_signups WHERE address = $1")
                .bind(address)
                .fetch_one(&mut *tx)
                .await?;
        let by_client: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM subscriber_signups WHERE client = $1")
                .bind(client)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok((by_address.max(0) as u64, by_client.max(0) as u64))
    }

    /// Add `new` as a pending subscriber, or renew the pending one with the
    /// same channel and address; a confirmed one is left alone. With the
    /// confirmation request, in the same transaction, when there is one.
    pub(crate) async fn sign_up(
        &self,
        new: &Subscriber,
        confirmation: &(dyn Fn(&Subscriber) -> NewSubscriberMessage + Sync),
        now: Timestamp,
    ) -> Result<SignUp, StoreError> {
        let _t = Self::timer("sign_up");
        let mut tx = self.begin_write().await?;
        let existing: Option<SubscriberRow> = sqlx::query_as(concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers s WHERE s.channel = $1 AND s.address = $2 \
              AND s.state <> 'unsubscribed'",
            for_update!()
        ))
        .bind(new.channel.as_str())
        .bind(&new.address)
        .fetch_optional(&mut *tx)
        .await?;
        let components = encode_json(&new.components, "components of a subscriber")?;
        let outcome = match existing.map(subscriber).transpose()? {
            Some(s) if s.state == SubscriberState::Confirmed => {
                tx.rollback().await?;
                return Ok(SignUp::AlreadyConfirmed(s));
            }
            Some(mut s) => {
                sqlx::query(
                    "UPDATE subscribers SET components = $1, locale = $2, client = $3, \
                     created_at_ms = $4 WHERE id = $5",
                )
                .bind(&components)
                .bind(&new.locale)
                .bind(&new.client)
                .bind(to_ms(new.created_at))
                .bind(&s.id)
                .execute(&mut *tx)
                .await?;
                s.components = new.components.clone();
                s.locale = new.locale.clone();
                s.client = new.client.clone();
                s.created_at = new.created_at;
                SignUp::Renewed(s)
            }
            None => {
                sqlx::query(
                    "INSERT INTO subscribers (id, channel, address, components, locale, state, \
                     secret, client, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
                )
                .bind(&new.id)
                .bind(new.channel.as_str())
                .bind(&new.address)
                .bind(&components)
                .bind(&new.locale)
                .bind(&new.secret)
                .bind(&new.client)
                .bind(to_ms(new.created_at))
                .execute(&mut *tx)
                .await?;
                SignUp::Created(new.clone())
            }
        };
        let s = match &outcome {
            SignUp::Created(s) | SignUp::Renewed(s) | SignUp::AlreadyConfirmed(s) => s,
        };
        let message = confirmation(s);
        insert_message(&mut tx, &message, &format!("confirm:{}", to_ms(now)), now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Confirm a pending subscriber signed up at or after `not_before`.
    /// Confirming again is harmless. `None` if there is no such subscriber,
    /// it lapsed or it unsubscribed.
    pub(crate) async fn confirm_subscriber(
        &self,
        id: &str,
        now: Timestamp,
        not_before: Timestamp,
    ) -> Result<Option<Subscriber>, StoreError> {
        let _t = Self::timer("confirm_subscriber");
        sqlx::query(
            "UPDATE subscribers SET state = 'confirmed', confirmed_at_ms = $1 \
             WHERE id = $2 AND state = 'pending' AND created_at_ms >= $3",
        )
        .bind(to_ms(now))
        .bind(id)
        .bind(to_ms(not_before))
        .execute(self.writer())
        .await?;
        Ok(self
            .get_subscriber(id)
            .await?
            .filter(|s| s.state == SubscriberState::Confirmed))
    }

    /// Unsubscribe (its row stays, as the record of consent withdrawn) and
    /// cancel what was waiting for it. False if it was not subscribed.
    pub(crate) async fn unsubscribe(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let _t = Self::timer("unsubscribe");
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE subscribers SET state = 'unsubscribed', ended_at_ms = $1 \
             WHERE id = $2 AND state <> 'unsubscribed'",
        )
        .bind(to_ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE subscriber_messages SET state = 'cancelled' \
             WHERE subscriber_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done > 0)
    }

    pub(crate) async fn get_subscriber(&self, id: &str) -> Result<Option<Subscriber>, StoreError> {
        let _t = Self::timer("get_subscriber");
        let row: Option<SubscriberRow> = sqlx::query_as(concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.writer())
        .await?;
        row.map(subscriber).transpose()
    }

    /// Subscribers in `state` (all when `None`), newest first.
    pub(crate) async fn list_subscribers(
        &self,
        state: Option<SubscriberState>,
    ) -> Result<Vec<Subscriber>, StoreError> {
        let _t = Self::timer("list_subscribers");
        let rows: Vec<SubscriberRow> = sqlx::query_as(concat!(
            "SELECT ",
            subscriber_columns!(),
            " FROM subscribers s WHERE (CAST($1 AS TEXT) IS NULL OR s.state = CAST($1 AS TEXT)) \
              ORDER BY s.created_at_ms DESC, s.id"
        ))
        .bind(state.map(SubscriberState::as_str))
        .fetch_all(self.reader())
        .await?;
        rows.into_iter().map(subscriber).collect()
    }

    /// Those of `keys` already fanned out.
    pub(crate) async fn posts_fanned_out(
        &self,
        keys: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let _t = Self::timer("posts_fanned_out");
        let mut done = Vec::new();
        for chunk in keys.chunks(200) {
            let mut q = sqlx::QueryBuilder::new("SELECT key FROM subscriber_posts WHERE key IN (");
            let mut list = q.separated(", ");
            for k in chunk {
                list.push_bind(k);
            }
            q.push(")");
            let rows: Vec<String> = q.build_query_scalar().fetch_all(self.writer()).await?;
            done.extend(rows);
        }
        Ok(done)
    }

    /// Hand `post_key` to its recipients, once: false (and nothing queued)
    /// if it was fanned out before, by this replica or another.
    pub(crate) async fn fan_out(
        &self,
        post_key: &str,
        at: Timestamp,
        messages: &[NewSubscriberMessage],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("fan_out");
        let mut tx = self.begin_write().await?;
        let fresh = sqlx::query(
            "INSERT INTO subscriber_posts (key, at_ms, recipients, fanned_out_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind(post_key)
        .bind(to_ms(at))
        .bind(messages.len() as i64)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if fresh == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // Many rows per statement: a post to 10,000 subscribers is a few
        // statements, not 10,000.
        for chunk in messages.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO subscriber_messages (id, subscriber_id, post_key, subject, body, \
                 payload, state, attempts, next_attempt_at_ms, created_at_ms) ",
            );
            q.push_values(chunk, |mut row, m| {
                row.push_bind(new_id())
                    .push_bind(&m.subscriber_id)
                    .push_bind(post_key)
                    .push_bind(&m.subject)
                    .push_bind(&m.body)
                    .push_bind(&m.payload)
                    .push_bind("pending")
                    .push_bind(0_i64)
                    .push_bind(to_ms(now))
                    .push_bind(to_ms(now));
            });
            q.push(" ON CONFLICT (subscriber_id, post_key) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claim due messages of subscribers still subscribed (a confirmation
    /// request goes to a pending one too).
    pub(crate) async fn claim_subscriber_messages(
        &self,
        now: Timestamp,
        limit: u32,
        token: &str,
        lease: Timestamp,
    ) -> Result<Vec<OutgoingMessage>, StoreError> {
        let _t = Self::timer("claim_subscriber_messages");
        let ids: Vec<String> = sqlx::query_scalar(concat!(
            "UPDATE subscriber_messages SET state = 'sending', claim_token = $1, \
             claimed_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM subscriber_messages WHERE \
               (state = 'pending' AND next_attempt_at_ms <= $3) \
               OR (state = 'sending' AND claimed_until_ms <= $3) \
               ORDER BY next_attempt_at_ms LIMIT $4",
            skip_locked!(),
            ") RETURNING id"
        ))
        .bind(token)
        .bind(to_ms(lease))
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(out);
        }
        let mut q = sqlx::QueryBuilder::new(
            "SELECT m.id AS m_id, m.post_key, m.subject, m.body, m.payload, m.attempts, \
             s.id AS s_id, s.channel, s.address, s.components, s.locale, s.state, s.secret, \
             s.client, s.created_at_ms, s.confirmed_at_ms, s.ended_at_ms \
             FROM subscriber_messages m JOIN subscribers s ON s.id = m.subscriber_id \
             WHERE m.id IN (",
        );
        let mut list = q.separated(", ");
        for id in &ids {
            list.push_bind(id);
        }
        q.push(")");
        let rows: Vec<JoinedRow> = q.build_query_as().fetch_all(self.writer()).await?;
        let mut cancelled = Vec::new();
        for r in rows {
            let subscriber = subscriber((
                r.s_id,
                r.channel,
                r.address,
                r.components,
                r.locale,
                r.state,
                r.secret,
                r.client,
                r.created_at_ms,
                r.confirmed_at_ms,
                r.ended_at_ms,
            ))?;
            if subscriber.state == SubscriberState::Unsubscribed {
                cancelled.push(r.m_id);
                continue;
            }
            out.push(OutgoingMessage {
                id: r.m_id,
                post_key: r.post_key,
                subject: r.subject,
                body: r.body,
                payload: r.payload,
                attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                subscriber,
            });
        }
        for id in cancelled {
            sqlx::query("UPDATE subscriber_messages SET state = 'cancelled' WHERE id = $1")
                .bind(&id)
                .execute(self.writer())
                .await?;
        }
        Ok(out)
    }

    /// Record how a claimed message's delivery ended; false if the claim
    /// was lost meanwhile.
    pub(crate) async fn complete_subscriber_message(
        &self,
        id: &str,
        token: &str,
        completion: &Completion,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _t = Self::timer("complete_subscriber_message");
        let (state, next_ms, error, delivered_ms) = completion_columns(completion, now);
        let done = sqlx::query(
            "UPDATE subscriber_messages SET state = $1, \
             next_attempt_at_ms = COALESCE($2, next_attempt_at_ms), last_error = $3, \
             delivered_at_ms = $4, claim_token = NULL, claimed_until_ms = NULL \
             WHERE id = $5 AND claim_token = $6",
        )
        .bind(state.as_str())
        .bind(next_ms)
        .bind(error)
        .bind(delivered_ms)
        .bind(id)
        .bind(token)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(done > 0)
    }

    /// A subscriber's messages, newest first.
    pub(crate) async fn subscriber_messages(
        &self,
        subscriber_id: &str,
    ) -> Result<Vec<SubscriberMessageRecord>, StoreError> {
        let _t = Self::timer("subscriber_messages");
        type Row = (
            String,
            String,
            String,
            String,
            String,
            i64,
            Option<String>,
            i64,
            Option<i64>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, subscriber_id, post_key, subject, state, attempts, last_error, \
             created_at_ms, delivered_at_ms FROM subscriber_messages \
             WHERE subscriber_id = $1 ORDER BY created_at_ms DESC, id",
        )
        .bind(subscriber_id)
        .fetch_all(self.reader())
        .await?;
        rows.into_iter()
            .map(
                |(id, subscriber_id, post_key, subject, state, attempts, last_error, c, d)| {
                    Ok(SubscriberMessageRecord {
                        state: NotificationState::parse(&state).ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "state of subscriber message {id}: {state:?}"
                            ))
                        })?,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        created_at: from_ms(c)?,
                        delivered_at: d.map(from_ms).transpose()?,
                        id,
                        subscriber_id,
                        post_key,
                        subject,
                        last_error,
                    })
                },
            )
            .collect()
    }
}

/// Queue one message, unless the subscriber has it already.
async fn insert_message(
    conn: &mut super::Conn,
    m: &NewSubscriberMessage,
    post_key: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO subscriber_messages (id, subscriber_id, post_key, subject, body, payload, \
         state, attempts, next_attempt_at_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) \
         ON CONFLICT (subscriber_id, post_key) DO NOTHING",
    )
    .bind(new_id())
    .bind(&m.subscriber_id)
    .bind(post_key)
    .bind(&m.subject)
    .bind(&m.body)
    .bind(&m.payload)
    .bind(to_ms(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
