//! A map from key (an origin, by default) to state, bounded by dropping the least recently
//! used key, so memory stays flat whatever URLs are fetched (SPEC 5).
//!
//! An entry may carry a tag besides its key (the engine tags the state of calls whose breaker
//! or budget settings differ from the instance's, see [`super::engine`]); entries with one key
//! and different tags are different entries, all in the one bound.
//!
//! A flat vector searched by hash: an application talks to a handful of origins, where this
//! beats a tree, and even at the 1000-key bound a lookup is a scan of 1000 integers. It also
//! keeps the wasm small (a B-tree costs about 19 KB there).

use alloc::string::String;
use alloc::vec::Vec;

pub const DEFAULT_CAPACITY: usize = 1000;

#[derive(Clone, Debug)]
struct Entry<V, T> {
    hash: u64,
    last_used: u64,
    key: String,
    tag: T,
    value: V,
}

#[derive(Clone, Debug)]
pub struct Registry<V, T = ()> {
    entries: Vec<Entry<V, T>>,
    tick: u64,
    capacity: usize,
    /// Where the most recently touched key sits (a hint; checked before use).
    last_used_index: usize,
}

/// FNV-1a: short keys, no allocation, and the same on every platform.
fn hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl<V, T: PartialEq + Default> Registry<V, T> {
    pub fn new(capacity: usize) -> Self {
        Registry { entries: Vec::new(), tick: 0, capacity: capacity.max(1), last_used_index: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str, tag: &T) -> Option<usize> {
        // A call looks its key up several times in a row: try the last one used before hashing
        // (hashing the origin was over a third of a successful call's cost).
        let last = self.last_used_index;
        if self.entries.get(last).is_some_and(|e| e.key == key && e.tag == *tag) {
            return Some(last);
        }
        let h = hash(key);
        self.entries.iter().position(|e| e.hash == h && e.key == key && e.tag == *tag)
    }

    /// The state of `key` (with the default tag) without marking it used.
    pub fn peek(&self, key: &str) -> Option<&V> {
        self.peek_tagged(key, &T::default())
    }

    /// The state of `key` with `tag` without marking it used.
    pub fn peek_tagged(&self, key: &str, tag: &T) -> Option<&V> {
        self.position(key, tag).and_then(|i| self.entries.get(i)).map(|e| &e.value)
    }

    /// The state of `key` (with the default tag), made by `make` if absent, marked most
    /// recently used. (Always `Some`; an `Option` only so that no panic path is needed.)
    pub fn touch(&mut self, key: &str, make: impl FnOnce() -> V) -> Option<&mut V> {
        self.touch_tagged(key, T::default(), make)
    }

    /// The state of `key` with `tag`, made by `make` if absent, marked most recently used.
    pub fn touch_tagged(&mut self, key: &str, tag: T, make: impl FnOnce() -> V) -> Option<&mut V> {
        self.tick += 1;
        let index = match self.position(key, &tag) {
            Some(i) => i,
            None => {
                if self.entries.len() >= self.capacity {
                    let oldest =
                        self.entries.iter().enumerate().min_by_key(|(_, e)| e.last_used).map(|(i, _)| i);
                    if let Some(i) = oldest {
                        self.entries.swap_remove(i);
                    }
                }
                let entry =
                    Entry { hash: hash(key), last_used: 0, key: String::from(key), tag, value: make() };
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.last_used_index = index;
        let entry = self.entries.get_mut(index)?;
        entry.last_used = self.tick;
        Some(&mut entry.value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn drops_the_least_recently_used_past_capacity() {
        let mut r: Registry<u32> = Registry::new(2);
        *r.touch("a", || 1).unwrap() += 10;
        r.touch("b", || 2);
        r.touch("a", || 0); // a is now the most recent
        r.touch("c", || 3);
        assert_eq!(r.len(), 2);
        assert_eq!(r.peek("a"), Some(&11));
        assert_eq!(r.peek("b"), None);
        assert_eq!(r.peek("c"), Some(&3));
    }

    #[test]
    fn stays_bounded_over_many_keys() {
        let mut r: Registry<u8> = Registry::new(DEFAULT_CAPACITY);
        for i in 0..5000u32 {
            let key = alloc::format!("https://host{i}.test");
            r.touch(&key, || 0);
        }
        assert_eq!(r.len(), DEFAULT_CAPACITY);
        assert!(r.peek("https://host4999.test").is_some());
        assert!(r.peek("https://host3999.test").is_none());
        assert!(r.peek("https://host0.test").is_none());
    }

    #[test]
    fn one_key_with_different_tags_is_different_entries_in_one_bound() {
        let mut r: Registry<u32, u8> = Registry::new(3);
        r.touch("a", || 1);
        r.touch_tagged("a", 7, || 2);
        assert_eq!((r.peek("a"), r.peek_tagged("a", &7), r.peek_tagged("a", &8)), (Some(&1), Some(&2), None));
        r.touch_tagged("a", 8, || 3);
        r.touch("b", || 4); // drops ("a", 0), the least recently used
        assert_eq!((r.len(), r.peek("a"), r.peek_tagged("a", &7)), (3, None, Some(&2)));
    }
}
