//! Timestamps as the legacy tool reads and prints them: a port of
//! `ciso8601.parse_datetime_as_naive` (the offset dropped without
//! converting, spec §8.2), C-locale `%c` (spec §9.1), and the calendar
//! arithmetic behind both and behind the log lines' local time. Pure code,
//! no libc.

/// A naive date and time (Python's `datetime` without `tzinfo`). Field
/// order makes the derived order the chronological one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Naive {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
}

impl Naive {
    /// Legacy's `EARLIEST_DATETIME`, `datetime(MINYEAR, 1, 1)`.
    pub const EARLIEST: Naive = Naive {
        year: 1,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        microsecond: 0,
    };
}

/// Why [`parse_naive`] gave no date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unparsed {
    /// ciso8601 raises `ValueError` (legacy: treat as missing).
    Invalid,
    /// `9999-12-31T24:00`: ciso8601 raises `OverflowError` adding the day
    /// (legacy: uncaught).
    OutOfRange,
}

/// `ciso8601.parse_datetime_as_naive` (2.4.1), ported from its C parser:
/// calendar (`YYYY-MM-DD`, `YYYYMMDD`, `YYYY-MM`), ISO week (`YYYY-Www-D`,
/// `YYYYWwwD`) and ordinal (`YYYY-DDD`, `YYYYDDD`) dates; an optional time
/// after `T`, `t` or a space (`hh`, `hh:mm`, `hh:mm:ss`, or `hhmm[ss]` with
/// a basic date), fractions after `.` or `,` (digits past the sixth are
/// dropped, not rounded); `24:00` as the next midnight; and an offset
/// (`Z`, `z`, `±hh`, `±hh:mm`, `±hhmm`) that is checked loosely and then
/// ignored. Fields are validated as Python's `datetime` does.
pub fn parse_naive(text: &str) -> std::result::Result<Naive, Unparsed> {
    use Unparsed::Invalid;
    // ciso8601 2.4.1 rejects an embedded NUL wherever it is.
    if text.contains('\0') {
        return Err(Invalid);
    }
    let mut p = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    let is_date_time_sep = |c: u8| matches!(c, b'T' | b't' | b' ');
    let is_tz_sep = |c: u8| matches!(c, b'Z' | b'z' | b'+' | b'-');

    let mut year = p.digits(4)?;
    let (mut month, mut day);
    let extended = p.peek() == b'-';
    if extended {
        p.i += 1;
        if p.peek() == b'W' {
            p.i += 1;
            let week = p.digits(2)?;
            let mut weekday = 1;
            if p.peek() != 0 && !is_date_time_sep(p.peek()) {
                p.expect(b'-')?;
                weekday = p.digits(1)?;
            }
            (year, month, day) = iso_week_to_ymd(year, week, weekday)?;
        } else {
            month = p.digits(2)?;
            day = 1;
            if p.peek() != 0 && !is_date_time_sep(p.peek()) {
                if p.peek() == b'-' {
                    p.i += 1;
                    day = p.digits(2)?;
                } else {
                    let ordinal = month * 10 + p.digits(1)?;
                    (year, month, day) = ordinal_to_ymd(year, ordinal)?;
                }
            }
        }
    } else if p.peek() == b'W' {
        p.i += 1;
        let week = p.digits(2)?;
        let mut weekday = 1;
        if p.peek() != 0 && !is_date_time_sep(p.peek()) {
            weekday = p.digits(1)?;
        }
        (year, month, day) = iso_week_to_ymd(year, week, weekday)?;
    } else {
        month = p.digits(2)?;
        let third = p.digits(1)?;
        if p.peek() == 0 || is_date_time_sep(p.peek()) {
            (year, month, day) = ordinal_to_ymd(year, month * 10 + third)?;
        } else {
            day = third * 10 + p.digits(1)?;
        }
    }

    let (mut hour, mut minute, mut second, mut micro) = (0, 0, 0, 0);
    let mut next_midnight = false;
    if p.peek() != 0 {
        if !is_date_time_sep(p.peek()) {
            return Err(Invalid);
        }
        p.i += 1;
        hour = p.digits(2)?;
        if p.peek() != 0 && !is_tz_sep(p.peek()) {
            if p.peek() == b':' {
                p.i += 1;
                minute = p.digits(2)?;
                if p.peek() != 0 && !is_tz_sep(p.peek()) {
                    p.expect(b':')?;
                    second = p.digits(2)?;
                    if matches!(p.peek(), b'.' | b',') {
                        p.i += 1;
                        micro = p.fraction()?;
                    }
                }
                if !extended {
                    return Err(Invalid);
                }
            } else {
                minute = p.digits(2)?;
                if p.peek() != 0 && !is_tz_sep(p.peek()) {
                    second = p.digits(2)?;
                    if matches!(p.peek(), b'.' | b',') {
                        p.i += 1;
                        micro = p.fraction()?;
                    }
                }
                if extended {
                    return Err(Invalid);
                }
            }
        }
        if hour == 24 && minute == 0 && second == 0 && micro == 0 {
            hour = 0;
            next_midnight = true;
        }
        if is_tz_sep(p.peek()) {
            let signed = matches!(p.peek(), b'+' | b'-');
            p.i += 1;
            if signed {
                p.digits(2)?;
                let mut tz_minute = 0;
                if p.peek() == b':' {
                    p.i += 1;
                    tz_minute = p.digits(2)?;
                } else if p.peek() != 0 {
                    tz_minute = p.digits(2)?;
                }
                if tz_minute > 59 {
                    return Err(Invalid);
                }
            }
        }
    }
    if p.i != p.s.len() {
        return Err(Invalid);
    }

    // Python's datetime() checks.
    let valid = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    if !valid {
        return Err(Invalid);
    }
    let mut t = Naive {
        year: year as i32,
        month,
        day,
        hour,
        minute,
        second,
        microsecond: micro,
    };
    if next_midnight {
        let (y, m, d) = civil_from_days(days_from_civil(t.year, t.month, t.day) + 1);
        if y > 9999 {
            return Err(Unparsed::OutOfRange);
        }
        (t.year, t.month, t.day) = (y, m, d);
    }
    Ok(t)
}

