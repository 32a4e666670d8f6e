//! HTTP-date parsing (RFC 9110 §5.6.7): IMF-fixdate, the obsolete RFC 850 form and asctime.
//!
//! Work is bounded: inputs longer than [`MAX_LEN`] are refused before any parsing.

/// No valid HTTP-date is longer than this (RFC 850 with "Wednesday" is 33 bytes).
pub const MAX_LEN: usize = 40;

const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
const SHORT_DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const LONG_DAYS: [&[u8]; 7] =
    [b"Monday", b"Tuesday", b"Wednesday", b"Thursday", b"Friday", b"Saturday", b"Sunday"];

/// A byte cursor; every read is checked, so no input can index out of bounds.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    fn one_of(&mut self, names: &[&[u8]]) -> Option<usize> {
        let index = names.iter().position(|name| self.rest.starts_with(name))?;
        let len = names.get(index)?.len();
        self.rest = self.rest.get(len..)?;
        Some(index)
    }

    fn month(&mut self) -> Option<u32> {
        let index = MONTHS.iter().position(|m| self.rest.starts_with(*m))?;
        self.rest = self.rest.get(3..)?;
        u32::try_from(index + 1).ok()
    }

    /// Exactly `width` ASCII digits.
    fn digits(&mut self, width: usize) -> Option<u32> {
        let (head, tail) = self.rest.split_at_checked(width)?;
        let mut value = 0u32;
        for &b in head {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.rest = tail;
        Some(value)
    }

    /// `HH:MM:SS`, as seconds into the day.
    fn time_of_day(&mut self) -> Option<u64> {
        let hour = self.digits(2)?;
        self.literal(b":")?;
        let minute = self.digits(2)?;
        self.literal(b":")?;
        let second = self.digits(2)?;
        // 60 allows a leap second.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        Some(u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second))
    }

    fn done(&self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian), for years >= 1970.
fn days_since_epoch(year: u32, month: u32, day: u32) -> u64 {
    // Shift the year to start in March so the leap day falls at its end.
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (u64::from(era) * 146_097 + u64::from(day_of_era)).saturating_sub(719_468)
}

/// The civil year that contains `epoch_s`.
pub fn year_of(epoch_s: u64) -> u32 {
    let days = epoch_s / 86_400 + 719_468;
    let era = days / 146_097;
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400 + u64::from(month_index >= 10);
    u32::try_from(year).unwrap_or(u32::MAX)
}

fn to_epoch(year: u32, month: u32, day: u32, seconds_of_day: u64) -> Option<u64> {
    if !(1..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if year < 1970 {
        // Long past: as good as the epoch for a "wait until" question.
        return Some(0);
    }
    Some(days_since_epoch(year, month, day) * 86_400 + seconds_of_day)
}

/// Parses an HTTP-date into seconds since the Unix epoch. `now_s` resolves RFC 850's two-digit
/// year (RFC 9110: a year more than 50 years ahead means the most recent such year in the past).
pub fn parse(value: &[u8], now_s: u64) -> Option<u64> {
    if value.len() > MAX_LEN {
        return None;
    }
    let mut c = Cursor { rest: value };
    if let Some(comma) = value.iter().position(|&b| b == b',') {
        if comma == 3 { imf_fixdate(&mut c) } else { rfc850(&mut c, now_s) }
    } else {
        asctime(&mut c)
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(c: &mut Cursor) -> Option<u64> {
    c.one_of(&SHORT_DAYS)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b" ")?;
    let month = c.month()?;
    c.literal(b" ")?;
    let year = c.digits(4)?;
    c.literal(b" ")?;
    let time = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.done()?;
    to_epoch(year, month, day, time)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850(c: &mut Cursor, now_s: u64) -> Option<u64> {
    c.one_of(&LONG_DAYS)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b"-")?;
    let month = c.month()?;
    c.literal(b"-")?;
    let two_digit = c.digits(2)?;
    c.literal(b" ")?;
    let time = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.done()?;
    // Capped so the sums below cannot overflow for an absurd `now_s` (any year past 9999 is
    // refused by `to_epoch` anyway).
    let this_year = year_of(now_s).min(1_000_000);
    let mut year = this_year - this_year % 100 + two_digit;
    if year > this_year + 50 {
        year -= 100;
    } else if year + 50 <= this_year {
        // The next century's year is not more than 50 years ahead (from 2050 on, "05" is
        // 2105, not 2005): only a year more than 50 years ahead means the past one.
        year += 100;
    }
    to_epoch(year, month, day, time)
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime(c: &mut Cursor) -> Option<u64> {
    c.one_of(&SHORT_DAYS)?;
    c.literal(b" ")?;
    let month = c.month()?;
    c.literal(b" ")?;
    let day = if c.literal(b" ").is_some() { c.digits(1)? } else { c.digits(2)? };
    c.literal(b" ")?;
    let time = c.time_of_day()?;
    c.literal(b" ")?;
    let year = c.digits(4)?;
    c.done()?;
    to_epoch(year, month, day, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_6_1994: u64 = 784_111_777;
    const NOW_2026: u64 = 1_795_000_000;

    #[test]
    fn the_three_formats_of_rfc_9110_agree() {
        assert_eq!(parse(b"Sun, 06 Nov 1994 08:49:37 GMT", NOW_2026), Some(NOV_6_1994));
        assert_eq!(parse(b"Sun Nov  6 08:49:37 1994", NOW_2026), Some(NOV_6_1994));
        // 94 is more than 50 years ahead of 2026 as 2094, so it means 1994.
        assert_eq!(parse(b"Sunday, 06-Nov-94 08:49:37 GMT", NOW_2026), Some(NOV_6_1994));
    }

    #[test]
    fn rfc850_two_digit_years_near_now_are_this_century() {
        let parsed = parse(b"Friday, 01-Jan-27 00:00:00 GMT", NOW_2026);
        assert_eq!(parsed, parse(b"Fri, 01 Jan 2027 00:00:00 GMT", NOW_2026));
    }

    #[test]
    fn leap_days_and_month_lengths_are_checked() {
        assert!(parse(b"Thu, 29 Feb 2024 00:00:00 GMT", NOW_2026).is_some());
        assert!(parse(b"Thu, 29 Feb 2023 00:00:00 GMT", NOW_2026).is_none());
        assert!(parse(b"Thu, 31 Apr 2023 00:00:00 GMT", NOW_2026).is_none());
        assert!(parse(b"Thu, 00 Apr 2023 00:00:00 GMT", NOW_2026).is_none());
    }

    #[test]
    fn malformed_dates_are_refused() {
        for bad in [
            &b""[..],
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMT trailing",
            b"Sun Nov 6 08:49:37 1994",
            b"Someday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 G\u{e9}".as_bytes(),
        ] {
            assert_eq!(parse(bad, NOW_2026), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn year_of_matches_known_instants() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(NOV_6_1994), 1994);
        assert_eq!(year_of(NOW_2026), 2026);
        assert_eq!(year_of(951_782_400), 2000); // 2000-02-29
    }
}
