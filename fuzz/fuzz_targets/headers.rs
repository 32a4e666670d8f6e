//! Header parsing (SPEC 4) on arbitrary bytes: `Retry-After` (delta-seconds and the three
//! HTTP-date formats), `RateLimit-Reset`, `RateLimit` (draft-7 and draft-8 forms),
//! `X-RateLimit-Reset` (epoch or delta), and `http_date::parse` with an arbitrary `now`.
//!
//! Input layout (plain bytes, so seeds are readable text):
//! - the whole input is one header value, parsed at a fixed "now" (2026-11-18);
//! - when it is 8 bytes or longer, the last 8 bytes are also read as `now` (u64 ms, little
//!   endian) and the rest as the value, and that value is parsed at that `now`;
//! - split on `\n`, a value gives the four hint fields in SPEC order (Retry-After,
//!   RateLimit-Reset, RateLimit, X-RateLimit-Reset) for `server_wait_ms`.
//!
//! Checked: no panic; results agree with a reference written from the SPEC; dates are bounded
//! (never past 9999-12-31); every date accepted is the one `httpdate` writes for it (apart
//! from the weekday, which is not checked, and a leap second); every date `httpdate` accepts
//! is accepted with the same value.
#![no_main]

use edge_retry::core::headers::{self, ServerHints};
use edge_retry::core::http_date;
use edge_retry_fuzz::{MAX_DATE_S, asctime, imf_fixdate, rfc850};
use libfuzzer_sys::fuzz_target;

/// 2026-11-18T10:06:40Z, in ms.
const NOW_MS: u64 = 1_795_000_000_000;

/// The latest instant an HTTP-date can name: 9999-12-31T23:59:60Z, a leap second (which the
/// parser allows, as RFC 9110 does), is one second past [`MAX_DATE_S`].
const LATEST_S: u64 = MAX_DATE_S + 1;

fuzz_target!(|data: &[u8]| {
    check_value(data, NOW_MS);
    check_hints(data, NOW_MS);
    if let Some(split) = data.len().checked_sub(8) {
        let (value, now) = data.split_at(split);
        let mut le = [0u8; 8];
        le.copy_from_slice(now);
        let now = u64::from_le_bytes(le);
        check_value(value, now);
        check_hints(value, now);
        // `parse` itself with any `now_s`, not only `now_ms / 1000`.
        check_date(value, now);
    }
});

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// delta-seconds as the SPEC reads it: `1*DIGIT` between optional spaces, any length,
/// saturating (computed another way than the core: leading zeros off, then by length).
fn reference_delta(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let significant: &[u8] = {
        let first = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len());
        &digits[first..]
    };
    if significant.len() > 20 {
        return Some(u64::MAX);
    }
    let wide = significant.iter().fold(0u128, |acc, &d| acc * 10 + u128::from(d - b'0'));
    Some(u64::try_from(wide).unwrap_or(u64::MAX))
}

fn check_value(value: &[u8], now_ms: u64) {
    let delta = headers::delta_seconds(value);
    assert_eq!(delta, reference_delta(value), "delta_seconds({value:?})");

    // Retry-After: delta-seconds first, else an HTTP-date measured against now.
    let retry_after = headers::retry_after_ms(value, now_ms);
    match delta {
        Some(s) => assert_eq!(retry_after, Some(s.saturating_mul(1000))),
        None => {
            let date = http_date::parse(trim_ows(value), now_ms / 1000);
            assert_eq!(retry_after.is_some(), date.is_some(), "retry_after_ms({value:?}, {now_ms})");
            if let (Some(wait), Some(date_s)) = (retry_after, date) {
                assert!(wait <= LATEST_S * 1000, "a date wait past year 9999: {wait}");
                assert_eq!(wait, (date_s * 1000).saturating_sub(now_ms));
                if date_s * 1000 <= now_ms {
                    assert_eq!(wait, 0, "a date in the past means 0");
                }
            }
        }
    }
    check_date(trim_ows(value), now_ms / 1000);

    // RateLimit: the policies' `r` and `t`, in either draft form.
    let t = headers::ratelimit_ms(value);
    assert_eq!(t, reference_ratelimit(value), "ratelimit_ms({value:?})");

    // X-RateLimit-Reset: epoch seconds from 10^9 on (a past one is 0), delta seconds below.
    let x = headers::x_ratelimit_reset_ms(value, now_ms);
    assert_eq!(x.is_some(), delta.is_some());
    if let (Some(x), Some(s)) = (x, delta) {
        assert!(x <= s.saturating_mul(1000), "x_ratelimit_reset_ms({value:?}) = {x} > {s} s");
        if s >= 1_000_000_000 {
            assert_eq!(x, s.saturating_mul(1000).saturating_sub(now_ms));
        } else {
            assert_eq!(x, s * 1000);
        }
    }
}

