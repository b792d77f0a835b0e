//! Plain data passed in and out of the store.

use firebell_core::alert::{Alert, ValueTest};
use firebell_core::escalation::{Due, Intent};
use firebell_core::{Event, Incident, Status, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Which incidents to list. Empty vectors and `None`s do not filter.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Any of these statuses.
    pub statuses: Vec<Status>,
    /// Any of these severities (exact names as stored).
    pub severities: Vec<String>,
    /// Incidents affecting this service.
    pub service: Option<String>,
    /// Declared at or after.
    pub since: Option<Timestamp>,
    /// Declared strictly before.
    pub until: Option<Timestamp>,
    /// Page size, 1..=500 (the API clamps it).
    pub limit: u32,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IncidentPage {
    pub items: Vec<Incident>,
    /// Present when more results follow; pass it back as `cursor`.
    pub next_cursor: Option<String>,
}

/// What a token may do. Roles nest: a responder can do all a viewer can, an
/// admin all a responder can (the order of the variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "responder" => Ok(Role::Responder),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}; expected viewer, responder or admin"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    pub hash: String,
    pub created_at: Timestamp,
}

/// Who a console session acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOwner {
    /// An API token, by id: its name and role.
    Token(i64),
    /// A person of the policy who signed in with a password: their key,
    /// and the role stored with the password.
    Person(String),
}

/// A person's console password (see `Store::set_password`).
#[derive(Clone, Debug, PartialEq)]
pub struct PasswordRecord {
    pub person: String,
    /// Argon2id, PHC string format.
    pub hash: String,
    pub role: Role,
    pub set_at: Timestamp,
}

/// A console session about to be written (see `Store::create_session`).
#[derive(Clone, Debug)]
pub struct NewSession {
    /// SHA-256 of the cookie's secret.
    pub id_hash: String,
    pub owner: SessionOwner,
    /// The anti-forgery token its forms carry.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A live console session: who it acts as (its token's name and role).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What the processor did with one alert it read from
/// [`pending_alerts`](crate::Store::pending_alerts): the alert is marked
/// processed only if it was not re-reported since (its `updated_at` is still
/// `seen_updated_at`); otherwise it stays pending for the next round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessedAlert {
    pub key: String,
    /// The alert's `updated_at` as the processor read it.
    pub seen_updated_at: Timestamp,
    /// Whether the processor saw it firing; the expiry sweep revisits alerts
    /// processed as firing once their `ends_at` passes.
    pub firing: bool,
    /// The incident the alert now belongs to; `None` leaves the stored one.
    pub incident_id: Option<String>,
}

/// Which alerts to list. `None`s do not filter.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    /// Alerts attached to this incident.
    pub incident_id: Option<String>,
    /// Alerts firing at this instant: no end, or an end after it.
    pub firing_at: Option<Timestamp>,
    /// At most this many (0: up to the cap of 10,000).
    pub limit: u32,
    /// Only alerts after this one in the list's order (newest start first,
    /// then key): the next page.
    pub after: Option<AlertCursor>,
    /// Only alerts whose label of this name passes the test: a narrowing
    /// done in SQL before rows are decoded (a label name holding `"` or `\`
    /// is not narrowed on SQLite; the caller's matchers still decide).
    pub labels: Vec<(String, ValueTest)>,
}

/// Where a page of alerts ended: the last alert's start and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertCursor {
    pub starts_at: Timestamp,
    pub key: String,
}

impl AlertCursor {
    pub fn of(alert: &Alert) -> AlertCursor {
        AlertCursor {
            starts_at: alert.starts_at,
            key: alert.key.clone(),
        }
    }
}

/// A deploy, migration, flag flip or config change (see [`firebell_core::change`]).
pub use firebell_core::change::Change as ChangeRecord;

/// What an upstream provider's status page said when last polled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderStatus {
    pub provider: String,
    /// Statuspage's indicator: `none`, `minor`, `major`, `critical`,
    /// `maintenance`; `unknown` when it could not be read.
    pub indicator: String,
    pub description: String,
    pub checked_at: Timestamp,
    /// When the indicator last moved.
    pub changed_at: Timestamp,
    /// Why the last poll failed, if it did.
    pub error: Option<String>,
}

