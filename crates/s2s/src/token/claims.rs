//! Lenient readers for claim values as real peers send them: NumericDates as integers, floats or
//! strings; booleans as `true` or `"true"`. Writers emit integers and the string `"true"`.

use serde::{Deserialize, Deserializer, Serializer};

use crate::clock::UnixTime;

/// Reads an optional NumericDate given as a number or a string.
pub(crate) fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixTime>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
    }
    let Some(raw) = Option::<Raw>::deserialize(d)? else { return Ok(None) };
    let value = match raw {
        Raw::Int(i) => Some(i),
        Raw::Float(f) => float_secs(f),
        Raw::Text(s) => s.trim().parse::<i64>().ok().or_else(|| s.trim().parse::<f64>().ok().and_then(float_secs)),
    };
    value.map(Some).ok_or_else(|| serde::de::Error::custom("a NumericDate must be a number or a numeric string"))
}

#[allow(clippy::cast_possible_truncation)] // range-checked just before
fn float_secs(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() < 1e15).then(|| f.trunc() as i64)
}

/// Reads a boolean given as `true`/`false` or as a string (`"true"`, `"True"`).
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Bool(b)) => b,
        Some(Raw::Text(s)) => s.eq_ignore_ascii_case("true"),
        None => false,
    })
}

/// Writes `trustedfordelegation` the way the products do: the string `"true"`.
pub(crate) fn true_string<S: Serializer>(value: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *value { "true" } else { "false" })
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
