//! `fleet`: N isolates of one Worker call one origin through an outage, each with its own
//! breaker (`local`) or with breakers shared through the fleet's hub (`fleet`, issue 12), and
//! what the dead origin receives.
//!
//! The model (the defaults below; `--quick` shortens the run):
//! - Virtual time in whole ms, an event calendar (a heap). Each isolate has its own `Engine`
//!   and starts calls as a Poisson process of `rps` per isolate; one key (one origin). Calls
//!   have one attempt (`maxAttempts: 1`), so only the breaker decides what reaches the origin.
//! - Breaker: opens at half failures over at least 20 outcomes in 10 s, open 1 s (no growth:
//!   `maxOpenMs` 1 s, so every open period is the same and probes per period are comparable).
//! - Network: 10 ms each way to the origin. The origin answers at once: 200, or 503 during the
//!   outage (from 10 s, for 20 s).
//! - Fleet mode: each isolate runs `core::fleet::Link` exactly as edge-retry/fleet's JS does
//!   (admit before a call, outcomes recorded, a sync begun when due at a call's start or on a
//!   probe's outcome); the Durable Object is one `core::fleet::Hub`, `do_rtt_ms` (30 ms) away,
//!   half each way. refreshMs 1000, reportMs 250, lease 2 s.
//!
//! Reported per (isolates, mode):
//! - `failed_before_open`: requests that reached the dead origin before every isolate refused
//!   (the first refusal of the last isolate to refuse).
//! - `all_refusing_ms`: from the outage's start until every isolate had refused once.
//! - `probes_per_period`: requests that reached the dead origin after that, per open period
//!   (`NA` when some isolate never refused).
//! - `recovered_ms`: from the origin's return until every isolate had a success again.
//! - `syncs`: reports the hub took (fleet mode).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use edge_retry::core::fleet::{Hub, Link, Settings, Verdict};
use edge_retry::core::headers::ServerHints;
use edge_retry::core::{Action, BreakerSettings, Call, Engine, Outcome, Policy};

use crate::rand::{Rng, derive};

const KEY: &str = "https://origin.test";

pub struct FleetArgs {
    pub isolates: Vec<usize>,
    pub rps: f64,
    pub warmup_ms: u64,
    pub outage_ms: u64,
    pub tail_ms: u64,
    pub hop_ms: u64,
    pub do_rtt_ms: u64,
    pub refresh_ms: u64,
    pub report_ms: u64,
    pub seed: u64,
    /// Print the CSV header (`--no-header` to append a second run to the first).
    pub header: bool,
}

impl FleetArgs {
    pub fn new(quick: bool) -> Self {
        FleetArgs {
            isolates: if quick { vec![4, 16] } else { vec![4, 16, 64, 256] },
            rps: 20.0,
            warmup_ms: if quick { 3_000 } else { 10_000 },
            outage_ms: if quick { 5_000 } else { 20_000 },
            tail_ms: if quick { 3_000 } else { 10_000 },
            hop_ms: 10,
            do_rtt_ms: 30,
            refresh_ms: 1_000,
            report_ms: 250,
            seed: 1,
            header: true,
        }
    }
}

fn breaker() -> BreakerSettings {
    BreakerSettings {
        failure_ratio: 0.5,
        minimum_requests: 20,
        window_ms: 10_000,
        open_ms: 1_000,
        max_open_ms: 1_000,
        half_open_probes: 1,
    }
}

enum Event {
    Arrival(usize),
    /// The origin answers a call of isolate `.0` (slot `.1`): a failure or not.
    Response(usize, usize, bool),
    /// A report reaches the hub.
    Report(usize, Vec<u8>),
    /// The hub's view reaches the isolate.
    View(usize, Vec<u8>),
}

struct Isolate {
    engine: Engine,
    link: Option<Link>,
    calls: Vec<Option<(Call, Option<u32>)>>,
    first_refusal: Option<u64>,
    first_success_after: Option<u64>,
}

#[derive(Default)]
struct Figures {
    failed_before_open: u64,
    all_refusing_ms: Option<u64>,
    /// None when some isolate never refused (no open period to count probes in).
    probes_per_period: Option<f64>,
    recovered_ms: Option<u64>,
    syncs: u64,
}

