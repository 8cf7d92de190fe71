//! Time as admins read it: RFC 3339 formatting of unix seconds, and the system clock's "now" for
//! the command line (servers take time from their `Clock`). Shared by every role and surface.

/// The current time from the system clock (the command line's only clock).
pub fn now() -> i64 {
    use s2s::clock::Clock as _;
    s2s::clock::SystemClock.now()
}

/// Formats unix seconds as RFC 3339 (the number itself when out of range).
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}
