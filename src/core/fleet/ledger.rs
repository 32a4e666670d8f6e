//! The isolate's engine side of the fleet's budget: what its retries took from the budget of
//! each key (and gave back) since the last report, and the fleet's budget per key as last
//! heard. An [`Engine`](crate::core::Engine) holds one when connected to a fleet; its calls
//! then refuse a retry the fleet's tokens cannot pay, as if their own budget were empty (both
//! must pay: the stricter wins).
//!
//! Between two views the isolate takes its own retries off the fleet's tokens as it spends,
//! so the fleet overspends by what the other isolates send within one sync at most. A level is
//! set when a view arrives, from the view's tokens less what was spent since the report left
//! (still in the ledger), and counts for `stale_ms`: no word from the fleet, no fleet limit.

use alloc::string::String;
use alloc::vec::Vec;

use super::wire;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key: String,
    spent: u32,
    returned: u32,
    /// The fleet's tokens as last heard, less what this isolate spent since.
    level: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    entries: Vec<Entry>,
    /// Levels count until then.
    until: u64,
    stale_ms: u64,
    /// Movements not recorded because `wire::MAX_KEYS` keys were already held.
    pub dropped: u64,
}

impl Ledger {
    pub fn new(stale_ms: u64) -> Self {
        Ledger { entries: Vec::new(), until: 0, stale_ms, dropped: 0 }
    }

    /// The entry of `key`, made if there is room.
    fn entry(&mut self, key: &str) -> Option<&mut Entry> {
        let i = match self.entries.iter().position(|e| e.key == key) {
            Some(i) => i,
            None if self.entries.len() < wire::MAX_KEYS && key.len() <= wire::MAX_KEY_BYTES => {
                self.entries.push(Entry { key: String::from(key), spent: 0, returned: 0, level: None });
                self.entries.len() - 1
            }
            None => {
                self.dropped += 1;
                return None;
            }
        };
        self.entries.get_mut(i)
    }

    /// Whether the fleet's budget of `key` can pay `cost` (yes when the fleet sets no limit).
    pub fn can_pay(&self, key: &str, cost: u32, now: u64) -> bool {
        if now >= self.until {
            return true;
        }
        let level = self.entries.iter().find(|e| e.key == key).and_then(|e| e.level);
        level.is_none_or(|tokens| tokens >= cost)
    }

    /// A retry of `key` took `cost` tokens.
    pub fn spend(&mut self, key: &str, cost: u32) {
        if let Some(e) = self.entry(key) {
            e.spent = e.spent.saturating_add(cost);
            e.level = e.level.map(|l| l.saturating_sub(cost));
        }
    }

    /// `amount` tokens of `key` given back (a success's refund, a retry not sent), never
    /// above `capacity`.
    pub fn give_back(&mut self, key: &str, amount: u32, capacity: u32) {
        if let Some(e) = self.entry(key) {
            e.returned = e.returned.saturating_add(amount);
            e.level = e.level.map(|l| l.saturating_add(amount).min(capacity));
        }
    }

    /// Whether movements wait for the next report.
    pub fn owes(&self) -> bool {
        self.entries.iter().any(|e| e.spent > 0 || e.returned > 0)
    }

    /// The movements since the last call, for the next report (`wire::encode_ledger` bytes).
    pub fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in self.entries.iter_mut().filter(|e| e.spent > 0 || e.returned > 0) {
            wire::put_spending(&mut out, &e.key, e.spent, e.returned);
            e.spent = 0;
            e.returned = 0;
        }
        self.prune();
        out
    }

    /// A view arrived (or the fleet failed): no levels until [`Ledger::set_level`].
    pub fn forget(&mut self) {
        self.until = 0;
        for e in &mut self.entries {
            e.level = None;
        }
        self.prune();
    }

    /// Drops entries with neither movements nor a level.
    fn prune(&mut self) {
        self.entries.retain(|e| e.level.is_some() || e.spent > 0 || e.returned > 0);
    }

    /// The view heard at `now` gives `key` the fleet's `tokens`.
    pub fn set_level(&mut self, key: &str, tokens: u32, now: u64) {
        self.until = now.saturating_add(self.stale_ms);
        if let Some(e) = self.entry(key) {
            e.level = Some(tokens.saturating_sub(e.spent).saturating_add(e.returned));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_fleet_level_limits_retries_and_follows_own_spending_until_stale() {
        let mut ledger = Ledger::new(300);
        assert!(ledger.can_pay("a", 5, 0), "no level: no limit");
        ledger.set_level("a", 12, 100);
        assert!(ledger.can_pay("a", 5, 100) && ledger.can_pay("b", 500, 100));
        ledger.spend("a", 5);
        ledger.spend("a", 5);
        assert!(!ledger.can_pay("a", 5, 110), "2 tokens left of the fleet's 12");
        ledger.give_back("a", 3, 50);
        assert!(ledger.can_pay("a", 5, 120));
        assert!(ledger.can_pay("a", 50, 400), "stale after 300 ms");
        ledger.forget();
        assert!(ledger.can_pay("a", 50, 120), "forgotten");
    }

    #[test]
    fn what_was_spent_since_the_report_left_counts_against_the_view() {
        let mut ledger = Ledger::new(300);
        ledger.spend("a", 10);
        assert!(ledger.owes());
        let report = wire::decode_ledger(&ledger.take()).unwrap();
        assert_eq!(report, alloc::vec![wire::Spending { key: "a".into(), spent: 10, returned: 0 }]);
        assert!(!ledger.owes());
        // Spent while the sync was out: the view (which has not heard of it) is lowered by it.
        ledger.spend("a", 5);
        ledger.forget();
        ledger.set_level("a", 9, 50);
        assert!(ledger.can_pay("a", 4, 50) && !ledger.can_pay("a", 5, 50));
        assert_eq!(wire::decode_ledger(&ledger.take()).unwrap()[0].spent, 5);
    }

    #[test]
    fn the_ledger_is_bounded() {
        let mut ledger = Ledger::new(300);
        for i in 0..1000 {
            ledger.spend(&alloc::format!("k{i}"), 1);
        }
        assert_eq!(ledger.dropped, 1000 - wire::MAX_KEYS as u64);
        assert_eq!(wire::decode_ledger(&ledger.take()).unwrap().len(), wire::MAX_KEYS);
        assert!(ledger.entries.is_empty(), "reported and without a level: forgotten");
    }
}
