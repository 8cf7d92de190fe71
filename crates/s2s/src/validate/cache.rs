//! Successful validations, remembered per (token, authority) until they expire or the trust
//! configuration changes. Keys compare the whole token, so a hash collision can never admit a
//! different token.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use quick_cache::Equivalent;
use quick_cache::sync::Cache;

use super::Validated;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    token: Box<str>,
    authority: Box<str>,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef { token: &self.token, authority: &self.authority }.hash(state);
    }
}

#[derive(Debug, Clone, Copy)]
struct KeyRef<'a> {
    token: &'a str,
    authority: &'a str,
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The signature segment (or the tail of an outer token) is where tokens differ.
        let tail = &self.token.as_bytes()[self.token.len().saturating_sub(64)..];
        state.write(tail);
        state.write_usize(self.token.len());
        state.write(self.authority.as_bytes());
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *key.token == *self.token && *key.authority == *self.authority
    }
}

pub(crate) struct ValidationCache(Option<Cache<Key, Arc<Validated>>>);

impl ValidationCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self((capacity > 0).then(|| Cache::new(capacity)))
    }

    pub(crate) fn get(&self, token: &str, authority: &str, generation: u64) -> Option<Arc<Validated>> {
        let hit = self.0.as_ref()?.get(&KeyRef { token, authority })?;
        (hit.generation == generation).then_some(hit)
    }

    pub(crate) fn insert(&self, token: &str, authority: &str, value: Arc<Validated>) {
        if let Some(cache) = &self.0 {
            cache.insert(Key { token: token.into(), authority: authority.into() }, value);
        }
    }
}
