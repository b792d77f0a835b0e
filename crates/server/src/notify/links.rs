//! Signed links in notifications: a one-click acknowledge link per page.
//!
//! The link carries `incident|notification|person` and an HMAC-SHA256 over
//! it with a key kept in the database (`settings`), so every replica can
//! check links the others sent, and a link cannot be forged or moved to
//! another incident. Opening it (GET) shows one button; the acknowledgement
//! is the POST that button sends: mail scanners and chat unfurlers fetch
//! links, and a GET must never acknowledge a page by itself.

use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What an ack link names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckTarget {
    pub incident_id: String,
    pub notification_id: String,
    pub person: String,
}

pub struct Links {
    key: Vec<u8>,
    base: RwLock<String>,
}

impl Links {
    pub fn new(key: &str, base: &str) -> Links {
        Links {
            key: key.as_bytes().to_vec(),
            base: RwLock::new(base.trim_end_matches('/').to_string()),
        }
    }

    /// Where links point (`--public-url`, or the address the server bound).
    pub fn set_base(&self, base: &str) {
        *self.base.write().unwrap_or_else(|e| e.into_inner()) =
            base.trim_end_matches('/').to_string();
    }

    pub fn base(&self) -> String {
        self.base.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"ack:");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// The token of an ack link for `person`'s notification.
    pub fn ack_token(&self, incident_id: &str, notification_id: &str, person: &str) -> String {
        let data = format!("{incident_id}|{notification_id}|{person}");
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&data),
            URL_SAFE_NO_PAD.encode(self.mac(data.as_bytes()))
        )
    }

    pub fn ack_url_for(&self, incident_id: &str, notification_id: &str, person: &str) -> String {
        format!(
            "{}/ack/{}",
            self.base(),
            self.ack_token(incident_id, notification_id, person)
        )
    }

    /// What a valid token names; `None` if it was altered or is not a token.
    pub fn verify(&self, token: &str) -> Option<AckTarget> {
        let (data, sig) = token.split_once('.')?;
        let data = URL_SAFE_NO_PAD.decode(data).ok()?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"ack:");
        mac.update(&data);
        mac.verify_slice(&sig).ok()?;
        let data = String::from_utf8(data).ok()?;
        let mut parts = data.splitn(3, '|');
        Some(AckTarget {
            incident_id: parts.next()?.to_string(),
            notification_id: parts.next()?.to_string(),
            person: parts.next()?.to_string(),
        })
    }

    pub fn incident_url(&self, incident_id: &str) -> String {
        format!("{}/api/v1/incidents/{incident_id}", self.base())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_any_change_is_refused() {
        let links = Links::new("k", "http://x/");
        let token = links.ack_token("INC-1", "n1", "alice");
        assert_eq!(
            links.verify(&token),
            Some(AckTarget {
                incident_id: "INC-1".into(),
                notification_id: "n1".into(),
                person: "alice".into()
            })
        );
        let forged = links.ack_token("INC-2", "n1", "alice");
        let (data, _) = forged.split_once('.').unwrap();
        let (_, sig) = token.split_once('.').unwrap();
        assert_eq!(links.verify(&format!("{data}.{sig}")), None);
        assert_eq!(Links::new("other", "http://x").verify(&token), None);
        assert_eq!(links.verify("garbage"), None);
        assert!(
            links
                .ack_url_for("INC-1", "n1", "alice")
                .starts_with("http://x/ack/")
        );
    }
}
