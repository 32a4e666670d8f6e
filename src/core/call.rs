//! One call's state machine. The driver (JS or the storm simulator) starts a call, performs
//! each [`Action`] it is given, and reports back; the call decides everything else.
//!
//! ```text
//!   start ──► Send ──outcome──► Retry(delay) ──(wait)──► resume ──► Send …
//!                       │                 └──decline──► Settle
//!                       └────────────────► Settle(Last | Deadline)        abort ──► Settle
//! ```
//!
//! A hedged call (SPEC 9, [`Call::is_hedged`]) may have several attempts in flight: after a
//! Send, [`Call::hedge_after`] says when to ask [`Call::hedge`] for another copy, and each
//! attempt's outcome is reported with its number through [`Call::on_outcome_of`]. The first
//! outcome that would settle wins (the driver aborts the others); a retryable one while others
//! are still out answers `None`: wait for them.

use alloc::boxed::Box;

use super::backoff::{backoff_delay, unit};
use super::breaker::Admission;
use super::breaker::StateName;
use super::classify::{Outcome, RetryReason};
use super::engine::Engine;
use super::headers::{ServerHints, server_wait_ms};
use super::hedge::{HedgeDelay, HedgeSettings, LatencyWindow, MAX_HEDGES};
use super::pacer::{Plan, Signal};
use super::policy::Policy;
use super::registry::Place;

/// What the driver must do next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Send attempt number `attempt` (from 1). With `timeout_ms`, cut it after that long and
    /// report [`Outcome::Timeout`]; `deadline_bound` says the cut is the call's own deadline.
    Send { attempt: u32, timeout_ms: Option<u64>, deadline_bound: bool },
    /// The rules allow a retry after `delay_ms`. Ask `shouldRetry` (then [`Call::decline`] or
    /// go on), fire `onRetry`, wait, then [`Call::resume`]. `attempt` is the one that failed.
    Retry { attempt: u32, delay_ms: u64, reason: RetryReason, server_wait: bool },
    /// The call is over.
    Settle(Settle),
}

/// How a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// With the last attempt's outcome: resolve with its response, or reject with its error.
    Last,
    /// The call's deadline (`timeoutMs`) was reached during an attempt: reject, TimeoutError.
    Deadline,
    /// The breaker refused the first attempt: reject with `CircuitOpenError`.
    CircuitOpen { retry_after_ms: u64 },
    /// The caller aborted.
    Aborted,
}

/// A report that does not fit the call's phase (the driver's bug, never a panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    Settled,
    NotInFlight,
    NotWaiting,
    /// `on_outcome_of` named an attempt that is not in flight.
    UnknownAttempt,
    /// `on_outcome` on a hedged call whose other attempts are still out: use `on_outcome_of`.
    OthersInFlight,
}

/// An attempt beyond the first, as [`Call::take_extra`] checks it: a retry (with the pacer's
/// slot to reserve, if it paces) or a hedge.
#[derive(Clone, Copy)]
enum Extra {
    Retry { paced: Option<Plan> },
    Hedge,
}

/// Why [`Call::take_extra`] refused an extra attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Breaker,
    /// The retry cap or the budget: counted as a budget denial for a retry.
    Budget,
}

/// The most attempts a hedged call has out at once: the first and [`MAX_HEDGES`] hedges.
const MAX_FLIGHTS: usize = MAX_HEDGES as usize + 1;

/// One attempt of a hedged call in flight (`attempt` 0: a free place).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Flight {
    attempt: u32,
    sent_at: u64,
    deadline_bound: bool,
}

/// What a hedged call keeps beside the plain state (boxed: a call without `hedge` carries a
/// null pointer, not this).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hedging {
    settings: HedgeSettings,
    /// Hedges sent so far in this call.
    sent: u32,
    flights: [Flight; MAX_FLIGHTS],
    /// Ask for the next hedge this long after the latest send; `None`: no more for now.
    after: Option<u64>,
}

impl Hedging {
    fn in_flight(&self) -> usize {
        self.flights.iter().filter(|f| f.attempt != 0).count()
    }

    fn add(&mut self, flight: Flight) -> bool {
        match self.flights.iter_mut().find(|f| f.attempt == 0) {
            Some(free) => {
                *free = flight;
                true
            }
            None => false,
        }
    }

