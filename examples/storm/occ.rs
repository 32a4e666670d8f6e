//! `occ`: the contention model of "Exponential Backoff and Jitter" (Marc Brooker, AWS
//! Architecture Blog, 2015), run on the shipping state machine.
//!
//! One row with a version number. Each of N clients must update it once: read the version,
//! then write conditionally on it; the write fails if another client wrote in between, and
//! the client backs off and starts again from the read. Every network hop (client to server
//! or back) takes |Normal(10 ms, 2 ms)|. All clients start at t = 0.
//!
//! Each client's update is one [`Call`]: an *attempt* is a read followed by a conditional
//! write; a lost race is reported as `Response(409)` (listed in `retry_on`), a won race as
//! `Response(200)`. The call then says `Retry { delay_ms }` (computed by the core's
//! `backoff_delay` from the policy's jitter/base/cap/multiplier) or `Settle`. `max_attempts`
//! is `u32::MAX`: like the blog, a client retries until it wins.
//!
//! Differences from the blog's Python simulator, all on the core's side and kept on purpose
//! since the point is to measure the code that ships:
//! - The first backoff step is `base` (SPEC: `base · 2^(n−1)` for retry n); the blog's
//!   `expo(n)` uses `base · 2^n`, so its first step is 2·base.
//! - Backoff delays are whole milliseconds (the core's unit); hops are kept in microseconds.
//!
//! Beyond the blog, `FullJitter+Pacer` adds the core's adaptive retry pacer
//! (`Policy::pacer`, `core/pacer.rs`): all N clients share the one Engine, as callers in one
//! isolate do, so the pacer sees every lost race and spaces the retries out by about the
//! learnt attempt time. What else was tried is in `candidates.rs`.
//!
//! Output: `time_ms` is the mean (over runs) of the virtual time at which the last client
//! learns its write succeeded; `calls` is the mean number of conditional WRITES the server
//! received, which is what the blog's simulator counts as "calls" (`OccServer.write`); each
//! write is preceded by exactly one read, so reads + writes = 2 · calls.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use edge_retry::core::headers::ServerHints;
use edge_retry::core::policy::StatusSet;
use edge_retry::core::{Action, Call, Engine, Jitter, Outcome, PacerSettings, Policy};

use crate::rand::{Rng, derive};

const KEY: &str = "https://occ.test";
const BASE_MS: u64 = 5;
const CAP_MS: u64 = 2_000;
const HOP_MEAN_MS: f64 = 10.0;
const HOP_SD_MS: f64 = 2.0;
const CONFLICT: u16 = 409;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    None,
    Exponential,
    FullJitter,
    EqualJitter,
    Decorr,
    /// Beyond the blog: full jitter plus the core's adaptive retry pacer (`Policy::pacer`),
    /// which all N clients share through the one Engine, as callers in one isolate do.
    FullJitterPacer,
}

pub const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::None,
    Algorithm::Exponential,
    Algorithm::FullJitter,
    Algorithm::EqualJitter,
    Algorithm::Decorr,
    Algorithm::FullJitterPacer,
];

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::None => "None",
            Algorithm::Exponential => "Exponential",
            Algorithm::FullJitter => "FullJitter",
            Algorithm::EqualJitter => "EqualJitter",
            Algorithm::Decorr => "Decorr",
            Algorithm::FullJitterPacer => "FullJitter+Pacer",
        }
    }

    /// The edge_retry policy for this algorithm. "None" is a zero base (every step is 0 ms).
    pub fn policy(self) -> Policy {
        let (base, jitter) = match self {
            Algorithm::None => (0, Jitter::None),
            Algorithm::Exponential => (BASE_MS, Jitter::None),
            Algorithm::FullJitter => (BASE_MS, Jitter::Full),
            Algorithm::EqualJitter => (BASE_MS, Jitter::Equal),
            Algorithm::Decorr => (BASE_MS, Jitter::Decorrelated),
            Algorithm::FullJitterPacer => (BASE_MS, Jitter::Full),
        };
        let pacer = (self == Algorithm::FullJitterPacer).then(PacerSettings::default);
        Policy {
            max_attempts: u32::MAX,
            base_delay_ms: base,
            max_delay_ms: CAP_MS,
            multiplier: 2.0,
            jitter,
            retry_on: StatusSet::from_slice(&[CONFLICT]),
            respect_retry_after: false,
            timeout_ms: None,
            attempt_timeout_ms: None,
            breaker: None,
            budget: None,
            retry_cap: None,
            pacer,
            ..Policy::default()
        }
    }
}

pub struct OccArgs {
    pub clients: Vec<usize>,
    pub runs: u64,
    pub seed: u64,
}

