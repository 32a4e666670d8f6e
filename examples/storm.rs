//! The storm simulator: the shipping sans-IO core (`edge_retry::core`) driven on a virtual
//! clock, deterministic for a given seed.
//!
//! ```text
//! cargo run --release --example storm -- occ --clients 10,20,30,40,50,100 --runs 100 --seed 1
//! cargo run --release --example storm -- outage --seed 1
//! cargo run --release --example storm -- occ --quick      # a few seconds, for CI
//! cargo run --release --example storm -- outage --quick
//! cargo run --release --example storm -- candidates --seeds 1,2,3 --hop-ms 10
//! cargo run --release --example storm -- scenarios --clients 100000 --seed 1
//! cargo run --release --example storm -- scenarios --quick
//! cargo run --release --example storm -- fleet [--isolates 4,16,64,256] [--quick]
//! cargo run --release --example storm -- hedge [--quick]
//! ```
//!
//! `fleet` puts N isolates through an outage with their own breakers and with breakers shared
//! through the fleet's hub (edge-retry/fleet, `storm/fleet.rs`).
//!
//! `hedge` drives hedged requests (SPEC 9) at fleet scale against a long-tail server and a
//! server near capacity (`storm/hedge.rs`).
//!
//! `scenarios` puts the library's defaults and the fixed strategies through a blip, an
//! outage, a long outage, a brownout, an overload, a hang and a rate limit (`storm/scenarios.rs`).
//!
//! `occ` reproduces the contention model of Marc Brooker's "Exponential Backoff and Jitter"
//! (AWS Architecture Blog, 2015); `outage` puts a fleet through a server outage and compares
//! retry strategies, budget and breaker included. Both print CSV on stdout (progress and the
//! model's parameters go to stderr). See `storm/occ.rs` and `storm/outage.rs` for the models.
//! `candidates` replays `occ` with the shared-isolate controllers that were tried against
//! full jitter (the adaptive pacer, `Policy::pacer`, won); see `storm/candidates.rs`.

#[path = "storm/candidates.rs"]
mod candidates;
#[path = "storm/fleet.rs"]
mod fleet;
#[path = "storm/hedge.rs"]
mod hedge;
#[path = "storm/occ.rs"]
mod occ;
#[path = "storm/outage.rs"]
mod outage;
#[path = "storm/rand.rs"]
mod rand;
#[path = "storm/scenarios.rs"]
mod scenarios;

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
usage: storm occ    [--clients 10,20,30,40,50,100] [--runs 100] [--seed 1] [--quick]
       storm outage [--seed 1] [--quick] [--fleets 1000:1,100000:0.1] [--load 0.7]
                    [--warmup-ms 30000] [--outage-ms 20000] [--window-ms 10000] [--tail-ms 45000]
                    [--queue-ms 2000] [--attempt-timeout-ms 1000] [--attempts 6] [--series FILE]
       storm scenarios [--clients 100000] [--rps 0.1] [--seed 1] [--only blip,outage,...] [--quick]
       storm candidates [--clients 10,20,30,40,50,100] [--runs 100] [--seeds 1,2,3] [--hop-ms 10] [--quick]
       storm fleet [--isolates 4,16,64,256] [--rps 20] [--seed 1] [--do-rtt-ms 30] [--refresh-ms 1000] [--report-ms 250] [--no-header] [--quick]
       storm hedge [--clients 100] [--rps 20] [--duration-ms 60000] [--load 0.9] [--seed 1] [--quick]
--quick: small parameters (seconds) so CI can check that the mode still runs.
--fleets: CLIENTS:RPS pairs, RPS being calls per second per client.";

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value.parse().map_err(|_| format!("{flag}: cannot read {value:?}"))
}

fn parse_list<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<Vec<T>, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .split(',')
        .map(|item| item.trim().parse().map_err(|_| format!("{flag}: cannot read {item:?}")))
        .collect()
}

fn parse_fleets(value: Option<String>) -> Result<Vec<outage::Fleet>, String> {
    let value = value.ok_or("--fleets needs a value")?;
    value
        .split(',')
        .map(|item| {
            let (clients, rps) = item.split_once(':').unwrap_or((item, "1"));
            let clients = clients.trim().parse().map_err(|_| format!("--fleets: cannot read {item:?}"))?;
            let rps: f64 = rps.trim().parse().map_err(|_| format!("--fleets: cannot read {item:?}"))?;
            if clients == 0 || !(rps > 0.0 && rps.is_finite()) {
                return Err(format!("--fleets: {item:?} must have clients >= 1 and rps > 0"));
            }
            Ok(outage::Fleet { clients, rps })
        })
        .collect()
}

