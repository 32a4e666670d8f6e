//! `outage`: a fleet at steady offered load, a server that fails every request for a while,
//! and what each retry strategy does to the server during the outage and after it.
//!
//! The model (every number is a flag; the defaults are below):
//! - Time is virtual, in whole milliseconds (the core's unit); the server and the event
//!   calendar advance one millisecond tick at a time.
//! - Offered load: calls start as a Poisson process of rate `clients × rps` (open loop: a
//!   user request arrives whether or not earlier ones are still retrying, as at an edge
//!   isolate). A superposition of per-client Poisson streams is one Poisson stream, so the
//!   fleet size enters only through the total rate, which the fixed-size budget (500 tokens)
//!   and breaker (10 requests) of the one shared Engine feel.
//! - Every call goes through `core::call::Call` with its strategy's `Policy`, and all calls
//!   share ONE `core::engine::Engine` with one key (one origin), as callers in one isolate do.
//! - Network: each hop takes |Normal(10 ms, 2 ms)|, rounded to whole ms (at least 1).
//! - Server: capacity `offered / load` requests per ms (load 0.7 by default), FIFO queue
//!   bounded at `queue_ms` of capacity (2 s). A request that finds the queue full is
//!   REJECTED at once with 503 (load shedding); queued requests are served in order, even if
//!   their client has stopped waiting (that is wasted work, counted as `wasted_served`).
//! - Outage: from `warmup_ms` (30 s) for `outage_ms` (20 s), every request is answered 503 at
//!   once, and the requests queued when it starts are all answered 503 then too. The warm-up
//!   equals the breaker's default 30 s window, so the breaker starts from a steady-state
//!   window full of successes (a shorter warm-up makes it open unrealistically early).
//! - Backoff strategies get `attempts` (6) attempts: with the library's default 3 (waits of
//!   100 and 200 ms) too little retry work outlives the outage to matter (`--attempts 3`).
//! - Clients cut an attempt after `attempt_timeout_ms` (1 s) and report `Outcome::Timeout`;
//!   a queue wait beyond that means the server's answer arrives to nobody.
//!
//! Reported per strategy:
//! - `success_rate`: calls that settled with a 2xx ÷ calls started; `success_after_recovery`
//!   the same for calls started after the outage ended.
//! - `amp_outage`, `amp_recovery`: requests arriving at the server ÷ calls started, during
//!   the outage and during the `window_ms` (10 s) after it.
//! - `drain_ms`: backlog = requests in the server's queue + calls waiting out a backoff. It
//!   counts as drained when it is no larger than the larger of (a) the largest backlog seen in
//!   steady state before the outage (after a warm-up) and (b) 100 ms of server capacity. The
//!   drain time runs from the end of the outage to the last millisecond the backlog was above
//!   that; `NA` when it was still above it when arrivals stopped (`tail_ms`, 45 s after
//!   recovery): a metastable failure, where the retries keep the server saturated with work
//!   nobody waits for after the trigger has gone.

use std::collections::VecDeque;

use edge_retry::core::call::is_success;
use edge_retry::core::headers::ServerHints;
use edge_retry::core::{
    Action, BreakerSettings, BudgetSettings, Call, Engine, Jitter, Outcome, PacerSettings, Policy, Settle,
};

use crate::rand::{Rng, derive};

const KEY: &str = "https://origin.test";
const HOP_MEAN_MS: f64 = 10.0;
const HOP_SD_MS: f64 = 2.0;
/// Calendar slots: a power of two longer than any wait scheduled (cap 20 s + hop, timeouts).
const RING: usize = 1 << 16;

/// What goes wrong during the trigger (`outage` always uses `Down`; `scenarios` all of them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// Every request is answered 503 at once (and those queued when it starts).
    Down,
    /// This share of requests is answered 503 at once; the rest are served as usual.
    Brownout(f64),
    /// The server's capacity falls to this share of the offered load (its queue bound, in
    /// requests, stays): queued work whose client has given up is still done.
    Overload(f64),
    /// The server accepts requests and never answers them (those queued included).
    Hang,
    /// Requests above this share of the offered load (a token bucket refilled per ms) get 429
    /// with `Retry-After: 1`.
    RateLimit(f64),
}

