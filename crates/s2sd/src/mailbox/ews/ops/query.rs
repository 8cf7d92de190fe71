//! FindItem's view of a folder: which property paths it can filter and sort on, whether an item
//! matches a restriction, and the order of a sorted view. Text compares case-insensitively, times
//! as instants, flags as booleans.

use std::cmp::Ordering;

use crate::mailbox::ews::fault::{EwsError, ResponseCode};
use crate::mailbox::ews::request::{Comparison, ContainmentMode, FieldUri, PropertyPath, Restriction, SortKey};
use crate::store::mailbox::ItemRecord;

/// The value of a field we can filter or sort on.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Time(i64),
    Bool(bool),
}

fn field_value(item: &ItemRecord, field: FieldUri) -> Option<Value> {
    let text = |s: &Option<String>| s.clone().map(Value::Text);
    match field {
        FieldUri::Subject => text(&item.subject),
        FieldUri::Body => text(&item.body),
        FieldUri::ItemClass => Some(Value::Text(item.item_class.as_str().to_owned())),
        FieldUri::DateTimeReceived => item.received_at.map(Value::Time),
        FieldUri::DateTimeCreated => Some(Value::Time(item.created_at)),
        FieldUri::DateTimeSent => item.sent_at.map(Value::Time),
        FieldUri::LastModifiedTime => Some(Value::Time(item.modified_at)),
        FieldUri::IsRead => Some(Value::Bool(item.is_read)),
        FieldUri::From | FieldUri::Sender => item.sender.as_ref().map(|a| Value::Text(a.email.clone())),
        FieldUri::DisplayName => text(&item.display_name),
        FieldUri::GivenName => text(&item.given_name),
        FieldUri::Surname => text(&item.surname),
        FieldUri::CompanyName => text(&item.company_name),
        FieldUri::JobTitle => text(&item.job_title),
        FieldUri::ToRecipients
        | FieldUri::CcRecipients
        | FieldUri::BccRecipients
        | FieldUri::EmailAddress
        | FieldUri::EmailAddresses
        | FieldUri::ImAddress
        | FieldUri::ImAddresses
        | FieldUri::PhoneNumber
        | FieldUri::PhoneNumbers => None,
    }
}

fn value_at(item: &ItemRecord, path: &PropertyPath) -> Option<Value> {
    match path {
        PropertyPath::Field(field) => field_value(item, *field),
        PropertyPath::Indexed { .. } | PropertyPath::Extended | PropertyPath::Unknown { .. } => None,
    }
}

/// Whether FindItem can filter on `path`: a whole field we keep a comparable value of.
fn filterable(path: &PropertyPath) -> bool {
    matches!(path, PropertyPath::Field(f) if f.filterable())
}

/// Whether FindItem can sort by `path`.
pub fn sortable(path: &PropertyPath) -> bool {
    matches!(path, PropertyPath::Field(f) if f.sortable())
}

/// `ErrorUnsupportedPathForQuery` for the first path the restriction names that we cannot filter on.
pub fn check_restriction(r: &Restriction) -> Result<(), EwsError> {
    match r.paths().into_iter().find(|p| !filterable(p)) {
        None => Ok(()),
        Some(path) => {
            Err(EwsError::new(ResponseCode::UnsupportedPathForQuery, format!("Filtering on {path} is not supported.")))
        }
    }
}

/// `ErrorUnsupportedPathForSortGroup` for the first sort key we cannot sort by.
pub fn check_sort(keys: &[SortKey]) -> Result<(), EwsError> {
    match keys.iter().find(|k| !sortable(&k.path)) {
        None => Ok(()),
        Some(key) => Err(EwsError::new(
            ResponseCode::UnsupportedPathForSortGroup,
            format!("Sorting by {} is not supported.", key.path),
        )),
    }
}