/// What happens next, in time order (ties broken by scheduling order: deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A client's read reaches the server.
    Read { client: usize },
    /// The server's answer to a read (the version it saw) reaches the client.
    ReadReply { client: usize, version: u64 },
    /// A conditional write reaches the server.
    Write { client: usize, version: u64 },
    /// The write's verdict reaches the client.
    WriteReply { client: usize, ok: bool },
    /// A backoff wait is over.
    Resume { client: usize },
}

struct Sim {
    queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    net: Rng,
}

impl Sim {
    fn at(&mut self, time_us: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((time_us, self.seq, event)));
    }

    fn hop_us(&mut self) -> u64 {
        (self.net.abs_normal(HOP_MEAN_MS, HOP_SD_MS) * 1000.0).round() as u64
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RunResult {
    pub time_us: u64,
    pub writes: u64,
    pub reads: u64,
}

/// One run: `clients` clients, all starting at t = 0, until every one has written.
pub fn run_once(clients: usize, algorithm: Algorithm, seed: u64) -> RunResult {
    let policy = algorithm.policy();
    let mut engine = Engine::new();
    let mut sim = Sim { queue: BinaryHeap::new(), seq: 0, net: Rng::new(derive(seed, &[1])) };
    let mut jitter = Rng::new(derive(seed, &[2]));
    let mut version = 0u64;
    let mut result = RunResult::default();
    let mut calls = Vec::with_capacity(clients);
    for client in 0..clients {
        let (call, action) = Call::start(&mut engine, &policy, KEY, true, 0);
        calls.push(call);
        debug_assert!(matches!(action, Action::Send { .. }));
        let hop = sim.hop_us();
        sim.at(hop, Event::Read { client });
    }
    let hints = ServerHints::default();
    while let Some(Reverse((now, _, event))) = sim.queue.pop() {
        result.time_us = result.time_us.max(now);
        match event {
            Event::Read { client } => {
                result.reads += 1;
                let hop = sim.hop_us();
                sim.at(now + hop, Event::ReadReply { client, version });
            }
            Event::ReadReply { client, version } => {
                let hop = sim.hop_us();
                sim.at(now + hop, Event::Write { client, version });
            }
            Event::Write { client, version: seen } => {
                result.writes += 1;
                let ok = seen == version;
                if ok {
                    version += 1;
                }
                let hop = sim.hop_us();
                sim.at(now + hop, Event::WriteReply { client, ok });
            }
            Event::WriteReply { client, ok } => {
                let Some(call) = calls.get_mut(client) else { continue };
                let outcome = Outcome::Response(if ok { 200 } else { CONFLICT });
                let rnd = jitter.unit();
                match call.on_outcome(&mut engine, &policy, outcome, &hints, now / 1000, rnd) {
                    Ok(Action::Retry { delay_ms, .. }) => {
                        sim.at(now + delay_ms * 1000, Event::Resume { client });
                    }
                    Ok(Action::Settle(_)) => {}
                    other => eprintln!("occ: unexpected {other:?} after a write"),
                }
            }
            Event::Resume { client } => {
                let Some(call) = calls.get_mut(client) else { continue };
                match call.resume(&mut engine, &policy, now / 1000) {
                    Ok(Action::Send { .. }) => {
                        let hop = sim.hop_us();
                        sim.at(now + hop, Event::Read { client });
                    }
                    other => eprintln!("occ: unexpected {other:?} on resume"),
                }
            }
        }
    }
    // The core counted one attempt per read+write, and every client settled with a success.
    let counters = &engine.stats.counters;
    assert_eq!(counters.attempts, result.writes, "one core attempt per conditional write");
    assert_eq!(counters.successes, clients as u64, "every client settles with a success");
    assert_eq!(version, clients as u64, "every client wrote exactly once");
    result
}

pub fn run(args: &OccArgs, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "clients,algorithm,time_ms,calls")?;
    for &clients in &args.clients {
        for &algorithm in &ALGORITHMS {
            let mut time_us = 0u128;
            let mut writes = 0u128;
            for run in 0..args.runs {
                // The same seed for every algorithm (common random numbers): run r of each
                // algorithm starts from the same network draws.
                let seed = derive(args.seed, &[clients as u64, run]);
                let r = run_once(clients, algorithm, seed);
                time_us += u128::from(r.time_us);
                writes += u128::from(r.writes);
            }
            let runs = args.runs.max(1) as f64;
            let time_ms = time_us as f64 / 1000.0 / runs;
            let calls = writes as f64 / runs;
            writeln!(out, "{clients},{},{time_ms:.1},{calls:.1}", algorithm.name())?;
        }
    }
    Ok(())
}