#[derive(Clone, Copy, Debug)]
pub struct Fleet {
    pub clients: u64,
    /// Calls per second per client.
    pub rps: f64,
}

#[derive(Clone, Debug)]
pub struct OutageArgs {
    pub fleets: Vec<Fleet>,
    pub seed: u64,
    /// Offered load ÷ server capacity in steady state.
    pub load: f64,
    pub warmup_ms: u64,
    pub outage_ms: u64,
    /// The "during recovery" window for load amplification.
    pub window_ms: u64,
    /// How long calls keep arriving after the outage.
    pub tail_ms: u64,
    pub queue_ms: u64,
    pub attempt_timeout_ms: u64,
    /// Attempts (first included) for the backoff strategies; "immediate" always uses 3.
    pub attempts: u32,
    /// Optional per-100 ms time series, written as CSV.
    pub series: Option<String>,
    pub trigger: Trigger,
}

impl Default for OutageArgs {
    fn default() -> Self {
        OutageArgs {
            fleets: vec![Fleet { clients: 1_000, rps: 1.0 }, Fleet { clients: 100_000, rps: 0.1 }],
            seed: 1,
            load: 0.7,
            warmup_ms: 30_000,
            outage_ms: 20_000,
            window_ms: 10_000,
            tail_ms: 45_000,
            queue_ms: 2_000,
            attempt_timeout_ms: 1_000,
            attempts: 6,
            series: None,
            trigger: Trigger::Down,
        }
    }
}

pub const OLD_BUDGET: BudgetSettings =
    BudgetSettings { capacity: 500, retry_cost: 5, timeout_cost: 10, success_refund: 1 };
pub const OLD_BREAKER: BreakerSettings = BreakerSettings {
    failure_ratio: 0.5,
    minimum_requests: 10,
    window_ms: 30_000,
    open_ms: 30_000,
    max_open_ms: 30_000,
    half_open_probes: 1,
};

pub struct Strategy {
    pub name: &'static str,
    pub policy: Policy,
}

/// The strategies compared, each an edge_retry `Policy`. Backoff ones use the library's
/// defaults (base 100 ms, cap 20 s, multiplier 2) with `attempts` attempts; budget and breaker
/// use the library's default settings.
pub fn strategies(args: &OutageArgs) -> Vec<Strategy> {
    let plain = Policy {
        max_attempts: args.attempts,
        base_delay_ms: 100,
        max_delay_ms: 20_000,
        multiplier: 2.0,
        jitter: Jitter::Full,
        timeout_ms: None,
        attempt_timeout_ms: Some(args.attempt_timeout_ms),
        breaker: None,
        budget: None,
        retry_cap: None,
        ..Policy::default()
    };
    // The settings that were the defaults up to issue 9 (fixed here, so the figures keep
    // their meaning; `scenarios` measures today's `Defaults`).
    let budget = Some(OLD_BUDGET);
    let breaker = Some(OLD_BREAKER);
    let short_breaker = Some(BreakerSettings { open_ms: 5_000, max_open_ms: 5_000, ..OLD_BREAKER });
    let pacer = Some(PacerSettings::default());
    vec![
        Strategy { name: "NoRetry", policy: Policy { max_attempts: 1, ..plain.clone() } },
        Strategy {
            name: "Immediate",
            policy: Policy { max_attempts: 3, base_delay_ms: 0, jitter: Jitter::None, ..plain.clone() },
        },
        Strategy { name: "Exponential", policy: Policy { jitter: Jitter::None, ..plain.clone() } },
        Strategy { name: "FullJitter", policy: plain.clone() },
        // A control: full jitter whose mean wait equals Exponential's (uniform in [0, 2·step]
        // has mean step), to separate "jitter" from "shorter waits".
        Strategy { name: "FullJitter-base200", policy: Policy { base_delay_ms: 200, ..plain.clone() } },
        Strategy { name: "FullJitter+Budget", policy: Policy { budget, ..plain.clone() } },
        Strategy { name: "FullJitter+Budget+Breaker", policy: Policy { budget, breaker, ..plain.clone() } },
        // The breaker with openMs 5 s instead of the default 30 s.
        Strategy {
            name: "FullJitter+Budget+Breaker-open5s",
            policy: Policy { budget, breaker: short_breaker, ..plain.clone() },
        },
        // Beyond the defaults: the adaptive retry pacer shared by the fleet's callers.
        Strategy { name: "FullJitter+Pacer", policy: Policy { pacer, ..plain.clone() } },
        Strategy { name: "FullJitter+Budget+Pacer", policy: Policy { budget, pacer, ..plain } },
    ]
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// An attempt reaches the server.
    Arrive { slot: u32, generation: u32, attempt: u32 },
    /// The server's answer reaches the client.
    Reply { slot: u32, generation: u32, attempt: u32, status: u16 },
    /// A 429 with `Retry-After: 1` reaches the client.
    Limited { slot: u32, generation: u32, attempt: u32 },
    /// The client's attempt timer fires.
    Timeout { slot: u32, generation: u32, attempt: u32 },
    /// A backoff wait is over.
    Resume { slot: u32, generation: u32 },
}