/// The latest ping of a heartbeat (see the policy's `[[heartbeats]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeartbeatPing {
    pub name: String,
    pub last_seen_at: Timestamp,
}

/// A new incident as declared, before the store numbers it: its state and
/// first events (their `id` is set by the store) and the state's agenda.
#[derive(Clone, Debug)]
pub struct NewIncident {
    pub state: Incident,
    pub events: Vec<Event>,
    /// Every duty in force for `state`, written as its timers.
    pub timers: Vec<Due>,
}

/// One change to an incident, written all or nothing: the events (only if
/// the incident is still at `expected_version`, else [`crate::StoreError::Conflict`]),
/// the projection, the timers, the notifications, and the alerts it
/// processed. Timers are part of every write, so none can be forgotten: the
/// store replaces the incident's timer rows with `timers`.
#[derive(Clone, Debug)]
pub struct Append {
    /// The incident after `events` (its `version` is the last event's `seq`).
    pub state: Incident,
    pub expected_version: u64,
    pub events: Vec<Event>,
    /// Every duty in force for `state`.
    pub timers: Vec<Due>,
    /// Notifications to send; each is stored once per incident and key.
    pub intents: Vec<Intent>,
    /// Alerts this change processed (see [`ProcessedAlert`]).
    pub alerts: Vec<ProcessedAlert>,
}

impl Append {
    /// Whether it writes alert rows or the alert-group mapping (resolving
    /// releases the incident's groups): such writes take the alerts lock.
    pub(crate) fn writes_alerts(&self) -> bool {
        !self.alerts.is_empty() || !self.state.is_open()
    }

    /// This append with its state and events encoded as stored, for
    /// [`crate::Store::append_batch`].
    pub fn encode(self) -> Result<Encoded, crate::StoreError> {
        let state = crate::codec::encode_incident(&self.state)?;
        let events = self
            .events
            .iter()
            .map(crate::codec::encode_event)
            .collect::<Result<_, _>>()?;
        Ok(Encoded {
            append: self,
            state,
            events,
        })
    }
}

/// An [`Append`] with its JSON made ahead: the scheduler encodes the next
/// batch beside the write of the one before, so the writer is not held
/// while it is made.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Read through [`Encoded::append`]: a change to it would not reach the
    /// JSON made from it.
    pub(crate) append: Append,
    /// `append.state`, as stored.
    pub(crate) state: String,
    /// `append.events`, as stored, in order.
    pub(crate) events: Vec<String>,
}

impl Encoded {
    pub fn append(&self) -> &Append {
        &self.append
    }
}

/// The queues whose rows can be set aside after failing too often.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    /// Reports logged and not merged into the alerts yet.
    IngestLog,
    /// Incidents' due timers (escalation steps, rules, reminders).
    Timers,
    /// Notifications to deliver.
    Outbox,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::IngestLog, Queue::Timers, Queue::Outbox];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::IngestLog => "ingest_log",
            Queue::Timers => "timers",
            Queue::Outbox => "outbox",
        }
    }

    pub fn parse(s: &str) -> Option<Queue> {
        Queue::ALL.into_iter().find(|q| q.as_str() == s)
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row set aside: it failed `tries` times and no longer blocks its queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetAside {
    pub id: i64,
    pub queue: Queue,
    /// The row in its queue: a log seq, an incident id, a notification id.
    pub item: String,
    pub tries: u32,
    /// The last failure.
    pub error: String,
    /// The row as it was (JSON text), as put back by a retry.
    pub payload: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub set_aside_at: Timestamp,
}

/// What recording a failed try did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tried {
    /// Counted; the row stays in its queue for another try.
    Again { tries: u32 },
    /// That was the last try: the row is set aside under this id.
    SetAside { id: i64 },
    /// The row is gone (merged, replaced or set aside meanwhile).
    Gone,
}

/// A status page subscriber as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscriber {
    pub id: String,
    pub channel: firebell_core::status_page::SubscriberChannel,
    /// An email address (lowercased) or a webhook URL.
    pub address: String,
    /// Component ids; empty: the whole page.
    pub components: Vec<String>,
    pub locale: String,
    pub state: firebell_core::status_page::SubscriberState,
    /// Signs a webhook's deliveries; shown once, at sign-up.
    #[serde(skip)]
    pub secret: Option<String>,
    /// Who signed up (the client's IP), for the sign-up limits.
    pub client: String,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// What a sign-up did to the subscriber rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignUp {
    /// A new pending subscriber.
    Created(Subscriber),
    /// A pending one signed up again: its choice and its confirmation clock
    /// were renewed.
    Renewed(Subscriber),
    /// Already confirmed: left as it is.
    AlreadyConfirmed(Subscriber),
}

