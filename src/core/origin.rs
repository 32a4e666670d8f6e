//! The origin of an absolute http(s) URL, computed without a round trip through JS `URL`
//! (which costs more than the rest of a call's bookkeeping). Anything unusual is left to
//! `URL`: the caller falls back when [`prefix_len`] returns 0.

#[cfg(test)]
use alloc::string::String;

/// `scheme://host[:port]` as `URL.prototype.origin` gives it, for plain ASCII http(s) URLs: the
/// full parser, kept as the tests' reference for [`prefix_len`] (which ships instead: it needs
/// no allocation and is a fraction of the wasm's bytes).
#[cfg(test)]
fn of_absolute_http(url: &str) -> Option<String> {
    let (scheme, rest, default_port) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        ("https://", rest, ":443")
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        ("http://", rest, ":80")
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    // Userinfo, percent-escapes, IPv6, backslashes, non-ASCII: let URL decide.
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':';
    if authority.is_empty() || !authority.bytes().all(plain) {
        return None;
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() || host.starts_with('.') || host.ends_with('.') {
        return None;
    }
    // URL rewrites numeric hosts (`2130706433`, `0x7f.1`, `127.1`); only a canonical dotted
    // quad is left as it is.
    let last_label = host.rsplit('.').next().unwrap_or(host);
    if last_label.starts_with(|c: char| c.is_ascii_digit()) && !is_canonical_ipv4(host.as_bytes()) {
        return None;
    }
    let mut origin = String::with_capacity(scheme.len() + authority.len());
    origin.push_str(scheme);
    origin.push_str(&host.to_ascii_lowercase());
    match port {
        None => {}
        Some(p) if p.is_empty() || p.contains(':') => return None,
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 => return None,
        Some(p) => {
            let digits = p.trim_start_matches('0');
            let value: u32 = digits.bytes().fold(0, |v, d| v * 10 + u32::from(d - b'0'));
            if value > 65_535 {
                return None;
            }
            let mut normal = String::from(":");
            normal.push_str(if digits.is_empty() { "0" } else { digits });
            if normal != default_port {
                origin.push_str(&normal);
            }
        }
    }
    Some(origin)
}

/// The length of `url`'s origin when the URL starts with it exactly as `URL.origin` writes it
/// (lower case, a canonical port that is not the scheme's default, a host `URL` leaves as it
/// is) and the path, query or fragment follows; else 0, and the JS side asks `URL`. Byte by
/// byte with no allocation: this is the wasm's whole origin parser, kept small.
pub fn prefix_len(url: &str) -> usize {
    let bytes = url.as_bytes();
    let (start, default_port): (usize, &[u8]) = if bytes.starts_with(b"https://") {
        (8, b"443")
    } else if bytes.starts_with(b"http://") {
        (7, b"80")
    } else {
        return 0;
    };
    let rest = bytes.get(start..).unwrap_or_default();
    let end = rest.iter().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or_default();
    let (host, port) = match authority.iter().position(|&b| b == b':') {
        Some(colon) => (authority.get(..colon).unwrap_or_default(), authority.get(colon + 1..)),
        None => (authority, None),
    };
    let host_byte = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    if host.is_empty()
        || !host.iter().all(host_byte)
        || host.first() == Some(&b'.')
        || host.last() == Some(&b'.')
    {
        return 0;
    }
    // URL rewrites numeric hosts (`2130706433`, `0x7f.1`, `127.1`): only a canonical dotted
    // quad stays as it is.
    let last_label = host.rsplit(|&b| b == b'.').next().unwrap_or_default();
    if last_label.first().is_some_and(u8::is_ascii_digit) && !is_canonical_ipv4(host) {
        return 0;
    }
    if let Some(port) = port {
        let canonical = !port.is_empty()
            && port.len() <= 5
            && port.iter().all(u8::is_ascii_digit)
            && port.first() != Some(&b'0')
            && port.iter().fold(0u32, |v, &d| v * 10 + u32::from(d - b'0')) <= 65_535;
        if !canonical || port == default_port {
            return 0;
        }
    }
    start + end
}

/// Bytes, not `str`: `str::split` and `from_utf8` would link memchr and core::fmt's panic
/// messages into the wasm for this one check.
fn is_canonical_ipv4(host: &[u8]) -> bool {
    let mut parts = 0;
    for part in host.split(|&b| b == b'.') {
        parts += 1;
        let canonical = !part.is_empty()
            && part.len() <= 3
            && part.iter().all(u8::is_ascii_digit)
            && (part == b"0" || part.first() != Some(&b'0'))
            && part.iter().fold(0u32, |v, &d| v * 10 + u32::from(d - b'0')) <= 255;
        if !canonical {
            return false;
        }
    }
    parts == 4
}

#[cfg(test)]
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { s.get(prefix.len()..) } else { None }
}

