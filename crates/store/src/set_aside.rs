//! What a set-aside row keeps of its queue's row (the `payload` column), to
//! put it back on retry.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{SetAside, StoreError};

/// An ingest-log row, as it was logged.
#[derive(Serialize, Deserialize)]
pub(crate) struct LogPayload {
    pub received_at_ms: i64,
    pub alert_count: i64,
    /// The reports, JSON text exactly as logged.
    pub alerts: String,
}

/// An incident's timers at the time they were set aside.
#[derive(Serialize, Deserialize)]
pub(crate) struct TimersPayload {
    pub incident_id: String,
    pub timers: Vec<TimerPayload>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TimerPayload {
    pub duty: String,
    pub fire_at_ms: i64,
}

pub(crate) fn decode_payload<T: DeserializeOwned>(entry: &SetAside) -> Result<T, StoreError> {
    serde_json::from_str(&entry.payload).map_err(|e| {
        StoreError::Corrupt(format!(
            "set-aside row {} ({}): payload: {e}",
            entry.id, entry.queue
        ))
    })
}
