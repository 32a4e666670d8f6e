//! The two messages between an isolate and the fleet's Durable Object, as bytes (little
//! endian). JS only carries them; both ends are this core, so the format is private to it.
//!
//! Report (isolate to hub): version 2; the isolate's breaker settings (failure ratio f64,
//! minimum requests u32, window, open, max open and probe lease ms as u64); its budget
//! settings (u8 1 if it has a budget, 0 if not; capacity, retry cost, timeout cost and success
//! refund as u32, zeros without a budget); u16 count; per key: u16 length, the key (UTF-8),
//! successes u32, failures u32, flags u8 (1 wants a probe, 2 carries a probe's outcome, 4 that
//! probe failed, 8 the isolate's own breaker refused a call), the probe's lease token u32,
//! budget tokens its retries spent u32 and tokens given back (refunds) u32.
//!
//! View (hub to isolate): version 2; u16 count; per key the hub holds not closed or with a
//! budget below capacity: u16 length, the key, state u8 (0 closed, 1 open, 2 half-open, 3
//! half-open with the probe leased to this isolate), ms u32 (open: how long it still refuses;
//! leased: how long the lease lasts), token u32, the fleet's budget tokens u32 ([`NO_LIMIT`]:
//! the fleet sets none).
//!
//! Ledger (inside an isolate, from its retry instance to its link; see `super::ledger`): per
//! key: u16 length, the key, tokens spent u32, tokens given back u32.

use alloc::string::String;
use alloc::vec::Vec;

use crate::core::policy::{BreakerSettings, BudgetSettings};

const VERSION: u8 = 2;
/// A view's budget tokens when the fleet sets no limit on the key.
pub const NO_LIMIT: u32 = u32::MAX;
/// Keys in one message at most (reports and views alike): a busy isolate cannot flood the hub.
pub const MAX_KEYS: usize = 256;
/// Longest key carried; longer keys are not shared (an origin is far shorter).
pub const MAX_KEY_BYTES: usize = 1024;

pub const WANTS_PROBE: u8 = 1;
pub const HAS_PROBE: u8 = 2;
pub const PROBE_FAILED: u8 = 4;
pub const LOCAL_OPEN: u8 = 8;

