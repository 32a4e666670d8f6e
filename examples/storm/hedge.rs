//! `hedge` mode: hedged requests (SPEC 9) at fleet scale, on the shipping core.
//!
//! A fleet of clients (each an isolate with its own [`Engine`], so its own budget, retry cap
//! and `"auto"` latency record) calls one server; calls arrive as a Poisson stream. Every call
//! is driven through [`Call`] exactly as driver.js drives it: a Send schedules an attempt, the
//! hedge timer asks [`Call::hedge`], each answer is reported with [`Call::on_outcome_of`], and
//! when the call settles the attempts still out are cancelled.
//!
//! Two servers:
//! - `tail`: as many workers as needed; each request takes 5 ms, or 500 ms for one in twenty
//!   (the long tail of "The Tail at Scale"). Hedging should cut p99 for a few % more requests.
//! - `near-capacity`: a fixed pool of workers behind a FIFO queue, service 4 ms (95 %) or 40 ms
//!   (5 %), offered load 90 % of capacity (`--load`) before any hedge. Every hedge is extra work on a
//!   nearly full server: without a bound, hedges lengthen the queue, which makes more calls
//!   slow enough to hedge, which lengthens the queue. The rows with `budget: false` (and no
//!   retry cap) show that loop; the default budget and retry cap bound it. A request
//!   cancelled while still queued is dropped without work (the server sees the close).
//! - `near-capacity-no-drop`: the same, but the server serves every request it queued, even
//!   one whose client has gone (many servers only notice a closed connection when they write).
//!
//! Model assumptions: a request already in service runs to the end (its work is wasted). Network hop 0.5 ms each way. Nothing fails: every answer is a 200.
//!
//! Output CSV: server, strategy, calls, requests, extra_pct, hedges, p50_ms, p99_ms, p999_ms,
//! utilisation_pct, max_queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};

use edge_retry::core::call::Call;
use edge_retry::core::headers::ServerHints;
use edge_retry::core::hedge::{HedgeDelay, HedgeSettings};
use edge_retry::core::{Action, Engine, Outcome, Policy};

use crate::rand::{Rng, derive};

pub struct HedgeArgs {
    pub clients: u32,
    /// Calls per second per client.
    pub rps: f64,
    pub duration_ms: u64,
    pub seed: u64,
    /// Offered load of the near-capacity servers before any hedge, as a share of capacity.
    pub load: f64,
}

const KEY: &str = "https://backend.sim";
const HOP_US: u64 = 500;

#[derive(Clone, Copy)]
enum Server {
    Tail,
    /// `drops`: whether a request cancelled while queued is dropped unserved.
    NearCapacity {
        workers: u32,
        drops: bool,
    },
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Tail => "tail",
            Server::NearCapacity { drops: true, .. } => "near-capacity",
            Server::NearCapacity { drops: false, .. } => "near-capacity-no-drop",
        }
    }

    /// One request's service time, µs.
    fn service_us(self, rng: &mut Rng) -> u64 {
        let slow = rng.unit() < 0.05;
        match (self, slow) {
            (Server::Tail, false) => 5_000,
            (Server::Tail, true) => 500_000,
            (Server::NearCapacity { .. }, false) => 4_000,
            (Server::NearCapacity { .. }, true) => 40_000,
        }
    }
}

/// Mean service time of the near-capacity server, µs: 0.95 * 4 ms + 0.05 * 40 ms.
const NEAR_MEAN_US: f64 = 5_800.0;

struct Strategy {
    name: &'static str,
    policy: Policy,
}

fn strategies() -> Vec<Strategy> {
    let hedged = |delay: HedgeDelay, bounded: bool| {
        let defaults = Policy { breaker: None, ..Policy::default() };
        let mut p = Policy { hedge: Some(HedgeSettings { delay, max_hedges: 1 }), ..defaults };
        if !bounded {
            p.budget = None;
            p.retry_cap = None;
        }
        p
    };
    vec![
        Strategy { name: "NoHedge", policy: Policy { breaker: None, ..Policy::default() } },
        Strategy { name: "Fixed10", policy: hedged(HedgeDelay::Fixed(10), true) },
        Strategy { name: "Fixed50", policy: hedged(HedgeDelay::Fixed(50), true) },
        Strategy { name: "Auto", policy: hedged(HedgeDelay::Auto, true) },
        Strategy { name: "Fixed10-Unbounded", policy: hedged(HedgeDelay::Fixed(10), false) },
        Strategy { name: "Auto-Unbounded", policy: hedged(HedgeDelay::Auto, false) },
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival {
        client: u32,
    },
    /// An attempt reaches the server.
    AtServer {
        slot: u32,
        generation: u32,
        attempt: u32,
    },
    /// A worker finished the request.
    Served {
        slot: u32,
        generation: u32,
        attempt: u32,
    },
    /// The answer reaches the client.
    Answer {
        slot: u32,
        generation: u32,
        attempt: u32,
    },
    Hedge {
        slot: u32,
        generation: u32,
    },
}

struct Live {
    call: Call,
    client: u32,
    started_us: u64,
    /// Attempts still out (cancelled ones are removed).
    out: Vec<u32>,
}

struct Sim<'a> {
    args: &'a HedgeArgs,
    server: Server,
    policy: &'a Policy,
    engines: Vec<Engine>,
    calendar: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    live: Vec<Option<Live>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    arrivals: Rng,
    service: Rng,
    queue: VecDeque<(u32, u32, u32)>,
    busy: u32,
    busy_us: u64,
    last_change_us: u64,
    max_queue: usize,
    latencies_us: Vec<u64>,
    requests: u64,
}

