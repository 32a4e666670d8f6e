//! `candidates`: what was tried, in the occ model, to beat full jitter when every client
//! shares one isolate (issue item 6c). Each candidate is a controller that sees every
//! client's outcomes and picks every retry's wait; the contention model is `occ`'s (one row,
//! read + conditional write, hops |N(hop, hop/5)| ms, base 5 ms, cap 2000 ms, retry until
//! the write wins), driven here by a lighter loop so that many controllers, seeds and network
//! speeds run in seconds. `FullJitter` here reproduces `occ`'s FullJitter rows draw for draw.
//!
//! The winner, `Pacer`, is the core's own `core::pacer::Pacer` (what `Policy::pacer` turns
//! on); the `Pacer-*` rows are the same design with one rule changed, to show why each rule is
//! there. Output: CSV (hop_ms, clients, candidate, time_ms, calls, and both as a change
//! against FullJitter in %), then on stderr a line per candidate: at how many client counts it
//! beats FullJitter on both time and calls.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use edge_retry::core::backoff::backoff_delay;
use edge_retry::core::pacer::{Pacer, PacerSettings, Signal};
use edge_retry::core::policy::StatusSet;
use edge_retry::core::{Jitter, Policy};

use crate::rand::{Rng, derive};

const BASE_MS: u64 = 5;
const CAP_MS: u64 = 2_000;

pub struct CandidatesArgs {
    pub clients: Vec<usize>,
    pub runs: u64,
    pub seeds: Vec<u64>,
    pub hop_ms: f64,
}

/// A controller shared by every client.
trait Shared {
    /// Attempt number `attempt` (from 1), sent at `sent`, ended at `now` (whole ms);
    /// `failed`: it lost the race.
    fn observe(&mut self, now: u64, sent: u64, attempt: u32, failed: bool);
    /// The wait before a retry; `own` is the client's own full-jitter wait.
    fn delay(&mut self, now: u64, own: u64, rnd: f64) -> u64;
}

struct FullJitter;

impl Shared for FullJitter {
    fn observe(&mut self, _: u64, _: u64, _: u32, _: bool) {}
    fn delay(&mut self, _: u64, own: u64, _: f64) -> u64 {
        own
    }
}

/// The core's pacer, as `Call` drives it.
struct CorePacer {
    pacer: Pacer,
    settings: PacerSettings,
}

impl Shared for CorePacer {
    fn observe(&mut self, now: u64, sent: u64, _: u32, failed: bool) {
        let signal = if failed { Signal::Failure } else { Signal::Success };
        self.pacer.observe(&self.settings, sent, now, signal, CAP_MS);
    }
    fn delay(&mut self, now: u64, own: u64, _: f64) -> u64 {
        let plan = self.pacer.plan(now, own, CAP_MS);
        self.pacer.commit(plan);
        plan.delay_ms
    }
}

/// The core pacer's design with switches, to take one rule out at a time.
struct LabPacer {
    interval: f64,
    srtt: f64,
    sampled: bool,
    next_at: u64,
    last_increase: u64,
    up: f64,
    down: f64,
    /// Re-seed the interval from the attempt time when a failure finds the pacer idle
    /// (false: it starts at `base` and only AIMD moves it).
    seed: bool,
    /// Only a failure of an attempt sent after the last increase counts.
    once_per_round: bool,
    /// On overflow (slot past the cap) wait the cap instead of the own backoff.
    overflow_waits_cap: bool,
}

impl LabPacer {
    fn new(seed: bool, once_per_round: bool, overflow_waits_cap: bool) -> Self {
        let d = PacerSettings::default();
        LabPacer {
            interval: BASE_MS as f64,
            srtt: 0.0,
            sampled: false,
            next_at: 0,
            last_increase: 0,
            up: d.increase,
            down: d.decrease,
            seed,
            once_per_round,
            overflow_waits_cap,
        }
    }
}