    fn take(&mut self, attempt: u32) -> Option<Flight> {
        let found = self.flights.iter_mut().find(|f| f.attempt == attempt && attempt != 0)?;
        Some(core::mem::take(found))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `probe`: the breaker round this attempt probes for, when it is a half-open probe.
    InFlight {
        probe: Option<u32>,
        deadline_bound: bool,
    },
    Waiting {
        tokens: u32,
        server_wait: bool,
    },
    Settled,
}

#[derive(Clone, Debug)]
pub struct Call {
    /// The call's key, and where its state was last found.
    key: Place,
    started_at: u64,
    deadline: Option<u64>,
    attempts: u32,
    /// The method and body allow more than one attempt.
    repeatable: bool,
    previous_delay: u64,
    last: Option<Outcome>,
    phase: Phase,
    /// When the attempt in flight (or the last one) was sent: the pacer learns attempt times.
    sent_at: u64,
    /// Present when the policy hedges and the request may be sent again.
    hedging: Option<Box<Hedging>>,
}

impl Call {
    /// Starts a call at `now`. `repeatable` is false when the method is not retried (see
    /// [`super::classify::method_is_retryable`]) or the body cannot be replayed.
    pub fn start(
        engine: &mut Engine,
        policy: &Policy,
        key: &str,
        repeatable: bool,
        now: u64,
    ) -> (Call, Action) {
        Call::start_from(engine, policy, key, repeatable, now, now)
    }

    /// Starts at `now` a call that the caller began at `began` (before reading its body, say):
    /// its deadline and latency count from `began`.
    pub fn start_from(
        engine: &mut Engine,
        policy: &Policy,
        key: &str,
        repeatable: bool,
        began: u64,
        now: u64,
    ) -> (Call, Action) {
        let place = engine.place(key, policy);
        Call::start_at(engine, policy, place, repeatable, began, now)
    }

    /// [`Call::start_from`] for the key at `place` (from [`Engine::place`] with the same
    /// policy, kept by a caller whose calls repeat a key): no lookup of the key.
    pub fn start_at(
        engine: &mut Engine,
        policy: &Policy,
        place: Place,
        repeatable: bool,
        began: u64,
        now: u64,
    ) -> (Call, Action) {
        let mut call = Call::new(engine, policy, place, repeatable, began.min(now));
        let action = call.send(engine, policy, now, true);
        (call, action)
    }

    /// [`Call::start_at`] for a call whose first attempt went out at `began` without asking
    /// the core, under a lease (see [`Call::leases`]): the attempt counts as sent then and as
    /// admitted, as it was while the lease held, even if the breaker has changed since.
    pub fn start_admitted(
        engine: &mut Engine,
        policy: &Policy,
        place: Place,
        repeatable: bool,
        began: u64,
    ) -> (Call, Action) {
        let mut call = Call::new(engine, policy, place, repeatable, began);
        let action = call.send(engine, policy, began, false);
        (call, action)
    }

    /// A call that began at `began`, counted, not yet sent.
    fn new(engine: &mut Engine, policy: &Policy, place: Place, repeatable: bool, began: u64) -> Call {
        engine.stats.counters.calls += 1;
        Call {
            key: place,
            started_at: began,
            deadline: policy.timeout_ms.map(|t| began.saturating_add(t)),
            attempts: 0,
            repeatable,
            previous_delay: policy.base_delay_ms,
            last: None,
            // Not yet sent; `send` moves it on.
            phase: Phase::Waiting { tokens: 0, server_wait: false },
            sent_at: began,
            hedging: policy.hedge.filter(|_| repeatable).map(|settings| {
                Box::new(Hedging {
                    settings,
                    sent: 0,
                    flights: [Flight::default(); MAX_FLIGHTS],
                    after: None,
                })
            }),
        }
    }

    /// Where the call's key state is, as its last step found it.
    pub fn place(&self) -> &Place {
        &self.key
    }

