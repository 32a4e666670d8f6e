//! `scenarios`: the outage model of `outage.rs` put through every kind of trouble a server
//! has, to check that the library's defaults (`Policy::default()`, what `createRetryFetch()`
//! with no options does) never make things worse than sending each request once.
//!
//! Each scenario is a trigger of `outage.rs` (see [`Trigger`]) after a 30 s warm-up, then 45 s
//! of calls after it ends. The fleet is `--clients` at `--rps` calls per second each (100,000
//! at 0.1 by default: 10 calls per ms into one shared engine, as in one busy isolate).
//!
//! Columns: `success` (calls that ended with a 2xx ÷ calls started), `success_after` (the same
//! for calls started in the 10 s window after the trigger ended, the window of `amp_after`:
//! how fast clients recover, which the 45 s to the end would dilute), `amp_trigger` (requests the server received ÷
//! calls offered, during the trigger), `amp_after` (the same, in the 10 s after it), `drain_ms`
//! (as in `outage`: how long after the trigger the backlog stayed above its steady level; NA
//! when it never came back).

use edge_retry::core::{BreakerSettings, Policy};

use crate::outage::{self, Fleet, OutageArgs, Strategy, Trigger};
use crate::rand::derive;

#[derive(Clone, Debug)]
pub struct ScenariosArgs {
    pub clients: u64,
    pub rps: f64,
    pub seed: u64,
    /// Smaller and shorter (seconds in all), for CI.
    pub quick: bool,
    /// Only these scenarios (all when empty).
    pub only: Vec<String>,
}

pub struct Scenario {
    pub name: &'static str,
    pub trigger: Trigger,
    pub duration_ms: u64,
}

pub fn scenarios(quick: bool) -> Vec<Scenario> {
    let long_ms = if quick { 60_000 } else { 300_000 };
    vec![
        Scenario { name: "blip", trigger: Trigger::Down, duration_ms: 2_000 },
        Scenario { name: "outage", trigger: Trigger::Down, duration_ms: 20_000 },
        Scenario { name: "long", trigger: Trigger::Down, duration_ms: long_ms },
        Scenario { name: "brownout", trigger: Trigger::Brownout(0.5), duration_ms: 60_000 },
        Scenario { name: "overload", trigger: Trigger::Overload(0.4), duration_ms: 30_000 },
        Scenario { name: "hang", trigger: Trigger::Hang, duration_ms: 20_000 },
        Scenario { name: "ratelimit", trigger: Trigger::RateLimit(0.5), duration_ms: 30_000 },
    ]
}

/// `outage`'s fixed strategies, then `Defaults` and the old defaults for comparison.
pub fn strategies(args: &OutageArgs) -> Vec<Strategy> {
    let mut all = outage::strategies(args);
    all.push(Strategy { name: "Defaults", policy: Policy::default() });
    let old = Policy {
        breaker: Some(outage::OLD_BREAKER),
        budget: Some(outage::OLD_BUDGET),
        retry_cap: None,
        ..Policy::default()
    };
    all.push(Strategy { name: "OldDefaults", policy: old });
    // Today's defaults without the retry cap: the SPEC 6 bucket alone.
    all.push(Strategy { name: "Defaults-nocap", policy: Policy { retry_cap: None, ..Policy::default() } });
    // What else was measured: the previous defaults (20 ms open, one probe), one probe at a
    // time, a longer open period, and one that grows while probes fail.
    for (name, open_ms, max_open_ms, half_open_probes) in [
        ("Defaults-open20-probe1", 20, 20, 1),
        ("Defaults-probe1", 10, 10, 1),
        ("Defaults-open1s", 1_000, 1_000, 1_000),
        ("Defaults-open10-grow200", 10, 200, 1_000),
    ] {
        let breaker =
            BreakerSettings { open_ms, max_open_ms, half_open_probes, ..BreakerSettings::default() };
        all.push(Strategy { name, policy: Policy { breaker: Some(breaker), ..Policy::default() } });
    }
    all
}

pub fn run(args: &ScenariosArgs, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let fleet = Fleet { clients: args.clients, rps: args.rps };
    eprintln!(
        "scenarios: {} clients at {} calls/s each; warm-up 30 s, 45 s after each trigger",
        fleet.clients, fleet.rps
    );
    writeln!(
        out,
        "scenario,strategy,clients,calls,success,success_after,amp_trigger,amp_after,drain_ms,\
         budget_denials,breaker_rejections"
    )?;
    for scenario in scenarios(args.quick) {
        if !args.only.is_empty() && !args.only.iter().any(|n| n == scenario.name) {
            continue;
        }
        let model = OutageArgs {
            fleets: vec![fleet],
            seed: args.seed,
            warmup_ms: if args.quick { 10_000 } else { 30_000 },
            outage_ms: scenario.duration_ms,
            trigger: scenario.trigger,
            ..OutageArgs::default()
        };
        for strategy in strategies(&model) {
            let clock = std::time::Instant::now();
            let seed = derive(args.seed, &[fleet.clients, fleet.rps.to_bits()]);
            let (r, _) = outage::simulate(&model, fleet, &strategy, seed);
            let drain = r.drain_ms.map_or_else(|| String::from("NA"), |ms| ms.to_string());
            writeln!(
                out,
                "{},{},{},{},{:.4},{:.4},{:.3},{:.3},{},{},{}",
                scenario.name,
                strategy.name,
                fleet.clients,
                r.calls,
                ratio(r.successes, r.calls),
                ratio(r.successes_recovery, r.offered_recovery),
                ratio(r.arrivals_outage, r.offered_outage),
                ratio(r.arrivals_recovery, r.offered_recovery),
                drain,
                r.budget_denials,
                r.breaker_rejections,
            )?;
            out.flush()?;
            eprintln!(
                "scenarios: {} {}: {:.1} s",
                scenario.name,
                strategy.name,
                clock.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}
