//! A time as the text SQLite columns hold: what sqlx writes for a `DateTime<Utc>`
//! (`to_rfc3339_opts(SecondsFormat::AutoSi, false)`, e.g. `2026-12-01T14:20:00.123+00:00`,
//! with no fraction when it is zero). Queries compare these texts as text, so a time written
//! here must be byte for byte what sqlx writes (unit test). The request log writes one per
//! row, thousands per batch; through `fmt` chrono spent more on it than SQLite on storing
//! the row's integers, so the common case (whole milliseconds in years 0 to 9999) is written
//! directly and anything else goes to chrono.

use chrono::{DateTime, SecondsFormat, Utc};

/// `at` as sqlx stores it on SQLite.
pub fn text(at: DateTime<Utc>) -> String {
    let nanos = at.timestamp_subsec_nanos();
    let secs = at.timestamp();
    let days = secs.div_euclid(86_400);
    let (year, month, day) = civil(days);
    // A leap second's nanoseconds run past one second; chrono writes those too.
    if !nanos.is_multiple_of(1_000_000) || nanos >= 1_000_000_000 || !(0..=9999).contains(&year) {
        return at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
    }
    let of_day = secs.rem_euclid(86_400) as u32;
    let mut out = String::with_capacity(29);
    push_digits(&mut out, year as u32, 4);
    out.push('-');
    push_digits(&mut out, month, 2);
    out.push('-');
    push_digits(&mut out, day, 2);
    out.push('T');
    push_digits(&mut out, of_day / 3600, 2);
    out.push(':');
    push_digits(&mut out, of_day / 60 % 60, 2);
    out.push(':');
    push_digits(&mut out, of_day % 60, 2);
    if nanos != 0 {
        out.push('.');
        push_digits(&mut out, nanos / 1_000_000, 3);
    }
    out.push_str("+00:00");
    out
}

/// `n`'s last `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for p in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u32.pow(p) % 10) as u8));
    }
}

/// Year, month and day of the `days`-th day since 1970-01-01 (proleptic Gregorian), by
/// counting 400-year eras from 0000-03-01 so that leap days fall at the end of a year.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sqlx_text(at: DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    }

    #[test]
    fn the_text_is_what_sqlx_writes() {
        let ms = |n: i64| Utc.timestamp_millis_opt(n).unwrap();
        // Every day from 1900 to 2200 (leap years, centuries, 2000) at a few times of day.
        let first = ms(-2_208_988_800_000);
        for day in 0..(300 * 366) {
            let base = first + chrono::Duration::days(day);
            for offset_ms in [0, 1, 999, 1_000, 59_999, 86_399_999] {
                let at = base + chrono::Duration::milliseconds(offset_ms);
                assert_eq!(text(at), sqlx_text(at), "{at:?}");
            }
        }
        for at in [
            ms(0),
            ms(-1),
            ms(253_402_300_799_999),
            ms(-62_167_219_200_000),
            ms(-62_167_219_200_001),
            ms(253_402_300_800_000),
            Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap(),
        ] {
            assert_eq!(text(at), sqlx_text(at), "{at:?}");
        }
    }
}