/// `RateLimit` as SPEC 4 reads it, from a one-pass tokenizer into owned members and parts
/// (the core splits twice, borrowing). Values over 1024 bytes, an open string or an escape of
/// anything but `"` and `\` are malformed. A member headed by a name (a string, or anything
/// without `=`) is a draft-8 policy; `key=value` members together are one draft-7 policy.
/// The wait: the longest `t` of the policies with `r=0`, else the smallest `t`.
fn reference_ratelimit(value: &[u8]) -> Option<u64> {
    if value.len() > 1024 {
        return None;
    }
    let mut members: Vec<Vec<Vec<u8>>> = vec![vec![Vec::new()]];
    let (mut in_string, mut after_backslash) = (false, false);
    for &b in value {
        let member = members.last_mut().expect("one member at least");
        let part = member.last_mut().expect("one part at least");
        if after_backslash {
            if b != b'"' && b != b'\\' {
                return None;
            }
            after_backslash = false;
            part.push(b);
            continue;
        }
        match (in_string, b) {
            (false, b',') => members.push(vec![Vec::new()]),
            (false, b';') => member.push(Vec::new()),
            (false, b'"') | (true, b'"') => {
                in_string = !in_string;
                part.push(b);
            }
            (true, b'\\') => {
                after_backslash = true;
                part.push(b);
            }
            _ => part.push(b),
        }
    }
    if in_string || after_backslash {
        return None;
    }
    // (remaining, reset) per policy; the draft-7 one last.
    let mut policies: Vec<(Option<u64>, Option<u64>)> = Vec::new();
    let mut draft7 = (None, None);
    for member in &members {
        let parts: Vec<&[u8]> = member.iter().map(|p| trim_ows(p)).collect();
        let head = parts[0];
        let named = head.starts_with(b"\"") || !head.contains(&b'=');
        let mut policy = if named { (None, None) } else { draft7 };
        for part in &parts[usize::from(named)..] {
            let Some(eq) = part.iter().position(|&c| c == b'=') else { continue };
            match trim_ows(&part[..eq]) {
                b"r" | b"remaining" => policy.0 = reference_delta(&part[eq + 1..]),
                b"t" | b"reset" => policy.1 = reference_delta(&part[eq + 1..]),
                _ => {}
            }
        }
        if named {
            policies.push(policy);
        } else {
            draft7 = policy;
        }
    }
    policies.push(draft7);
    let exhausted = policies.iter().filter(|p| p.0 == Some(0)).filter_map(|p| p.1).max();
    let smallest = policies.iter().filter_map(|p| p.1).min();
    exhausted.or(smallest).map(|s| s.saturating_mul(1000))
}

fn check_hints(data: &[u8], now_ms: u64) {
    let mut fields = data.splitn(4, |&b| b == b'\n').map(|f| (!f.is_empty()).then_some(f));
    let hints = ServerHints {
        retry_after: fields.next().flatten(),
        ratelimit_reset: fields.next().flatten(),
        ratelimit: fields.next().flatten(),
        x_ratelimit_reset: fields.next().flatten(),
    };
    // The first field, in SPEC order, that parses; a malformed one is passed over.
    let reference = hints
        .retry_after
        .and_then(|v| headers::retry_after_ms(v, now_ms))
        .or_else(|| hints.ratelimit_reset.and_then(reference_delta).map(|s| s.saturating_mul(1000)))
        .or_else(|| hints.ratelimit.and_then(headers::ratelimit_ms))
        .or_else(|| hints.x_ratelimit_reset.and_then(|v| headers::x_ratelimit_reset_ms(v, now_ms)));
    assert_eq!(headers::server_wait_ms(&hints, now_ms), reference);
}