/// One millisecond bucket per slot, in a ring; events of one tick run in scheduling order.
struct Calendar {
    buckets: Vec<Vec<Event>>,
}

impl Calendar {
    fn new() -> Self {
        Calendar { buckets: (0..RING).map(|_| Vec::new()).collect() }
    }

    fn at(&mut self, now: u64, when: u64, event: Event) {
        assert!(when > now && when - now < RING as u64, "event scheduled {} ms ahead", when - now);
        if let Some(bucket) = self.buckets.get_mut(when as usize % RING) {
            bucket.push(event);
        }
    }

    fn take(&mut self, now: u64) -> Vec<Event> {
        self.buckets.get_mut(now as usize % RING).map(std::mem::take).unwrap_or_default()
    }

    fn give_back(&mut self, now: u64, mut used: Vec<Event>) {
        used.clear();
        if let Some(bucket) = self.buckets.get_mut(now as usize % RING) {
            if bucket.is_empty() {
                *bucket = used;
            }
        }
    }
}

struct Live {
    call: Call,
    started: u64,
    /// The attempt on the wire, if any.
    in_flight: Option<u32>,
    waiting: bool,
}

#[derive(Clone, Copy)]
struct Request {
    slot: u32,
    generation: u32,
    attempt: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub calls: u64,
    pub successes: u64,
    pub calls_after: u64,
    pub successes_after: u64,
    /// Calls started in the `window_ms` after the trigger (`offered_recovery`) that succeeded.
    pub successes_recovery: u64,
    pub offered_outage: u64,
    pub arrivals_outage: u64,
    pub offered_recovery: u64,
    pub arrivals_recovery: u64,
    pub arrivals: u64,
    pub served: u64,
    pub wasted_served: u64,
    pub shed: u64,
    pub peak_queue: usize,
    pub baseline_backlog: usize,
    pub drain_ms: Option<u64>,
    pub budget_denials: u64,
    pub breaker_rejections: u64,
    pub core_attempts: u64,
    pub driver_errors: u64,
}

#[derive(Clone, Copy, Default)]
pub struct SeriesRow {
    offered: u64,
    arrivals: u64,
    successes: u64,
    queue: usize,
    waiting: usize,
}

struct Sim<'a> {
    args: &'a OutageArgs,
    policy: &'a Policy,
    engine: Engine,
    calendar: Calendar,
    live: Vec<Option<Live>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    live_count: usize,
    waiting: usize,
    queue: VecDeque<Request>,
    net: Rng,
    jitter: Rng,
    /// The server's own draws (which requests a brownout fails).
    server: Rng,
    /// Rate-limit tokens (requests), refilled each ms during a `RateLimit` trigger.
    allowance: f64,
    /// Calls per ms offered, the server's capacity per ms, and its queue bound.
    offered_per_ms: f64,
    capacity: f64,
    queue_capacity: usize,
    outage_start: u64,
    outage_end: u64,
    arrivals_end: u64,
    report: Report,
    series: Vec<SeriesRow>,
}