impl Shared for LabPacer {
    fn observe(&mut self, now: u64, sent: u64, _: u32, failed: bool) {
        let sample = now.saturating_sub(sent) as f64;
        self.srtt = if self.sampled { self.srtt + 0.125 * (sample - self.srtt) } else { sample };
        self.sampled = true;
        let bound = |x: f64| x.clamp(1.0, CAP_MS as f64);
        if failed {
            if self.seed && self.next_at <= now {
                self.interval = bound(self.srtt * PacerSettings::default().seed_ratio);
                self.last_increase = now;
            } else if !self.once_per_round || sent >= self.last_increase {
                self.interval = bound(self.interval * self.up);
                self.last_increase = now;
            }
        } else {
            self.interval = bound(self.interval * self.down);
        }
    }
    fn delay(&mut self, now: u64, own: u64, _: f64) -> u64 {
        let slot = self.next_at.max(now + own);
        if slot - now > CAP_MS {
            return if self.overflow_waits_cap { CAP_MS } else { own };
        }
        self.next_at = slot + ((self.interval + 0.5) as u64).max(1);
        slot - now
    }
}

/// Full jitter with a backoff exponent shared by all clients: +1 on a failure (once per
/// round), −`down` on a success.
struct SharedExponent {
    exponent: f64,
    last_increase: u64,
    down: f64,
}

impl Shared for SharedExponent {
    fn observe(&mut self, now: u64, sent: u64, _: u32, failed: bool) {
        if failed {
            if sent >= self.last_increase {
                self.exponent += 1.0;
                self.last_increase = now;
            }
        } else {
            self.exponent = (self.exponent - self.down).max(0.0);
        }
    }
    fn delay(&mut self, _: u64, _: u64, rnd: f64) -> u64 {
        let step = (BASE_MS as f64 * 2f64.powf(self.exponent)).min(CAP_MS as f64);
        (rnd * step).round() as u64
    }
}

/// Full jitter over a window of (clients contending) × k × (smoothed attempt time): the
/// window a textbook slotted-contention analysis asks for, with the contention level known.
struct ContentionWindow {
    /// Clients that have lost at least once and not yet won.
    contending: i64,
    srtt: f64,
    k: f64,
}

impl Shared for ContentionWindow {
    fn observe(&mut self, now: u64, sent: u64, attempt: u32, failed: bool) {
        let d = now.saturating_sub(sent) as f64;
        self.srtt = if self.srtt == 0.0 { d } else { 0.875 * self.srtt + 0.125 * d };
        match (failed, attempt) {
            (true, 1) => self.contending += 1,
            (false, a) if a > 1 => self.contending -= 1,
            _ => {}
        }
    }
    fn delay(&mut self, _: u64, _: u64, rnd: f64) -> u64 {
        let window = (self.contending.max(1) as f64 * self.srtt * self.k).min(CAP_MS as f64);
        (rnd * window).round() as u64
    }
}

/// Retries leave one per fixed `interval` (a token bucket of one token), own backoff ignored,
/// capped: pacing without adaptation.
struct FixedPacing {
    interval: u64,
    next_at: u64,
}

impl Shared for FixedPacing {
    fn observe(&mut self, _: u64, _: u64, _: u32, _: bool) {}
    fn delay(&mut self, now: u64, _: u64, _: f64) -> u64 {
        let slot = self.next_at.max(now);
        self.next_at = slot + self.interval;
        (slot - now).min(CAP_MS)
    }
}

/// The AWS SDKs' adaptive retry mode (`ClientRateLimiter` / `DefaultRateLimiter`): a token
/// bucket whose fill rate follows CUBIC, cut to 0.7 × the measured send rate on a throttle
/// (here: a lost race), enabled by the first throttle. Ported with its constants (beta 0.7,
/// scale 0.4, smoothing 0.8, half-second rate buckets, minimum fill 0.5/s). Only retries wait
/// for tokens here (a first attempt cannot be held by the core's API), after their own
/// full-jitter backoff as in the SDK.
struct AwsAdaptive {
    enabled: bool,
    fill_rate: f64,
    max_capacity: f64,
    capacity: f64,
    last_refill: Option<f64>,
    last_max_rate: f64,
    last_throttle: f64,
    measured_rate: f64,
    last_bucket: f64,
    requests: f64,
}

impl AwsAdaptive {
    const BETA: f64 = 0.7;
    const SCALE: f64 = 0.4;
    const SMOOTH: f64 = 0.8;
    const MIN_FILL: f64 = 0.5;

    fn new() -> Self {
        AwsAdaptive {
            enabled: false,
            fill_rate: Self::MIN_FILL,
            max_capacity: 1.0,
            capacity: 0.0,
            last_refill: None,
            last_max_rate: 0.0,
            last_throttle: 0.0,
            measured_rate: 0.0,
            last_bucket: 0.0,
            requests: 0.0,
        }
    }