impl Sim<'_> {
    fn at(&mut self, when: u64, event: Event) {
        self.seq += 1;
        self.calendar.push(Reverse((when, self.seq, event)));
    }

    fn is_out(&self, slot: u32, generation: u32, attempt: u32) -> bool {
        self.generations.get(slot as usize) == Some(&generation)
            && self.live.get(slot as usize).and_then(Option::as_ref).is_some_and(|l| l.out.contains(&attempt))
    }

    fn note_busy(&mut self, now: u64) {
        self.busy_us += u64::from(self.busy) * now.saturating_sub(self.last_change_us);
        self.last_change_us = now;
    }

    fn arrive(&mut self, client: u32, now: u64) {
        let rate_per_us = self.args.rps * f64::from(self.args.clients) / 1e6;
        let gap = self.arrivals.exponential(rate_per_us).max(1.0) as u64;
        let next_client = (self.arrivals.unit() * f64::from(self.args.clients)) as u32;
        self.at(now + gap, Event::Arrival { client: next_client.min(self.args.clients - 1) });
        let Some(engine) = self.engines.get_mut(client as usize) else { return };
        let (call, action) = Call::start(engine, self.policy, KEY, true, now / 1000);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.live.push(None);
            self.generations.push(0);
            (self.live.len() - 1) as u32
        });
        let generation = self.generations.get(slot as usize).copied().unwrap_or(0).wrapping_add(1);
        if let Some(g) = self.generations.get_mut(slot as usize) {
            *g = generation;
        }
        if let Some(entry) = self.live.get_mut(slot as usize) {
            *entry = Some(Live { call, client, started_us: now, out: Vec::new() });
        }
        self.sent(slot, generation, action, now);
    }

    /// Performs a Send (and sets the hedge timer).
    fn sent(&mut self, slot: u32, generation: u32, action: Action, now: u64) {
        let Action::Send { attempt, .. } = action else { return };
        let Some(Some(live)) = self.live.get_mut(slot as usize) else { return };
        live.out.push(attempt);
        let after = live.call.hedge_after();
        self.at(now + HOP_US, Event::AtServer { slot, generation, attempt });
        if let Some(ms) = after {
            self.at(now + ms * 1000, Event::Hedge { slot, generation });
        }
    }

    fn at_server(&mut self, slot: u32, generation: u32, attempt: u32, now: u64) {
        self.requests += 1;
        match self.server {
            Server::Tail => {
                let service = self.server.service_us(&mut self.service);
                self.at(now + service, Event::Served { slot, generation, attempt });
            }
            Server::NearCapacity { workers, .. } => {
                if self.busy < workers {
                    self.note_busy(now);
                    self.busy += 1;
                    let service = self.server.service_us(&mut self.service);
                    self.at(now + service, Event::Served { slot, generation, attempt });
                } else {
                    self.queue.push_back((slot, generation, attempt));
                    self.max_queue = self.max_queue.max(self.queue.len());
                }
            }
        }
    }

    fn served(&mut self, slot: u32, generation: u32, attempt: u32, now: u64) {
        if let Server::NearCapacity { drops, .. } = self.server {
            self.note_busy(now);
            self.busy = self.busy.saturating_sub(1);
            // The next queued request (one whose client has gone is dropped, if the server
            // notices).
            while let Some((s, g, a)) = self.queue.pop_front() {
                if !drops || self.is_out(s, g, a) {
                    self.busy += 1;
                    let service = self.server.service_us(&mut self.service);
                    self.at(now + service, Event::Served { slot: s, generation: g, attempt: a });
                    break;
                }
            }
        }
        self.at(now + HOP_US, Event::Answer { slot, generation, attempt });
    }

    fn answer(&mut self, slot: u32, generation: u32, attempt: u32, now: u64) {
        if !self.is_out(slot, generation, attempt) {
            return; // a loser's answer, after the call was decided
        }
        let Some(Some(live)) = self.live.get_mut(slot as usize) else { return };
        let Some(engine) = self.engines.get_mut(live.client as usize) else { return };
        live.out.retain(|a| *a != attempt);
        let hints = ServerHints::default();
        let r = live.call.on_outcome_of(
            engine,
            self.policy,
            attempt,
            Outcome::Response(200),
            &hints,
            now / 1000,
            0.5,
        );
        if let Ok(Some(Action::Settle(_))) = r {
            self.latencies_us.push(now - live.started_us);
            if let Some(entry) = self.live.get_mut(slot as usize) {
                *entry = None; // the attempts still out are cancelled with it
            }
            self.free.push(slot);
        }
    }

    fn hedge(&mut self, slot: u32, generation: u32, now: u64) {
        if self.generations.get(slot as usize) != Some(&generation) {
            return;
        }
        let Some(Some(live)) = self.live.get_mut(slot as usize) else { return };
        let Some(engine) = self.engines.get_mut(live.client as usize) else { return };
        match live.call.hedge(engine, self.policy, now / 1000) {
            Ok(Some(action)) => self.sent(slot, generation, action, now),
            Ok(None) => {
                if let Some(ms) = live.call.hedge_after() {
                    self.at(now + ms * 1000, Event::Hedge { slot, generation });
                }
            }
            Err(_) => {}
        }
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(i).map_or(f64::NAN, |v| *v as f64 / 1000.0)
}