/// One message for one subscriber, to be queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSubscriberMessage {
    pub subscriber_id: String,
    pub subject: String,
    /// Plain text (email).
    pub body: String,
    /// The JSON a webhook receives.
    pub payload: String,
}

/// A claimed message, with the subscriber it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub id: String,
    pub post_key: String,
    pub subject: String,
    pub body: String,
    pub payload: String,
    pub attempts: u32,
    pub subscriber: Subscriber,
}

/// A subscriber message as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriberMessageRecord {
    pub id: String,
    pub subscriber_id: String,
    pub post_key: String,
    pub subject: String,
    pub state: crate::NotificationState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// Which action items to list, across incidents.
#[derive(Clone, Debug, Default)]
pub struct ActionItemFilter {
    pub incident: Option<String>,
    pub owner: Option<String>,
    pub status: Option<firebell_core::incident::ActionStatus>,
    /// Not complete.
    pub open_only: bool,
    /// Not complete and due before this instant.
    pub overdue_at: Option<Timestamp>,
    /// Not complete and not yet filed in the issue tracker.
    pub unfiled: bool,
    /// Not complete, filed, and open there when last read.
    pub filed_open: bool,
    /// 1..=500; 0 is the default page.
    pub limit: u32,
}

/// An action item with the incident it belongs to.
#[derive(Clone, Debug, Serialize)]
pub struct ActionItemRow {
    pub incident_id: String,
    pub incident_title: String,
    #[serde(flatten)]
    pub item: firebell_core::incident::ActionItem,
}

/// Which postmortems to list.
#[derive(Clone, Debug, Default)]
pub struct PostmortemFilter {
    pub state: Option<firebell_core::incident::PostmortemState>,
    /// Not published and due before this instant.
    pub overdue_at: Option<Timestamp>,
    pub limit: u32,
}

/// A postmortem in a list (without its document).
#[derive(Clone, Debug, Serialize)]
pub struct PostmortemRow {
    pub incident_id: String,
    pub title: String,
    pub severity: String,
    pub state: firebell_core::incident::PostmortemState,
    pub owner: Option<String>,
    pub due_at: Option<Timestamp>,
    pub review_at: Option<Timestamp>,
}

/// How a recurring duty's run went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DutyOutcome {
    Ok,
    Failed,
    Skipped,
}

impl DutyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DutyOutcome::Ok => "ok",
            DutyOutcome::Failed => "failed",
            DutyOutcome::Skipped => "skipped",
        }
    }
}

impl std::str::FromStr for DutyOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ok" => Ok(DutyOutcome::Ok),
            "failed" => Ok(DutyOutcome::Failed),
            "skipped" => Ok(DutyOutcome::Skipped),
            other => Err(format!(
                "unknown outcome {other:?}: use ok, failed or skipped"
            )),
        }
    }
}

/// One recorded run of a recurring duty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DutyRun {
    pub id: String,
    pub duty: String,
    /// The occurrence it is for.
    pub occurrence: Timestamp,
    pub outcome: DutyOutcome,
    pub notes: String,
    /// Who recorded it (a person, a token, or `firebell` for a check).
    pub actor: String,
    pub at: Timestamp,
}

/// A duty reminder (or a monitoring check's test) to queue, once per key.
#[derive(Clone, Debug)]
pub struct NewDutyMessage {
    pub intent_key: String,
    pub duty: String,
    pub occurrence: Timestamp,
    pub person: String,
    pub channel: firebell_core::policy::ContactKind,
    pub address: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
}

/// A duty message as stored.
#[derive(Clone, Debug, Serialize)]
pub struct DutyMessage {
    pub id: String,
    pub intent_key: String,
    pub duty: String,
    pub occurrence: Timestamp,
    pub person: String,
    pub channel: firebell_core::policy::ContactKind,
    pub address: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub state: crate::NotificationState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}