fn hop(net: &mut Rng) -> u64 {
    (net.abs_normal(HOP_MEAN_MS, HOP_SD_MS).round() as u64).max(1)
}

impl Sim<'_> {
    fn in_outage(&self, t: u64) -> bool {
        t >= self.outage_start && t < self.outage_end
    }

    fn in_recovery_window(&self, t: u64) -> bool {
        t >= self.outage_end && t < self.outage_end + self.args.window_ms
    }

    fn series_row(&mut self, t: u64) -> Option<&mut SeriesRow> {
        self.args.series.as_ref()?;
        let index = (t / 100) as usize;
        if self.series.len() <= index {
            self.series.resize(index + 1, SeriesRow::default());
        }
        self.series.get_mut(index)
    }

    fn start_call(&mut self, t: u64) {
        let (call, action) = Call::start(&mut self.engine, self.policy, KEY, true, t);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.live.push(None);
                self.generations.push(0);
                (self.live.len() - 1) as u32
            }
        };
        if let Some(entry) = self.live.get_mut(slot as usize) {
            *entry = Some(Live { call, started: t, in_flight: None, waiting: false });
        }
        self.live_count += 1;
        self.report.calls += 1;
        if t >= self.outage_end {
            self.report.calls_after += 1;
        }
        if self.in_outage(t) {
            self.report.offered_outage += 1;
        }
        if self.in_recovery_window(t) {
            self.report.offered_recovery += 1;
        }
        if let Some(row) = self.series_row(t) {
            row.offered += 1;
        }
        self.drive(slot, action, t);
    }

    /// Performs `action` for the call in `slot` (and any zero-delay retry right away).
    fn drive(&mut self, slot: u32, mut action: Action, t: u64) {
        let generation = self.generations.get(slot as usize).copied().unwrap_or(0);
        loop {
            let Some(Some(live)) = self.live.get_mut(slot as usize) else { return };
            match action {
                Action::Send { attempt, timeout_ms, .. } => {
                    live.in_flight = Some(attempt);
                    let when = t + hop(&mut self.net);
                    self.calendar.at(t, when, Event::Arrive { slot, generation, attempt });
                    if let Some(timeout) = timeout_ms {
                        let when = t + timeout.max(1);
                        self.calendar.at(t, when, Event::Timeout { slot, generation, attempt });
                    }
                    return;
                }
                Action::Retry { delay_ms: 0, .. } => {
                    match live.call.resume(&mut self.engine, self.policy, t) {
                        Ok(next) => action = next,
                        Err(_) => {
                            self.report.driver_errors += 1;
                            return;
                        }
                    }
                }
                Action::Retry { delay_ms, .. } => {
                    live.waiting = true;
                    self.waiting += 1;
                    self.calendar.at(t, t + delay_ms, Event::Resume { slot, generation });
                    return;
                }
                Action::Settle(how) => {
                    let success = how == Settle::Last
                        && live.call.last_outcome().is_some_and(|o| is_success(o, self.policy));
                    let after = live.started >= self.outage_end;
                    let recovery = after && live.started < self.outage_end + self.args.window_ms;
                    if success {
                        self.report.successes += 1;
                        if after {
                            self.report.successes_after += 1;
                        }
                        if recovery {
                            self.report.successes_recovery += 1;
                        }
                        if let Some(row) = self.series_row(t) {
                            row.successes += 1;
                        }
                    }
                    if let Some(entry) = self.live.get_mut(slot as usize) {
                        *entry = None;
                    }
                    if let Some(g) = self.generations.get_mut(slot as usize) {
                        *g = g.wrapping_add(1);
                    }
                    self.free.push(slot);
                    self.live_count -= 1;
                    return;
                }
            }
        }
    }

    fn attempt_ended(&mut self, slot: u32, generation: u32, attempt: u32, outcome: Outcome, t: u64) {
        self.attempt_ended_with(slot, generation, attempt, outcome, &ServerHints::default(), t);
    }

    fn attempt_ended_with(
        &mut self,
        slot: u32,
        generation: u32,
        attempt: u32,
        outcome: Outcome,
        hints: &ServerHints,
        t: u64,
    ) {
        let rnd = self.jitter.unit();
        let current = self.generations.get(slot as usize) == Some(&generation);
        let live = self.live.get_mut(slot as usize).and_then(Option::as_mut).filter(|_| current);
        let action = match live {
            Some(live) if live.in_flight == Some(attempt) => {
                live.in_flight = None;
                live.call.on_outcome(&mut self.engine, self.policy, outcome, hints, t, rnd)
            }
            _ => return, // Late: the attempt already timed out, or the call is over.
        };
        match action {
            Ok(action) => self.drive(slot, action, t),
            Err(_) => self.report.driver_errors += 1,
        }
    }

    fn handle(&mut self, event: Event, t: u64) {
        match event {
            Event::Arrive { slot, generation, attempt } => {
                self.report.arrivals += 1;
                if self.in_outage(t) {
                    self.report.arrivals_outage += 1;
                }
                if self.in_recovery_window(t) {
                    self.report.arrivals_recovery += 1;
                }
                if let Some(row) = self.series_row(t) {
                    row.arrivals += 1;
                }
                let request = Request { slot, generation, attempt };
                let during = self.in_outage(t);
                let refused = during
                    && match self.args.trigger {
                        Trigger::Down => true,
                        Trigger::Brownout(share) => self.server.unit() < share,
                        Trigger::Overload(_) => false,
                        Trigger::Hang => return,
                        Trigger::RateLimit(_) if self.allowance >= 1.0 => {
                            self.allowance -= 1.0;
                            false
                        }
                        Trigger::RateLimit(_) => {
                            let when = t + hop(&mut self.net);
                            self.calendar.at(t, when, Event::Limited { slot, generation, attempt });
                            return;
                        }
                    };
                if refused || self.queue.len() >= self.queue_capacity {
                    if !refused {
                        self.report.shed += 1;
                    }
                    self.reply(request, 503, t);
                } else {
                    self.queue.push_back(request);
                    self.report.peak_queue = self.report.peak_queue.max(self.queue.len());
                }
            }
            Event::Reply { slot, generation, attempt, status } => {
                self.attempt_ended(slot, generation, attempt, Outcome::Response(status), t);
            }
            Event::Limited { slot, generation, attempt } => {
                let hints = ServerHints { retry_after: Some(b"1"), ..ServerHints::default() };
                self.attempt_ended_with(slot, generation, attempt, Outcome::Response(429), &hints, t);
            }
            Event::Timeout { slot, generation, attempt } => {
                self.attempt_ended(slot, generation, attempt, Outcome::Timeout, t);
            }
            Event::Resume { slot, generation } => {
                let current = self.generations.get(slot as usize) == Some(&generation);
                let live = self.live.get_mut(slot as usize).and_then(Option::as_mut).filter(|_| current);
                let Some(live) = live else { return };
                if std::mem::replace(&mut live.waiting, false) {
                    self.waiting -= 1;
                }
                match live.call.resume(&mut self.engine, self.policy, t) {
                    Ok(action) => self.drive(slot, action, t),
                    Err(_) => self.report.driver_errors += 1,
                }
            }
        }
    }

    fn reply(&mut self, request: Request, status: u16, t: u64) {
        let Request { slot, generation, attempt } = request;
        let when = t + hop(&mut self.net);
        self.calendar.at(t, when, Event::Reply { slot, generation, attempt, status });
    }
}