struct Sim<'a> {
    args: &'a FleetArgs,
    policy: Policy,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    isolates: Vec<Isolate>,
    hub: Option<Hub>,
    /// Arrival times at the origin of requests it failed.
    dead: Vec<u64>,
    syncs: u64,
}

impl Sim<'_> {
    fn at(&mut self, t: u64, ev: Event) {
        self.seq += 1;
        self.events.push(Some(ev));
        self.heap.push(Reverse((t, self.seq, self.events.len() - 1)));
    }

    fn down(&self, t: u64) -> bool {
        t >= self.args.warmup_ms && t < self.args.warmup_ms + self.args.outage_ms
    }

    fn maybe_sync(&mut self, i: usize) {
        let now = self.now;
        let half = self.args.do_rtt_ms / 2;
        let Some(link) = self.isolates.get_mut(i).and_then(|s| s.link.as_mut()) else { return };
        if link.due(now, false) {
            let report = link.begin(now);
            self.at(now + half, Event::Report(i, report));
        }
    }

    fn refused(&mut self, i: usize) {
        let (now, start) = (self.now, self.args.warmup_ms);
        if let Some(iso) = self.isolates.get_mut(i) {
            if now >= start && iso.first_refusal.is_none() {
                iso.first_refusal = Some(now);
            }
        }
    }

    fn arrival(&mut self, i: usize, rng: &mut Rng) {
        let gap = (rng.exponential(self.args.rps / 1000.0)).round().max(1.0) as u64;
        self.at(self.now + gap, Event::Arrival(i));
        let now = self.now;
        let verdict = match self.isolates.get_mut(i).and_then(|s| s.link.as_mut()) {
            Some(link) => link.admit(KEY, now),
            None => Verdict::Pass,
        };
        self.maybe_sync(i);
        let token = match verdict {
            Verdict::Refuse { .. } => return self.refused(i),
            Verdict::Probe { token } => Some(token),
            Verdict::Pass => None,
        };
        let policy = self.policy.clone();
        let Some(iso) = self.isolates.get_mut(i) else { return };
        let (call, action) = Call::start(&mut iso.engine, &policy, KEY, true, now);
        if !matches!(action, Action::Send { .. }) {
            // The isolate's own breaker refused: the fleet hears of it (as fleet-isolate.js does).
            if let Some(link) = iso.link.as_mut() {
                link.record_local_open(KEY);
            }
            self.maybe_sync(i);
            return self.refused(i);
        }
        iso.calls.push(Some((call, token)));
        let slot = iso.calls.len() - 1;
        let reach = now + self.args.hop_ms;
        let failed = self.down(reach);
        if failed {
            self.dead.push(reach);
        }
        self.at(reach + self.args.hop_ms, Event::Response(i, slot, failed));
    }

    fn response(&mut self, i: usize, slot: usize, failed: bool) {
        let now = self.now;
        let policy = self.policy.clone();
        let after = self.args.warmup_ms + self.args.outage_ms;
        let Some(iso) = self.isolates.get_mut(i) else { return };
        let Some((mut call, token)) = iso.calls.get_mut(slot).and_then(Option::take) else { return };
        let outcome = Outcome::Response(if failed { 503 } else { 200 });
        let _ = call.on_outcome(&mut iso.engine, &policy, outcome, &ServerHints::default(), now, 0.5);
        if !failed && now >= after && iso.first_success_after.is_none() {
            iso.first_success_after = Some(now);
        }
        if let Some(link) = iso.link.as_mut() {
            link.record(KEY, failed);
            if let Some(token) = token {
                link.record_probe(KEY, token, failed);
            }
        }
        if token.is_some() {
            self.maybe_sync(i);
        }
    }

    fn report(&mut self, i: usize, report: &[u8]) {
        let now = self.now;
        let Some(hub) = self.hub.as_mut() else { return };
        self.syncs += 1;
        if let Ok(view) = hub.sync_bytes(report, now) {
            self.at(now + self.args.do_rtt_ms / 2, Event::View(i, view));
        }
    }

    fn view(&mut self, i: usize, view: &[u8]) {
        let now = self.now;
        let policy = self.policy.clone();
        let Some(iso) = self.isolates.get_mut(i) else { return };
        let Some(link) = iso.link.as_mut() else { return };
        if link.apply(view, now).is_err() {
            return;
        }
        while let Some(key) = link.next_to_close() {
            iso.engine.with_breaker(&key, &policy, now, |b, _| b.close_for_fleet());
        }
    }
}

