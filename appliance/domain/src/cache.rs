//! Records every sale reads and head office rarely changes (tiers, stores), kept decoded
//! between changes instead of read from `directory.redb` and decoded on each request.
//!
//! A writer calls [`ReadCache::changed`] after its commit. A reader that loaded before the
//! change and comes back after it does not keep what it loaded: the generation it started
//! from is gone. One that reads in the instant between the commit and `changed` sees the
//! record as it was just before, as a read a moment earlier would have.
//!
//! Records written on every sale (members) cannot be kept that way; [`DecodeMemo`] keeps the
//! last decodings of them instead, each with the bytes it came from.

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

/// Records decoded lately, each with the bytes it was decoded from. A reader still reads the
/// record's bytes (so nothing it answers is stale, whoever wrote them and however) and is spared
/// only decoding them again when they are the bytes it saw last time: a quote and its commit,
/// a card's holder and the till's view of her, read one member four times.
///
/// Bounded by two generations of `capacity` entries: when the newer fills up, the older is
/// dropped, and an entry found in the older moves to the newer.
pub(crate) struct DecodeMemo<K, V> {
    inner: Mutex<Generations<K, V>>,
    capacity: usize,
}

struct Generations<K, V> {
    newer: HashMap<K, (Box<[u8]>, V)>,
    older: HashMap<K, (Box<[u8]>, V)>,
}

impl<K, V> std::fmt::Debug for DecodeMemo<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeMemo")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Copy, V: Clone> DecodeMemo<K, V> {
    pub(crate) fn new(capacity: usize) -> DecodeMemo<K, V> {
        DecodeMemo {
            inner: Mutex::new(Generations {
                newer: HashMap::new(),
                older: HashMap::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    /// `bytes` decoded: the value remembered for `key` if it came from the same bytes, else
    /// `decode`'s, remembered.
    pub(crate) fn decode<E>(
        &self,
        key: K,
        bytes: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<V, E>,
    ) -> Result<V, E> {
        {
            let mut inner = self.lock();
            let inner = &mut *inner;
            if let Some((seen, value)) = inner.newer.get(&key)
                && **seen == *bytes
            {
                return Ok(value.clone());
            }
            if let Some(entry) = inner.older.remove(&key)
                && *entry.0 == *bytes
            {
                let value = entry.1.clone();
                Self::keep(inner, self.capacity, key, entry);
                return Ok(value);
            }
        }
        let value = decode(bytes)?;
        let mut inner = self.lock();
        Self::keep(
            &mut inner,
            self.capacity,
            key,
            (bytes.into(), value.clone()),
        );
        Ok(value)
    }

    fn keep(inner: &mut Generations<K, V>, capacity: usize, key: K, entry: (Box<[u8]>, V)) {
        if inner.newer.len() >= capacity && !inner.newer.contains_key(&key) {
            inner.older = std::mem::take(&mut inner.newer);
        }
        inner.older.remove(&key);
        inner.newer.insert(key, entry);
    }

    /// As [`ReadCache::lock`]: an insert or a removal either happened or not.
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<K, V>> {
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

    /// A decoding that copies the bytes, counting how often it ran.
    fn counting(decodings: &std::cell::Cell<u32>) -> impl Fn(&[u8]) -> Result<Vec<u8>, ()> + '_ {
        |bytes| {
            decodings.set(decodings.get() + 1);
            Ok(bytes.to_vec())
        }
    }

    #[test]
    fn a_memo_decodes_again_exactly_when_the_bytes_differ() {
        let memo: DecodeMemo<u8, Vec<u8>> = DecodeMemo::new(2);
        let decodings = std::cell::Cell::new(0);
        let decode = counting(&decodings);
        assert_eq!(memo.decode(1, b"first", &decode).unwrap(), b"first");
        assert_eq!(memo.decode(1, b"first", &decode).unwrap(), b"first");
        assert_eq!(decodings.get(), 1, "the same bytes were decoded again");
        // Written since: the new bytes are decoded, never the remembered value answered.
        assert_eq!(memo.decode(1, b"second", &decode).unwrap(), b"second");
        assert_eq!(decodings.get(), 2);
        // A failed decoding is answered and leaves nothing behind.
        assert_eq!(memo.decode(1, b"bad", |_| Err(())), Err(()));
        assert_eq!(memo.decode(1, b"second", &decode).unwrap(), b"second");
        assert_eq!(decodings.get(), 2);
    }

    #[test]
    fn a_memo_holds_at_most_two_generations() {
        let memo: DecodeMemo<u8, Vec<u8>> = DecodeMemo::new(2);
        let decodings = std::cell::Cell::new(0);
        let decode = counting(&decodings);
        for key in [1, 2, 3] {
            memo.decode(key, &[key], &decode).unwrap();
        }
        // 1 and 2 filled the first generation and 3 began the next, so 1 is still remembered
        // (and moves up); 4 begins a third, dropping the one 2 was left in.
        memo.decode(1, &[1], &decode).unwrap();
        assert_eq!(decodings.get(), 3);
        memo.decode(4, &[4], &decode).unwrap();
        memo.decode(5, &[5], &decode).unwrap();
        memo.decode(2, &[2], &decode).unwrap();
        assert_eq!(decodings.get(), 6, "2 should have been forgotten");
        let inner = memo.lock();
        assert!(inner.newer.len() <= 2 && inner.older.len() <= 2);
    }
}