/// Runs one strategy against one fleet. The same `seed` for every strategy gives every
/// strategy the same arrival times (common random numbers).
pub fn simulate(args: &OutageArgs, fleet: Fleet, strategy: &Strategy, seed: u64) -> (Report, Vec<SeriesRow>) {
    let offered_per_ms = fleet.clients as f64 * fleet.rps / 1000.0;
    let capacity = offered_per_ms / args.load;
    let outage_start = args.warmup_ms;
    let outage_end = outage_start + args.outage_ms;
    let mut sim = Sim {
        args,
        policy: &strategy.policy,
        engine: Engine::new(),
        calendar: Calendar::new(),
        live: Vec::new(),
        generations: Vec::new(),
        free: Vec::new(),
        live_count: 0,
        waiting: 0,
        queue: VecDeque::new(),
        net: Rng::new(derive(seed, &[1])),
        jitter: Rng::new(derive(seed, &[2])),
        server: Rng::new(derive(seed, &[4])),
        allowance: 0.0,
        offered_per_ms,
        capacity,
        queue_capacity: (capacity * args.queue_ms as f64).ceil() as usize,
        outage_start,
        outage_end,
        arrivals_end: outage_end + args.tail_ms,
        report: Report::default(),
        series: Vec::new(),
    };
    let mut arrivals = Rng::new(derive(seed, &[3]));
    let mut next_call = arrivals.exponential(offered_per_ms);
    // After arrivals stop, run on until every call has settled (bounded, in case).
    let hard_end = sim.arrivals_end + 120_000;
    let mut credit = 0.0f64;
    let mut baseline = 0usize;
    let mut last_over: Option<u64> = None;
    // Up to 100 ms of server work waiting counts as drained, whatever the steady-state noise.
    let drained_below = (capacity * 100.0).ceil() as usize;
    let mut t = 0u64;
    while t < hard_end && (t < sim.arrivals_end || sim.live_count > 0) {
        if t == sim.outage_start {
            match args.trigger {
                Trigger::Down => {
                    while let Some(request) = sim.queue.pop_front() {
                        sim.reply(request, 503, t);
                    }
                }
                Trigger::Hang => sim.queue.clear(),
                Trigger::Brownout(_) | Trigger::Overload(_) | Trigger::RateLimit(_) => {}
            }
        }
        if let (Trigger::RateLimit(share), true) = (args.trigger, sim.in_outage(t)) {
            // At most one second of allowance is banked.
            sim.allowance =
                (sim.allowance + share * sim.offered_per_ms).min(share * sim.offered_per_ms * 1000.0);
        }
        if t < sim.arrivals_end {
            while next_call < (t + 1) as f64 {
                sim.start_call(t);
                next_call += arrivals.exponential(sim.offered_per_ms);
            }
        }
        let events = sim.calendar.take(t);
        for &event in &events {
            sim.handle(event, t);
        }
        sim.calendar.give_back(t, events);
        let serving = match (args.trigger, sim.in_outage(t)) {
            (_, false) | (Trigger::Brownout(_) | Trigger::RateLimit(_), true) => Some(sim.capacity),
            (Trigger::Overload(share), true) => Some(share * sim.offered_per_ms),
            (Trigger::Down | Trigger::Hang, true) => None,
        };
        if let Some(capacity) = serving {
            credit += capacity;
            while credit >= 1.0 {
                let Some(request) = sim.queue.pop_front() else { break };
                credit -= 1.0;
                sim.report.served += 1;
                let Request { slot, generation, attempt } = request;
                let awaited = sim.generations.get(slot as usize) == Some(&generation)
                    && sim.live.get(slot as usize).and_then(Option::as_ref).and_then(|l| l.in_flight)
                        == Some(attempt);
                if !awaited {
                    sim.report.wasted_served += 1;
                }
                sim.reply(request, 200, t);
            }
            if sim.queue.is_empty() {
                // Idle capacity is not banked.
                credit = credit.min(1.0);
            }
        }
        let backlog = sim.queue.len() + sim.waiting;
        if t >= 1_000.min(outage_start / 2) && t < outage_start {
            baseline = baseline.max(backlog);
        }
        if t >= outage_end && t < sim.arrivals_end && backlog > baseline.max(drained_below) {
            last_over = Some(t);
        }
        if t % 100 == 0 {
            let (queue, waiting) = (sim.queue.len(), sim.waiting);
            if let Some(row) = sim.series_row(t) {
                row.queue = queue;
                row.waiting = waiting;
            }
        }
        t += 1;
    }
    let mut report = sim.report;
    report.baseline_backlog = baseline;
    report.drain_ms = match last_over {
        None => Some(0),
        Some(last) if last + 1 >= sim.arrivals_end => None,
        Some(last) => Some(last + 1 - outage_end),
    };
    let counters = &sim.engine.stats.counters;
    report.budget_denials = counters.budget_denials;
    report.breaker_rejections = counters.breaker_rejections;
    report.core_attempts = counters.attempts;
    if sim.live_count > 0 {
        eprintln!("outage: {} calls still open at the hard end", sim.live_count);
    }
    assert_eq!(report.driver_errors, 0, "the driver misused the call state machine");
    assert_eq!(counters.calls, report.calls, "every started call is counted by the core");
    assert_eq!(counters.successes, report.successes, "the core and the driver agree on successes");
    (report, sim.series)
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

pub fn run(args: &OutageArgs, out: &mut impl std::io::Write) -> std::io::Result<()> {
    eprintln!(
        "outage: load {} of capacity, outage {} ms after {} ms, attempt timeout {} ms, queue {} ms of \
         capacity, {} attempts (backoff strategies), recovery window {} ms, tail {} ms",
        args.load,
        args.outage_ms,
        args.warmup_ms,
        args.attempt_timeout_ms,
        args.queue_ms,
        args.attempts,
        args.window_ms,
        args.tail_ms
    );
    writeln!(
        out,
        "clients,per_client_rps,offered_per_ms,capacity_per_ms,strategy,calls,success_rate,\
         success_after_recovery,amp_outage,amp_recovery,drain_ms,peak_queue,wasted_share,\
         budget_denials,breaker_rejections"
    )?;
    let mut series_out = String::new();
    if args.series.is_some() {
        series_out.push_str("clients,strategy,t_ms,offered,arrivals,successes,queue,waiting\n");
    }
    for &fleet in &args.fleets {
        for strategy in strategies(args) {
            let clock = std::time::Instant::now();
            let seed = derive(args.seed, &[fleet.clients, fleet.rps.to_bits()]);
            let (r, series) = simulate(args, fleet, &strategy, seed);
            if r.core_attempts != r.arrivals {
                eprintln!("outage: core attempts {} != server arrivals {}", r.core_attempts, r.arrivals);
            }
            let offered = fleet.clients as f64 * fleet.rps / 1000.0;
            let drain = r.drain_ms.map_or_else(|| String::from("NA"), |ms| ms.to_string());
            writeln!(
                out,
                "{},{},{:.3},{:.3},{},{},{:.4},{:.4},{:.3},{:.3},{},{},{:.4},{},{}",
                fleet.clients,
                fleet.rps,
                offered,
                offered / args.load,
                strategy.name,
                r.calls,
                ratio(r.successes, r.calls),
                ratio(r.successes_after, r.calls_after),
                ratio(r.arrivals_outage, r.offered_outage),
                ratio(r.arrivals_recovery, r.offered_recovery),
                drain,
                r.peak_queue,
                ratio(r.wasted_served, r.served),
                r.budget_denials,
                r.breaker_rejections,
            )?;
            eprintln!(
                "outage: {} clients, {}: {:.1} s (baseline backlog {}, shed {})",
                fleet.clients,
                strategy.name,
                clock.elapsed().as_secs_f64(),
                r.baseline_backlog,
                r.shed
            );
            for (i, row) in series.iter().enumerate() {
                series_out.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    fleet.clients,
                    strategy.name,
                    i * 100,
                    row.offered,
                    row.arrivals,
                    row.successes,
                    row.queue,
                    row.waiting
                ));
            }
        }
    }
    if let Some(path) = &args.series {
        std::fs::write(path, series_out)?;
    }
    Ok(())
}
