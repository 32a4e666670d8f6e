//! The isolate's side: the fleet's view as last heard, the outcomes waiting to be reported,
//! and when to talk to the hub. Nothing here waits: a call asks [`Link::admit`], which answers
//! from memory; the sync runs in the background and [`Link::apply`]s its answer (or
//! [`Link::failed`] when there was none).
//!
//! - A key the fleet holds open is refused until the hub's open period ends. A call the
//!   isolate's own breaker refused is reported ([`Link::record_local_open`]).
//! - After that the key is half-open fleet-wide: calls are refused and the next report asks
//!   for the probe; the isolate granted it lets one call through, whose outcome is reported
//!   at once. Others keep refusing until the hub says the key is closed.
//! - A view older than `stale_ms`, or none at all (the hub failed or was never reached),
//!   counts for nothing: the isolate's own breakers decide, as without a fleet.
//! - At most one sync in flight; a sync is due once `refresh_ms` has passed since the last
//!   began; sooner, once `report_ms` has passed, when failures or a request for the probe wait
//!   (an outage is what the fleet must hear of quickly); at once for a probe's outcome. A sync
//!   in flight for longer than `stale_ms` is given up (its answer may never come: the request
//!   that started it may be gone). Outcomes wait in a bounded outbox (per key counts, at most
//!   [`MAX_PENDING_KEYS`] keys; beyond that they are dropped and counted).
//! - Budget: the engine's ledger (`super::ledger`) of tokens spent and given back joins the
//!   outbox when a sync begins ([`Link::record_spending`]); spending waiting makes a sync due
//!   after `report_ms`, as failures do. The view's budget levels go back to the engine
//!   ([`Link::next_level`]).

use alloc::string::String;
use alloc::vec::Vec;

use super::wire::{
    self, FleetState, HAS_PROBE, LOCAL_OPEN, PROBE_FAILED, ReportEntry, Settings, WANTS_PROBE, WireError,
};

/// Keys with outcomes waiting for the next report at most.
pub const MAX_PENDING_KEYS: usize = 64;

/// What the fleet says to a call about to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No word from the fleet: the isolate's own breaker decides.
    Pass,
    /// This call is the fleet's half-open probe: report its outcome with the token.
    Probe { token: u32 },
    /// Refused as by an open breaker; try again after about this long.
    Refuse { retry_after_ms: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Open { until: u64 },
    HalfOpen,
    Leased { token: u32, until: u64, used: bool },
}

#[derive(Clone, Debug)]
struct Known {
    key: String,
    /// `None`: closed fleet-wide, listed for its budget only.
    held: Option<Held>,
}

#[derive(Clone, Debug)]
pub struct Link {
    settings: Settings,
    refresh_ms: u64,
    report_ms: u64,
    stale_ms: u64,
    view: Vec<Known>,
    heard_at: Option<u64>,
    outbox: Vec<ReportEntry>,
    in_flight: bool,
    last_began: Option<u64>,
    /// Keys whose local breaker should be closed: the fleet saw them recover, or leased this
    /// isolate the probe (its local breaker must not refuse it).
    to_close: Vec<String>,
    /// The fleet's budget tokens per key from the last view, for the engine's ledger.
    levels: Vec<(String, u32)>,
    /// Outcomes dropped because the outbox was full.
    pub dropped: u64,
}

impl Link {
    pub fn new(settings: Settings, refresh_ms: u64, report_ms: u64, stale_ms: u64) -> Self {
        Link {
            settings,
            refresh_ms: refresh_ms.max(1),
            report_ms: report_ms.clamp(1, refresh_ms.max(1)),
            stale_ms: stale_ms.max(refresh_ms),
            view: Vec::new(),
            heard_at: None,
            outbox: Vec::new(),
            in_flight: false,
            last_began: None,
            to_close: Vec::new(),
            levels: Vec::new(),
            dropped: 0,
        }
    }

    fn fresh(&self, now: u64) -> bool {
        self.heard_at.is_some_and(|at| now.saturating_sub(at) <= self.stale_ms)
    }

