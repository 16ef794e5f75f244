//! When each message of a sequence is due. Each is relative to the previous one (the first to
//! the start). Minutes and hours are elapsed time; days and weeks are calendar days in the
//! contact's zone at the same local time, so a daily message stays at 9:00 across a DST
//! change (adding 24 h would move it an hour).

use chrono::{DateTime, Days, Duration, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A step's unit, as the seed names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl Unit {
    /// `minutes`, `hours`, `days` or `weeks`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "minutes" => Self::Minutes,
            "hours" => Self::Hours,
            "days" => Self::Days,
            "weeks" => Self::Weeks,
            _ => return None,
        })
    }
}

/// The local wall time `naive` in `tz` as an instant: a time skipped by a DST change moves
/// forward by the gap (02:30 on a spring-forward night becomes 03:30), a repeated one takes
/// its first occurrence.
fn resolve(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&naive).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: read the wall time with the offset in force before it, which lands as far
    // past the gap's start as the time was (01:30 in a 01:00-02:00 gap is 02:30 after it).
    if let Some(before) = tz
        .from_local_datetime(&(naive - Duration::hours(3)))
        .earliest()
    {
        let offset = before.offset().fix().local_minus_utc();
        return (naive - Duration::seconds(offset.into())).and_utc();
    }
    naive.and_utc()
}

/// The instant `value` `unit`s after `previous`, days and weeks counted in `tz`.
pub fn after(previous: DateTime<Utc>, value: u32, unit: Unit, tz: Tz) -> DateTime<Utc> {
    match unit {
        Unit::Minutes => previous + Duration::minutes(value.into()),
        Unit::Hours => previous + Duration::hours(value.into()),
        Unit::Days | Unit::Weeks => {
            let days = if unit == Unit::Weeks {
                value * 7
            } else {
                value
            };
            let local = previous.with_timezone(&tz).naive_local();
            let target = local
                .checked_add_days(Days::new(days.into()))
                .unwrap_or(local);
            resolve(tz, target)
        }
    }
}

/// Local times of day when messages may go out; `end` before `start` wraps past midnight,
/// equal times mean any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Window {
    /// Parses `HH:MM` times; `None` names the bad one.
    pub fn parse(start: &str, end: &str) -> Result<Self, &'static str> {
        let time = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .ok()
                .filter(|_| s.len() == 5)
        };
        Ok(Self {
            start: time(start).ok_or("start")?,
            end: time(end).ok_or("end")?,
        })
    }

    fn admits(&self, t: NaiveTime) -> bool {
        if self.start == self.end {
            true
        } else if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// `at`, or the next opening after it, in `tz`.
    pub fn next_open(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz).naive_local();
        if self.admits(local.time()) {
            return at;
        }
        // Closed: the window opens at `start`, today if that is still ahead, else tomorrow.
        let day = if local.time() < self.start {
            local.date()
        } else {
            local.date().succ_opt().unwrap_or(local.date())
        };
        resolve(tz, day.and_time(self.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::London};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_keep_the_local_time_across_new_yorks_spring_change() {
        // Sat 2026-03-07 09:00 EST (14:00Z); DST starts Sun 2026-03-08.
        let start = utc("2026-03-07T14:00:00Z");
        assert_eq!(
            after(start, 1, Unit::Days, New_York),
            utc("2026-03-08T13:00:00Z"),
            "09:00 EDT"
        );
        assert_eq!(
            after(start, 1, Unit::Weeks, New_York),
            utc("2026-03-14T13:00:00Z")
        );
        // Hours are elapsed time: 24 h later reads 10:00 local.
        assert_eq!(
            after(start, 24, Unit::Hours, New_York),
            utc("2026-03-08T14:00:00Z")
        );
    }

    #[test]
    fn days_keep_the_local_time_across_new_yorks_autumn_change() {
        // Sat 2026-10-31 09:00 EDT (13:00Z); DST ends Sun 2026-11-01.
        let start = utc("2026-10-31T13:00:00Z");
        assert_eq!(
            after(start, 1, Unit::Days, New_York),
            utc("2026-11-01T14:00:00Z"),
            "09:00 EST"
        );
    }

    #[test]
    fn london_and_times_a_change_skips_or_repeats() {
        // Sat 2026-03-28 09:00 GMT; BST from Sun 2026-03-29 01:00.
        assert_eq!(
            after(utc("2026-03-28T09:00:00Z"), 1, Unit::Days, London),
            utc("2026-03-29T08:00:00Z")
        );
        // 01:30 local does not exist on 2026-03-29: it becomes 02:30 BST (01:30Z).
        assert_eq!(
            after(utc("2026-03-28T01:30:00Z"), 1, Unit::Days, London),
            utc("2026-03-29T01:30:00Z")
        );
        // 01:30 happens twice on 2026-10-25: the first (BST, 00:30Z).
        assert_eq!(
            after(utc("2026-10-24T00:30:00Z"), 1, Unit::Days, London),
            utc("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            after(utc("2026-03-28T09:00:00Z"), 90, Unit::Minutes, London),
            utc("2026-03-28T10:30:00Z")
        );
    }

    #[test]
    fn a_message_outside_its_window_waits_for_the_next_opening() {
        let nine_to_five = Window::parse("09:00", "17:00").unwrap();
        // 07:00 EST → 09:00 the same day; 18:00 → 09:00 the next; 12:00 stays.
        assert_eq!(
            nine_to_five.next_open(utc("2026-12-07T12:00:00Z"), New_York),
            utc("2026-12-07T14:00:00Z")
        );
        assert_eq!(
            nine_to_five.next_open(utc("2026-12-07T23:00:00Z"), New_York),
            utc("2026-12-08T14:00:00Z")
        );
        assert_eq!(
            nine_to_five.next_open(utc("2026-12-07T17:00:00Z"), New_York),
            utc("2026-12-07T17:00:00Z")
        );
        // Quiet hours 21:00-08:00 as a window wrapping midnight.
        let days = Window::parse("08:00", "21:00").unwrap();
        let evening = Window::parse("21:00", "08:00").unwrap();
        assert_eq!(
            days.next_open(utc("2026-12-07T22:00:00Z"), London),
            utc("2026-12-08T08:00:00Z")
        );
        assert_eq!(
            evening.next_open(utc("2026-12-07T02:00:00Z"), London),
            utc("2026-12-07T02:00:00Z")
        );
        assert_eq!(
            evening.next_open(utc("2026-12-07T12:00:00Z"), London),
            utc("2026-12-07T21:00:00Z")
        );
        assert_eq!(Window::parse("9:00", "17:00"), Err("start"));
        assert_eq!(Window::parse("09:00", "24:00"), Err("end"));
        let always = Window::parse("00:00", "00:00").unwrap();
        assert_eq!(
            always.next_open(utc("2026-12-07T03:17:00Z"), London),
            utc("2026-12-07T03:17:00Z")
        );
    }
}
