//! What a server asks for (SPEC 4): `Retry-After`, then the RateLimit fields, as a wait in ms.

use super::http_date;

/// The raw values of the response headers that can ask for a wait.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerHints<'a> {
    pub retry_after: Option<&'a [u8]>,
    pub ratelimit_reset: Option<&'a [u8]>,
    pub ratelimit: Option<&'a [u8]>,
    pub x_ratelimit_reset: Option<&'a [u8]>,
}

/// Longest header value looked at; anything longer is malformed for our purposes.
const MAX_VALUE_LEN: usize = 256;

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// `1*DIGIT`, saturating at `u64::MAX` (a 40-digit value means "longer than anything"). No
/// length limit: 8,000 digits are still well-formed delta-seconds, above any `maxRetryAfterMs`,
/// not a malformed value to retry after backoff (SPEC 4); the scan is linear in the bytes the
/// platform let through.
pub fn delta_seconds(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |acc, &d| acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// `Retry-After`: delta-seconds or an HTTP-date, as milliseconds from `now_ms`.
pub fn retry_after_ms(value: &[u8], now_ms: u64) -> Option<u64> {
    if let Some(seconds) = delta_seconds(value) {
        return Some(seconds.saturating_mul(1000));
    }
    let date_s = http_date::parse(trim_ows(value), now_ms / 1000)?;
    Some(date_s.saturating_mul(1000).saturating_sub(now_ms))
}

/// The `t=` parameter of a `RateLimit` field (`"default";r=0;t=30`), in milliseconds.
pub fn ratelimit_t_ms(value: &[u8]) -> Option<u64> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    value
        .split(|&b| b == b';' || b == b',')
        .find_map(|param| trim_ows(param).strip_prefix(b"t=").and_then(delta_seconds))
        .map(|s| s.saturating_mul(1000))
}

/// `X-RateLimit-Reset`: delta seconds, or epoch seconds when larger than now in epoch seconds.
pub fn x_ratelimit_reset_ms(value: &[u8], now_ms: u64) -> Option<u64> {
    let seconds = delta_seconds(value)?;
    let now_s = now_ms / 1000;
    if seconds > now_s {
        Some(seconds.saturating_mul(1000).saturating_sub(now_ms))
    } else {
        Some(seconds.saturating_mul(1000))
    }
}

/// The server's wish in milliseconds: the first of the fields, in SPEC order, that parses.
/// A malformed field is passed over, as if absent.
pub fn server_wait_ms(hints: &ServerHints, now_ms: u64) -> Option<u64> {
    hints
        .retry_after
        .and_then(|v| retry_after_ms(v, now_ms))
        .or_else(|| hints.ratelimit_reset.and_then(delta_seconds).map(|s| s.saturating_mul(1000)))
        .or_else(|| hints.ratelimit.and_then(ratelimit_t_ms))
        .or_else(|| hints.x_ratelimit_reset.and_then(|v| x_ratelimit_reset_ms(v, now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000_000;

    #[test]
    fn delta_seconds_and_dates() {
        assert_eq!(retry_after_ms(b"120", NOW), Some(120_000));
        assert_eq!(retry_after_ms(b" 0 ", NOW), Some(0));
        assert_eq!(retry_after_ms(b"Sun, 06 Nov 1994 08:49:37 GMT", NOW), Some(0));
        let later = b"Wed, 18 Nov 2026 11:06:50 GMT"; // 10 s after NOW
        assert_eq!(retry_after_ms(later, NOW), Some(10_000));
    }

    #[test]
    fn malformed_values_are_none() {
        for bad in [&b""[..], b"-1", b"1e309", b"1.5", b"soon", b"0x10", "\u{663}".as_bytes()] {
            assert_eq!(retry_after_ms(bad, NOW), None);
        }
    }

    #[test]
    fn huge_numbers_saturate() {
        assert_eq!(retry_after_ms(b"1234567890123456789012345678901234567890", NOW), Some(u64::MAX));
        // However long: still a number of seconds (above any limit), not a malformed value.
        assert_eq!(retry_after_ms(&[b'9'; 8192], NOW), Some(u64::MAX));
        assert_eq!(retry_after_ms(&[b'0'; 8192], NOW), Some(0));
    }

    #[test]
    fn fallbacks_in_spec_order() {
        let only_rl = ServerHints { ratelimit: Some(b"\"default\";r=0;t=7"), ..Default::default() };
        assert_eq!(server_wait_ms(&only_rl, NOW), Some(7_000));
        let reset =
            ServerHints { ratelimit_reset: Some(b"3"), ratelimit: Some(b"t=7"), ..Default::default() };
        assert_eq!(server_wait_ms(&reset, NOW), Some(3_000));
        let bad_retry_after =
            ServerHints { retry_after: Some(b"nope"), ratelimit_reset: Some(b"4"), ..Default::default() };
        assert_eq!(server_wait_ms(&bad_retry_after, NOW), Some(4_000));
        assert_eq!(server_wait_ms(&ServerHints::default(), NOW), None);
    }

    #[test]
    fn x_ratelimit_reset_delta_or_epoch() {
        assert_eq!(x_ratelimit_reset_ms(b"30", NOW), Some(30_000));
        let epoch = b"1795000005";
        assert_eq!(x_ratelimit_reset_ms(epoch, NOW + 500), Some(4_500));
    }
}