fn occ_args(rest: Vec<String>) -> Result<occ::OccArgs, String> {
    let quick = rest.iter().any(|a| a == "--quick");
    let mut args = if quick {
        occ::OccArgs { clients: vec![10, 50], runs: 5, seed: 1 }
    } else {
        occ::OccArgs { clients: vec![10, 20, 30, 40, 50, 100], runs: 100, seed: 1 }
    };
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--clients" => args.clients = parse_list(&flag, it.next())?,
            "--runs" => args.runs = parse(&flag, it.next())?,
            "--seed" => args.seed = parse(&flag, it.next())?,
            _ => return Err(format!("occ: unknown argument {flag:?}")),
        }
    }
    if args.clients.is_empty() || args.clients.contains(&0) || args.runs == 0 {
        return Err(String::from("occ: --clients must be >= 1 each and --runs >= 1"));
    }
    Ok(args)
}

fn candidates_args(rest: Vec<String>) -> Result<candidates::CandidatesArgs, String> {
    let quick = rest.iter().any(|a| a == "--quick");
    let mut args = if quick {
        candidates::CandidatesArgs { clients: vec![10, 50], runs: 5, seeds: vec![1], hop_ms: 10.0 }
    } else {
        candidates::CandidatesArgs {
            clients: vec![10, 20, 30, 40, 50, 100],
            runs: 100,
            seeds: vec![1, 2, 3],
            hop_ms: 10.0,
        }
    };
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--clients" => args.clients = parse_list(&flag, it.next())?,
            "--runs" => args.runs = parse(&flag, it.next())?,
            "--seeds" => args.seeds = parse_list(&flag, it.next())?,
            "--hop-ms" => args.hop_ms = parse(&flag, it.next())?,
            _ => return Err(format!("candidates: unknown argument {flag:?}")),
        }
    }
    if args.clients.is_empty() || args.clients.contains(&0) || args.runs == 0 || args.seeds.is_empty() {
        return Err(String::from("candidates: --clients must be >= 1 each, --runs >= 1, --seeds not empty"));
    }
    if !(args.hop_ms > 0.0 && args.hop_ms <= 1_000.0) {
        return Err(String::from("candidates: --hop-ms must be in (0, 1000]"));
    }
    Ok(args)
}

fn outage_args(rest: Vec<String>) -> Result<outage::OutageArgs, String> {
    let quick = rest.iter().any(|a| a == "--quick");
    let mut args = outage::OutageArgs::default();
    if quick {
        args.fleets = vec![outage::Fleet { clients: 1_000, rps: 1.0 }];
        args.warmup_ms = 2_000;
        args.outage_ms = 3_000;
        args.window_ms = 3_000;
        args.tail_ms = 10_000;
    }
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--seed" => args.seed = parse(&flag, it.next())?,
            "--fleets" => args.fleets = parse_fleets(it.next())?,
            "--load" => args.load = parse(&flag, it.next())?,
            "--warmup-ms" => args.warmup_ms = parse(&flag, it.next())?,
            "--outage-ms" => args.outage_ms = parse(&flag, it.next())?,
            "--window-ms" => args.window_ms = parse(&flag, it.next())?,
            "--tail-ms" => args.tail_ms = parse(&flag, it.next())?,
            "--queue-ms" => args.queue_ms = parse(&flag, it.next())?,
            "--attempt-timeout-ms" => args.attempt_timeout_ms = parse(&flag, it.next())?,
            "--attempts" => args.attempts = parse(&flag, it.next())?,
            "--series" => args.series = Some(parse(&flag, it.next())?),
            _ => return Err(format!("outage: unknown argument {flag:?}")),
        }
    }
    if !(args.load > 0.0 && args.load.is_finite()) || args.attempts == 0 || args.warmup_ms < 2 {
        return Err(String::from("outage: --load must be > 0, --attempts >= 1, --warmup-ms >= 2"));
    }
    if args.attempt_timeout_ms == 0 || args.attempt_timeout_ms >= 60_000 {
        return Err(String::from("outage: --attempt-timeout-ms must be in 1..60000"));
    }
    Ok(args)
}

