//! Records every sale reads and head office rarely changes (tiers, stores), kept decoded
//! between changes instead of read from `directory.redb` and decoded on each request.
//!
//! A writer calls [`ReadCache::changed`] after its commit. A reader that loaded before the
//! change and comes back after it does not keep what it loaded: the generation it started
//! from is gone. One that reads in the instant between the commit and `changed` sees the
//! record as it was just before, as a read a moment earlier would have.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

pub(crate) struct ReadCache<K, V> {
    inner: Mutex<Generation<K, V>>,
}

impl<K, V> std::fmt::Debug for ReadCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache").finish_non_exhaustive()
    }
}

struct Generation<K, V> {
    number: u64,
    entries: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> ReadCache<K, V> {
    pub(crate) fn new() -> ReadCache<K, V> {
        ReadCache {
            inner: Mutex::new(Generation {
                number: 0,
                entries: HashMap::new(),
            }),
        }
    }

    /// The value kept for `key`, or `load`'s, kept if nothing changed meanwhile. `None` from
    /// `load` (no such record) is answered, not kept.
    pub(crate) fn get<E>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E> {
        let started = match self.inner.lock() {
            Ok(inner) => match inner.entries.get(&key) {
                Some(value) => return Ok(Some(value.clone())),
                None => Some(inner.number),
            },
            // A poisoned lock only costs the cache: the record is read each time.
            Err(_) => None,
        };
        let value = load()?;
        if let (Some(started), Some(value)) = (started, &value)
            && let Ok(mut inner) = self.inner.lock()
            && inner.number == started
        {
            inner.entries.insert(key, value.clone());
        }
        Ok(value)
    }

    /// Forgets everything kept: called after a write to the records has committed.
    pub(crate) fn changed(&self) {
        match self.inner.lock() {
            Ok(mut inner) => {
                inner.number += 1;
                inner.entries.clear();
            }
            Err(poisoned) => {
                let mut inner = poisoned.into_inner();
                inner.number += 1;
                inner.entries.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_straddles_a_change_is_answered_but_not_kept() {
        let cache: ReadCache<u8, &str> = ReadCache::new();
        let answered = cache
            .get(1, || {
                cache.changed();
                Ok::<_, ()>(Some("before the change"))
            })
            .unwrap();
        assert_eq!(answered, Some("before the change"));
        let next = cache.get(1, || Ok::<_, ()>(Some("after"))).unwrap();
        assert_eq!(next, Some("after"));
        // Kept now: a load is not asked for again.
        let kept = cache.get(1, || Ok::<_, ()>(Some("not asked"))).unwrap();
        assert_eq!(kept, Some("after"));
        cache.changed();
        let reloaded = cache.get(1, || Ok::<_, ()>(Some("reloaded"))).unwrap();
        assert_eq!(reloaded, Some("reloaded"));
    }

    #[test]
    fn a_missing_record_is_not_kept() {
        let cache: ReadCache<u8, u8> = ReadCache::new();
        assert_eq!(cache.get(1, || Ok::<_, ()>(None)).unwrap(), None);
        assert_eq!(cache.get(1, || Ok::<_, ()>(Some(7))).unwrap(), Some(7));
    }
}
