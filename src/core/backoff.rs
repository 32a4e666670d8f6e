//! Backoff delays (SPEC 2): the exponential step and the five ways to randomise it.

use super::policy::{Jitter, Policy};

/// Clamp a caller-supplied random number into [0, 1); NaN counts as 0.
pub fn unit(rnd: f64) -> f64 {
    if rnd > 0.0 { if rnd < 1.0 { rnd } else { 0.999_999_999_999_999_9 } } else { 0.0 }
}

/// `lo + rnd·(hi − lo)` rounded to whole milliseconds, so both ends of [lo, hi] can come out.
pub fn uniform(lo: u64, hi: u64, rnd: f64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo) as f64;
    let offset = (unit(rnd) * span + 0.5) as u64;
    lo.saturating_add(offset).min(hi)
}

/// `min(max_delay, base · multiplier^(retry−1))`, for retry n = 1, 2, …
///
/// Exponentiation by squaring keeps the work logarithmic in `retry` and needs no libm.
pub fn exponential_step(policy: &Policy, retry: u32) -> u64 {
    let cap = policy.max_delay_ms;
    if policy.base_delay_ms == 0 {
        return 0;
    }
    let mut exponent = retry.saturating_sub(1);
    let mut square = policy.multiplier;
    let mut factor = 1.0f64;
    while exponent > 0 {
        if exponent & 1 == 1 {
            factor *= square;
        }
        square *= square;
        exponent >>= 1;
    }
    let step = policy.base_delay_ms as f64 * factor;
    if step.is_finite() && step < cap as f64 { step as u64 } else { cap }
}

/// The wait before retry `retry` (1 for the first), given the previous wait (for
/// decorrelated jitter; pass `base_delay_ms` before the first retry) and one random number.
pub fn backoff_delay(policy: &Policy, retry: u32, previous_ms: u64, rnd: f64) -> u64 {
    let cap = policy.max_delay_ms;
    let step = exponential_step(policy, retry);
    let delay = match policy.jitter {
        Jitter::None => step,
        Jitter::Full => uniform(0, step, rnd),
        Jitter::Equal => {
            let half = step / 2;
            uniform(half, step, rnd)
        }
        Jitter::Decorrelated => {
            let lo = policy.base_delay_ms;
            let hi = previous_ms.saturating_mul(3).max(lo);
            uniform(lo, hi, rnd)
        }
        Jitter::Ratio(ratio) => {
            let spread = (step as f64 * ratio) as u64;
            uniform(step.saturating_sub(spread), step.saturating_add(spread), rnd)
        }
    };
    delay.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn policy(jitter: Jitter) -> Policy {
        Policy { jitter, base_delay_ms: 100, max_delay_ms: 20_000, multiplier: 2.0, ..Policy::default() }
    }

    #[test]
    fn steps_grow_by_the_multiplier_and_stop_at_the_cap() {
        let p = policy(Jitter::None);
        let steps: Vec<u64> = (1..=10).map(|n| exponential_step(&p, n)).collect();
        assert_eq!(steps, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000]);
        assert_eq!(exponential_step(&p, u32::MAX), 20_000);
    }

    #[test]
    fn fractional_multiplier_and_zero_base() {
        let p = Policy { multiplier: 1.5, ..policy(Jitter::None) };
        assert_eq!(exponential_step(&p, 3), 225);
        let zero = Policy { base_delay_ms: 0, ..p };
        assert_eq!(backoff_delay(&zero, 7, 0, 0.5), 0);
    }

    #[test]
    fn full_jitter_spans_zero_to_step() {
        let p = policy(Jitter::Full);
        assert_eq!(backoff_delay(&p, 3, 0, 0.0), 0);
        assert_eq!(backoff_delay(&p, 3, 0, 0.5), 200);
        assert_eq!(backoff_delay(&p, 3, 0, 0.999_999), 400);
    }

    #[test]
    fn equal_jitter_keeps_half_the_step() {
        let p = policy(Jitter::Equal);
        assert_eq!(backoff_delay(&p, 2, 0, 0.0), 100);
        assert_eq!(backoff_delay(&p, 2, 0, 0.5), 150);
    }

    #[test]
    fn decorrelated_grows_from_the_previous_wait() {
        let p = policy(Jitter::Decorrelated);
        assert_eq!(backoff_delay(&p, 1, 100, 0.0), 100);
        assert_eq!(backoff_delay(&p, 1, 100, 0.5), 200);
        assert_eq!(backoff_delay(&p, 5, 10_000, 0.99), 20_000);
    }

    #[test]
    fn ratio_jitter_spreads_around_the_step() {
        let p = policy(Jitter::Ratio(0.25));
        assert_eq!(backoff_delay(&p, 3, 0, 0.0), 300);
        assert_eq!(backoff_delay(&p, 3, 0, 0.5), 400);
        let capped = Policy { max_delay_ms: 450, ..p };
        assert_eq!(backoff_delay(&capped, 3, 0, 0.99), 450);
    }

    #[test]
    fn hostile_random_numbers_are_clamped() {
        let p = policy(Jitter::Full);
        for rnd in [f64::NAN, -1.0, 1.0, 7.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(backoff_delay(&p, 2, 0, rnd) <= 200);
        }
    }
}