    fn refill(&mut self, t: f64) {
        if let Some(last) = self.last_refill {
            self.capacity = (self.capacity + (t - last) * self.fill_rate).min(self.max_capacity);
        }
        self.last_refill = Some(t);
    }
}

impl Shared for AwsAdaptive {
    fn observe(&mut self, now: u64, _: u64, _: u32, failed: bool) {
        let t = now as f64 / 1000.0;
        let bucket = (t * 2.0).floor() / 2.0;
        self.requests += 1.0;
        if bucket > self.last_bucket {
            let rate = self.requests / (bucket - self.last_bucket);
            self.measured_rate = rate * Self::SMOOTH + self.measured_rate * (1.0 - Self::SMOOTH);
            self.requests = 0.0;
            self.last_bucket = bucket;
        }
        let window = |max: f64| (max * (1.0 - Self::BETA) / Self::SCALE).cbrt();
        let rate = if failed {
            let base = if self.enabled { self.measured_rate.min(self.fill_rate) } else { self.measured_rate };
            self.last_max_rate = base;
            self.last_throttle = t;
            self.enabled = true;
            base * Self::BETA
        } else {
            Self::SCALE * (t - self.last_throttle - window(self.last_max_rate)).powi(3) + self.last_max_rate
        };
        let rate = rate.min(2.0 * self.measured_rate);
        self.refill(t);
        self.fill_rate = rate.max(Self::MIN_FILL);
        self.max_capacity = rate.max(1.0);
        self.capacity = self.capacity.min(self.max_capacity);
    }
    fn delay(&mut self, now: u64, own: u64, _: f64) -> u64 {
        if !self.enabled {
            return own;
        }
        self.refill((now + own) as f64 / 1000.0);
        let wait = if self.capacity < 1.0 { (1.0 - self.capacity) / self.fill_rate } else { 0.0 };
        self.capacity -= 1.0;
        own + (wait * 1000.0).round() as u64
    }
}

type Factory = fn() -> Box<dyn Shared>;

