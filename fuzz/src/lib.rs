//! Helpers shared by the fuzz targets: HTTP-dates written by an independent implementation
//! (`httpdate`), in each of RFC 9110's three formats, to check the core's parser against and
//! to build well-formed `Retry-After` dates for the call target.

use std::time::{Duration, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z: no HTTP-date is later (four-digit years).
pub const MAX_DATE_S: u64 = 253_402_300_799;

const LONG_DAYS: [(&str, &str); 7] = [
    ("Mon", "Monday"),
    ("Tue", "Tuesday"),
    ("Wed", "Wednesday"),
    ("Thu", "Thursday"),
    ("Fri", "Friday"),
    ("Sat", "Saturday"),
    ("Sun", "Sunday"),
];

/// `Sun, 06 Nov 1994 08:49:37 GMT`, or `None` past year 9999.
pub fn imf_fixdate(epoch_s: u64) -> Option<String> {
    if epoch_s > MAX_DATE_S {
        return None;
    }
    Some(httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(epoch_s)))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`.
pub fn rfc850(epoch_s: u64) -> Option<String> {
    let imf = imf_fixdate(epoch_s)?;
    let short = imf.get(0..3)?;
    let long = LONG_DAYS.iter().find(|(s, _)| *s == short)?.1;
    // "Sun, 06 Nov 1994 08:49:37 GMT": day 5..7, month 8..11, year 12..16, time 17..25.
    Some(format!(
        "{long}, {}-{}-{} {} GMT",
        imf.get(5..7)?,
        imf.get(8..11)?,
        imf.get(14..16)?,
        imf.get(17..25)?
    ))
}

/// `Sun Nov  6 08:49:37 1994`.
pub fn asctime(epoch_s: u64) -> Option<String> {
    let imf = imf_fixdate(epoch_s)?;
    let day = imf.get(5..7)?;
    let day = day.strip_prefix('0').map_or(day.to_string(), |d| format!(" {d}"));
    Some(format!("{} {} {day} {} {}", imf.get(0..3)?, imf.get(8..11)?, imf.get(17..25)?, imf.get(12..16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats() {
        let t = 784_111_777;
        assert_eq!(imf_fixdate(t).as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(rfc850(t).as_deref(), Some("Sunday, 06-Nov-94 08:49:37 GMT"));
        assert_eq!(asctime(t).as_deref(), Some("Sun Nov  6 08:49:37 1994"));
        assert_eq!(imf_fixdate(MAX_DATE_S + 1), None);
    }
}