pub fn run(args: &HedgeArgs, out: &mut impl Write) -> io::Result<()> {
    let offered_per_us = args.rps * f64::from(args.clients) / 1e6;
    // Workers so that the offered load, unhedged, is `load` of capacity.
    let workers = ((offered_per_us * NEAR_MEAN_US) / args.load).round().max(1.0) as u32;
    eprintln!(
        "hedge: {} clients x {} calls/s for {} ms, seed {}; near-capacity server: {} workers ({:.0} % load unhedged)",
        args.clients,
        args.rps,
        args.duration_ms,
        args.seed,
        workers,
        100.0 * offered_per_us * NEAR_MEAN_US / f64::from(workers)
    );
    writeln!(
        out,
        "server,strategy,calls,requests,extra_pct,hedges,p50_ms,p99_ms,p999_ms,utilisation_pct,max_queue"
    )?;
    let servers = [
        Server::Tail,
        Server::NearCapacity { workers, drops: true },
        Server::NearCapacity { workers, drops: false },
    ];
    for (si, server) in servers.into_iter().enumerate() {
        for (ki, strategy) in strategies().iter().enumerate() {
            let mut sim = Sim {
                args,
                server,
                policy: &strategy.policy,
                engines: (0..args.clients).map(|_| Engine::with_defaults(&strategy.policy)).collect(),
                calendar: BinaryHeap::new(),
                seq: 0,
                live: Vec::new(),
                generations: Vec::new(),
                free: Vec::new(),
                // The same arrivals and service draws for every strategy of a server.
                arrivals: Rng::new(derive(args.seed, &[si as u64, 1])),
                service: Rng::new(derive(args.seed, &[si as u64, 2])),
                queue: VecDeque::new(),
                busy: 0,
                busy_us: 0,
                last_change_us: 0,
                max_queue: 0,
                latencies_us: Vec::new(),
                requests: 0,
            };
            let _ = ki;
            sim.at(0, Event::Arrival { client: 0 });
            let end = args.duration_ms * 1000;
            // Bounded: the calendar only holds events up to the end, and each call has a
            // bounded number of attempts.
            while let Some(Reverse((now, _, event))) = sim.calendar.pop() {
                if now > end {
                    break;
                }
                match event {
                    Event::Arrival { client } => sim.arrive(client, now),
                    Event::AtServer { slot, generation, attempt } => {
                        sim.at_server(slot, generation, attempt, now)
                    }
                    Event::Served { slot, generation, attempt } => sim.served(slot, generation, attempt, now),
                    Event::Answer { slot, generation, attempt } => sim.answer(slot, generation, attempt, now),
                    Event::Hedge { slot, generation } => sim.hedge(slot, generation, now),
                }
            }
            sim.note_busy(end);
            // Calls still unanswered at the end count with how long they had waited, so an
            // overloaded run cannot look fast by leaving its slow calls out.
            let unfinished: Vec<u64> =
                sim.live.iter().flatten().map(|l| end.saturating_sub(l.started_us)).collect();
            let calls = sim.latencies_us.len() + unfinished.len();
            let mut all = sim.latencies_us.clone();
            all.extend(unfinished);
            all.sort_unstable();
            let hedges: u64 = sim.engines.iter().map(|e| e.stats.counters.hedges).sum();
            let utilisation = match server {
                Server::Tail => f64::NAN,
                Server::NearCapacity { workers, .. } => {
                    100.0 * sim.busy_us as f64 / (f64::from(workers) * end as f64)
                }
            };
            writeln!(
                out,
                "{},{},{},{},{:.2},{},{:.1},{:.1},{:.1},{:.1},{}",
                server.name(),
                strategy.name,
                calls,
                sim.requests,
                100.0 * (sim.requests as f64 / calls.max(1) as f64 - 1.0),
                hedges,
                percentile(&all, 0.5),
                percentile(&all, 0.99),
                percentile(&all, 0.999),
                utilisation,
                sim.max_queue
            )?;
            eprintln!("hedge: {} {} done", server.name(), strategy.name);
        }
    }
    Ok(())
}
