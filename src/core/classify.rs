//! What an attempt's outcome means (SPEC 3 and 5): retry it? count it against the breaker?

use super::policy::Policy;

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response arrived with this status.
    Response(u16),
    /// `fetch` rejected (a `TypeError` in every runtime).
    NetworkError,
    /// The attempt ran past `attemptTimeoutMs`.
    Timeout,
}

/// Why a retry is made, as `onRetry` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryReason {
    Status,
    Network,
    Timeout,
}

impl RetryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::Status => "status",
            RetryReason::Network => "network",
            RetryReason::Timeout => "timeout",
        }
    }
}

impl Outcome {
    /// Would the rules retry this outcome (before attempts, budget and deadline are asked)?
    pub fn is_retryable(self, policy: &Policy) -> bool {
        match self {
            Outcome::Response(status) => policy.retry_on.contains(status),
            Outcome::NetworkError | Outcome::Timeout => true,
        }
    }

    /// A breaker failure: a network error, a timeout, or a 5xx listed in `retryOn`.
    pub fn is_breaker_failure(self, policy: &Policy) -> bool {
        match self {
            Outcome::Response(status) => (500..600).contains(&status) && policy.retry_on.contains(status),
            Outcome::NetworkError | Outcome::Timeout => true,
        }
    }

    pub fn reason(self) -> RetryReason {
        match self {
            Outcome::Response(_) => RetryReason::Status,
            Outcome::NetworkError => RetryReason::Network,
            Outcome::Timeout => RetryReason::Timeout,
        }
    }
}

/// May a request with this method be sent more than once? Methods listed in `methods` may;
/// any other only with an `Idempotency-Key` header.
pub fn method_is_retryable(policy: &Policy, method: &str, has_idempotency_key: bool) -> bool {
    if has_idempotency_key {
        return true;
    }
    policy.methods.iter().any(|listed| listed.eq_ignore_ascii_case(method))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::StatusSet;

    #[test]
    fn default_statuses_are_retried_and_others_are_not() {
        let p = Policy::default();
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(Outcome::Response(s).is_retryable(&p), "{s}");
        }
        for s in [200, 301, 400, 404, 501, 505] {
            assert!(!Outcome::Response(s).is_retryable(&p), "{s}");
        }
        assert!(Outcome::NetworkError.is_retryable(&p));
        assert!(Outcome::Timeout.is_retryable(&p));
    }

    #[test]
    fn only_5xx_in_retry_on_and_transport_errors_trip_the_breaker() {
        let p = Policy::default();
        assert!(Outcome::Response(503).is_breaker_failure(&p));
        assert!(!Outcome::Response(429).is_breaker_failure(&p));
        assert!(!Outcome::Response(408).is_breaker_failure(&p));
        assert!(!Outcome::Response(501).is_breaker_failure(&p));
        assert!(Outcome::Timeout.is_breaker_failure(&p));
        let custom = Policy { retry_on: StatusSet::from_slice(&[501]), ..p };
        assert!(Outcome::Response(501).is_breaker_failure(&custom));
        assert!(!Outcome::Response(503).is_breaker_failure(&custom));
    }

    #[test]
    fn methods_and_idempotency_keys() {
        let p = Policy::default();
        assert!(method_is_retryable(&p, "GET", false));
        assert!(method_is_retryable(&p, "delete", false));
        assert!(!method_is_retryable(&p, "POST", false));
        assert!(method_is_retryable(&p, "POST", true));
        assert!(!method_is_retryable(&p, "PATCH", false));
    }
}
