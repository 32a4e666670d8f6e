//! The fleet's classes (issue 12, `edge-retry/fleet`): `FleetLink`, one per isolate's
//! instance, and `FleetHub`, the state a Durable Object holds. See `core::fleet`; the table of
//! exports is at the top of `exports.rs`. A call that does not use the fleet touches neither.

use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

use crate::core::fleet::{Hub, Link, Settings, Verdict};
use crate::core::policy::{BreakerSettings, BudgetSettings};

/// An isolate's view of the fleet and its outbox.
#[wasm_bindgen]
pub struct FleetLink {
    link: Link,
    /// The number the last `admit` gave: a probe's token, or a refusal's retry-after.
    param: f64,
}

#[wasm_bindgen]
impl FleetLink {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        failure_ratio: f64,
        minimum_requests: u32,
        window_ms: f64,
        open_ms: f64,
        max_open_ms: f64,
        lease_ms: f64,
        refresh_ms: f64,
        report_ms: f64,
        stale_ms: f64,
        budget_capacity: f64,
        retry_cost: f64,
        timeout_cost: f64,
        success_refund: f64,
    ) -> FleetLink {
        let breaker = BreakerSettings {
            failure_ratio,
            minimum_requests,
            window_ms: window_ms as u64,
            open_ms: open_ms as u64,
            max_open_ms: max_open_ms as u64,
            half_open_probes: 1,
        };
        // A negative capacity: the instance has no budget (`fleetSetting` gives -1).
        let budget = (budget_capacity >= 0.0).then_some(BudgetSettings {
            capacity: budget_capacity as u32,
            retry_cost: retry_cost as u32,
            timeout_cost: timeout_cost as u32,
            success_refund: success_refund as u32,
        });
        let settings = Settings { breaker, lease_ms: (lease_ms as u64).max(1), budget };
        FleetLink {
            link: Link::new(settings, refresh_ms as u64, report_ms as u64, stale_ms as u64),
            param: 0.0,
        }
    }

    /// 0 pass (local breakers decide), 1 this call is the fleet's probe (`param`: its token),
    /// 2 refused (`param`: retry-after ms).
    pub fn admit(&mut self, key: &str, now: f64) -> u32 {
        match self.link.admit(key, now as u64) {
            Verdict::Pass => 0,
            Verdict::Probe { token } => {
                self.param = f64::from(token);
                1
            }
            Verdict::Refuse { retry_after_ms } => {
                self.param = retry_after_ms as f64;
                2
            }
        }
    }

    pub fn param(&self) -> f64 {
        self.param
    }

    pub fn record(&mut self, key: &str, failure: bool) {
        self.link.record(key, failure);
    }

    /// The isolate's own breaker refused a call the fleet let through.
    #[wasm_bindgen(js_name = recordLocalOpen)]
    pub fn record_local_open(&mut self, key: &str) {
        self.link.record_local_open(key);
    }

    #[wasm_bindgen(js_name = recordProbe)]
    pub fn record_probe(&mut self, key: &str, token: u32, failure: bool) {
        self.link.record_probe(key, token, failure);
    }

    /// `owes`: the instance's ledger holds budget spending (`Instance.fleet`, op 1).
    pub fn due(&mut self, now: f64, owes: bool) -> bool {
        self.link.due(now as u64, owes)
    }

    /// The instance's ledger bytes (`Instance.fleetLedger`) join the next report; false when
    /// unreadable (nothing is taken).
    #[wasm_bindgen(js_name = recordSpending)]
    pub fn record_spending(&mut self, ledger: &[u8]) -> bool {
        self.link.record_spending(ledger).is_ok()
    }

    /// A key with the fleet's budget tokens from the last view (`param()`: the tokens), or
    /// undefined; each goes to `Instance.fleetLevel`.
    #[wasm_bindgen(js_name = nextLevel)]
    pub fn next_level(&mut self) -> Option<String> {
        let (key, tokens) = self.link.next_level()?;
        self.param = f64::from(tokens);
        Some(key)
    }

    /// Starts a sync: the report's bytes.
    pub fn begin(&mut self, now: f64) -> Vec<u8> {
        self.link.begin(now as u64)
    }

    /// The hub's answer; false when unreadable (the view is dropped).
    pub fn apply(&mut self, view: &[u8], now: f64) -> bool {
        self.link.apply(view, now as u64).is_ok()
    }

    /// The sync failed or timed out: local breakers only until the next one succeeds.
    pub fn failed(&mut self) {
        self.link.failed();
    }

    /// A key whose local breaker to close, or undefined.
    #[wasm_bindgen(js_name = nextToClose)]
    pub fn next_to_close(&mut self) -> Option<String> {
        self.link.next_to_close()
    }

    pub fn dropped(&self) -> f64 {
        self.link.dropped as f64
    }

    /// Keys the fleet holds not closed, as last heard.
    pub fn held(&self) -> u32 {
        u32::try_from(self.link.held()).unwrap_or(u32::MAX)
    }
}