/// `http_date::parse(value, now_s)` against `httpdate`, both ways.
fn check_date(value: &[u8], now_s: u64) {
    let parsed = http_date::parse(value, now_s);
    if value.len() > http_date::MAX_LEN {
        assert_eq!(parsed, None, "over-long input accepted");
        return;
    }
    let Some(epoch_s) = parsed else {
        check_httpdate_agrees(value, now_s, None);
        return;
    };
    assert!(epoch_s <= LATEST_S, "{value:?} parsed past year 9999: {epoch_s}");
    assert!(value.is_ascii());
    check_httpdate_agrees(value, now_s, Some(epoch_s));
    // 0 stands for any date before 1970; a leap second rolls into the next minute.
    if epoch_s == 0 || value.windows(3).any(|w| w == b":60") {
        return;
    }
    let Ok(text) = std::str::from_utf8(value) else { return };
    let weekday_free = |s: &str| s.split_once([',', ' ']).map(|(_, rest)| rest.to_string());
    let written = match value.get(3) {
        Some(b',') => imf_fixdate(epoch_s),
        _ if value.contains(&b',') => rfc850(epoch_s),
        _ => asctime(epoch_s),
    };
    let written = written.unwrap_or_default();
    if value.get(3) != Some(&b',') && value.contains(&b',') {
        // RFC 850: the two-digit year is resolved against now; compare all but the weekday.
        assert_eq!(weekday_free(text), weekday_free(&written), "{text:?} read as {epoch_s} ({written})");
        let year = http_date::year_of(epoch_s);
        let this_year = http_date::year_of(now_s);
        assert!(
            year <= this_year.saturating_add(50),
            "{text:?}: {year} is more than 50 years after {this_year}"
        );
    } else if value.get(3) == Some(&b',') {
        assert_eq!(weekday_free(text), weekday_free(&written), "{text:?} read as {epoch_s} ({written})");
    } else {
        // asctime: the day of month may also come zero-padded (`Nov 06`).
        let padded = written.replacen("  ", " 0", 1);
        let got = weekday_free(text);
        assert!(
            got == weekday_free(&written) || got == weekday_free(&padded),
            "{text:?} read as {epoch_s} ({written})"
        );
    }
}

fn check_httpdate_agrees(value: &[u8], now_s: u64, ours: Option<u64>) {
    let Ok(text) = std::str::from_utf8(value) else { return };
    if !text.is_ascii() || text.trim() != text {
        return;
    }
    let Ok(theirs) = httpdate::parse_http_date(text) else { return };
    let Ok(theirs) = theirs.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()) else { return };
    let rfc850_form = value.get(3) != Some(&b',') && value.contains(&b',');
    if rfc850_form {
        // httpdate does not look at the space between year and time (`-99\x1a00:00:00`): only
        // compare inputs of the exact RFC 850 shape.
        let after_comma = value.iter().position(|&b| b == b',').map_or(0, |i| i + 2);
        if value.get(after_comma + 9) != Some(&b' ') {
            return;
        }
    }
    if !rfc850_form {
        assert_eq!(ours, Some(theirs), "{text:?}: httpdate says {theirs}");
        return;
    }
    // RFC 850's century depends on now (ours) or is fixed at 1970-2069 (httpdate): the same
    // instant of the day, and the same date whenever both put it in the same century.
    let this_year = http_date::year_of(now_s);
    if !(1970..=9900).contains(&this_year) || text.contains("29-Feb") {
        return;
    }
    let Some(ours) = ours else { panic!("{text:?}: httpdate says {theirs}, we refuse it") };
    if ours != 0 {
        assert_eq!(ours % 86_400, theirs % 86_400, "{text:?}");
    }
}
