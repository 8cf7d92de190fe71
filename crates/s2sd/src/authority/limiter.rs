//! The hold-back of failing token requests: how long a *failing* request waits before its refusal
//! is answered. A request whose credential holds is never held back — the endpoint authenticates
//! first (a keyed hash or one signature check, cheap) and asks here only once it has failed — so
//! an attacker who does not know a client's secret cannot make the real client wait.
//!
//! Failures are counted per (claimed client, source address) and per source address alone (an
//! address trying many client ids); a failing request waits for the longer of the two:
//! `failures - threshold + 1` seconds, at most [`MAX_DELAY`], counted within [`FAILURE_WINDOW`]
//! seconds of the last failure. IPv6 sources count per /64 (one host's whole allocation).
//!
//! Memory is bounded. Each table has two tiers: keys below their threshold live in a
//! [`RECENT_CAPACITY`]-entry cache that evicts freely (a flood of fake client ids churns only
//! there), and keys that reached their threshold move to a [`HELD_CAPACITY`]-entry map that
//! forgets an entry only once its window has passed — or, when full of live entries (an attack
//! from over [`HELD_CAPACITY`] (client, address) pairs, each failing `threshold` times within a
//! minute), the entry with the fewest failures. A real client under attack therefore keeps its
//! counter however many fake ids fail meanwhile.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use quick_cache::sync::Cache;
use s2s::clock::UnixTime;

/// Failures of one client from one address within [`FAILURE_WINDOW`] before its failing requests
/// are slowed down.
pub const FAILURES_BEFORE_DELAY: u32 = 5;
/// Failures from one source address (any client) within [`FAILURE_WINDOW`] before its failing
/// requests are slowed down: an address that tries many client ids.
pub const FAILURES_PER_SOURCE_BEFORE_DELAY: u32 = 20;
/// A failure count is forgotten this many seconds after its last failure.
pub const FAILURE_WINDOW: i64 = 60;
/// The longest a failing request is held back.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Keys below their threshold remembered per table (least useful forgotten first).
pub const RECENT_CAPACITY: usize = 16 * 1024;
/// Keys at or over their threshold remembered per table.
pub const HELD_CAPACITY: usize = 16 * 1024;

/// (`<realm>|<app id>`, source) → failures.
type ClientKey = (String, Option<IpAddr>);

/// The failure counters of the token endpoint.
pub struct Limiter {
    by_client: FailureTable<ClientKey>,
    by_source: FailureTable<IpAddr>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self {
            by_client: FailureTable::new(FAILURES_BEFORE_DELAY),
            by_source: FailureTable::new(FAILURES_PER_SOURCE_BEFORE_DELAY),
        }
    }
}

impl Limiter {
    /// How long to hold back a failed request of `client` (tenant and app id, when it named a
    /// well-formed one) from `source`, counting the failures before this one.
    pub fn delay(&self, client: Option<&str>, source: Option<IpAddr>, now: UnixTime) -> Option<Duration> {
        let source = source.map(bucket);
        let by_client = client.and_then(|c| self.by_client.delay(&(c.to_owned(), source), now));
        let by_source = source.and_then(|s| self.by_source.delay(&s, now));
        by_client.max(by_source)
    }

    /// Counts a failed request.
    pub fn failed(&self, client: Option<&str>, source: Option<IpAddr>, now: UnixTime) {
        let source = source.map(bucket);
        if let Some(c) = client {
            self.by_client.failed((c.to_owned(), source), now);
        }
        if let Some(s) = source {
            self.by_source.failed(s, now);
        }
    }

    /// Forgets `client`'s failures from `source` after it authenticated. The address's own count
    /// stays: one valid credential must not wipe an address's guesses at other clients.
    pub fn succeeded(&self, client: &str, source: Option<IpAddr>) {
        self.by_client.forget(&(client.to_owned(), source.map(bucket)));
    }
}

/// The unit an address is counted in: IPv4 addresses whole, IPv6 per /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: UnixTime,
}

impl Failures {
    fn live(&self, now: UnixTime) -> bool {
        now.saturating_sub(self.last) < FAILURE_WINDOW
    }

    fn bumped(self, now: UnixTime) -> Self {
        let count = if self.live(now) { self.count.saturating_add(1) } else { 1 };
        Self { count, last: now }
    }
}

/// One counter table: a freely evicting tier below the threshold, a protected tier at or over it.
struct FailureTable<K> {
    threshold: u32,
    recent: Cache<K, Failures>,
    /// Also serialises [`Self::failed`], so concurrent failures of one key all count.
    held: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> FailureTable<K> {
    fn new(threshold: u32) -> Self {
        Self { threshold, recent: Cache::new(RECENT_CAPACITY), held: Mutex::new(HashMap::new()) }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<K, Failures>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn delay(&self, key: &K, now: UnixTime) -> Option<Duration> {
        let f = self.held().get(key).copied()?;
        if f.count < self.threshold || !f.live(now) {
            return None;
        }
        let secs = u64::from(f.count - self.threshold + 1);
        Some(Duration::from_secs(secs).min(MAX_DELAY))
    }

    fn failed(&self, key: K, now: UnixTime) {
        let mut held = self.held();
        if let Some(f) = held.get_mut(&key) {
            *f = f.bumped(now);
            return;
        }
        let f = self.recent.get(&key).map_or(Failures { count: 1, last: now }, |f| f.bumped(now));
        if f.count < self.threshold {
            self.recent.insert(key, f);
            return;
        }
        self.recent.remove(&key);
        if held.len() >= HELD_CAPACITY {
            held.retain(|_, f| f.live(now));
        }
        if held.len() >= HELD_CAPACITY
            && let Some(victim) = held.iter().min_by_key(|(_, f)| (f.count, f.last)).map(|(k, _)| k.clone())
        {
            held.remove(&victim);
        }
        held.insert(key, f);
    }

    fn forget(&self, key: &K) {
        self.recent.remove(key);
        self.held().remove(key);
    }
}
