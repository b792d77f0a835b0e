//! `postableAlert` read without copying, for `POST /api/v2/alerts`.
//!
//! Prometheus re-sends every firing alert each evaluation, and most of those
//! reports are answered at the door (`ingest::refresh`). Parsed into owned
//! maps, each would cost a dozen allocations only to be dropped; here its
//! strings borrow the request's bytes (an escaped string is the one copy), and
//! only the reports that go on to the log are copied into an
//! [`IncomingAlert`].

use std::borrow::Cow;
use std::fmt;

use firebell_core::Timestamp;
use firebell_core::alert::Labels;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::alertmanager::PostableAlert;

/// One posted alert, borrowed from the request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostedAlert<'a> {
    #[serde(default, borrow)]
    pub labels: SortedPairs<'a>,
    #[serde(default, borrow)]
    pub annotations: SortedPairs<'a>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    #[serde(rename = "generatorURL", default, borrow)]
    pub generator_url: Option<Text<'a>>,
}

impl PostableAlert {
    /// The same alert, borrowed (a body axum parsed, or the webhook's).
    pub fn view(&self) -> PostedAlert<'_> {
        fn pairs(set: &std::collections::BTreeMap<String, String>) -> SortedPairs<'_> {
            SortedPairs(
                set.iter()
                    .map(|(n, v)| (Cow::Borrowed(n.as_str()), Cow::Borrowed(v.as_str())))
                    .collect(),
            )
        }
        PostedAlert {
            labels: pairs(&self.labels),
            annotations: pairs(&self.annotations),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            generator_url: self
                .generator_url
                .as_deref()
                .map(|u| Text(Cow::Borrowed(u))),
        }
    }
}

/// A JSON string, borrowed unless it held escapes.
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object of strings as pairs sorted by name; a name given twice is
/// refused, as the owned maps refuse it.
#[derive(Default)]
pub struct SortedPairs<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl SortedPairs<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Owned, for the reports that go on to the log (built from sorted
    /// pairs, so without a search per insert).
    pub fn to_owned_map(&self) -> std::collections::BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect()
    }
}

impl Labels for SortedPairs<'_> {
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SortedPairs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SortedPairs<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some((Text(name), Text(value))) = map.next_entry::<Text, Text>()? {
                    pairs.push((name, value));
                }
                // Sorted once, then neighbours compared: no quadratic check
                // however many names a hostile body holds.
                pairs.sort_unstable_by(|a: &(Cow<str>, Cow<str>), b| a.0.cmp(&b.0));
                if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                    return Err(de::Error::custom(format_args!(
                        "duplicate key {:?}",
                        w[0].0.as_ref()
                    )));
                }
                Ok(SortedPairs(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_borrowed_unless_escaped_and_unique() {
        let body = br#"{"labels": {"zone": "eu", "alertname": "A\u00e9", "b": "c"}}"#;
        let a: PostedAlert = serde_json::from_slice(body).unwrap();
        let names: Vec<&str> = a.labels.pairs().map(|(n, _)| n).collect();
        assert_eq!(names, ["alertname", "b", "zone"]);
        assert!(matches!(a.labels.0[2].1, Cow::Borrowed("eu")));
        assert!(matches!(&a.labels.0[0].1, Cow::Owned(v) if v == "Aé"));
        assert_eq!(a.labels.label("b"), Some("c"));
        assert_eq!(a.labels.label("c"), None);
        assert!(a.annotations.is_empty());
        let twice = br#"{"labels": {"a": "1", "b": "2", "a": "3"}}"#;
        let err = serde_json::from_slice::<PostedAlert>(twice)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("duplicate key \"a\""), "{err}");
    }

    #[test]
    fn the_fingerprint_is_the_owned_maps_fingerprint() {
        let body = br#"{"labels": {"zone": "eu", "alertname": "A", "instance": "n\"1"}}"#;
        let borrowed: PostedAlert = serde_json::from_slice(body).unwrap();
        let owned: PostableAlert = serde_json::from_slice(body).unwrap();
        assert_eq!(
            firebell_core::alert::fingerprint(&borrowed.labels),
            firebell_core::alert::fingerprint(&owned.labels)
        );
        assert_eq!(borrowed.labels.to_owned_map(), owned.labels);
    }
}
