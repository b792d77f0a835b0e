//! The shape of the policy model, read from its own `Deserialize` impls.
//!
//! An "unknown key" error should say which keys are allowed there. A
//! hand-kept list would rot as sections are added, so instead the model's
//! derived `Deserialize` is driven by a probing deserializer: every struct
//! announces its field names to `deserialize_struct`, and each field is fed a
//! plausible value so the walk continues into nested types. The result is a
//! [`Shape`] tree that always matches the model.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use super::source::Seg;

/// What the model accepts at some place in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A scalar (string, number, duration, enum, ...).
    #[default]
    Leaf,
    /// A table with these keys, in declaration order.
    Struct(Vec<(&'static str, Shape)>),
    /// An array whose elements all look like this.
    Seq(Box<Shape>),
    /// A table with free-form keys whose values look like this.
    Map(Box<Shape>),
}

impl Shape {
    /// The shape of `T`. A type whose `Deserialize` rejects every probe value
    /// still yields what was recorded before the rejection.
    pub(crate) fn of<T: DeserializeOwned>() -> Shape {
        let mut shape = Shape::Leaf;
        // The error (if any) only cuts the walk short; what was recorded stays.
        let _ = T::deserialize(Probe {
            out: &mut shape,
            depth: 0,
        });
        shape
    }

    /// The shape at `path`: struct fields by name, maps by any key, arrays by any index.
    pub(crate) fn at(&self, path: &[Seg]) -> Option<&Shape> {
        let Some((seg, rest)) = path.split_first() else {
            return Some(self);
        };
        let next = match (self, seg) {
            (Shape::Struct(fields), Seg::Key(k)) => {
                fields.iter().find(|(name, _)| name == k).map(|(_, s)| s)
            }
            (Shape::Map(inner), Seg::Key(_)) | (Shape::Seq(inner), Seg::Index(_)) => {
                Some(inner.as_ref())
            }
            _ => None,
        }?;
        next.at(rest)
    }

    /// Field names, if this is a struct.
    pub(crate) fn field_names(&self) -> Option<Vec<&'static str>> {
        match self {
            Shape::Struct(fields) => Some(fields.iter().map(|(name, _)| *name).collect()),
            _ => None,
        }
    }
}

/// Value given to string-like fields. It must satisfy string-parsed types
/// (durations), so it is a valid duration as well as a valid string.
const PROBE_STR: &str = "1s";
/// Deeper than any sane model; stops recursive types from recursing forever.
const MAX_DEPTH: usize = 32;

#[derive(Debug)]
struct ProbeError(String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ProbeError(msg.to_string())
    }
}

/// Deserializer that records the shape of whatever is deserialized from it.
struct Probe<'a> {
    out: &'a mut Shape,
    depth: usize,
}

impl Probe<'_> {
    fn deeper(&self) -> Result<usize, ProbeError> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom("model nests too deeply to probe"));
        }
        Ok(self.depth + 1)
    }
}

macro_rules! probe_scalars {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    probe_scalars! {
        deserialize_any => visit_str(PROBE_STR),
        deserialize_str => visit_str(PROBE_STR),
        deserialize_string => visit_str(PROBE_STR),
        deserialize_identifier => visit_str(PROBE_STR),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(1),
        deserialize_i16 => visit_i64(1),
        deserialize_i32 => visit_i64(1),
        deserialize_i64 => visit_i64(1),
        deserialize_u8 => visit_u64(1),
        deserialize_u16 => visit_u64(1),
        deserialize_u32 => visit_u64(1),
        deserialize_u64 => visit_u64(1),
        deserialize_f32 => visit_f64(1.0),
        deserialize_f64 => visit_f64(1.0),
        deserialize_char => visit_char('x'),
        deserialize_bytes => visit_bytes(b""),
        deserialize_byte_buf => visit_bytes(b""),
        deserialize_unit => visit_unit(),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        // At the depth limit an optional field (a deep route's `runbook`) is
        // offered as absent, like a list is offered empty: a struct probed
        // there would fail and cut short every section after the recursion.
        if self.depth >= MAX_DEPTH {
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        // A recursive type (a route's child routes) recurses through a list.
        // At the depth limit the probe offers an empty list, which every list
        // type accepts, so the walk ends there instead of failing — a failure
        // would cut short the probe of every section after it.
        let Ok(depth) = self.deeper() else {
            *self.out = Shape::Seq(Box::new(Shape::Leaf));
            return visitor.visit_seq(ProbeSeq {
                out: &mut Shape::Leaf,
                left: 0,
                depth: self.depth,
            });
        };
        let mut inner = Shape::Leaf;
        let result = visitor.visit_seq(ProbeSeq {
            out: &mut inner,
            left: 1,
            depth,
        });
        *self.out = Shape::Seq(Box::new(inner));
        result
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        let depth = self.deeper()?;
        let mut inner = Shape::Leaf;
        let result = visitor.visit_seq(ProbeSeq {
            out: &mut inner,
            left: len,
            depth,
        });
        *self.out = Shape::Seq(Box::new(inner));
        result
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        let depth = self.deeper()?;
        let mut inner = Shape::Leaf;
        let result = visitor.visit_map(ProbeMap {
            out: &mut inner,
            state: MapState::Key,
            depth,
        });
        *self.out = Shape::Map(Box::new(inner));
        result
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        let depth = self.deeper()?;
        let mut shapes = fields.iter().map(|f| (*f, Shape::Leaf)).collect();
        let result = visitor.visit_map(ProbeStruct {
            fields: &mut shapes,
            next: 0,
            depth,
        });
        *self.out = Shape::Struct(shapes);
        result
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        let depth = self.deeper()?;
        let variant = variants
            .first()
            .ok_or_else(|| de::Error::custom("enum without variants"))?;
        visitor.visit_enum(ProbeEnum { variant, depth })
    }
}

/// One probe element (or `left` of them, for tuples), all recorded into `out`.
struct ProbeSeq<'a> {
    out: &'a mut Shape,
    left: usize,
    depth: usize,
}