fn simulate(args: &FleetArgs, n: usize, shared: bool) -> Figures {
    let policy = Policy { max_attempts: 1, breaker: Some(breaker()), budget: None, ..Policy::default() };
    let settings = Settings { breaker: breaker(), lease_ms: 2_000, budget: None };
    let isolates = (0..n)
        .map(|_| Isolate {
            engine: Engine::with_defaults(&policy),
            link: shared
                .then(|| Link::new(settings.clone(), args.refresh_ms, args.report_ms, 3 * args.refresh_ms)),
            calls: Vec::new(),
            first_refusal: None,
            first_success_after: None,
        })
        .collect();
    let mut sim = Sim {
        args,
        policy,
        now: 0,
        seq: 0,
        heap: BinaryHeap::new(),
        events: Vec::new(),
        isolates,
        hub: shared.then(|| Hub::new(1000, 600_000)),
        dead: Vec::new(),
        syncs: 0,
    };
    let mut rng = Rng::new(derive(args.seed, &[n as u64, u64::from(shared)]));
    for i in 0..n {
        let first = (rng.unit() * 1000.0 / args.rps) as u64;
        sim.at(first, Event::Arrival(i));
    }
    let end = args.warmup_ms + args.outage_ms + args.tail_ms;
    while let Some(Reverse((t, _, index))) = sim.heap.pop() {
        if t >= end {
            break;
        }
        sim.now = t;
        let Some(ev) = sim.events.get_mut(index).and_then(Option::take) else { continue };
        match ev {
            Event::Arrival(i) => sim.arrival(i, &mut rng),
            Event::Response(i, slot, failed) => sim.response(i, slot, failed),
            Event::Report(i, report) => sim.report(i, &report),
            Event::View(i, view) => sim.view(i, &view),
        }
    }
    let start = args.warmup_ms;
    let outage_end = args.warmup_ms + args.outage_ms;
    let all_refusing = sim
        .isolates
        .iter()
        .map(|s| s.first_refusal)
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    let cut = all_refusing.unwrap_or(outage_end);
    let failed_before_open = sim.dead.iter().filter(|&&t| t < cut).count() as u64;
    let probes = sim.dead.iter().filter(|&&t| t >= cut).count() as f64;
    let periods = outage_end.saturating_sub(cut) as f64 / breaker().open_ms as f64;
    let recovered = sim
        .isolates
        .iter()
        .map(|s| s.first_success_after)
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    Figures {
        failed_before_open,
        all_refusing_ms: all_refusing.map(|t| t - start),
        probes_per_period: all_refusing.filter(|_| periods > 0.0).map(|_| probes / periods),
        recovered_ms: recovered.map(|t| t - outage_end),
        syncs: sim.syncs,
    }
}

pub fn run(args: &FleetArgs, out: &mut impl Write) -> std::io::Result<()> {
    eprintln!(
        "fleet: {} rps per isolate, outage {} ms after {} ms, breaker 0.5 of >= 20 in 10 s, open 1 s; \
         hop {} ms, Durable Object rtt {} ms, refresh {} ms, report {} ms",
        args.rps,
        args.outage_ms,
        args.warmup_ms,
        args.hop_ms,
        args.do_rtt_ms,
        args.refresh_ms,
        args.report_ms
    );
    if args.header {
        writeln!(
            out,
            "rps,isolates,mode,failed_before_open,all_refusing_ms,probes_per_period,recovered_ms,syncs"
        )?;
    }
    let na = |v: Option<u64>| v.map_or_else(|| String::from("NA"), |v| v.to_string());
    for &n in &args.isolates {
        for shared in [false, true] {
            let r = simulate(args, n, shared);
            writeln!(
                out,
                "{},{n},{},{},{},{},{},{}",
                args.rps,
                if shared { "fleet" } else { "local" },
                r.failed_before_open,
                na(r.all_refusing_ms),
                r.probes_per_period.map_or_else(|| String::from("NA"), |p| format!("{p:.2}")),
                na(r.recovered_ms),
                r.syncs
            )?;
        }
    }
    Ok(())
}
