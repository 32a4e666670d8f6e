//! The Durable Object's side: one breaker per key for the whole fleet, fed by the isolates'
//! reports, and the half-open probe leased to one isolate at a time.
//!
//! The breaker is the isolates' own type with their settings (each report carries them; the
//! latest wins). A report's successes count before its failures, so a batch that would open
//! the breaker in some order does. Counts per key and report are capped. An isolate whose own
//! breaker refused a call says so, and a closed fleet breaker opens on it: isolates that open
//! first stop sending failures, which would otherwise leave the fleet's count just short of
//! the ratio while each of them probes on its own (seen in the simulator's busy isolates).
//!
//! Probing: when the open period has run out, the first isolate that asks (it had a call
//! refused by the fleet) is granted the probe with a lease; the others keep refusing. The
//! probe's outcome closes the breaker or opens it again (for twice the period, as locally). A
//! lease not answered in time is taken back and the next isolate that asks gets a new one, so
//! an isolate that dies holding it stalls recovery for one lease at most.
//!
//! Budget: each key has a retry budget (the isolates' [`Budget`] with their settings, carried
//! in each report like the breaker's). A report's tokens spent are taken (down to empty:
//! those retries were sent), then its tokens given back are returned. The view lists every
//! key whose budget is below capacity with its tokens, so each isolate refuses retries the
//! fleet's budget cannot pay, as if its own budget were empty.
//!
//! Bounded: at most `capacity` keys (the least recently reported goes first), and a key not
//! reported for `ttl_ms` is dropped (a fresh breaker if it comes back).

use alloc::string::String;
use alloc::vec::Vec;

use super::wire::{
    self, FleetState, HAS_PROBE, LOCAL_OPEN, PROBE_FAILED, Report, ViewEntry, WANTS_PROBE, WireError,
};
use crate::core::breaker::{Admission, Breaker, StateName};
use crate::core::budget::Budget;
use crate::core::policy::{BreakerSettings, BudgetSettings};

/// Outcomes of one key counted from one report at most: larger counts are scaled down
/// together, keeping their ratio (each outcome is one step of the breaker's window).
pub const MAX_COUNT_PER_REPORT: u32 = 1_000;

