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

/// Longest `RateLimit` value looked at; anything longer is malformed for our purposes. Room for
/// a dozen policies of a few parameters each (stacked limiters add one policy apiece).
const MAX_VALUE_LEN: usize = 1024;

/// From this value on, `X-RateLimit-Reset` is epoch seconds: 10^9 s is 31.7 years as a delta,
/// and 2001-09-09 as an epoch. Below it, delta seconds, whatever the local clock says.
const EPOCH_FROM_S: u64 = 1_000_000_000;

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

/// The pieces of a structured field between each `sep` outside quoted strings (RFC 9651's
/// `sf-string`: `\"` and `\\` are the only escapes), with optional whitespace trimmed. A piece
/// where a string is left open, or escapes another byte, comes out as `None`, and ends it.
struct Pieces<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

fn pieces(value: &[u8], sep: u8) -> Pieces<'_> {
    Pieces { rest: Some(value), sep }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        let value = self.rest.take()?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in value.iter().enumerate() {
            if escaped {
                if b != b'"' && b != b'\\' {
                    return Some(None);
                }
                escaped = false;
            } else if quoted {
                match b {
                    b'\\' => escaped = true,
                    b'"' => quoted = false,
                    _ => {}
                }
            } else if b == b'"' {
                quoted = true;
            } else if b == self.sep {
                self.rest = value.get(i + 1..);
                return Some(value.get(..i).map(trim_ows));
            }
        }
        Some((!quoted).then(|| trim_ows(value)))
    }
}

/// One quota policy of a `RateLimit` field: its remaining units and seconds until reset.
#[derive(Clone, Copy, Default)]
struct Quota {
    remaining: Option<u64>,
    reset: Option<u64>,
}

impl Quota {
    /// A `key=value` parameter: `r`/`t` (draft-8 on) or `remaining`/`reset` (draft-7 and
    /// before); the last of a repeated key wins. Anything else is not ours to read.
    fn read(&mut self, part: &[u8]) {
        let mut halves = part.splitn(2, |&b| b == b'=');
        let (Some(key), Some(value)) = (halves.next(), halves.next()) else { return };
        match trim_ows(key) {
            b"r" | b"remaining" => self.remaining = delta_seconds(value),
            b"t" | b"reset" => self.reset = delta_seconds(value),
            _ => {}
        }
    }
}

/// A `RateLimit` field, in milliseconds. Either form of the drafts:
/// - draft-8 on, a list of policies (`"quota"; r=96; t=3600, "burst"; r=0; t=2`, one per
///   limiter): the `t` of the exhausted policy (`r=0`; of several, the longest), else the
///   smallest `t`;
/// - draft-7 and before, one policy as a dictionary (`limit=3, remaining=0, reset=2`): `reset`.
///
/// Policy names are structured-field strings (or tokens): `;` and `,` inside quotes are part
/// of the name. A string left open makes the field malformed. Linear in the value's length.
pub fn ratelimit_ms(value: &[u8]) -> Option<u64> {
    if value.len() > MAX_VALUE_LEN {
        return None;
    }
    let mut dictionary = Quota::default();
    let (mut exhausted, mut smallest): (Option<u64>, Option<u64>) = (None, None);
    let mut choose = |quota: Quota| {
        if let Some(t) = quota.reset {
            if quota.remaining == Some(0) {
                exhausted = Some(exhausted.map_or(t, |e| e.max(t)));
            }
            smallest = Some(smallest.map_or(t, |s| s.min(t)));
        }
    };
    for member in pieces(value, b',') {
        let mut parts = pieces(member?, b';');
        let head = parts.next()??;
        // A name (string or token) starts a draft-8 policy; `key=value` is a draft-7 member.
        // (`all`, not `contains`: a byte slice's `contains` links a 380-byte memchr.)
        let named = head.first() == Some(&b'"') || head.iter().all(|&b| b != b'=');
        let mut quota = if named { Quota::default() } else { dictionary };
        if !named {
            quota.read(head);
        }
        for part in parts {
            quota.read(part?);
        }
        if named {
            choose(quota);
        } else {
            dictionary = quota;
        }
    }
    choose(dictionary);
    exhausted.or(smallest).map(|s| s.saturating_mul(1000))
}

/// `X-RateLimit-Reset`: epoch seconds from [`EPOCH_FROM_S`] on (a past epoch, as with clock
/// skew, is no wait), delta seconds below it.
pub fn x_ratelimit_reset_ms(value: &[u8], now_ms: u64) -> Option<u64> {
    let seconds = delta_seconds(value)?;
    let ms = seconds.saturating_mul(1000);
    Some(if seconds >= EPOCH_FROM_S { ms.saturating_sub(now_ms) } else { ms })
}