    /// Whether plain calls to this call's key with its policy may go out without asking the
    /// core until a failure is reported (a lease; driver.js keeps it). True when the policy
    /// does not hedge, and the breaker admitted this first attempt as closed (not as a
    /// half-open probe), or the policy has none: while the breaker stays closed, such a call
    /// would be admitted alike and sent with nothing more to ask. A timeout does not stand in
    /// the way: a first attempt sent when its call begins is always cut at the same time, the
    /// per-attempt timeout or the deadline, whichever is sooner (this call's `Send` says which),
    /// and a timeout is a failure reported like any other. Nor does a policy that retries a
    /// 2xx get one: driver.js records a leased 2xx later, in a burst, by which time its call
    /// has been answered. Its outcome is then reported through [`Call::start_admitted`].
    pub fn leases(&self, policy: &Policy) -> bool {
        self.attempts == 1
            && matches!(self.phase, Phase::InFlight { probe: None, .. })
            && policy.hedge.is_none()
            && !policy.retry_on.has_success()
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn is_settled(&self) -> bool {
        self.phase == Phase::Settled
    }

    pub fn last_outcome(&self) -> Option<Outcome> {
        self.last
    }

    pub fn key(&self) -> &str {
        self.key.key()
    }

    /// Reports how the attempt in flight ended, with the response's wait hints (if any).
    /// (A hedged call with several attempts out reports through [`Call::on_outcome_of`].)
    pub fn on_outcome(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        outcome: Outcome,
        hints: &ServerHints,
        now: u64,
        rnd: f64,
    ) -> Result<Action, CallError> {
        if self.hedging.is_some() {
            let latest = self.attempts;
            return self
                .on_outcome_of(engine, policy, latest, outcome, hints, now, rnd)?
                .ok_or(CallError::OthersInFlight);
        }
        let Phase::InFlight { probe, deadline_bound } = self.phase else {
            return Err(self.phase_error());
        };
        self.last = Some(outcome);
        if deadline_bound && outcome == Outcome::Timeout {
            // Cut by our own deadline: says nothing about the server. `settle` frees the probe
            // slot (the phase is still in flight); freeing it here as well released two slots.
            return Ok(self.settle(engine, policy, now, Settle::Deadline));
        }
        let sent_at = self.sent_at;
        self.learn(engine, policy, outcome, probe, sent_at, now);
        Ok(self.decide_retry(engine, policy, outcome, hints, now, rnd))
    }

    /// Reports how attempt number `attempt` ended. `None`: the outcome would be retried but
    /// other attempts are still in flight, so the call goes on with them (SPEC 9). Otherwise
    /// the next action; when it is not a Send the driver aborts the attempts still out.
    #[allow(clippy::too_many_arguments)]
    pub fn on_outcome_of(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        attempt: u32,
        outcome: Outcome,
        hints: &ServerHints,
        now: u64,
        rnd: f64,
    ) -> Result<Option<Action>, CallError> {
        let Phase::InFlight { probe, .. } = self.phase else {
            return Err(self.phase_error());
        };
        let Some(hedging) = self.hedging.as_mut() else {
            if attempt != self.attempts {
                return Err(CallError::UnknownAttempt);
            }
            return self.on_outcome(engine, policy, outcome, hints, now, rnd).map(Some);
        };
        let flight = hedging.take(attempt).ok_or(CallError::UnknownAttempt)?;
        let others = hedging.in_flight() > 0;
        if others && outcome.is_retryable(policy) && !(flight.deadline_bound && outcome == Outcome::Timeout) {
            // Learn from it, then keep waiting for the attempts still out.
            self.learn(engine, policy, outcome, probe, flight.sent_at, now);
            self.phase = Phase::InFlight { probe: None, deadline_bound: false };
            self.last = Some(outcome);
            return Ok(None);
        }
        self.last = Some(outcome);
        if flight.deadline_bound && outcome == Outcome::Timeout {
            return Ok(Some(self.settle(engine, policy, now, Settle::Deadline)));
        }
        self.learn(engine, policy, outcome, probe, flight.sent_at, now);
        if others {
            // It would settle the call: it wins over the attempts still out.
            return Ok(Some(self.settle(engine, policy, now, Settle::Last)));
        }
        Ok(Some(self.decide_retry(engine, policy, outcome, hints, now, rnd)))
    }

    /// What one attempt's outcome teaches the key (see [`learn`]).
    fn learn(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        outcome: Outcome,
        probe: Option<u32>,
        sent_at: u64,
        now: u64,
    ) {
        learn(engine, &mut self.key, policy, outcome, probe, sent_at, now);
    }

    /// A 2xx at `now` that `policy` does not retry, for a call sent at `began` under a lease
    /// (see [`Call::leases`]): what [`Call::start_admitted`] and this outcome would record,
    /// with no call made: the counts, the attempt's windows, what the key learns, the latency.
    /// Whether the key's breaker is closed after it (or the policy has none): whether the
    /// lease may go on.
    pub fn record_leased_success(
        engine: &mut Engine,
        policy: &Policy,
        place: &mut Place,
        began: u64,
        now: u64,
        status: u16,
    ) -> bool {
        engine.stats.counters.calls += 1;
        engine.stats.counters.attempts += 1;
        engine.note_attempt(place, policy, began, false);
        let closed = learn(engine, place, policy, Outcome::Response(status), None, began, now);
        engine.stats.counters.successes += 1;
        engine.stats.record_latency(now.saturating_sub(began));
        closed
    }

    fn decide_retry(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        outcome: Outcome,
        hints: &ServerHints,
        now: u64,
        rnd: f64,
    ) -> Action {
        if !outcome.is_retryable(policy) || !self.repeatable || self.attempts >= policy.max_attempts {
            return self.settle(engine, policy, now, Settle::Last);
        }
        self.plan_retry(engine, policy, outcome, hints, now, rnd)
    }

    /// The retry of a retryable outcome, or the settle that something (the server's wait, the
    /// deadline, the budget) forces instead. Out of line: V8 compiles a wasm function on its
    /// first call, and a call that settles at once (a 2xx) then never compiles this, the
    /// module's largest function (a first call compiled 29 KB of code in Node before, 23 after).
    /// Only in wasm: a native build has nothing to compile at run time.
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn plan_retry(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        outcome: Outcome,
        hints: &ServerHints,
        now: u64,
        rnd: f64,
    ) -> Action {
        let remaining = self.deadline.map(|d| d.saturating_sub(now));
        let server = match outcome {
            Outcome::Response(_) if policy.respect_retry_after => server_wait_ms(hints, now),
            _ => None,
        };
        let mut paced: Option<Plan> = None;
        let delay = match server {
            Some(asked) => {
                if asked > policy.max_retry_after_ms || remaining.is_some_and(|r| asked >= r) {
                    return self.settle(engine, policy, now, Settle::Last);
                }
                let extra = (unit(rnd) * policy.retry_after_jitter * asked as f64) as u64;
                let lengthened = asked.saturating_add(extra);
                // Trim the lengthening so the wait still ends before the deadline.
                remaining.map_or(lengthened, |r| lengthened.min(r.saturating_sub(1)).max(asked))
            }
            None => {
                let mut backoff = backoff_delay(policy, self.attempts, self.previous_delay, rnd);
                if policy.pacer.is_some() {
                    if let Some(state) = engine.state(&mut self.key, policy) {
                        // Shared pacing: the own backoff is a floor; the slot is reserved
                        // below, once nothing else has stopped the retry.
                        let plan = state.pacer.plan(now, backoff, policy.max_delay_ms);
                        backoff = plan.delay_ms;
                        paced = Some(plan);
                    }
                }
                if remaining.is_some_and(|r| backoff >= r) {
                    return self.settle(engine, policy, now, Settle::Last);
                }
                backoff
            }
        };
        let cost = policy.budget.map(|settings| match outcome {
            Outcome::Response(_) => settings.retry_cost,
            Outcome::NetworkError | Outcome::Timeout => settings.timeout_cost,
        });
        let tokens = match self.take_extra(engine, policy, Extra::Retry { paced }, cost, now) {
            Ok(tokens) => tokens,
            Err(refusal) => {
                if refusal == Refusal::Budget {
                    engine.stats.counters.budget_denials += 1;
                }
                return self.settle(engine, policy, now, Settle::Last);
            }
        };
        if tokens > 0 {
            engine.fleet_spend(policy, self.key.key(), tokens);
        }
        self.previous_delay = delay;
        self.phase = Phase::Waiting { tokens, server_wait: server.is_some() };
        Action::Retry {
            attempt: self.attempts,
            delay_ms: delay,
            reason: outcome.reason(),
            server_wait: server.is_some(),
        }
    }

    /// The wait is over: send the retry, unless the breaker or the deadline says otherwise.
    pub fn resume(&mut self, engine: &mut Engine, policy: &Policy, now: u64) -> Result<Action, CallError> {
        let Phase::Waiting { server_wait, .. } = self.phase else {
            return Err(self.phase_error());
        };
        let action = self.send(engine, policy, now, true);
        if matches!(action, Action::Send { .. }) {
            engine.stats.counters.retries += 1;
            if server_wait {
                engine.stats.counters.retry_after_waits += 1;
            }
        }
        Ok(action)
    }

    /// `shouldRetry` said no: settle with the last outcome, and give back the retry's tokens.
    pub fn decline(&mut self, engine: &mut Engine, policy: &Policy, now: u64) -> Result<Action, CallError> {
        if !matches!(self.phase, Phase::Waiting { .. }) {
            return Err(self.phase_error());
        }
        Ok(self.settle(engine, policy, now, Settle::Last))
    }

    /// The caller aborted: free what the call holds and settle.
    pub fn abort(&mut self, engine: &mut Engine, policy: &Policy, now: u64) -> Result<Action, CallError> {
        if self.phase == Phase::Settled {
            return Err(CallError::Settled);
        }
        Ok(self.settle(engine, policy, now, Settle::Aborted))
    }

    /// Whether this call hedges (its policy has `hedge` and its request may be sent again).
    pub fn is_hedged(&self) -> bool {
        self.hedging.is_some()
    }

    /// After a Send of a hedged call: ask [`Call::hedge`] this many ms after it, if no outcome
    /// has settled the call by then. `None`: no hedge is possible now.
    pub fn hedge_after(&self) -> Option<u64> {
        self.hedging.as_ref().and_then(|h| h.after)
    }

    /// The hedge delay has passed with attempts still in flight: send another copy (a Send,
    /// which counts as an attempt and pays `retryCost`), or `None` when no hedge may go: hedges
    /// or attempts used up, the deadline reached, the breaker not closed, no tokens, or the
    /// retry cap reached. Either way [`Call::hedge_after`] then says when to ask again.
    pub fn hedge(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        now: u64,
    ) -> Result<Option<Action>, CallError> {
        let Phase::InFlight { probe, .. } = self.phase else {
            return Err(self.phase_error());
        };
        let Some(hedging) = self.hedging.as_mut() else { return Ok(None) };
        hedging.after = None;
        let remaining = self.deadline.map(|d| d.saturating_sub(now));
        if hedging.sent >= hedging.settings.max_hedges
            || self.attempts >= policy.max_attempts
            || hedging.in_flight() >= MAX_FLIGHTS
            || remaining == Some(0)
            || probe.is_some()
        {
            return Ok(None);
        }
        let cost = policy.budget.map(|settings| settings.retry_cost);
        if self.take_extra(engine, policy, Extra::Hedge, cost, now).is_err() {
            return Ok(None);
        }
        if let Some(cost) = cost {
            engine.fleet_spend(policy, self.key.key(), cost);
        }
        let (timeout_ms, deadline_bound) = attempt_timeout(policy, remaining);
        // Extra load like a retry's, so storm detection counts it as one.
        engine.note_attempt(&mut self.key, policy, now, true);
        self.attempts += 1;
        self.sent_at = now;
        engine.stats.counters.attempts += 1;
        engine.stats.counters.hedges += 1;
        let attempt = self.attempts;
        if let Some(hedging) = self.hedging.as_mut() {
            hedging.sent += 1;
            hedging.add(Flight { attempt, sent_at: now, deadline_bound });
        }
        self.plan_hedge(engine, policy, now);
        Ok(Some(Action::Send { attempt, timeout_ms, deadline_bound }))
    }

    /// What an extra attempt (a retry or a hedge) needs of the key's state: a breaker still
    /// letting it through, room under the retry cap, and `cost` tokens of the budget (the
    /// fleet's too, when shared), which it takes. The tokens taken, or what refused. One copy
    /// for both: the checks are the same, in the same order.
    fn take_extra(
        &mut self,
        engine: &mut Engine,
        policy: &Policy,
        extra: Extra,
        cost: Option<u32>,
        now: u64,
    ) -> Result<u32, Refusal> {
        let fleet_pays = cost.is_none_or(|cost| engine.fleet_can_pay(policy, self.key.key(), cost, now));
        let mut tokens = 0;
        if let Some(state) = engine.state(&mut self.key, policy) {
            if let Some(settings) = &policy.breaker {
                // Retries already under way stop when the breaker has opened meanwhile; a
                // hedge goes only while it is closed.
                let stopped = match extra {
                    Extra::Retry { .. } => state.breaker.is_refusing(settings, now),
                    Extra::Hedge => state.breaker.stored_state() != StateName::Closed,
                };
                if stopped {
                    return Err(Refusal::Breaker);
                }
            }
            if policy.retry_cap.is_some_and(|s| !state.retry_cap.allows(&s, now)) {
                return Err(Refusal::Budget);
            }
            if let (Some(settings), Some(cost)) = (&policy.budget, cost) {
                // The fleet's budget (when shared) and the own must both pay.
                if !fleet_pays || !state.budget.try_take(settings, cost) {
                    return Err(Refusal::Budget);
                }
                tokens = cost;
            }
            if let Some(settings) = &policy.retry_cap {
                state.retry_cap.note_retry(settings, now);
            }
            if let Extra::Retry { paced: Some(plan) } = extra {
                state.pacer.commit(plan);
            }
        }
        Ok(tokens)
    }

    /// Sets when the next hedge may be asked for, from `now` (a send).
    fn plan_hedge(&mut self, engine: &mut Engine, policy: &Policy, now: u64) {
        let Some(hedging) = self.hedging.as_ref() else { return };
        let possible = hedging.sent < hedging.settings.max_hedges
            && self.attempts < policy.max_attempts
            && hedging.in_flight() < MAX_FLIGHTS;
        let delay = match hedging.settings.delay {
            _ if !possible => None,
            HedgeDelay::Fixed(ms) => Some(ms),
            HedgeDelay::Auto => engine
                .state(&mut self.key, policy)
                .and_then(|s| s.latency.as_deref().and_then(LatencyWindow::auto_delay)),
        };
        // A hedge that could only go at or past the deadline is none.
        let delay = delay.filter(|d| self.deadline.is_none_or(|end| now.saturating_add(*d) < end));
        if let Some(hedging) = self.hedging.as_mut() {
            hedging.after = delay;
        }
    }

    /// Sends the next attempt, asking the breaker first unless `admit` is false (an attempt
    /// already out: [`Call::start_admitted`]).
    fn send(&mut self, engine: &mut Engine, policy: &Policy, now: u64, admit: bool) -> Action {
        let remaining = self.deadline.map(|d| d.saturating_sub(now));
        let first = self.attempts == 0;
        if remaining == Some(0) {
            let how = if first { Settle::Deadline } else { Settle::Last };
            return self.settle(engine, policy, now, how);
        }
        let mut probe = None;
        if admit && policy.breaker.is_some() {
            let admission = engine
                .with_breaker_at(&mut self.key, policy, now, |breaker, settings| {
                    (breaker.admit(settings, now), breaker.probe_epoch())
                })
                .unwrap_or((Admission::Pass { probe: false }, 0));
            match admission {
                (Admission::Pass { probe: true }, epoch) => probe = Some(epoch),
                (Admission::Pass { probe: false }, _) => {}
                (Admission::Refuse { retry_after_ms }, _) if first => {
                    engine.stats.counters.breaker_rejections += 1;
                    return self.settle(engine, policy, now, Settle::CircuitOpen { retry_after_ms });
                }
                (Admission::Refuse { .. }, _) => return self.settle(engine, policy, now, Settle::Last),
            }
        }
        let (timeout_ms, deadline_bound) = attempt_timeout(policy, remaining);
        engine.note_attempt(&mut self.key, policy, now, !first);
        self.attempts += 1;
        self.sent_at = now;
        engine.stats.counters.attempts += 1;
        self.phase = Phase::InFlight { probe, deadline_bound };
        if let Some(hedging) = self.hedging.as_mut() {
            hedging.add(Flight { attempt: self.attempts, sent_at: now, deadline_bound });
            self.plan_hedge(engine, policy, now);
        }
        Action::Send { attempt: self.attempts, timeout_ms, deadline_bound }
    }

    fn settle(&mut self, engine: &mut Engine, policy: &Policy, now: u64, how: Settle) -> Action {
        match self.phase {
            Phase::Settled => return Action::Settle(how),
            Phase::InFlight { probe: Some(epoch), .. } => {
                if let Some(state) = engine.state(&mut self.key, policy) {
                    state.breaker.release_probe_of(epoch);
                }
            }
            Phase::Waiting { tokens, .. } if tokens > 0 => {
                engine.fleet_give_back(policy, self.key.key(), tokens);
                if let (Some(settings), Some(state)) = (&policy.budget, engine.state(&mut self.key, policy)) {
                    state.budget.refund(settings, tokens);
                }
            }
            Phase::InFlight { .. } | Phase::Waiting { .. } => {}
        }
        if self.hedging.is_some() {
            self.settle_hedges(engine, policy, now, how);
        }
        self.phase = Phase::Settled;
        let stats = &mut engine.stats;
        let succeeded = how == Settle::Last && self.last.is_some_and(|o| is_success(o, policy));
        if succeeded {
            stats.counters.successes += 1;
        } else {
            stats.counters.failures += 1;
        }
        stats.record_latency(now.saturating_sub(self.started_at));
        Action::Settle(how)
    }

    /// A hedged call's part of settling: no more hedges, and for "auto" the attempts still out
    /// count in the latency window. Out of line, as `plan_retry` is: few calls hedge.
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn settle_hedges(&mut self, engine: &mut Engine, policy: &Policy, now: u64, how: Settle) {
        let Some(hedging) = self.hedging.as_mut() else { return };
        hedging.after = None;
        let flights = core::mem::take(&mut hedging.flights);
        // Attempts still out lose: for "auto", they had been out this long at least.
        let auto = hedging.settings.delay == HedgeDelay::Auto && how != Settle::Aborted;
        if auto && flights.iter().any(|f| f.attempt != 0) {
            if let Some(state) = engine.state(&mut self.key, policy) {
                let window = state.latency.get_or_insert_with(Box::default);
                for f in flights.iter().filter(|f| f.attempt != 0) {
                    window.record(now.saturating_sub(f.sent_at));
                }
            }
        }
    }

    fn phase_error(&self) -> CallError {
        match self.phase {
            Phase::Settled => CallError::Settled,
            Phase::InFlight { .. } => CallError::NotWaiting,
            Phase::Waiting { .. } => CallError::NotInFlight,
        }
    }
}

/// What one attempt's outcome teaches the key at `place`: breaker, budget refund, pacer,
/// latency. Whether its breaker is closed after it (or the policy has none).
fn learn(
    engine: &mut Engine,
    place: &mut Place,
    policy: &Policy,
    outcome: Outcome,
    probe: Option<u32>,
    sent_at: u64,
    now: u64,
) -> bool {
    let success = is_success(outcome, policy);
    let failure = outcome.is_breaker_failure(policy);
    if let (Some(settings), true) = (&policy.budget, success) {
        engine.fleet_give_back(policy, place.key(), settings.success_refund);
    }
    // One visit to the key's state for all of it.
    engine
        .with_state_at(place, policy, now, |state| {
            if let Some(settings) = &policy.breaker {
                match probe {
                    Some(epoch) => state.breaker.record_probe_of(settings, now, failure, epoch),
                    None => state.breaker.record(settings, now, failure, false),
                }
            }
            if let (Some(settings), true) = (&policy.budget, success) {
                state.budget.refund(settings, settings.success_refund);
            }
            if let Some(settings) = &policy.pacer {
                let signal = match outcome {
                    o if o.is_retryable(policy) => Signal::Failure,
                    _ if success => Signal::Success,
                    _ => Signal::Neutral,
                };
                state.pacer.observe(settings, sent_at, now, signal, policy.max_delay_ms);
            }
            if policy.hedge.is_some_and(|h| h.delay == HedgeDelay::Auto) {
                state.latency.get_or_insert_with(Box::default).record(now.saturating_sub(sent_at));
            }
            policy.breaker.is_none() || state.breaker.stored_state() == StateName::Closed
        })
        .unwrap_or(true)
}

/// An attempt's timeout: the per-attempt one, or what is left before the deadline when that
/// is sooner (`true`: the cut is the call's own deadline).
fn attempt_timeout(policy: &Policy, remaining: Option<u64>) -> (Option<u64>, bool) {
    match (policy.attempt_timeout_ms, remaining) {
        (Some(a), Some(r)) if r <= a => (Some(r), true),
        (Some(a), _) => (Some(a), false),
        (None, Some(r)) => (Some(r), true),
        (None, None) => (None, false),
    }
}

/// A response that is neither retried nor a server error: it earns budget back and counts as
/// a success in the stats.
pub fn is_success(outcome: Outcome, policy: &Policy) -> bool {
    matches!(outcome, Outcome::Response(status) if status < 500 && !policy.retry_on.contains(status))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::core::policy::{BreakerSettings, StatusSet};

    #[test]
    fn a_call_started_late_keeps_the_deadline_of_when_it_began() {
        let mut engine = Engine::new();
        let policy = Policy { timeout_ms: Some(1000), attempt_timeout_ms: None, ..Policy::default() };
        // Reading the body took 400 ms: 600 ms are left for the first attempt.
        let (_, action) = Call::start_from(&mut engine, &policy, "k", true, 10_000, 10_400);
        assert_eq!(action, Action::Send { attempt: 1, timeout_ms: Some(600), deadline_bound: true });
        // Reading took the whole budget: the call times out without sending.
        let (mut call, action) = Call::start_from(&mut engine, &policy, "k", true, 10_000, 11_000);
        assert_eq!(action, Action::Settle(Settle::Deadline));
        assert_eq!(engine.stats.counters.attempts, 1);
        assert!(call.is_settled());
        assert_eq!(call.abort(&mut engine, &policy, 11_000), Err(CallError::Settled));
    }
    #[test]
    fn a_call_started_admitted_skips_the_breaker_and_records_as_one_started_then() {
        let breaker =
            BreakerSettings { minimum_requests: 2, failure_ratio: 0.5, open_ms: 1000, ..Default::default() };
        let policy = Policy { breaker: Some(breaker), max_attempts: 1, ..Policy::default() };
        let ok = Outcome::Response(200);
        let hints = ServerHints::default();
        // The same 2xx, one call started as usual, the other admitted (sent under a lease).
        let mut asked = Engine::with_defaults(&policy);
        let mut leased = Engine::with_defaults(&policy);
        let (mut call, action) = Call::start_from(&mut asked, &policy, "k", true, 10, 10);
        assert!(call.leases(&policy), "closed, no hedge");
        assert_eq!(action, Action::Send { attempt: 1, timeout_ms: None, deadline_bound: false });
        call.on_outcome(&mut asked, &policy, ok, &hints, 15, 0.5).unwrap();
        let place = leased.place("k", &policy);
        let (mut call, action) = Call::start_admitted(&mut leased, &policy, place, true, 10);
        assert!(matches!(action, Action::Send { attempt: 1, .. }));
        call.on_outcome(&mut leased, &policy, ok, &hints, 15, 0.5).unwrap();
        assert_eq!(asked.stats.counters, leased.stats.counters);
        assert_eq!(asked.breaker_snapshot("k", 20), leased.breaker_snapshot("k", 20));
        // A failure opens the breaker (one of two): a call asks and is refused; one admitted is sent.
        let (mut call, _) = Call::start_from(&mut leased, &policy, "k", true, 20, 20);
        call.on_outcome(&mut leased, &policy, Outcome::NetworkError, &hints, 21, 0.5).unwrap();
        let (_, action) = Call::start_from(&mut leased, &policy, "k", true, 22, 22);
        assert!(matches!(action, Action::Settle(Settle::CircuitOpen { .. })));
        let place = leased.place("k", &policy);
        let (call, action) = Call::start_admitted(&mut leased, &policy, place, true, 19);
        assert!(matches!(action, Action::Send { attempt: 1, .. }), "sent whatever the breaker says");
        assert_eq!(call.attempts(), 1);
        // A policy with a hedge grants no lease; one with a timeout does, and a call started
        // admitted later is cut when the call that granted it was: the sooner of the two.
        let hedged = Policy { hedge: Some(HedgeSettings::default()), ..Policy::default() };
        let (call, _) = Call::start_from(&mut Engine::with_defaults(&hedged), &hedged, "k", true, 0, 0);
        assert!(!call.leases(&hedged));
        // Nor one that retries a 2xx, at either end of the range; a 199 or a 300 is no 2xx.
        for (status, leases) in [(200, false), (299, false), (199, true), (300, true)] {
            let retrying = Policy { retry_on: StatusSet::from_slice(&[status, 503]), ..Policy::default() };
            let (call, _) =
                Call::start_from(&mut Engine::with_defaults(&retrying), &retrying, "k", true, 0, 0);
            assert_eq!(call.leases(&retrying), leases, "retryOn {status}");
        }
        for (attempt, deadline, cut, bound) in [
            (Some(100), None, 100, false),
            (None, Some(80), 80, true),
            (Some(100), Some(80), 80, true),
            (Some(60), Some(80), 60, false),
        ] {
            let timed = Policy { attempt_timeout_ms: attempt, timeout_ms: deadline, ..Policy::default() };
            let mut engine = Engine::with_defaults(&timed);
            let (call, action) = Call::start_from(&mut engine, &timed, "k", true, 5, 5);
            assert!(call.leases(&timed), "{attempt:?} {deadline:?}");
            let sent = Action::Send { attempt: 1, timeout_ms: Some(cut), deadline_bound: bound };
            assert_eq!(action, sent);
            let place = engine.place("k", &timed);
            assert_eq!(Call::start_admitted(&mut engine, &timed, place, true, 900).1, sent);
        }
    }
    /// The same history on two engines, each leased success recorded one way on the first
    /// (started admitted, then its outcome) and the other on the second (in one step): the
    /// counts, breakers, budgets, pacers and events must not tell them apart.
    #[test]
    fn a_leased_success_records_what_an_admitted_call_and_its_2xx_record() {
        use crate::core::pacer::PacerSettings;
        use crate::core::rng::SplitMix64;
        use crate::core::storm::StormSettings;
        let breaker =
            BreakerSettings { minimum_requests: 3, failure_ratio: 0.5, open_ms: 40, ..Default::default() };
        let policies = [
            Policy { breaker: Some(breaker), ..Policy::default() },
            Policy { pacer: Some(PacerSettings::default()), max_attempts: 2, ..Policy::default() },
            // Timed (leased since timeouts lease too); a 2xx at any time still settles it.
            Policy {
                timeout_ms: Some(12),
                attempt_timeout_ms: Some(8),
                breaker: Some(breaker),
                ..Policy::default()
            },
        ];
        let storm = StormSettings { ratio: 0.2, window_ms: 100, minimum_attempts: 3 };
        let defaults = Policy { storm: Some(storm), ..Policy::default() };
        let (mut composed, mut direct) =
            (Engine::for_instance(&defaults, 2), Engine::for_instance(&defaults, 2));
        composed.set_listening(true);
        direct.set_listening(true);
        let mut rng = SplitMix64::new(7);
        let hints = ServerHints::default();
        let mut now = 1_000u64;
        for step in 0..3000 {
            let r = rng.next_u64();
            now = if r % 17 == 0 { now.saturating_sub(r % 30) } else { now + r % 7 };
            let key = ["a", "b", "c"][(r >> 8) as usize % 3];
            let policy = &policies[(r >> 12) as usize % policies.len()];
            let status = [200, 204, 299][(r >> 16) as usize % 3];
            if (r >> 20) % 3 == 0 {
                // A call through the core on both: a failure, maybe retried, then settled.
                for engine in [&mut composed, &mut direct] {
                    let (mut call, action) = Call::start(engine, policy, key, true, now);
                    if let Action::Send { .. } = action {
                        let next =
                            call.on_outcome(engine, policy, Outcome::NetworkError, &hints, now + 1, 0.5);
                        if let Ok(Action::Retry { .. }) = next {
                            let _ = call.resume(engine, policy, now + 2);
                            let _ =
                                call.on_outcome(engine, policy, Outcome::Response(200), &hints, now + 3, 0.5);
                        }
                    }
                    let _ = call.abort(engine, policy, now + 3);
                }
            } else {
                let began = now.saturating_sub((r >> 24) % 20);
                let mut place = composed.place(key, policy);
                let (mut call, _) = Call::start_admitted(&mut composed, policy, place, true, began);
                let settled =
                    call.on_outcome(&mut composed, policy, Outcome::Response(status), &hints, now, 0.5);
                assert_eq!(settled, Ok(Action::Settle(Settle::Last)), "step {step}");
                place = direct.place(key, policy);
                Call::record_leased_success(&mut direct, policy, &mut place, began, now, status);
            }
            assert_eq!(composed.stats.counters, direct.stats.counters, "step {step}");
            for (k, p) in ["a", "b", "c"].iter().flat_map(|k| policies.iter().map(move |p| (k, p))) {
                assert_eq!(composed.breaker_snapshot_of(k, p, now), direct.breaker_snapshot_of(k, p, now));
                assert_eq!(composed.budget_tokens_of(k, p), direct.budget_tokens_of(k, p), "step {step}");
                assert_eq!(composed.pacer_snapshot_of(k, p), direct.pacer_snapshot_of(k, p), "step {step}");
            }
            while let Some(event) = composed.next_event() {
                assert_eq!(direct.next_event(), Some(event), "step {step}");
            }
            assert_eq!(direct.next_event(), None);
        }
        assert!(composed.stats.counters.storms > 0, "the history had storms");
        assert_eq!(composed.stats.latency(), direct.stats.latency());
    }
}
