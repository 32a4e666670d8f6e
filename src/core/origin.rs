//! The origin of an absolute http(s) URL, computed without a round trip through JS `URL`
//! (which costs more than the rest of a call's bookkeeping). Anything unusual is left to
//! `URL`: the caller falls back when this returns `None`.

use alloc::string::String;

/// `scheme://host[:port]` as `URL.prototype.origin` gives it, for plain ASCII http(s) URLs.
pub fn of_absolute_http(url: &str) -> Option<String> {
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
    if last_label.starts_with(|c: char| c.is_ascii_digit()) && !is_canonical_ipv4(host) {
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

/// The length of `url`'s origin when that origin is `url`'s own beginning, as written (lower
/// case, no default port), followed by the path, query or fragment; else 0. Lets the JS side
/// slice the origin out of the URL with no string crossing back.
pub fn prefix_len(url: &str) -> usize {
    let Some(origin) = of_absolute_http(url) else { return 0 };
    let n = origin.len();
    let whole = url.as_bytes().get(..n) == Some(origin.as_bytes());
    let ends_there = matches!(url.as_bytes().get(n), None | Some(b'/' | b'?' | b'#'));
    if whole && ends_there { n } else { 0 }
}

fn is_canonical_ipv4(host: &str) -> bool {
    let mut parts = 0;
    for part in host.split('.') {
        parts += 1;
        let canonical = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.bytes().fold(0u32, |v, d| v * 10 + u32::from(d - b'0')) <= 255;
        if !canonical {
            return false;
        }
    }
    parts == 4
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { s.get(prefix.len()..) } else { None }
}

#[cfg(test)]
mod tests {
    use super::of_absolute_http as origin;
    use alloc::string::String;

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
