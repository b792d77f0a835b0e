//! Signed links in notifications: a one-click acknowledge link per page.
//!
//! The link carries `round|expiry|incident|notification|person` and an
//! HMAC-SHA256 over all of it with a key kept in the database (`settings`),
//! so every replica can check links the others sent, and a link cannot be
//! forged, moved to another incident, extended or carried into a later
//! acknowledgement round. Opening it (GET) shows one button; the
//! acknowledgement is the POST that button sends: mail scanners and chat
//! unfurlers fetch links, and a GET must never acknowledge a page by itself.
//!
//! Whether a genuine link still works (its expiry, its round) is decided by
//! the ack page against the clock and the incident, not here.

use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebell_core::Timestamp;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Domain of the MAC: a token of an older layout (without round and expiry)
/// never verifies as one of this layout.
const MAC_DOMAIN: &[u8] = b"ack-v2:";

/// What an ack link names, and for how long and which round it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckTarget {
    pub incident_id: String,
    pub notification_id: String,
    pub person: String,
    /// The incident's acknowledgement round the page was sent in.
    pub ack_round: u32,
    /// When the link stops working (whole seconds: the token keeps seconds).
    pub expires_at: Timestamp,
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

    fn mac(&self) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(MAC_DOMAIN);
        mac
    }

    /// The token of an ack link for `target`. The person goes last, so it
    /// is the only field that may hold a `|`.
    pub fn ack_token(&self, target: &AckTarget) -> String {
        let data = format!(
            "{}|{}|{}|{}|{}",
            target.ack_round,
            target.expires_at.as_second(),
            target.incident_id,
            target.notification_id,
            target.person
        );
        let mut mac = self.mac();
        mac.update(data.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&data),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    pub fn ack_url_for(&self, target: &AckTarget) -> String {
        format!("{}/ack/{}", self.base(), self.ack_token(target))
    }

    /// What a genuine token names; `None` if it was altered or is not a
    /// token. Expiry and round are the caller's to check.
    pub fn verify(&self, token: &str) -> Option<AckTarget> {
        let (data, sig) = token.split_once('.')?;
        let data = URL_SAFE_NO_PAD.decode(data).ok()?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(&data);
        mac.verify_slice(&sig).ok()?;
        let data = String::from_utf8(data).ok()?;
        let mut parts = data.splitn(5, '|');
        let ack_round = parts.next()?.parse().ok()?;
        let expires_at = Timestamp::from_second(parts.next()?.parse().ok()?).ok()?;
        Some(AckTarget {
            ack_round,
            expires_at,
            incident_id: parts.next()?.to_string(),
            notification_id: parts.next()?.to_string(),
            person: parts.next()?.to_string(),
        })
    }

    /// A token proving the server issued a link to do `purpose` to
    /// `subject` (a subscriber's confirm and unsubscribe links). It never
    /// expires by itself; what it names decides whether it still works.
    pub fn sign(&self, purpose: &str, subject: &str) -> String {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(b"|");
        mac.update(subject.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `token` is [`Links::sign`]'s for `purpose` and `subject`
    /// (compared in constant time).
    pub fn check(&self, purpose: &str, subject: &str, token: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(b"|");
        mac.update(subject.as_bytes());
        mac.verify_slice(&sig).is_ok()
    }

    /// The incident's room in the console: the one link to an incident,
    /// carried in every page (s003.incident-doc-link). A browser without
    /// a session signs in first and lands there.
    pub fn incident_url(&self, incident_id: &str) -> String {
        format!("{}/incidents/{incident_id}", self.base())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> AckTarget {
        AckTarget {
            incident_id: "INC-1".into(),
            notification_id: "n1".into(),
            person: "al|ice".into(),
            ack_round: 2,
            expires_at: "2026-11-24T10:00:00Z".parse().unwrap(),
        }
    }

    /// `token` with its signed data replaced by `other`'s, signature kept.
    fn splice(token: &str, other: &str) -> String {
        let (data, _) = other.split_once('.').unwrap();
        let (_, sig) = token.split_once('.').unwrap();
        format!("{data}.{sig}")
    }

    #[test]
    fn a_token_round_trips_and_any_change_is_refused() {
        let links = Links::new("k", "http://x/");
        let token = links.ack_token(&target());
        assert_eq!(links.verify(&token), Some(target()));
        // Every signed field: another incident, a later expiry, another round.
        let changes: [fn(&mut AckTarget); 4] = [
            |t| t.incident_id = "INC-2".into(),
            |t| t.expires_at += jiff::SignedDuration::from_hours(24 * 365),
            |t| t.ack_round += 1,
            |t| t.person = "mallory".into(),
        ];
        for change in changes {
            let mut altered = target();
            change(&mut altered);
            let forged = links.ack_token(&altered);
            assert_ne!(links.verify(&forged), None, "genuine when signed");
            assert_eq!(links.verify(&splice(&token, &forged)), None, "{altered:?}");
        }
        assert_eq!(Links::new("other", "http://x").verify(&token), None);
        assert_eq!(links.verify("garbage"), None);
        assert!(links.ack_url_for(&target()).starts_with("http://x/ack/"));
    }

    #[test]
    fn a_token_of_the_old_layout_is_refused() {
        let key = b"k";
        let data = "INC-1|n1|alice";
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(b"ack:");
        mac.update(data.as_bytes());
        let old = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(data),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(Links::new("k", "http://x").verify(&old), None);
    }
}
