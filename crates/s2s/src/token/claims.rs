//! Lenient readers for claim values as real peers send them: NumericDates as integers, floats or
//! strings; booleans as `true` or `"true"`. Writers emit integers and the string `"true"`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

use crate::clock::UnixTime;

/// Reads an optional NumericDate given as a number or a string.
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixTime>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<UnixTime>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a NumericDate (a number or a numeric string)")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(|_| E::custom("NumericDate out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            float_secs(v).map(Some).ok_or_else(|| E::custom("NumericDate out of range"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            t.parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(float_secs))
                .map(Some)
                .ok_or_else(|| E::custom("a NumericDate must be a number or a numeric string"))
        }
    }
    d.deserialize_option(V)
}

#[allow(clippy::cast_possible_truncation)] // range-checked just before
fn float_secs(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() < 1e15).then(|| f.trunc() as i64)
}

/// Reads a boolean given as `true`/`false` or as a string (`"true"`, `"True"`).
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean or a string")
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(v.eq_ignore_ascii_case("true"))
        }
    }
    d.deserialize_option(V)
}

/// Writes `trustedfordelegation` the way the products do: the string `"true"`.
pub(crate) fn true_string<S: Serializer>(value: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *value { "true" } else { "false" })
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
