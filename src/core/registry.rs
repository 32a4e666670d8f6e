//! A map from key (an origin, by default) to state, bounded by dropping the least recently
//! used key, so memory stays flat whatever URLs are fetched (SPEC 5).

use alloc::collections::BTreeMap;
use alloc::string::String;

pub const DEFAULT_CAPACITY: usize = 1000;

#[derive(Clone, Debug)]
pub struct Registry<V> {
    entries: BTreeMap<String, (u64, V)>,
    /// Last-use tick → key; the first entry is the least recently used.
    recency: BTreeMap<u64, String>,
    tick: u64,
    capacity: usize,
}

impl<V> Registry<V> {
    pub fn new(capacity: usize) -> Self {
        Registry { entries: BTreeMap::new(), recency: BTreeMap::new(), tick: 0, capacity: capacity.max(1) }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The state of `key` without marking it used.
    pub fn peek(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// The state of `key`, made by `make` if absent, marked most recently used.
    /// (Always `Some`; an `Option` because the borrow checker cannot see that without a panic path.)
    pub fn touch(&mut self, key: &str, make: impl FnOnce() -> V) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        if let Some((used, _)) = self.entries.get_mut(key) {
            let old = core::mem::replace(used, tick);
            let name = self.recency.remove(&old).unwrap_or_else(|| String::from(key));
            self.recency.insert(tick, name);
        } else {
            while self.entries.len() >= self.capacity {
                let Some((_, oldest)) = self.recency.pop_first() else { break };
                self.entries.remove(&oldest);
            }
            self.recency.insert(tick, String::from(key));
            self.entries.insert(String::from(key), (tick, make()));
        }
        self.entries.get_mut(key).map(|(_, v)| v)
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
        assert!(r.peek("https://host0.test").is_none());
    }
}