/// Why a message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireError(pub &'static str);

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub breaker: BreakerSettings,
    pub lease_ms: u64,
    /// The isolates' retry budget, shared per key by the hub; `None`: not shared.
    pub budget: Option<BudgetSettings>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportEntry {
    pub key: String,
    pub successes: u32,
    pub failures: u32,
    pub flags: u8,
    pub token: u32,
    /// Budget tokens the isolate's retries of the key took, and tokens it gave back.
    pub spent: u32,
    pub returned: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub settings: Settings,
    pub entries: Vec<ReportEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetState {
    /// Listed for its budget only.
    Closed,
    Open,
    HalfOpen,
    Leased,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewEntry {
    pub key: String,
    pub state: FleetState,
    pub ms: u32,
    pub token: u32,
    /// The fleet's budget tokens for the key, or [`NO_LIMIT`].
    pub tokens: u32,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).ok_or(WireError("length overflow"))?;
        let out = self.bytes.get(self.at..end).ok_or(WireError("message cut short"))?;
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, WireError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    fn key(&mut self) -> Result<String, WireError> {
        let n = usize::from(self.u16()?);
        if n > MAX_KEY_BYTES {
            return Err(WireError("key too long"));
        }
        let bytes = self.take(n)?;
        core::str::from_utf8(bytes).map(String::from).map_err(|_| WireError("key is not UTF-8"))
    }

    fn count(&mut self) -> Result<usize, WireError> {
        let n = usize::from(self.u16()?);
        if n > MAX_KEYS { Err(WireError("too many keys")) } else { Ok(n) }
    }

    fn version(&mut self) -> Result<(), WireError> {
        if self.u8()? == VERSION { Ok(()) } else { Err(WireError("unknown message version")) }
    }

    fn end(&self) -> Result<(), WireError> {
        if self.at == self.bytes.len() { Ok(()) } else { Err(WireError("bytes after the message")) }
    }
}

fn put_key(out: &mut Vec<u8>, key: &str) {
    let n = u16::try_from(key.len()).unwrap_or(0);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(key.as_bytes().get(..usize::from(n)).unwrap_or(&[]));
}

fn count_of(n: usize) -> [u8; 2] {
    u16::try_from(n.min(MAX_KEYS)).unwrap_or(0).to_le_bytes()
}

/// Entries past [`MAX_KEYS`] and keys past [`MAX_KEY_BYTES`] are left out.
pub fn encode_report(settings: &Settings, entries: &[ReportEntry]) -> Vec<u8> {
    let b = &settings.breaker;
    let mut out = Vec::with_capacity(48 + entries.len() * 40);
    out.push(VERSION);
    out.extend_from_slice(&b.failure_ratio.to_le_bytes());
    out.extend_from_slice(&b.minimum_requests.to_le_bytes());
    for ms in [b.window_ms, b.open_ms, b.max_open_ms, settings.lease_ms] {
        out.extend_from_slice(&ms.to_le_bytes());
    }
    out.push(u8::from(settings.budget.is_some()));
    let budget = settings.budget.unwrap_or(BudgetSettings {
        capacity: 0,
        retry_cost: 0,
        timeout_cost: 0,
        success_refund: 0,
    });
    for n in [budget.capacity, budget.retry_cost, budget.timeout_cost, budget.success_refund] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    let kept: Vec<&ReportEntry> =
        entries.iter().filter(|e| e.key.len() <= MAX_KEY_BYTES).take(MAX_KEYS).collect();
    out.extend_from_slice(&count_of(kept.len()));
    for e in kept {
        put_key(&mut out, &e.key);
        out.extend_from_slice(&e.successes.to_le_bytes());
        out.extend_from_slice(&e.failures.to_le_bytes());
        out.push(e.flags);
        out.extend_from_slice(&e.token.to_le_bytes());
        out.extend_from_slice(&e.spent.to_le_bytes());
        out.extend_from_slice(&e.returned.to_le_bytes());
    }
    out
}

pub fn decode_report(bytes: &[u8]) -> Result<Report, WireError> {
    let mut r = Reader { bytes, at: 0 };
    r.version()?;
    let failure_ratio = r.f64()?;
    let minimum_requests = r.u32()?;
    let (window_ms, open_ms, max_open_ms, lease_ms) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
    if !(failure_ratio > 0.0 && failure_ratio <= 1.0) {
        return Err(WireError("failure ratio out of (0, 1]"));
    }
    if lease_ms == 0 {
        return Err(WireError("probe lease of 0 ms"));
    }
    let has_budget = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(WireError("budget flag not 0 or 1")),
    };
    let budget = BudgetSettings {
        capacity: r.u32()?,
        retry_cost: r.u32()?,
        timeout_cost: r.u32()?,
        success_refund: r.u32()?,
    };
    let breaker = BreakerSettings {
        failure_ratio,
        minimum_requests,
        window_ms,
        open_ms,
        max_open_ms,
        half_open_probes: 1,
    };
    let n = r.count()?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.key()?;
        entries.push(ReportEntry {
            key,
            successes: r.u32()?,
            failures: r.u32()?,
            flags: r.u8()?,
            token: r.u32()?,
            spent: r.u32()?,
            returned: r.u32()?,
        });
    }
    r.end()?;
    let budget = has_budget.then_some(budget);
    Ok(Report { settings: Settings { breaker, lease_ms, budget }, entries })
}

pub fn encode_view(entries: &[ViewEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + entries.len() * 40);
    out.push(VERSION);
    let kept: Vec<&ViewEntry> =
        entries.iter().filter(|e| e.key.len() <= MAX_KEY_BYTES).take(MAX_KEYS).collect();
    out.extend_from_slice(&count_of(kept.len()));
    for e in kept {
        put_key(&mut out, &e.key);
        out.push(match e.state {
            FleetState::Closed => 0,
            FleetState::Open => 1,
            FleetState::HalfOpen => 2,
            FleetState::Leased => 3,
        });
        out.extend_from_slice(&e.ms.to_le_bytes());
        out.extend_from_slice(&e.token.to_le_bytes());
        out.extend_from_slice(&e.tokens.to_le_bytes());
    }
    out
}

pub fn decode_view(bytes: &[u8]) -> Result<Vec<ViewEntry>, WireError> {
    let mut r = Reader { bytes, at: 0 };
    r.version()?;
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.key()?;
        let state = match r.u8()? {
            0 => FleetState::Closed,
            1 => FleetState::Open,
            2 => FleetState::HalfOpen,
            3 => FleetState::Leased,
            _ => return Err(WireError("unknown fleet state")),
        };
        out.push(ViewEntry { key, state, ms: r.u32()?, token: r.u32()?, tokens: r.u32()? });
    }
    r.end()?;
    Ok(out)
}

/// One key's budget movements in a ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spending {
    pub key: String,
    pub spent: u32,
    pub returned: u32,
}