/// The server's wish in milliseconds: the first of the fields, in SPEC order, that parses.
/// A malformed field is passed over, as if absent.
pub fn server_wait_ms(hints: &ServerHints, now_ms: u64) -> Option<u64> {
    hints
        .retry_after
        .and_then(|v| retry_after_ms(v, now_ms))
        .or_else(|| hints.ratelimit_reset.and_then(delta_seconds).map(|s| s.saturating_mul(1000)))
        .or_else(|| hints.ratelimit.and_then(ratelimit_ms))
        .or_else(|| hints.x_ratelimit_reset.and_then(|v| x_ratelimit_reset_ms(v, now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, vec::Vec};

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

    fn ratelimit(value: &[u8]) -> Option<u64> {
        server_wait_ms(&ServerHints { ratelimit: Some(value), ..Default::default() }, NOW)
    }

    fn x_ratelimit_reset(value: &[u8], now_ms: u64) -> Option<u64> {
        server_wait_ms(&ServerHints { x_ratelimit_reset: Some(value), ..Default::default() }, now_ms)
    }

    #[test]
    fn x_ratelimit_reset_epoch_now_or_just_past_is_zero() {
        // Issue 19: an epoch equal to now, or a little behind it (clock skew), is no wait.
        assert_eq!(x_ratelimit_reset(b"1795000000", NOW), Some(0));
        assert_eq!(x_ratelimit_reset(b"1795000000", NOW + 999), Some(0));
        assert_eq!(x_ratelimit_reset(b"1794999997", NOW), Some(0));
        assert_eq!(x_ratelimit_reset(b"1000000000", NOW), Some(0), "any value from 10^9 on is an epoch");
        assert_eq!(x_ratelimit_reset(b"1795000002", NOW + 500), Some(1_500));
        // Below 10^9: delta seconds, whatever the clock says.
        assert_eq!(x_ratelimit_reset(b"999999999", NOW), Some(999_999_999_000));
        assert_eq!(x_ratelimit_reset(b"5", 3_000), Some(5_000));
        assert_eq!(x_ratelimit_reset(b"1795000000", 0), Some(1_795_000_000_000));
    }

    /// Each `RateLimit` field, alone in the hints, and the wait it asks for.
    fn check_ratelimit(cases: &[(&[u8], Option<u64>)]) {
        for &(field, want) in cases {
            assert_eq!(ratelimit(field), want, "{:?}", core::str::from_utf8(field));
        }
    }

    #[test]
    fn ratelimit_several_policies_the_exhausted_one_else_the_smallest_t() {
        check_ratelimit(&[
            // Issue 20: two stacked limiters.
            (b"\"quota\"; r=96; t=3600, \"burst\"; r=0; t=2", Some(2_000)),
            (b"\"quota\";r=96;t=20,\"burst\";r=0;t=2", Some(2_000)),
            (b"\"burst\"; r=5; t=2, \"quota\"; r=0; t=20", Some(20_000)),
            // Several exhausted: wait for the last of them.
            (b"\"a\";r=0;t=3, \"b\";r=0;t=9, \"c\";r=1;t=1", Some(9_000)),
            // None exhausted (or r unknown): the smallest t.
            (b"\"quota\"; r=96; t=3600, \"burst\"; r=4; t=2", Some(2_000)),
            (b"\"a\";t=30, \"b\";t=4", Some(4_000)),
            // Tokens as names, parameters in any order, the last of a repeated parameter.
            (b"default;t=9;r=0", Some(9_000)),
            (b"\"a\";t=1;t=6;r=0", Some(6_000)),
            // A policy without a readable t is passed over.
            (b"\"a\";r=0, \"b\";r=3;t=5", Some(5_000)),
            (b"\"a\";r=0;t=1.5, \"b\";r=3;t=5", Some(5_000)),
            (b"\"a\";r=0", None),
        ]);
    }

    #[test]
    fn ratelimit_draft7_dictionary() {
        check_ratelimit(&[
            // Issue 21: express-rate-limit and hono-rate-limiter, standardHeaders 'draft-7'.
            (b"limit=3, remaining=0, reset=2", Some(2_000)),
            (b"limit=100,remaining=50,reset=50", Some(50_000)),
            (b"reset=7", Some(7_000)),
            (b"limit=3, remaining=0", None),
        ]);
    }

    #[test]
    fn ratelimit_quoted_names_are_not_split() {
        check_ratelimit(&[
            // Issue 22: `;` and `,` (and escaped quotes) inside a policy name are part of it.
            (b"\"a;t=99\";r=0;t=2", Some(2_000)),
            (b"\"x, t=1\";r=0;t=8", Some(8_000)),
            (b"\"q\\\";t=1,\";r=0;t=4", Some(4_000)),
            (b"\"back\\\\\";r=0;t=3", Some(3_000)),
            // A string left open, or an escape of anything but `\"` and `\\`, is malformed.
            (b"\"open;r=0;t=2", None),
            (b"\"bad\\n\";r=0;t=2", None),
        ]);
    }

    #[test]
    fn ratelimit_long_fields_up_to_the_cap() {
        let mut field = Vec::new();
        for i in 0..40 {
            field.extend_from_slice(format!("\"policy-{i}\"; r=5; t={}, ", 100 + i).as_bytes());
        }
        field.extend_from_slice(b"\"burst\"; r=0; t=2");
        assert!(field.len() > 256 && field.len() <= MAX_VALUE_LEN, "{}", field.len());
        assert_eq!(ratelimit(&field), Some(2_000));
        field.resize(MAX_VALUE_LEN + 1, b' ');
        assert_eq!(ratelimit(&field), None);
    }

    #[test]
    fn x_ratelimit_reset_delta_or_epoch() {
        assert_eq!(x_ratelimit_reset_ms(b"30", NOW), Some(30_000));
        let epoch = b"1795000005";
        assert_eq!(x_ratelimit_reset_ms(epoch, NOW + 500), Some(4_500));
    }
}