fn scenarios_args(rest: Vec<String>) -> Result<scenarios::ScenariosArgs, String> {
    let quick = rest.iter().any(|a| a == "--quick");
    let mut args = scenarios::ScenariosArgs {
        clients: if quick { 1_000 } else { 100_000 },
        rps: if quick { 1.0 } else { 0.1 },
        seed: 1,
        quick,
        only: Vec::new(),
    };
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--clients" => args.clients = parse(&flag, it.next())?,
            "--rps" => args.rps = parse(&flag, it.next())?,
            "--seed" => args.seed = parse(&flag, it.next())?,
            "--only" => args.only = parse_list(&flag, it.next())?,
            _ => return Err(format!("scenarios: unknown argument {flag:?}")),
        }
    }
    if args.clients == 0 || !(args.rps > 0.0 && args.rps.is_finite()) {
        return Err(String::from("scenarios: --clients must be >= 1 and --rps > 0"));
    }
    Ok(args)
}

fn fleet_args(rest: Vec<String>) -> Result<fleet::FleetArgs, String> {
    let mut args = fleet::FleetArgs::new(rest.iter().any(|a| a == "--quick"));
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--isolates" => args.isolates = parse_list(&flag, it.next())?,
            "--rps" => args.rps = parse(&flag, it.next())?,
            "--seed" => args.seed = parse(&flag, it.next())?,
            "--do-rtt-ms" => args.do_rtt_ms = parse(&flag, it.next())?,
            "--refresh-ms" => args.refresh_ms = parse(&flag, it.next())?,
            "--report-ms" => args.report_ms = parse(&flag, it.next())?,
            "--no-header" => args.header = false,
            _ => return Err(format!("fleet: unknown argument {flag:?}")),
        }
    }
    if args.isolates.is_empty() || args.isolates.contains(&0) || !(args.rps > 0.0 && args.rps.is_finite()) {
        return Err(String::from("fleet: --isolates must be >= 1 each and --rps > 0"));
    }
    if args.refresh_ms == 0 || args.report_ms == 0 {
        return Err(String::from("fleet: --refresh-ms and --report-ms must be >= 1"));
    }
    Ok(args)
}

fn hedge_args(rest: Vec<String>) -> Result<hedge::HedgeArgs, String> {
    let quick = rest.iter().any(|a| a == "--quick");
    let mut args = if quick {
        hedge::HedgeArgs { clients: 20, rps: 20.0, duration_ms: 5_000, seed: 1, load: 0.9 }
    } else {
        hedge::HedgeArgs { clients: 100, rps: 20.0, duration_ms: 60_000, seed: 1, load: 0.9 }
    };
    let mut it = rest.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--clients" => args.clients = parse(&flag, it.next())?,
            "--rps" => args.rps = parse(&flag, it.next())?,
            "--duration-ms" => args.duration_ms = parse(&flag, it.next())?,
            "--seed" => args.seed = parse(&flag, it.next())?,
            "--load" => args.load = parse(&flag, it.next())?,
            _ => return Err(format!("hedge: unknown argument {flag:?}")),
        }
    }
    if args.clients == 0 || !(args.rps > 0.0 && args.rps.is_finite()) || args.duration_ms == 0 {
        return Err(String::from("hedge: --clients must be >= 1, --rps > 0, --duration-ms >= 1"));
    }
    if !(args.load > 0.0 && args.load <= 1.0) {
        return Err(String::from("hedge: --load must be in (0, 1]"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let mode = argv.next().unwrap_or_default();
    let rest: Vec<String> = argv.collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match mode.as_str() {
        "occ" => occ_args(rest).and_then(|a| occ::run(&a, &mut out).map_err(|e| e.to_string())),
        "outage" => outage_args(rest).and_then(|a| outage::run(&a, &mut out).map_err(|e| e.to_string())),
        "scenarios" => {
            scenarios_args(rest).and_then(|a| scenarios::run(&a, &mut out).map_err(|e| e.to_string()))
        }
        "fleet" => fleet_args(rest).and_then(|a| fleet::run(&a, &mut out).map_err(|e| e.to_string())),
        "candidates" => {
            candidates_args(rest).and_then(|a| candidates::run(&a, &mut out).map_err(|e| e.to_string()))
        }
        "hedge" => hedge_args(rest).and_then(|a| hedge::run(&a, &mut out).map_err(|e| e.to_string())),
        "-h" | "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("unknown mode {mode:?}")),
    };
    match result.and_then(|()| out.flush().map_err(|e| e.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("storm: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
