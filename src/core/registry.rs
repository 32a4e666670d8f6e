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
//!
//! A caller that comes back to the same entry many times (a call, at each of its steps) keeps
//! a [`Place`]: where the entry sat, checked in O(1) before use, so neither the key nor the
//! tag is compared again while the entry stays put.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

pub const DEFAULT_CAPACITY: usize = 1000;

#[derive(Clone, Debug)]
struct Entry<V, T> {
    hash: u64,
    last_used: u64,
    /// The tick at which the entry was made: unique in its registry, never 0.
    born: u64,
    /// Shared with the [`Place`]s that point here, so a caller holds the name without a copy.
    key: Rc<String>,
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

/// Where an entry was found, and its name: see [`Registry::touch_at`]. The default points
/// nowhere.
#[derive(Clone, Debug)]
pub struct Place {
    key: Rc<String>,
    index: usize,
    /// The entry's `born` (0: not found yet).
    born: u64,
}

impl Place {
    pub fn key(&self) -> &str {
        &self.key
    }
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
        if self.entries.get(last).is_some_and(|e| e.key.as_str() == key && e.tag == *tag) {
            return Some(last);
        }
        let h = hash(key);
        self.entries.iter().position(|e| e.hash == h && e.key.as_str() == key && e.tag == *tag)
    }

    /// A place for `key` with `tag`: where that entry sits if held (sharing its name, so no
    /// copy is made), else a place that points nowhere yet.
    pub fn place(&self, key: &str, tag: &T) -> Place {
        match self.position(key, tag).and_then(|i| self.entries.get(i).map(|e| (i, e))) {
            Some((index, e)) => Place { key: e.key.clone(), index, born: e.born },
            None => Place { key: Rc::new(String::from(key)), index: 0, born: 0 },
        }
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
        let index = self.find_or_make(key, None, tag, make);
        self.use_at(index)
    }

    /// Whether the entry `place` was found at is still there.
    pub fn holds(&self, place: &Place) -> bool {
        // `born` is unique here; the name's pointer guards against a place from another
        // registry whose entry happens to share index and tick.
        self.entries.get(place.index).is_some_and(|e| e.born == place.born && Rc::ptr_eq(&e.key, &place.key))
    }

    /// Points `place` at the entry of its key with `tag`, made by `make` if absent (see
    /// [`Registry::touch_tagged`]).
    pub fn find_or_make_at(&mut self, place: &mut Place, tag: T, make: impl FnOnce() -> V) {
        self.tick += 1;
        let index = self.find_or_make(&place.key, Some(&place.key), tag, make);
        if let Some(e) = self.entries.get(index) {
            *place = Place { key: e.key.clone(), index, born: e.born };
        }
    }

    /// The state at `place` (see [`Registry::holds`]), marked most recently used.
    pub fn touch_held(&mut self, place: &Place) -> Option<&mut V> {
        if !self.holds(place) {
            return None;
        }
        self.tick += 1;
        self.use_at(place.index)
    }

    fn use_at(&mut self, index: usize) -> Option<&mut V> {
        self.last_used_index = index;
        let entry = self.entries.get_mut(index)?;
        entry.last_used = self.tick;
        Some(&mut entry.value)
    }

    /// Where `key` with `tag` sits, made (named by `name` if given) when absent, dropping the
    /// least recently used entry past capacity.
    fn find_or_make(
        &mut self,
        key: &str,
        name: Option<&Rc<String>>,
        tag: T,
        make: impl FnOnce() -> V,
    ) -> usize {
        match self.position(key, &tag) {
            Some(i) => i,
            None => {
                let key = name.cloned().unwrap_or_else(|| Rc::new(String::from(key)));
                let entry =
                    Entry { hash: hash(&key), last_used: 0, born: self.tick, key, tag, value: make() };
                if self.entries.len() >= self.capacity {
                    // Past capacity the new entry takes the least recently used one's place
                    // (its `born` tells a stale Place apart). In place, not swap_remove: that
                    // one's index check formats a panic message, which links core::fmt.
                    let oldest =
                        self.entries.iter().enumerate().min_by_key(|(_, e)| e.last_used).map(|(i, _)| i);
                    if let Some((i, slot)) = oldest.and_then(|i| Some((i, self.entries.get_mut(i)?))) {
                        *slot = entry;
                        return i;
                    }
                }
                self.entries.push(entry);
                self.entries.len() - 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
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

    #[test]
    fn a_place_stays_with_its_entry_and_is_made_again_when_it_went() {
        let mut r: Registry<u32, u8> = Registry::new(3);
        let mut a = r.place("a", &1);
        assert!(!r.holds(&a), "nothing held yet");
        r.find_or_make_at(&mut a, 1, || 10);
        *r.touch_held(&a).unwrap() += 1;
        r.touch("b", || 20);
        let mut c = r.place("c", &0);
        r.find_or_make_at(&mut c, 0, || 30);
        r.touch("b", || 0);
        r.touch_held(&c);
        // "a" is the least recently used: "d" takes its index; "c" stays where it was.
        r.touch("d", || 40);
        assert!(!r.holds(&a), "a's index now holds d");
        assert!(r.holds(&c));
        assert_eq!(r.touch_held(&c).copied(), Some(30), "value kept");
        assert_eq!(r.peek("d"), Some(&40));
        r.find_or_make_at(&mut a, 1, || 10);
        assert_eq!(r.touch_held(&a).copied(), Some(10), "made again, fresh");
        assert_eq!(r.peek_tagged("a", &1), Some(&10));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn a_place_shares_the_name_and_holds_only_in_its_own_registry() {
        let (mut one, mut two): (Registry<u32>, Registry<u32>) = (Registry::new(4), Registry::new(4));
        one.touch("k", || 1);
        two.touch("k", || 2);
        let mut place = one.place("k", &());
        assert!(one.holds(&place));
        // Same index and tick in the other registry, but not its entry.
        assert!(!two.holds(&place));
        two.find_or_make_at(&mut place, (), || 0);
        assert_eq!(two.touch_held(&place).copied(), Some(2));
    }

    #[test]
    fn a_place_does_not_take_the_entry_of_its_key_under_another_tag() {
        let mut r: Registry<u32, u8> = Registry::new(2);
        let mut first = r.place("k", &1);
        r.find_or_make_at(&mut first, 1, || 1);
        // A place of the same name under another tag (as a call's own would be).
        let mut second = Place { key: first.key.clone(), index: first.index, born: 0 };
        r.find_or_make_at(&mut second, 2, || 2);
        // ("k", 1) goes: "other" takes its index, with another name.
        r.touch("other", || 3);
        assert!(!r.holds(&first));
        r.find_or_make_at(&mut second, 2, || 0);
        assert_eq!(r.touch_held(&second).copied(), Some(2));
    }
}