pub fn matches_restriction(item: &ItemRecord, r: &Restriction) -> bool {
    match r {
        Restriction::And(v) => v.iter().all(|r| matches_restriction(item, r)),
        Restriction::Or(v) => v.iter().any(|r| matches_restriction(item, r)),
        Restriction::Not(inner) => !matches_restriction(item, inner),
        Restriction::Exists(f) => value_at(item, f).is_some(),
        Restriction::Compare { field, op, value } => {
            let Some(actual) = value_at(item, field) else { return *op == Comparison::NotEqual };
            let ordering = match &actual {
                Value::Text(t) => Some(t.to_lowercase().cmp(&value.to_lowercase())),
                Value::Time(t) => parse_time(value).map(|c| t.cmp(&c)),
                Value::Bool(b) => value.parse::<bool>().ok().map(|c| b.cmp(&c)),
            };
            let Some(ordering) = ordering else { return false };
            match op {
                Comparison::Equal => ordering.is_eq(),
                Comparison::NotEqual => ordering.is_ne(),
                Comparison::Greater => ordering.is_gt(),
                Comparison::GreaterOrEqual => ordering.is_ge(),
                Comparison::Less => ordering.is_lt(),
                Comparison::LessOrEqual => ordering.is_le(),
            }
        }
        Restriction::Contains { field, value, mode, ignore_case } => {
            let Some(Value::Text(actual)) = value_at(item, field) else { return false };
            let (a, v) =
                if *ignore_case { (actual.to_lowercase(), value.to_lowercase()) } else { (actual, value.clone()) };
            match mode {
                ContainmentMode::FullString => a == v,
                ContainmentMode::Prefixed => a.starts_with(&v),
                ContainmentMode::Substring | ContainmentMode::ExactPhrase => a.contains(&v),
                ContainmentMode::PrefixOnWords => a.split_whitespace().any(|w| w.starts_with(&v)),
            }
        }
    }
}

/// Sorts by the keys in turn, then newest first (then by id).
pub fn sort_items(items: &mut [ItemRecord], keys: &[SortKey]) {
    items.sort_by(|a, b| {
        for key in keys {
            let (va, vb) = (value_at(a, &key.path), value_at(b, &key.path));
            let ord = match (va, vb) {
                (Some(Value::Text(x)), Some(Value::Text(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
                (Some(Value::Time(x)), Some(Value::Time(y))) => x.cmp(&y),
                (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(&y),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                _ => Ordering::Equal,
            };
            let ord = if key.ascending { ord } else { ord.reverse() };
            if ord.is_ne() {
                return ord;
            }
        }
        b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id))
    });
}

fn parse_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn paths_we_cannot_filter_or_sort_on_are_answered_with_their_ews_code_spelt_as_sent() {
        for path in [
            PropertyPath::field("item:Nonsense"),
            PropertyPath::Extended,
            PropertyPath::indexed("contacts:EmailAddress", "EmailAddress1"),
            PropertyPath::Field(FieldUri::ToRecipients),
        ] {
            let spelt = path.to_string();
            let e = check_restriction(&Restriction::Not(Box::new(Restriction::Exists(path.clone())))).unwrap_err();
            assert_eq!(
                (e.code, e.text),
                (ResponseCode::UnsupportedPathForQuery, format!("Filtering on {spelt} is not supported."))
            );
            let e = check_sort(&[SortKey { path, ascending: true }]).unwrap_err();
            assert_eq!(
                (e.code, e.text),
                (ResponseCode::UnsupportedPathForSortGroup, format!("Sorting by {spelt} is not supported."))
            );
        }
        for field in FieldUri::ALL {
            let path = PropertyPath::Field(field);
            assert_eq!(check_restriction(&Restriction::Exists(path.clone())).is_ok(), field.filterable(), "{field}");
            assert_eq!(check_sort(&[SortKey { path, ascending: false }]).is_ok(), field.sortable(), "{field}");
        }
        let e = check_sort(&[SortKey { path: PropertyPath::Field(FieldUri::Body), ascending: true }]).unwrap_err();
        assert_eq!(e.text, "Sorting by item:Body is not supported.");
    }
}
