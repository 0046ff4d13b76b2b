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
        let started = {
            let inner = self.lock();
            if let Some(value) = inner.entries.get(&key) {
                return Ok(Some(value.clone()));
            }
            inner.number
        };
        let value = load()?;
        if let Some(value) = &value {
            let mut inner = self.lock();
            if inner.number == started {
                inner.entries.insert(key, value.clone());
            }
        }
        Ok(value)
    }

    /// Forgets everything kept: called after a write to the records has committed.
    pub(crate) fn changed(&self) {
        let mut inner = self.lock();
        inner.number += 1;
        inner.entries.clear();
    }

    /// A panic while the lock was held cannot leave the map half-changed (an insert or a
    /// clear either happened or not), so a poisoned lock is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Generation<K, V>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
