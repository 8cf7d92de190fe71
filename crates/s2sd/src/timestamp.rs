//! How the node writes a moment for people: Unix seconds as RFC 3339, the one format of every
//! date in messages, CLI output and error descriptions. Shared by every role (authority,
//! connectivity, CLI), so it sits below all of them and depends on none.
//!
//! It never decides what time it is for a server: servers take the time from their `Clock`.
//! [`now`] is the CLI's clock, the system clock read through `s2s::clock::SystemClock`.

use s2s::clock::{Clock as _, SystemClock, UnixTime};

/// The current time from the system clock (the CLI's only clock; servers use their `Clock`).
pub fn now() -> UnixTime {
    SystemClock.now()
}

/// Formats Unix seconds as RFC 3339 (`2030-03-17T17:46:40Z`); out-of-range values as the number.
pub fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_seconds_as_rfc3339_and_keeps_what_it_cannot_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_900_000_000), "2030-03-17T17:46:40Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
