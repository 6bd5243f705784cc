//! Wall-clock time as Unix seconds and RFC 3339 text, with std only: the one place the crate
//! turns instants into text and back (logs, OAuth records, the brain's timestamps and filters).
//!
//! The calendar arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (proleptic Gregorian, exact for every year we accept).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01T00:00:00Z. A clock set before 1970 reads as 0 rather than panicking.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-26T23:15:57.123Z`
pub fn format_rfc3339_millis(d: Duration) -> String {
    let secs = d.as_secs();
    let (y, mo, da) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// `2026-11-26T23:15:57Z`: UTC, whole seconds, the form every timestamp in the log and the
/// tools uses.
pub fn format_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, optional
/// fractional seconds (truncated), then `Z` or a `+HH:MM`/`-HH:MM` offset. `t`, `z` and a space
/// separator are accepted as RFC 3339 §5.6 allows. Years 1970..=9999 only; anything else,
/// including impossible dates like 2025-02-29, is `None`.
pub fn parse_rfc3339_or_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
    {
        return None;
    }
    let date_secs = days_from_civil(year as i64, month, day) * 86_400;
    if b.len() == 10 {
        return u64::try_from(date_secs).ok();
    }
    // Time part: "THH:MM:SS" then optional ".fff" then "Z" or "+HH:MM".
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    // 60 is a leap second (RFC 3339 §5.7); it reads as the first second of the next minute.
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset: i64 = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2])?;
            let om = digits(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let local = date_secs + i64::from(hour * 3600 + min * 60 + sec);
    u64::try_from(local - offset).ok()
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap_year(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            format_rfc3339_millis(Duration::from_millis(1_795_000_557_123)),
            "2026-11-18T11:15:57.123Z"
        );
        assert_eq!(
            format_rfc3339_millis(Duration::ZERO),
            "1970-01-01T00:00:00.000Z"
        );
        // 2024-02-29 (leap day) 12:00:00
        assert_eq!(
            format_rfc3339_millis(Duration::from_secs(1_709_208_000)),
            "2024-02-29T12:00:00.000Z"
        );
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(format_rfc3339(1_709_251_200), "2024-03-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn parses_what_it_formats_over_many_days() {
        // Every day from 1970 to 2200, at a varying second, round-trips.
        let mut t = 0u64;
        while t < 7_258_118_400 {
            let s = format_rfc3339(t);
            assert_eq!(parse_rfc3339_or_date(&s), Some(t), "{s}");
            t += 86_400 + 3_607;
        }
    }

    #[test]
    fn parses_dates_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_or_date("2026-11-26"), Some(1_795_651_200));
        assert_eq!(
            parse_rfc3339_or_date("2026-11-26T23:15:57Z"),
            Some(1_795_734_957)
        );
        assert_eq!(
            parse_rfc3339_or_date("2026-11-26T23:15:57.123456Z"),
            Some(1_795_734_957)
        );
        assert_eq!(
            parse_rfc3339_or_date("2026-11-27T01:15:57+02:00"),
            Some(1_795_734_957)
        );
        assert_eq!(
            parse_rfc3339_or_date("2026-11-26T18:45:57.5-04:30"),
            Some(1_795_734_957)
        );
        assert_eq!(
            parse_rfc3339_or_date("2026-11-26t23:15:57z"),
            Some(1_795_734_957)
        );
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2026));
        assert_eq!(parse_rfc3339_or_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339_or_date("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_rfc3339_or_date("2025-02-29"), None);
        assert_eq!(parse_rfc3339_or_date("2100-02-29"), None);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2026",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "1969-12-31",
            "2026-11-26T24:00:00Z",
            "2026-11-26T23:60:00Z",
            "2026-11-26T23:15:57",
            "2026-11-26T23:15:57.Z",
            "2026-11-26T23:15:57+0200",
            "2026-11-26T23:15:57Zjunk",
            "2026-11-26X23:15:57Z",
            "2026-1a-26",
            "1970-01-01T00:00:00+01:00",
            "２０２６-11-26",
        ] {
            assert_eq!(parse_rfc3339_or_date(s), None, "{s:?}");
        }
    }
}