    pub fn admit(&mut self, key: &str, now: u64) -> Verdict {
        if self.view.is_empty() || !self.fresh(now) {
            return Verdict::Pass;
        }
        let refresh = self.refresh_ms;
        let Some(known) = self.view.iter_mut().find(|k| k.key == key) else { return Verdict::Pass };
        let wants = match &mut known.held {
            None => return Verdict::Pass,
            Some(Held::Open { until }) if now < *until => {
                return Verdict::Refuse { retry_after_ms: *until - now };
            }
            Some(Held::Leased { token, until, used }) if now < *until => {
                if *used {
                    return Verdict::Refuse { retry_after_ms: refresh };
                }
                *used = true;
                return Verdict::Probe { token: *token };
            }
            _ => true,
        };
        if let (true, Some(e)) = (wants, self.pending(key)) {
            e.flags |= WANTS_PROBE;
        }
        Verdict::Refuse { retry_after_ms: refresh }
    }

    /// An attempt's outcome for `key` (`failure` as the breaker counts it).
    pub fn record(&mut self, key: &str, failure: bool) {
        if let Some(e) = self.pending(key) {
            if failure {
                e.failures = e.failures.saturating_add(1);
            } else {
                e.successes = e.successes.saturating_add(1);
            }
        }
    }

    /// The outcome of the probe leased with `token`; the next sync is due at once.
    pub fn record_probe(&mut self, key: &str, token: u32, failure: bool) {
        if let Some(e) = self.pending(key) {
            e.flags |= HAS_PROBE | if failure { PROBE_FAILED } else { 0 };
            e.token = token;
        }
    }

    /// The isolate's own breaker refused a call of `key` (the fleet did not): the hub opens
    /// the fleet's breaker on it. Reported as soon as failures are.
    pub fn record_local_open(&mut self, key: &str) {
        if let Some(e) = self.pending(key) {
            e.flags |= LOCAL_OPEN;
        }
    }

    /// The engine's ledger (`wire::encode_ledger` bytes) joins the outbox.
    pub fn record_spending(&mut self, ledger: &[u8]) -> Result<(), WireError> {
        for moved in wire::decode_ledger(ledger)? {
            if let Some(e) = self.pending(&moved.key) {
                e.spent = e.spent.saturating_add(moved.spent);
                e.returned = e.returned.saturating_add(moved.returned);
            }
        }
        Ok(())
    }

    /// The outbox entry of `key`, made if there is room.
    fn pending(&mut self, key: &str) -> Option<&mut ReportEntry> {
        let i = match self.outbox.iter().position(|e| e.key == key) {
            Some(i) => i,
            None if self.outbox.len() < MAX_PENDING_KEYS && key.len() <= wire::MAX_KEY_BYTES => {
                self.outbox.push(ReportEntry { key: String::from(key), ..ReportEntry::default() });
                self.outbox.len() - 1
            }
            None => {
                self.dropped += 1;
                return None;
            }
        };
        self.outbox.get_mut(i)
    }

    /// Should a sync start now? `owes`: the engine's ledger holds spending not yet recorded.
    /// (A sync in flight past `stale_ms` is given up here.)
    pub fn due(&mut self, now: u64, owes: bool) -> bool {
        let Some(began) = self.last_began else { return true };
        let elapsed = now.saturating_sub(began);
        if self.in_flight {
            if elapsed <= self.stale_ms {
                return false;
            }
            self.failed();
        }
        elapsed >= self.refresh_ms
            || self.outbox.iter().any(|e| e.flags & HAS_PROBE != 0)
            || (elapsed >= self.report_ms
                && (owes
                    || self
                        .outbox
                        .iter()
                        .any(|e| e.failures > 0 || e.spent > 0 || e.flags & (WANTS_PROBE | LOCAL_OPEN) != 0)))
    }

    /// Starts a sync: the report to send (the outbox, emptied).
    pub fn begin(&mut self, now: u64) -> Vec<u8> {
        self.in_flight = true;
        self.last_began = Some(now);
        let report = wire::encode_report(&self.settings, &self.outbox);
        self.outbox.clear();
        report
    }