/// Entries past [`MAX_KEYS`] and keys past [`MAX_KEY_BYTES`] are left out.
pub fn encode_ledger(entries: &[Spending]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 40);
    for e in entries.iter().filter(|e| e.key.len() <= MAX_KEY_BYTES).take(MAX_KEYS) {
        put_spending(&mut out, &e.key, e.spent, e.returned);
    }
    out
}

/// One ledger entry (a key past [`MAX_KEY_BYTES`] is the caller's to leave out).
pub fn put_spending(out: &mut Vec<u8>, key: &str, spent: u32, returned: u32) {
    put_key(out, key);
    out.extend_from_slice(&spent.to_le_bytes());
    out.extend_from_slice(&returned.to_le_bytes());
}

pub fn decode_ledger(bytes: &[u8]) -> Result<Vec<Spending>, WireError> {
    let mut r = Reader { bytes, at: 0 };
    let mut out = Vec::new();
    while r.at < bytes.len() {
        if out.len() >= MAX_KEYS {
            return Err(WireError("too many keys"));
        }
        let key = r.key()?;
        out.push(Spending { key, spent: r.u32()?, returned: r.u32()? });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn settings() -> Settings {
        Settings {
            breaker: BreakerSettings { half_open_probes: 1, ..BreakerSettings::default() },
            lease_ms: 5000,
            budget: Some(BudgetSettings { capacity: 50, ..BudgetSettings::default() }),
        }
    }

    #[test]
    fn a_report_and_a_view_come_back_as_they_went() {
        let entries = alloc::vec![
            ReportEntry {
                key: "https://a.test".into(),
                successes: 3,
                failures: 9,
                flags: WANTS_PROBE,
                token: 0,
                spent: 25,
                returned: 3,
            },
            ReportEntry {
                key: "k".into(),
                successes: 0,
                failures: 1,
                flags: HAS_PROBE | PROBE_FAILED,
                token: 7,
                spent: 0,
                returned: 0,
            },
        ];
        let report = decode_report(&encode_report(&settings(), &entries)).unwrap();
        assert_eq!(report, Report { settings: settings(), entries: entries.clone() });
        let no_budget = Settings { budget: None, ..settings() };
        assert_eq!(decode_report(&encode_report(&no_budget, &entries)).unwrap().settings, no_budget);
        let view = alloc::vec![
            ViewEntry {
                key: "https://a.test".into(),
                state: FleetState::Open,
                ms: 400,
                token: 0,
                tokens: NO_LIMIT
            },
            ViewEntry { key: "b".into(), state: FleetState::Leased, ms: 5000, token: 3, tokens: 0 },
            ViewEntry { key: "c".into(), state: FleetState::Closed, ms: 0, token: 0, tokens: 35 },
        ];
        assert_eq!(decode_view(&encode_view(&view)).unwrap(), view);
        let ledger = alloc::vec![
            Spending { key: "a".into(), spent: 10, returned: 1 },
            Spending { key: "b".into(), spent: 0, returned: 4 },
        ];
        assert_eq!(decode_ledger(&encode_ledger(&ledger)).unwrap(), ledger);
        assert_eq!(decode_ledger(&[]).unwrap(), alloc::vec![]);
    }

    #[test]
    fn bad_bytes_are_an_error_never_a_panic() {
        let good = encode_report(&settings(), &[ReportEntry { key: "a".into(), ..ReportEntry::default() }]);
        for cut in 0..good.len() {
            assert!(decode_report(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(decode_report(&extra), Err(WireError("bytes after the message")));
        let mut wrong = good.clone();
        wrong[0] = 9;
        assert_eq!(decode_report(&wrong), Err(WireError("unknown message version")));
        let mut flag = good.clone();
        flag[45] = 2;
        assert_eq!(decode_report(&flag), Err(WireError("budget flag not 0 or 1")));
        assert_eq!(
            decode_view(&[2, 1, 0, 1, 0, b'a', 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(WireError("unknown fleet state"))
        );
        assert!(decode_view(&[2, 0xff, 0xff]).is_err(), "a count past the cap");
        assert_eq!(decode_view(&[1, 0, 0]), Err(WireError("unknown message version")), "version 1");
        let ledger = encode_ledger(&[Spending { key: "a".into(), spent: 1, returned: 2 }]);
        for cut in 1..ledger.len() {
            assert!(decode_ledger(&ledger[..cut]).is_err(), "ledger cut at {cut}");
        }
    }

    #[test]
    fn reports_are_capped_in_keys() {
        let many: Vec<ReportEntry> = (0..1000)
            .map(|i| ReportEntry { key: alloc::format!("k{i}"), ..ReportEntry::default() })
            .collect();
        assert_eq!(decode_report(&encode_report(&settings(), &many)).unwrap().entries.len(), MAX_KEYS);
    }
}