impl<'de> de::SeqAccess<'de> for ProbeSeq<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(Probe {
            out: self.out,
            depth: self.depth,
        })
        .map(Some)
    }
}

enum MapState {
    Key,
    Value,
    Done,
}

/// A map with one probe entry.
struct ProbeMap<'a> {
    out: &'a mut Shape,
    state: MapState,
    depth: usize,
}

impl<'de> de::MapAccess<'de> for ProbeMap<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        if !matches!(self.state, MapState::Key) {
            return Ok(None);
        }
        self.state = MapState::Value;
        let mut key_shape = Shape::Leaf;
        seed.deserialize(Probe {
            out: &mut key_shape,
            depth: self.depth,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        self.state = MapState::Done;
        seed.deserialize(Probe {
            out: self.out,
            depth: self.depth,
        })
    }
}

/// A struct's fields, each present once with a probe value.
struct ProbeStruct<'a> {
    fields: &'a mut Vec<(&'static str, Shape)>,
    next: usize,
    depth: usize,
}

impl<'de> de::MapAccess<'de> for ProbeStruct<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        let Some((name, _)) = self.fields.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        seed.deserialize(StrDeserializer::<ProbeError>::new(name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        let index = self
            .next
            .checked_sub(1)
            .ok_or_else(|| de::Error::custom("value before key"))?;
        let (_, shape) = self
            .fields
            .get_mut(index)
            .ok_or_else(|| de::Error::custom("value after last key"))?;
        seed.deserialize(Probe {
            out: shape,
            depth: self.depth,
        })
    }
}

/// An enum probed as its first variant.
struct ProbeEnum {
    variant: &'static str,
    depth: usize,
}

impl<'de> de::EnumAccess<'de> for ProbeEnum {
    type Error = ProbeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), ProbeError> {
        let value = seed.deserialize(StrDeserializer::<ProbeError>::new(self.variant))?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for ProbeEnum {
    type Error = ProbeError;

    fn unit_variant(self) -> Result<(), ProbeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ProbeError> {
        seed.deserialize(Probe {
            out: &mut Shape::Leaf,
            depth: self.depth,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        de::Deserializer::deserialize_tuple(
            Probe {
                out: &mut Shape::Leaf,
                depth: self.depth,
            },
            len,
            visitor,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        de::Deserializer::deserialize_struct(
            Probe {
                out: &mut Shape::Leaf,
                depth: self.depth,
            },
            "",
            fields,
            visitor,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::policy::source::KeyPath;

    fn fields_at(path: &KeyPath) -> Vec<&'static str> {
        Shape::of::<Policy>()
            .at(path.segments())
            .and_then(Shape::field_names)
            .unwrap_or_default()
    }

    #[test]
    fn knows_every_section_of_the_model() {
        let top = fields_at(&KeyPath::root());
        for section in [
            "version",
            "organization",
            "calendar",
            "severities",
            "templates",
            "obligations",
        ] {
            assert!(top.contains(&section), "{section} missing from {top:?}");
        }
    }

    /// If a field's type rejects the probe values, the walk stops there and
    /// later sections lose their key lists; this catches that.
    #[test]
    fn every_section_is_probed_to_its_leaves() {
        let Shape::Struct(sections) = Shape::of::<Policy>() else {
            panic!("Policy is a struct");
        };
        for (name, shape) in sections {
            // The two top-level scalars.
            if !matches!(name, "version" | "roster") {
                assert_ne!(shape, Shape::Leaf, "section `{name}` was not probed");
            }
        }
    }

    /// Routes nest to any depth: the probe must stop at its limit without
    /// failing, and still know the keys of nested routes.
    #[test]
    fn probes_the_recursive_route_tree() {
        let nested = fields_at(
            &KeyPath::root()
                .key("routing")
                .key("routes")
                .index(0)
                .key("routes")
                .index(3),
        );
        assert!(
            nested.contains(&"matchers") && nested.contains(&"continue"),
            "{nested:?}"
        );
    }

    #[test]
    fn descends_through_vecs_maps_and_options() {
        let postmortem = fields_at(&KeyPath::root().key("severities").index(3).key("postmortem"));
        assert!(
            postmortem.contains(&"within_business_days"),
            "{postmortem:?}"
        );
        let contact = fields_at(
            &KeyPath::root()
                .key("people")
                .key("anyone")
                .key("contacts")
                .index(0),
        );
        assert_eq!(contact, ["kind", "address"]);
        let hours = fields_at(&KeyPath::root().key("calendar").key("working_hours"));
        assert_eq!(hours, ["start", "end"]);
        // A free-form map has no fixed keys.
        assert!(fields_at(&KeyPath::root().key("templates").key("initial").key("body")).is_empty());
    }
}