    /// The hub's answer to the sync under way. Keys it no longer lists are closed fleet-wide.
    pub fn apply(&mut self, view: &[u8], now: u64) -> Result<(), WireError> {
        self.in_flight = false;
        let entries = match wire::decode_view(view) {
            Ok(entries) => entries,
            Err(e) => {
                self.forget();
                return Err(e);
            }
        };
        let mut next = Vec::with_capacity(entries.len());
        self.levels.clear();
        for e in entries {
            let ms = u64::from(e.ms);
            let before = self.view.iter().find(|k| k.key == e.key).and_then(|k| k.held);
            let held = match (e.state, before) {
                (FleetState::Closed, _) => None,
                (FleetState::Open, _) => Some(Held::Open { until: now.saturating_add(ms) }),
                (FleetState::Leased, _) => {
                    self.to_close.push(e.key.clone());
                    Some(Held::Leased { token: e.token, until: now.saturating_add(ms), used: false })
                }
                // A lease granted earlier, still running, stays this isolate's.
                (FleetState::HalfOpen, Some(lease @ Held::Leased { until, .. })) if now < until => {
                    Some(lease)
                }
                (FleetState::HalfOpen, _) => Some(Held::HalfOpen),
            };
            if e.tokens != wire::NO_LIMIT {
                self.levels.push((e.key.clone(), e.tokens));
            }
            next.push(Known { key: e.key, held });
        }
        for old in self.view.iter().filter(|k| k.held.is_some()) {
            if !next.iter().any(|k| k.key == old.key && k.held.is_some()) {
                self.to_close.push(old.key.clone());
            }
        }
        self.view = next;
        self.heard_at = Some(now);
        Ok(())
    }

    /// The sync under way failed or took too long: back to local breakers only.
    pub fn failed(&mut self) {
        self.in_flight = false;
        self.forget();
    }

    fn forget(&mut self) {
        self.view.clear();
        self.levels.clear();
        self.heard_at = None;
    }

    /// The fleet's budget tokens of a key, from the last view, one at a time: the engine's
    /// ledger forgets its levels, then takes these (`Ledger::set_level`).
    pub fn next_level(&mut self) -> Option<(String, u32)> {
        self.levels.pop()
    }

    /// A key whose local breaker should now be closed (see `to_close`), one at a time.
    pub fn next_to_close(&mut self) -> Option<String> {
        self.to_close.pop()
    }