/// `(successes, failures)` scaled so that neither exceeds the cap, their ratio kept.
fn capped(successes: u32, failures: u32) -> (u32, u32) {
    let most = successes.max(failures);
    if most <= MAX_COUNT_PER_REPORT {
        return (successes, failures);
    }
    let scale = |n: u32| {
        let scaled = u64::from(n) * u64::from(MAX_COUNT_PER_REPORT) / u64::from(most);
        u32::try_from(scaled).unwrap_or(MAX_COUNT_PER_REPORT).max(u32::from(n > 0))
    };
    (scale(successes), scale(failures))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lease {
    token: u32,
    epoch: u32,
    until: u64,
}

#[derive(Clone, Debug)]
struct HubKey {
    key: String,
    breaker: Breaker,
    lease: Option<Lease>,
    last_seen: u64,
    /// Made full when the key is first reported with a budget.
    budget: Option<Budget>,
}

#[derive(Clone, Debug)]
pub struct Hub {
    keys: Vec<HubKey>,
    capacity: usize,
    ttl_ms: u64,
    next_token: u32,
    settings: BreakerSettings,
    budget: Option<BudgetSettings>,
    /// Probes granted so far (for tests and the simulator).
    pub probes_granted: u64,
}

impl Hub {
    pub fn new(capacity: usize, ttl_ms: u64) -> Self {
        Hub {
            keys: Vec::new(),
            capacity: capacity.max(1),
            ttl_ms,
            next_token: 1,
            settings: BreakerSettings { half_open_probes: 1, ..BreakerSettings::default() },
            budget: None,
            probes_granted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The fleet's breaker state of `key`, if held.
    pub fn state(&self, key: &str, now: u64) -> Option<StateName> {
        self.keys.iter().find(|k| k.key == key).map(|k| k.breaker.snapshot(now).state)
    }

    /// The fleet's budget tokens of `key`, if held with a budget.
    pub fn tokens(&self, key: &str) -> Option<u32> {
        self.keys.iter().find(|k| k.key == key).and_then(|k| k.budget.map(|b| b.tokens()))
    }

    /// Takes a report's bytes, answers with the view's bytes (or why the report was refused).
    pub fn sync_bytes(&mut self, report: &[u8], now: u64) -> Result<Vec<u8>, WireError> {
        let report = wire::decode_report(report)?;
        Ok(wire::encode_view(&self.sync(&report, now)))
    }

    /// Applies a report at `now` and returns the fleet's view for the isolate that sent it:
    /// every key held that is not closed, a lease granted in this answer marked as such.
    pub fn sync(&mut self, report: &Report, now: u64) -> Vec<ViewEntry> {
        self.settings = report.settings.breaker;
        self.budget = report.settings.budget;
        let lease_ms = report.settings.lease_ms;
        self.expire(now);
        let mut granted: Vec<(usize, u32)> = Vec::new();
        for entry in &report.entries {
            let Some(index) = self.index_of(&entry.key, now) else { continue };
            let settings = self.settings;
            let Some(k) = self.keys.get_mut(index) else { continue };
            k.last_seen = now;
            let (successes, failures) = capped(entry.successes, entry.failures);
            for _ in 0..successes {
                k.breaker.record(&settings, now, false, false);
            }
            for _ in 0..failures {
                k.breaker.record(&settings, now, true, false);
            }
            if let Some(settings) = &self.budget {
                let budget = k.budget.get_or_insert_with(|| Budget::full(settings));
                budget.spend(settings, entry.spent);
                budget.refund(settings, entry.returned);
            }
            if entry.flags & LOCAL_OPEN != 0 {
                k.breaker.open_for_fleet(&settings, now);
            }
            if entry.flags & HAS_PROBE != 0 {
                if let Some(lease) = k.lease.filter(|l| l.token == entry.token) {
                    k.breaker.record_probe_of(&settings, now, entry.flags & PROBE_FAILED != 0, lease.epoch);
                    k.lease = None;
                }
            }
            if entry.flags & WANTS_PROBE != 0 && k.lease.is_none() {
                if let Admission::Pass { probe: true } = k.breaker.admit(&settings, now) {
                    let token = self.next_token;
                    self.next_token = self.next_token.wrapping_add(1).max(1);
                    self.probes_granted += 1;
                    k.lease = Some(Lease {
                        token,
                        epoch: k.breaker.probe_epoch(),
                        until: now.saturating_add(lease_ms),
                    });
                    granted.push((index, token));
                }
            }
        }
        self.view(now, &granted, lease_ms)
    }

    fn view(&self, now: u64, granted: &[(usize, u32)], lease_ms: u64) -> Vec<ViewEntry> {
        let ms = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let mut out = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            if out.len() >= wire::MAX_KEYS {
                break;
            }
            // A full budget (or none) sets no limit: the key is listed only if not closed.
            let tokens = match (&self.budget, k.budget) {
                (Some(settings), Some(b)) if b.tokens() < settings.capacity => b.tokens(),
                _ => wire::NO_LIMIT,
            };
            let (state, ms, token) = if let Some((_, token)) = granted.iter().find(|(g, _)| *g == i) {
                (FleetState::Leased, ms(lease_ms), *token)
            } else {
                match (k.breaker.stored_state(), k.breaker.open_remaining(now)) {
                    (StateName::Closed, _) if tokens == wire::NO_LIMIT => continue,
                    (StateName::Closed, _) => (FleetState::Closed, 0, 0),
                    (_, Some(left)) if left > 0 => (FleetState::Open, ms(left), 0),
                    _ => (FleetState::HalfOpen, 0, 0),
                }
            };
            out.push(ViewEntry { key: k.key.clone(), state, ms, token, tokens });
        }
        out
    }

    /// Drops keys not reported for `ttl_ms`, and takes back leases that ran out.
    fn expire(&mut self, now: u64) {
        let ttl = self.ttl_ms;
        self.keys.retain(|k| now.saturating_sub(k.last_seen) < ttl);
        for k in &mut self.keys {
            if let Some(lease) = k.lease.filter(|l| now >= l.until) {
                k.breaker.release_probe_of(lease.epoch);
                k.lease = None;
            }
        }
    }

    /// Where `key` is held, made room for (the least recently reported goes) if new.
    fn index_of(&mut self, key: &str, now: u64) -> Option<usize> {
        if key.len() > wire::MAX_KEY_BYTES {
            return None;
        }
        if let Some(i) = self.keys.iter().position(|k| k.key == key) {
            return Some(i);
        }
        if self.keys.len() >= self.capacity {
            let oldest = self.keys.iter().enumerate().min_by_key(|(_, k)| k.last_seen).map(|(i, _)| i);
            if let Some(i) = oldest {
                self.keys.swap_remove(i);
            }
        }
        self.keys.push(HubKey {
            key: String::from(key),
            breaker: Breaker::default(),
            lease: None,
            last_seen: now,
            budget: None,
        });
        Some(self.keys.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::core::fleet::test_settings as settings;
    use crate::core::fleet::wire::{ReportEntry, Settings};
    use alloc::vec;

    fn report(entries: Vec<ReportEntry>) -> Report {
        Report { settings: settings(), entries }
    }

    fn fails(key: &str, n: u32) -> ReportEntry {
        ReportEntry { key: key.into(), failures: n, ..ReportEntry::default() }
    }

    fn wants(key: &str) -> ReportEntry {
        ReportEntry { key: key.into(), flags: WANTS_PROBE, ..ReportEntry::default() }
    }

    fn probe(key: &str, token: u32, failed: bool) -> ReportEntry {
        let flags = HAS_PROBE | if failed { PROBE_FAILED } else { 0 };
        ReportEntry { key: key.into(), flags, token, ..ReportEntry::default() }
    }

    #[test]
    fn failures_from_four_isolates_add_up_to_one_open_breaker() {
        let mut hub = Hub::new(16, 60_000);
        for isolate in 0..3 {
            let view = hub.sync(&report(vec![fails("a", 2)]), 10 + isolate);
            assert!(view.is_empty(), "6 failures of 8 needed: closed");
        }
        let view = hub.sync(&report(vec![fails("a", 2)]), 20);
        let open = ViewEntry {
            key: "a".into(),
            state: FleetState::Open,
            ms: 1000,
            token: 0,
            tokens: wire::NO_LIMIT,
        };
        assert_eq!(view, vec![open]);
        // Any isolate, even one that reported nothing, learns it.
        let view = hub.sync(&report(vec![]), 520);
        assert_eq!(view[0].state, FleetState::Open);
        assert_eq!(view[0].ms, 500);
    }

    #[test]
    fn one_probe_is_leased_at_a_time_and_its_success_closes_the_fleet() {
        let mut hub = Hub::new(16, 60_000);
        hub.sync(&report(vec![fails("a", 8)]), 0);
        // Before the open period ends nobody gets a probe.
        assert_eq!(hub.sync(&report(vec![wants("a")]), 999)[0].state, FleetState::Open);
        let first = hub.sync(&report(vec![wants("a")]), 1000);
        assert_eq!(first[0].state, FleetState::Leased);
        let token = first[0].token;
        for isolate in 0..3 {
            let other = hub.sync(&report(vec![wants("a")]), 1001 + isolate);
            assert_eq!(other[0].state, FleetState::HalfOpen, "a second isolate gets no probe");
        }
        assert_eq!(hub.probes_granted, 1);
        assert!(hub.sync(&report(vec![probe("a", token, false)]), 1100).is_empty());
        assert_eq!(hub.state("a", 1100), Some(StateName::Closed));
    }

    #[test]
    fn a_failed_probe_opens_it_again_for_longer() {
        let mut hub = Hub::new(16, 60_000);
        hub.sync(&report(vec![fails("a", 8)]), 0);
        let token = hub.sync(&report(vec![wants("a")]), 1000)[0].token;
        let view = hub.sync(&report(vec![probe("a", token, true)]), 1100);
        assert_eq!((view[0].state, view[0].ms), (FleetState::Open, 2000));
        // A stale token (a lease already answered) changes nothing.
        hub.sync(&report(vec![probe("a", token, false)]), 1200);
        assert_eq!(hub.state("a", 1200), Some(StateName::Open));
    }

    #[test]
    fn a_lease_not_answered_in_time_goes_to_the_next_isolate() {
        let mut hub = Hub::new(16, 60_000);
        hub.sync(&report(vec![fails("a", 8)]), 0);
        let lost = hub.sync(&report(vec![wants("a")]), 1000)[0].token;
        assert_eq!(hub.sync(&report(vec![wants("a")]), 1499)[0].state, FleetState::HalfOpen);
        let next = hub.sync(&report(vec![wants("a")]), 1500);
        assert_eq!(next[0].state, FleetState::Leased);
        assert_ne!(next[0].token, lost);
        // The late answer of the lost lease is ignored; the current one decides.
        hub.sync(&report(vec![probe("a", lost, false)]), 1510);
        assert_eq!(hub.state("a", 1510), Some(StateName::HalfOpen));
        hub.sync(&report(vec![probe("a", next[0].token, false)]), 1520);
        assert_eq!(hub.state("a", 1520), Some(StateName::Closed));
    }

    #[test]
    fn an_isolate_whose_own_breaker_opened_opens_the_fleet() {
        let mut hub = Hub::new(16, 60_000);
        hub.sync(&report(vec![fails("a", 3)]), 0);
        let local = ReportEntry { key: "a".into(), flags: LOCAL_OPEN, ..ReportEntry::default() };
        let view = hub.sync(&report(vec![local.clone()]), 10);
        assert_eq!((view[0].state, view[0].ms), (FleetState::Open, 1000));
        // Already open: it does not start the period again.
        assert_eq!(hub.sync(&report(vec![local]), 510)[0].ms, 500);
    }

    fn spends(key: &str, spent: u32, returned: u32) -> ReportEntry {
        ReportEntry { key: key.into(), spent, returned, ..ReportEntry::default() }
    }

    #[test]
    fn the_isolates_retries_drain_one_budget_per_key_and_the_view_says_what_is_left() {
        let mut hub = Hub::new(16, 60_000);
        // Four isolates spend 15 tokens each of the fleet's 50 (settings: capacity 50).
        for isolate in 0..3 {
            let view = hub.sync(&report(vec![spends("a", 15, 0)]), 10 + isolate);
            let left = 50 - 15 * (isolate as u32 + 1);
            assert_eq!(
                view,
                vec![ViewEntry { key: "a".into(), state: FleetState::Closed, ms: 0, token: 0, tokens: left }]
            );
        }
        let view = hub.sync(&report(vec![spends("a", 15, 0)]), 20);
        assert_eq!(view[0].tokens, 0, "spent past empty: those retries were sent");
        // Every isolate hears it, with its breaker closed; other keys are not listed.
        let view = hub.sync(&report(vec![spends("b", 0, 1)]), 30);
        assert_eq!((view.len(), view[0].state, view[0].tokens), (1, FleetState::Closed, 0));
        // Successes refund; a full budget is not listed again.
        hub.sync(&report(vec![spends("a", 0, 30)]), 40);
        assert_eq!(hub.tokens("a"), Some(30));
        assert!(hub.sync(&report(vec![spends("a", 0, 100)]), 50).is_empty());
        assert_eq!(hub.tokens("a"), Some(50));
    }

    #[test]
    fn an_open_key_carries_its_budget_and_no_budget_means_no_limit() {
        let mut hub = Hub::new(16, 60_000);
        let view = hub.sync(&report(vec![ReportEntry { spent: 45, ..fails("a", 8) }]), 0);
        assert_eq!((view[0].state, view[0].tokens), (FleetState::Open, 5));
        let no_budget =
            Report { settings: Settings { budget: None, ..settings() }, entries: vec![spends("b", 50, 0)] };
        let view = hub.sync(&no_budget, 10);
        assert_eq!(view.len(), 1, "b is not listed: no budget is shared");
        assert_eq!((view[0].key.as_str(), view[0].tokens), ("a", wire::NO_LIMIT));
        assert_eq!(hub.tokens("b"), None);
    }

    #[test]
    fn an_empty_budget_expires_with_its_key() {
        let mut hub = Hub::new(16, 1000);
        hub.sync(&report(vec![spends("a", 50, 0)]), 0);
        assert_eq!(hub.sync(&report(vec![]), 999)[0].tokens, 0);
        assert!(hub.sync(&report(vec![]), 1000).is_empty(), "not reported for a ttl: dropped");
        hub.sync(&report(vec![spends("a", 5, 0)]), 1001);
        assert_eq!(hub.tokens("a"), Some(45), "a fresh budget if it comes back");
    }

    #[test]
    fn keys_are_bounded_and_expire() {
        let mut hub = Hub::new(4, 1000);
        for i in 0..10 {
            hub.sync(&report(vec![fails(&alloc::format!("k{i}"), 1)]), i);
        }
        assert_eq!(hub.len(), 4);
        assert!(hub.state("k9", 10).is_some() && hub.state("k0", 10).is_none());
        hub.sync(&report(vec![]), 2000);
        assert!(hub.is_empty(), "nothing reported for a ttl: dropped");
    }

    #[test]
    fn huge_counts_are_capped_and_bad_bytes_refused() {
        let mut hub = Hub::new(4, 1000);
        let view = hub.sync(&report(vec![fails("a", u32::MAX)]), 0);
        assert_eq!(view[0].state, FleetState::Open);
        assert_eq!(capped(3_000_000, 1_000_000), (1000, 333), "the ratio is kept");
        assert_eq!(capped(u32::MAX, 1), (1000, 1), "a rare kind is not scaled away");
        // 40% failures in a huge report stay below a 0.5 ratio.
        let mixed =
            ReportEntry { key: "b".into(), successes: 600_000, failures: 400_000, ..ReportEntry::default() };
        assert!(hub.sync(&report(vec![mixed]), 1).iter().all(|v| v.key != "b"));
        assert_eq!(hub.sync_bytes(&[2, 2, 3], 0), Err(WireError("message cut short")));
    }
}