#[cfg(test)]
mod tests {
    use super::of_absolute_http as origin;
    use super::prefix_len;
    use alloc::string::String;

    #[test]
    fn a_prefix_is_always_the_origin() {
        // prefix_len may decline (0) but never disagrees with the full parser.
        let urls = [
            "http://a.test",
            "https://a.test:8443/x",
            "http://a.test:0/",
            "http://a.test:080/",
            "http://1.2.3.4:80/",
            "http://1.2.3.04/",
            "http://a-b.c-d/",
            "http://a.test:65536/",
            "http://a.test:/",
            "http://.a/",
            "http://a./",
            "http://a.test?q",
            "https://a.test:443",
            "http://a_b.test/",
            "http://user@a.test/",
            "http://[::1]:8080/",
            "http://a.test:8080x/",
            "http://127.0.0.1:8787/x",
            "http://localhost:3000",
        ];
        let mut taken = 0;
        for url in urls {
            let n = prefix_len(url);
            if n > 0 {
                taken += 1;
                assert_eq!(origin(url).as_deref(), url.get(..n), "{url}");
            }
        }
        assert_eq!(taken, 6);
    }

    #[test]
    fn a_prefix_only_when_the_url_writes_its_origin_as_is() {
        assert_eq!(prefix_len("https://api.example.com/v1?x"), "https://api.example.com".len());
        assert_eq!(prefix_len("http://127.0.0.1:8787"), "http://127.0.0.1:8787".len());
        assert_eq!(prefix_len("http://a.test#frag"), "http://a.test".len());
        assert_eq!(prefix_len("http://a.test:80/x"), 0, "default port written");
        assert_eq!(prefix_len("HTTP://A.test/x"), 0, "upper case");
        assert_eq!(prefix_len("ftp://a.test/x"), 0);
    }

    #[test]
    fn plain_urls_give_url_origin() {
        let cases = [
            ("http://127.0.0.1:8080/x?y#z", "http://127.0.0.1:8080"),
            ("https://API.Example.com/items", "https://api.example.com"),
            ("HTTP://example.com", "http://example.com"),
            ("http://example.com:80/", "http://example.com"),
            ("https://example.com:443", "https://example.com"),
            ("http://example.com:0080", "http://example.com"),
            ("https://example.com:80", "https://example.com:80"),
            ("http://localhost:3000?q", "http://localhost:3000"),
            ("http://a-b.c#frag", "http://a-b.c"),
        ];
        for (url, want) in cases {
            assert_eq!(origin(url), Some(String::from(want)), "{url}");
        }
    }

    #[test]
    fn anything_unusual_is_left_to_url() {
        for url in [
            "/relative",
            "ftp://example.com",
            "http://user:pw@example.com/",
            "http://[::1]:8080/",
            "http://exa%41mple.com/",
            "http://example.com:99999/",
            "http://example.com:/",
            "http://2130706433/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://01.2.3.4/",
            "http://example.com./",
            "http:\\\\example.com",
            "http://ex\u{e4}mple.com/",
            "http:///x",
            "",
        ] {
            assert_eq!(origin(url), None, "{url}");
        }
    }
}