/// A read position in a timestamp; past the end reads as NUL, as the C
/// parser sees its terminator.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn digits(&mut self, n: usize) -> std::result::Result<u32, Unparsed> {
        let mut v = 0;
        for _ in 0..n {
            let c = self.peek();
            if !c.is_ascii_digit() {
                return Err(Unparsed::Invalid);
            }
            v = v * 10 + u32::from(c - b'0');
            self.i += 1;
        }
        Ok(v)
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), Unparsed> {
        if self.peek() != c {
            return Err(Unparsed::Invalid);
        }
        self.i += 1;
        Ok(())
    }

    /// At least one digit; the first six count, the rest are skipped.
    fn fraction(&mut self) -> std::result::Result<u32, Unparsed> {
        let mut v = 0;
        let mut n = 0;
        while self.peek().is_ascii_digit() {
            if n < 6 {
                v = v * 10 + u32::from(self.peek() - b'0');
                n += 1;
            }
            self.i += 1;
        }
        if n == 0 {
            return Err(Unparsed::Invalid);
        }
        Ok(v * 10u32.pow(6 - n))
    }
}

fn is_leap(year: u32) -> bool {
    // (Not `is_multiple_of`: that needs Rust 1.87, the crate declares 1.85.)
    matches!((year % 4, year % 100, year % 400), (0, 1.., _) | (_, _, 0))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days before the first of each month in a common year (index 1..=13).
const DAYS_BEFORE_MONTH: [u32; 14] = [
    0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365,
];

/// ciso8601's `ordinal_to_ymd`: day `ordinal` of `year`. Year 0 passes here
/// and fails Python's year check afterwards.
fn ordinal_to_ymd(year: u32, ordinal: u32) -> std::result::Result<(u32, u32, u32), Unparsed> {
    if ordinal < 1 {
        return Err(Unparsed::Invalid);
    }
    let leap = u32::from(is_leap(year));
    if ordinal <= 31 {
        return Ok((year, 1, ordinal));
    }
    if ordinal <= 59 + leap {
        return Ok((year, 2, ordinal - 31));
    }
    let ordinal = ordinal - leap;
    (3..=12)
        .find(|&m| ordinal <= DAYS_BEFORE_MONTH[m as usize + 1])
        .map(|m| (year, m, ordinal - DAYS_BEFORE_MONTH[m as usize]))
        .ok_or(Unparsed::Invalid)
}

/// ciso8601's `iso_to_ymd` (CPython's `date.fromisocalendar` rules).
fn iso_week_to_ymd(
    iso_year: u32,
    week: u32,
    weekday: u32,
) -> std::result::Result<(u32, u32, u32), Unparsed> {
    let year = iso_year as i32;
    // 0 = Monday.
    let jan1_weekday = (days_from_civil(year, 1, 1) + 3).rem_euclid(7);
    if week == 0 || week >= 53 {
        let long_year = jan1_weekday == 3 || (jan1_weekday == 2 && is_leap(iso_year));
        if !(week == 53 && long_year) {
            return Err(Unparsed::Invalid);
        }
    }
    if !(1..=7).contains(&weekday) {
        return Err(Unparsed::Invalid);
    }
    let mut week1_monday = days_from_civil(year, 1, 1) - jan1_weekday;
    if jan1_weekday > 3 {
        week1_monday += 7;
    }
    let days = week1_monday + i64::from((week - 1) * 7 + weekday - 1);
    // Before 0001-01-01 the C code yields month 0 (or garbage), which
    // Python's datetime() rejects.
    if days < days_from_civil(1, 1, 1) {
        return Err(Unparsed::Invalid);
    }
    let (y, m, d) = civil_from_days(days);
    Ok((y.max(0) as u32, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (any year).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}

/// `strftime("%c")` in the C locale: `%a %b %e %H:%M:%S %Y`, the day padded
/// with a space and the year not padded (glibc prints year 1 as `1`).
pub fn format_c(t: &Naive) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // 1970-01-01 was a Thursday.
    let weekday = (days_from_civil(t.year, t.month, t.day) + 3).rem_euclid(7) as usize;
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[weekday],
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32, us: u32) -> Naive {
        Naive {
            year,
            month,
            day,
            hour,
            minute,
            second,
            microsecond: us,
        }
    }

    // --- %c ---------------------------------------------------------------

    #[test]
    fn c_locale_date_pads_the_day_with_a_space() {
        let cases = [
            (t(2023, 5, 2, 16, 49, 27, 0), "Tue May  2 16:49:27 2023"),
            (
                t(2020, 6, 1, 17, 46, 16, 999_999),
                "Mon Jun  1 17:46:16 2020",
            ),
            (t(2024, 2, 29, 0, 0, 0, 0), "Thu Feb 29 00:00:00 2024"),
            (t(1970, 1, 1, 0, 0, 0, 0), "Thu Jan  1 00:00:00 1970"),
            (t(2000, 12, 31, 23, 59, 59, 0), "Sun Dec 31 23:59:59 2000"),
            // glibc does not pad %Y
            (Naive::EARLIEST, "Mon Jan  1 00:00:00 1"),
            (t(99, 3, 4, 5, 6, 7, 0), "Wed Mar  4 05:06:07 99"),
            (t(999, 12, 31, 23, 59, 59, 0), "Tue Dec 31 23:59:59 999"),
            (t(9999, 12, 31, 23, 59, 59, 0), "Fri Dec 31 23:59:59 9999"),
        ];
        for (when, want) in cases {
            assert_eq!(format_c(&when), want, "{when:?}");
        }
    }

    // --- the naive parse ----------------------------------------------------

    #[test]
    fn naive_parse_keeps_wall_clock_fields_and_drops_offsets() {
        let ok = |s: &str| parse_naive(s).unwrap_or_else(|e| panic!("{s:?}: {e:?}"));
        let base = t(2023, 5, 2, 16, 49, 27, 0);
        for s in [
            "2023-05-02T16:49:27Z",
            "2023-05-02T16:49:27z",
            "2023-05-02t16:49:27",
            "2023-05-02 16:49:27",
            "2023-05-02T16:49:27+02:00",
            "2023-05-02T16:49:27-05:30",
            "2023-05-02T16:49:27+0200",
            "2023-05-02T16:49:27+02",
            "2023-05-02T16:49:27+99:59", // offset hours are not range-checked
            "20230502T164927Z",
            "20230502T164927+0100",
        ] {
            assert_eq!(ok(s), base, "{s}");
        }
        // Fractions: the first six digits, truncated, `,` allowed.
        assert_eq!(
            ok("2023-05-02T16:49:26.999999999Z"),
            t(2023, 5, 2, 16, 49, 26, 999_999)
        );
        assert_eq!(
            ok("2023-05-02T16:49:27,5"),
            t(2023, 5, 2, 16, 49, 27, 500_000)
        );
        assert_eq!(
            ok("2023-05-02T16:49:27.000123Z"),
            t(2023, 5, 2, 16, 49, 27, 123)
        );
        // Partial times and dates.
        assert_eq!(ok("2023-05-02T16:49Z"), t(2023, 5, 2, 16, 49, 0, 0));
        assert_eq!(ok("2023-05-02T17"), t(2023, 5, 2, 17, 0, 0, 0));
        assert_eq!(ok("2023-05-02"), t(2023, 5, 2, 0, 0, 0, 0));
        assert_eq!(ok("2023-05"), t(2023, 5, 1, 0, 0, 0, 0));
        assert_eq!(ok("20230502"), t(2023, 5, 2, 0, 0, 0, 0));
        // ISO week and ordinal dates.
        assert_eq!(ok("2023-W18-2"), t(2023, 5, 2, 0, 0, 0, 0));
        assert_eq!(ok("2023W182"), t(2023, 5, 2, 0, 0, 0, 0));
        assert_eq!(ok("2020-W01-1"), t(2019, 12, 30, 0, 0, 0, 0));
        assert_eq!(ok("2020-W53"), t(2020, 12, 28, 0, 0, 0, 0));
        assert_eq!(ok("2023-122"), t(2023, 5, 2, 0, 0, 0, 0));
        assert_eq!(ok("2020-060"), t(2020, 2, 29, 0, 0, 0, 0));
        assert_eq!(ok("2000-02-29"), t(2000, 2, 29, 0, 0, 0, 0));
        assert_eq!(ok("2023122T12"), t(2023, 5, 2, 12, 0, 0, 0));
        // 24:00 is the next midnight.
        assert_eq!(ok("2023-12-31T24:00"), t(2024, 1, 1, 0, 0, 0, 0));
        assert_eq!(ok("2024-02-28T24:00:00Z"), t(2024, 2, 29, 0, 0, 0, 0));
        // Far years.
        assert_eq!(ok("0001-01-01T00:00:00Z"), Naive::EARLIEST);
        assert_eq!(
            ok("9999-12-31T23:59:59.9999999"),
            t(9999, 12, 31, 23, 59, 59, 999_999)
        );
    }

    #[test]
    fn naive_parse_rejects_what_ciso8601_rejects() {
        for s in [
            "",
            "yesterday",
            "2023",
            "202305",
            "2023-5-2",
            "0000-01-01",
            "2023-00-01",
            "2023-13-01",
            "2023-02-29",
            "1900-02-29",
            "2023-04-31",
            "2023-05-02T25:00",
            "2023-05-02T24:01",
            "2023-05-02T16:60",
            "2023-05-02T16:49:60",
            "2023-05-02T16:49:27.",
            "2023-05-02T16:49:27.Z",
            "2023-05-02T16:49:27+02:60",
            "2023-05-02T16:49:27+2",
            "2023-05-02T16:49:27 UTC",
            "2023-05-02T16:49:27Zjunk",
            "2023-05-02T164927", // extended date, basic time
            "20230502T16:49:27", // basic date, extended time
            "2023-05-02Z",
            "2023-05-02_16:49:27",
            " 2023-05-02",
            "2023-05-02T16:49:27\0",
            "2023-05\0",
            "2023-W00-1",
            "2023-W53-1", // 2023 has 52 ISO weeks
            "2023-W01-8",
            "2023-000",
            "2023-366",
            "0000-W52-7",
            "9999-W52-7", // runs into year 10000
        ] {
            assert_eq!(parse_naive(s), Err(Unparsed::Invalid), "{s:?}");
        }
        assert_eq!(parse_naive("9999-12-31T24:00"), Err(Unparsed::OutOfRange));
    }
}