/// (name, what it is, how to make one).
fn candidates() -> Vec<(&'static str, Factory)> {
    vec![
        ("FullJitter", || Box::new(FullJitter)),
        ("Pacer", || Box::new(CorePacer { pacer: Pacer::default(), settings: PacerSettings::default() })),
        ("Pacer-noseed", || Box::new(LabPacer::new(false, true, false))),
        ("Pacer-everyfailure", || Box::new(LabPacer::new(true, false, false))),
        ("Pacer-overflowcap", || Box::new(LabPacer::new(true, true, true))),
        ("SharedExponent", || Box::new(SharedExponent { exponent: 0.0, last_increase: 0, down: 0.5 })),
        ("ContentionWindow-k0.5", || Box::new(ContentionWindow { contending: 0, srtt: 0.0, k: 0.5 })),
        ("ContentionWindow-k1", || Box::new(ContentionWindow { contending: 0, srtt: 0.0, k: 1.0 })),
        ("FixedPacing-10ms", || Box::new(FixedPacing { interval: 10, next_at: 0 })),
        ("FixedPacing-25ms", || Box::new(FixedPacing { interval: 25, next_at: 0 })),
        ("FixedPacing-40ms", || Box::new(FixedPacing { interval: 40, next_at: 0 })),
        ("AwsAdaptive", || Box::new(AwsAdaptive::new())),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Read { client: usize },
    ReadReply { client: usize, version: u64 },
    Write { client: usize, version: u64 },
    WriteReply { client: usize, ok: bool },
    Resume { client: usize },
}

fn policy() -> Policy {
    Policy {
        max_attempts: u32::MAX,
        base_delay_ms: BASE_MS,
        max_delay_ms: CAP_MS,
        multiplier: 2.0,
        jitter: Jitter::Full,
        retry_on: StatusSet::from_slice(&[409]),
        respect_retry_after: false,
        breaker: None,
        budget: None,
        retry_cap: None,
        ..Policy::default()
    }
}

/// One run: (completion time in µs, conditional writes). Same draws as `occ::run_once`.
fn run_once(clients: usize, shared: &mut dyn Shared, seed: u64, hop_ms: f64) -> (u64, u64) {
    let policy = policy();
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    let mut net = Rng::new(derive(seed, &[1]));
    let mut jitter = Rng::new(derive(seed, &[2]));
    let mut at = |q: &mut BinaryHeap<Reverse<(u64, u64, Event)>>, t: u64, e: Event| {
        seq += 1;
        q.push(Reverse((t, seq, e)));
    };
    let hop = |n: &mut Rng| (n.abs_normal(hop_ms, hop_ms / 5.0) * 1000.0).round() as u64;
    let (mut version, mut time_us, mut writes) = (0u64, 0u64, 0u64);
    let mut attempts = vec![1u32; clients];
    let mut sent = vec![0u64; clients];
    let mut previous = vec![BASE_MS; clients];
    for client in 0..clients {
        let h = hop(&mut net);
        at(&mut queue, h, Event::Read { client });
    }
    while let Some(Reverse((now, _, event))) = queue.pop() {
        time_us = time_us.max(now);
        match event {
            Event::Read { client } => {
                let h = hop(&mut net);
                at(&mut queue, now + h, Event::ReadReply { client, version });
            }
            Event::ReadReply { client, version } => {
                let h = hop(&mut net);
                at(&mut queue, now + h, Event::Write { client, version });
            }
            Event::Write { client, version: seen } => {
                writes += 1;
                let ok = seen == version;
                if ok {
                    version += 1;
                }
                let h = hop(&mut net);
                at(&mut queue, now + h, Event::WriteReply { client, ok });
            }
            Event::WriteReply { client, ok } => {
                let rnd = jitter.unit();
                let ms = now / 1000;
                let (Some(n), Some(s), Some(p)) =
                    (attempts.get(client), sent.get(client), previous.get_mut(client))
                else {
                    continue;
                };
                shared.observe(ms, *s, *n, !ok);
                if !ok {
                    let own = backoff_delay(&policy, *n, *p, rnd);
                    let wait = shared.delay(ms, own, rnd);
                    *p = wait;
                    at(&mut queue, now + wait * 1000, Event::Resume { client });
                }
            }
            Event::Resume { client } => {
                if let (Some(n), Some(s)) = (attempts.get_mut(client), sent.get_mut(client)) {
                    *n += 1;
                    *s = now / 1000;
                }
                let h = hop(&mut net);
                at(&mut queue, now + h, Event::Read { client });
            }
        }
    }
    assert_eq!(version, clients as u64, "every client wrote exactly once");
    (time_us, writes)
}

pub fn run(args: &CandidatesArgs, out: &mut impl std::io::Write) -> std::io::Result<()> {
    eprintln!(
        "candidates: hop |N({0}, {1})| ms, base {BASE_MS} ms, cap {CAP_MS} ms, {2} runs x seeds {3:?}",
        args.hop_ms,
        args.hop_ms / 5.0,
        args.runs,
        args.seeds
    );
    writeln!(out, "hop_ms,clients,candidate,time_ms,calls,time_vs_fulljitter_pct,calls_vs_fulljitter_pct")?;
    let list = candidates();
    let mut wins = vec![0usize; list.len()];
    for &clients in &args.clients {
        let mut baseline = None;
        for (i, (name, make)) in list.iter().enumerate() {
            let (mut time_us, mut writes, mut count) = (0u128, 0u128, 0u128);
            for &seed in &args.seeds {
                for run in 0..args.runs {
                    let seed = derive(seed, &[clients as u64, run]);
                    let (t, w) = run_once(clients, make().as_mut(), seed, args.hop_ms);
                    time_us += u128::from(t);
                    writes += u128::from(w);
                    count += 1;
                }
            }
            let time_ms = time_us as f64 / 1000.0 / count.max(1) as f64;
            let calls = writes as f64 / count.max(1) as f64;
            let (bt, bc) = *baseline.get_or_insert((time_ms, calls));
            if time_ms < bt && calls < bc {
                if let Some(w) = wins.get_mut(i) {
                    *w += 1;
                }
            }
            let pct = |x: f64, b: f64| 100.0 * (x / b - 1.0);
            writeln!(
                out,
                "{},{clients},{name},{time_ms:.1},{calls:.1},{:+.1},{:+.1}",
                args.hop_ms,
                pct(time_ms, bt),
                pct(calls, bc)
            )?;
        }
    }
    for ((name, _), w) in list.iter().zip(&wins).skip(1) {
        eprintln!(
            "candidates: {name}: beats FullJitter on both time and calls at {w} of {} client counts",
            args.clients.len()
        );
    }
    Ok(())
}
