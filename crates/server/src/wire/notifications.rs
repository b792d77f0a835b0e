//! `/api/v1/notifications`, `/api/v1/incidents/{id}/agenda` and
//! `/api/v1/escalation-policies`.

use firebell_core::escalation::Due;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only this incident's notifications.
    pub incident: Option<String>,
    /// 1-1000, default 100; newest first.
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    /// Each: id, incident_id, duty, person, channel, address, subject, body,
    /// state (pending, sending, delivered, dead, cancelled), attempts,
    /// next_attempt_at, last_error, created_at, delivered_at.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<firebell_store::Notification>,
    /// Always `null`: `limit` cuts the list.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Agenda {
    /// The escalation policy that applies, if any.
    pub escalation_policy: Option<String>,
    /// Steps fired so far (counting repeats).
    pub escalation_level: u32,
    /// Everything owed, soonest first; a due time in the past fires at the next tick.
    pub due: Vec<Due>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EscalationPolicies {
    #[schema(value_type = Vec<Object>)]
    #[serde(deserialize_with = "without_nulls")]
    pub policies: Vec<firebell_core::policy::EscalationPolicy>,
    #[schema(value_type = Vec<Object>)]
    #[serde(deserialize_with = "without_nulls")]
    pub rules: Vec<firebell_core::policy::EscalationRule>,
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "without_nulls")]
    pub reminders: firebell_core::policy::Reminders,
}

/// The policy types read policy files, where an unset duration is left out;
/// they refuse the `null` the server writes for one. Leave nulls out too.
fn without_nulls<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(fields) => {
                fields.retain(|_, f| !f.is_null());
                fields.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::Value::deserialize(d)?;
    strip(&mut v);
    serde_json::from_value(v).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::EscalationPolicies;

    /// What the server writes for each example policy reads back the same.
    #[test]
    fn escalation_policies_read_back() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("examples") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let policy = firebell_core::Policy::parse(&text, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let sent = EscalationPolicies {
                policies: policy.escalation_policies.clone(),
                rules: policy.escalation_rules.clone(),
                reminders: policy.reminders.clone(),
            };
            let json = serde_json::to_string(&sent).expect("serialize");
            let read: EscalationPolicies = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{}: {e}: {json}", path.display()));
            assert_eq!(read.policies, sent.policies, "{}", path.display());
            assert_eq!(read.rules, sent.rules, "{}", path.display());
            assert_eq!(read.reminders, sent.reminders, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 6, "every example policy: {seen}");
    }
}