/// The fleet's breakers, held by the Durable Object.
#[wasm_bindgen]
pub struct FleetHub {
    hub: Hub,
    error: String,
}

#[wasm_bindgen]
impl FleetHub {
    #[wasm_bindgen(constructor)]
    pub fn new(capacity: u32, ttl_ms: f64) -> FleetHub {
        FleetHub { hub: Hub::new(capacity as usize, ttl_ms as u64), error: String::new() }
    }

    /// A report in, the view out; undefined for a report that could not be read (`error()`).
    pub fn sync(&mut self, report: &[u8], now: f64) -> Option<Vec<u8>> {
        match self.hub.sync_bytes(report, now as u64) {
            Ok(view) => Some(view),
            Err(e) => {
                self.error = String::from(e.0);
                None
            }
        }
    }

    pub fn error(&self) -> String {
        self.error.clone()
    }

    #[wasm_bindgen(js_name = probesGranted)]
    pub fn probes_granted(&self) -> f64 {
        self.hub.probes_granted as f64
    }

    pub fn size(&self) -> u32 {
        u32::try_from(self.hub.len()).unwrap_or(u32::MAX)
    }
}

/// The classes as fleet-isolate.js and fleet-object.js use them, in a real wasm instance
/// (`wasm-pack test --node -- --lib --features fleet`).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn two_links_share_one_breaker_through_the_hub() {
        let mut hub = FleetHub::new(100, 60_000.0);
        let link = || {
            FleetLink::new(0.5, 4, 10_000.0, 1000.0, 1000.0, 500.0, 100.0, 25.0, 300.0, 50.0, 5.0, 10.0, 1.0)
        };
        let (mut a, mut b) = (link(), link());
        for _ in 0..4 {
            a.record("k", true);
        }
        // a's retries spent 20 of the fleet's 50 tokens of "k" (ledger bytes as the Instance
        // gives them: u16 key length, key, spent, given back).
        assert!(a.record_spending(&[1, 0, b'k', 20, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!a.record_spending(&[1, 0]), "garbage is refused");
        assert!(a.due(0.0, false));
        let view = hub.sync(&a.begin(0.0), 0.0).unwrap();
        assert!(a.apply(&view, 0.0));
        assert!(b.due(10.0, false));
        let view = hub.sync(&b.begin(10.0), 10.0).unwrap();
        assert!(b.apply(&view, 10.0));
        assert_eq!(b.next_level().as_deref(), Some("k"));
        assert_eq!(b.param(), 30.0, "the fleet's tokens left");
        assert_eq!(b.next_level(), None);
        assert_eq!(b.admit("k", 20.0), 2, "b refuses what a's failures opened");
        assert_eq!(b.param(), 980.0);
        assert_eq!(b.admit("other", 20.0), 0);
        assert!(hub.sync(&[2, 2, 3], 30.0).is_none());
        assert_eq!(hub.error(), "message cut short");
        assert!(!b.apply(&[9], 40.0), "garbage drops the view");
        assert_eq!(b.admit("k", 41.0), 0);
    }
}