    /// How many keys the fleet holds not closed, in the view as last heard.
    pub fn held(&self) -> usize {
        self.view.iter().filter(|k| k.held.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::core::fleet::hub::Hub;
    use crate::core::fleet::test_settings as settings;
    use alloc::vec;

    fn sync(link: &mut Link, hub: &mut Hub, now: u64) {
        let report = link.begin(now);
        let view = hub.sync_bytes(&report, now).unwrap();
        link.apply(&view, now).unwrap();
    }

    #[test]
    fn four_isolates_open_the_fleet_with_eight_failures_in_all() {
        let mut hub = Hub::new(64, 60_000);
        let mut links: Vec<Link> = (0..4).map(|_| Link::new(settings(), 100, 25, 300)).collect();
        for link in &mut links {
            assert_eq!(link.admit("a", 0), Verdict::Pass);
            link.record("a", true);
            link.record("a", true);
            sync(link, &mut hub, 0);
        }
        // The last report opened it; the others learn at their next sync.
        for link in &mut links {
            assert!(link.due(100, false));
            sync(link, &mut hub, 100);
            assert_eq!(link.admit("a", 100), Verdict::Refuse { retry_after_ms: 900 });
            assert_eq!(link.admit("b", 100), Verdict::Pass, "other keys are untouched");
        }
    }

    #[test]
    fn recovery_takes_one_probe_fleet_wide_then_every_isolate_closes() {
        let mut hub = Hub::new(64, 60_000);
        let mut links: Vec<Link> = (0..4).map(|_| Link::new(settings(), 100, 25, 300)).collect();
        links[0].record("a", true);
        for _ in 0..7 {
            links[0].record("a", true);
        }
        sync(&mut links[0], &mut hub, 0);
        for link in &mut links {
            sync(link, &mut hub, 900);
        }
        // Open period over: every isolate refuses and asks; the first to sync gets the lease.
        let mut probes = Vec::new();
        for (i, link) in links.iter_mut().enumerate() {
            assert!(matches!(link.admit("a", 1000), Verdict::Refuse { .. }));
            sync(link, &mut hub, 1000 + i as u64);
            while link.next_to_close().is_some() {}
            if let Verdict::Probe { token } = link.admit("a", 1010) {
                probes.push((i, token));
            }
        }
        assert_eq!(probes.len(), 1, "one probe fleet-wide: {probes:?}");
        let (i, token) = probes[0];
        links[i].record_probe("a", token, false);
        assert!(links[i].due(1020, false), "a probe's outcome is sent at once");
        sync(&mut links[i], &mut hub, 1020);
        for link in &mut links {
            sync(link, &mut hub, 1200);
            assert_eq!(link.admit("a", 1200), Verdict::Pass);
        }
        // The isolates that had held it open are told to close their local breakers.
        assert_eq!(links[1].next_to_close().as_deref(), Some("a"));
    }

    #[test]
    fn a_failed_or_stale_view_leaves_the_local_breakers_in_charge() {
        let mut hub = Hub::new(64, 60_000);
        let mut link = Link::new(settings(), 100, 25, 300);
        for _ in 0..8 {
            link.record("a", true);
        }
        sync(&mut link, &mut hub, 0);
        assert!(matches!(link.admit("a", 10), Verdict::Refuse { .. }));
        assert_eq!(link.admit("a", 301), Verdict::Pass, "not heard from the hub for stale_ms");
        sync(&mut link, &mut hub, 400);
        assert!(matches!(link.admit("a", 410), Verdict::Refuse { .. }));
        link.begin(500);
        assert!(!link.due(800, false), "one sync in flight at most");
        link.failed();
        assert_eq!(link.admit("a", 510), Verdict::Pass);
        assert!(link.due(600, false));
        link.begin(600);
        assert!(link.apply(&[7, 7], 610).is_err());
        assert_eq!(link.admit("a", 620), Verdict::Pass, "an unreadable answer counts as none");
    }

    #[test]
    fn failures_are_reported_sooner_than_the_refresh_and_a_lost_sync_is_given_up() {
        let mut link = Link::new(settings(), 100, 25, 300);
        link.begin(0);
        link.apply(&[2, 0, 0], 1).unwrap();
        link.record("a", false);
        assert!(!link.due(50, false), "successes wait for the refresh");
        link.record("a", true);
        assert!(!link.due(24, false) && link.due(25, false), "a failure waits report_ms");
        link.begin(25);
        assert!(!link.due(325, false));
        assert!(link.due(326, false), "no answer for stale_ms: given up, a new sync may start");
    }

    /// One isolate: an engine sharing its budget through its link, as fleet-isolate.js runs
    /// them (the ledger joins the report at a sync; the view's levels go back to the engine).
    struct Isolate {
        engine: crate::core::Engine,
        link: Link,
    }

    fn budget_policy() -> crate::core::Policy {
        use crate::core::policy::{BreakerSettings, Jitter};
        crate::core::Policy {
            max_attempts: 3,
            jitter: Jitter::None,
            // The breaker never opens here: only the budget stops retries.
            breaker: Some(BreakerSettings { minimum_requests: u32::MAX, ..settings().breaker }),
            budget: settings().budget,
            retry_cap: None,
            ..crate::core::Policy::default()
        }
    }

    fn isolate(policy: &crate::core::Policy) -> Isolate {
        let mut engine = crate::core::Engine::with_defaults(policy);
        engine.share_budget(300);
        Isolate { engine, link: Link::new(settings(), 100, 25, 300) }
    }

    fn sync_isolate(iso: &mut Isolate, hub: &mut Hub, now: u64) {
        let ledger = iso.engine.ledger().unwrap().take();
        iso.link.record_spending(&ledger).unwrap();
        sync(&mut iso.link, hub, now);
        let ledger = iso.engine.ledger().unwrap();
        ledger.forget();
        while let Some((key, tokens)) = iso.link.next_level() {
            ledger.set_level(&key, tokens, now);
        }
    }

    /// One call to an origin answering 503: the retries it sent.
    fn failing_call(iso: &mut Isolate, policy: &crate::core::Policy, now: u64) -> u32 {
        use crate::core::headers::ServerHints;
        use crate::core::{Action, Call, Outcome};
        let (mut call, mut action) = Call::start(&mut iso.engine, policy, "a", true, now);
        while let Action::Send { .. } | Action::Retry { .. } = action {
            action = match action {
                Action::Send { .. } => call
                    .on_outcome(
                        &mut iso.engine,
                        policy,
                        Outcome::Response(503),
                        &ServerHints::default(),
                        now,
                        0.5,
                    )
                    .unwrap(),
                _ => call.resume(&mut iso.engine, policy, now).unwrap(),
            };
        }
        call.attempts() - 1
    }

    #[test]
    fn four_isolates_spend_about_one_budget_fleet_wide() {
        let policy = crate::core::Policy { max_attempts: 2, ..budget_policy() };
        let run = |shared: bool| {
            let mut hub = Hub::new(64, 60_000);
            let mut isolates: Vec<Isolate> = (0..4).map(|_| isolate(&policy)).collect();
            let mut retries = 0;
            // One failing call (one retry) per isolate every 20 ms, a sync whenever due.
            for t in (0..2000).step_by(20) {
                for iso in &mut isolates {
                    let owes = iso.engine.ledger().unwrap().owes();
                    if shared && iso.link.due(t, owes) {
                        sync_isolate(iso, &mut hub, t);
                    }
                    retries += failing_call(iso, &policy, t);
                }
            }
            let denials: u64 = isolates.iter().map(|i| i.engine.stats.counters.budget_denials).sum();
            (retries, denials)
        };
        // 50 tokens at 5 a retry: 10 retries per budget. The fleet's spend over one report
        // interval (25 ms, 4 to 8 retries here) may come on top.
        let (alone, _) = run(false);
        let (shared, denials) = run(true);
        assert_eq!(alone, 40, "four budgets' worth without the fleet");
        assert!((10..=18).contains(&shared), "about one budget fleet-wide: {shared}");
        assert!(denials > 0, "the fleet's refusals count as budget denials");
    }

    #[test]
    fn the_fleet_budget_is_only_a_limit_while_heard_and_the_stricter_wins() {
        let policy = budget_policy();
        let mut hub = Hub::new(64, 60_000);
        let mut a = isolate(&policy);
        let mut b = isolate(&policy);
        // a spends 40 of the fleet's 50 tokens (8 retries, 4 calls); b hears it.
        for t in 0..4 {
            assert_eq!(failing_call(&mut a, &policy, t), 2);
        }
        sync_isolate(&mut a, &mut hub, 10);
        sync_isolate(&mut b, &mut hub, 10);
        assert_eq!(failing_call(&mut b, &policy, 20), 2, "10 fleet tokens: two retries");
        assert_eq!(failing_call(&mut b, &policy, 21), 0, "b's own budget has 40, the fleet's none");
        assert_eq!(b.engine.stats.counters.budget_denials, 1);
        // The view is stale after 300 ms: b's own budget alone decides again.
        assert_eq!(failing_call(&mut b, &policy, 311), 2);
        // The fleet failing drops its levels at once.
        sync_isolate(&mut b, &mut hub, 400);
        assert_eq!(failing_call(&mut b, &policy, 401), 0);
        b.link.begin(402);
        b.link.failed();
        b.engine.ledger().unwrap().forget();
        assert_eq!(failing_call(&mut b, &policy, 403), 2, "local budget: 30 - 10 left");
    }

    #[test]
    fn the_outbox_is_bounded() {
        let mut link = Link::new(settings(), 100, 25, 300);
        for i in 0..1000 {
            link.record(&alloc::format!("k{i}"), true);
        }
        assert_eq!(link.dropped, 1000 - MAX_PENDING_KEYS as u64);
        let report = wire::decode_report(&link.begin(0)).unwrap();
        assert_eq!(report.entries.len(), MAX_PENDING_KEYS);
        assert_eq!(vec![report.entries[0].failures], vec![1]);
    }
}
