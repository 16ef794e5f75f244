//! Dates in, UTC instants out: the range a request covers, the trend buckets and forecast
//! windows, all in the workspace's timezone (calendar days and months are local; the database
//! compares UTC instants). Pure functions, tested below.

use crate::error::MetricsError;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// Instants outside these are clamped: both backends store them, and their text form on
/// SQLite keeps its four-digit year (so it sorts as the instants do).
const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(1000, 1, 1).expect("valid date");
const LATEST: NaiveDate = NaiveDate::from_ymd_opt(9999, 1, 1).expect("valid date");

/// `value` as a date, or `None` when empty. Only `YYYY-MM-DD` is accepted.
pub fn parse_date(field: &'static str, value: &str) -> Result<Option<NaiveDate>, MetricsError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || MetricsError::invalid(field, "must be YYYY-MM-DD (a calendar date)");
    if value.len() != 10 {
        return Err(bad());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| bad())
}

/// The instant a local calendar day starts. Where midnight does not exist (a DST gap), the
/// first instant of the day that does; where it happens twice, the first.
pub fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let day = day.clamp(EARLIEST, LATEST);
    let mut at = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..48 {
        if let Some(local) = tz.from_local_datetime(&at).earliest() {
            return local.with_timezone(&Utc);
        }
        at += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The local calendar day of an instant.
pub fn local_day(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// `[start, end)` of a request: from the start of `from` (or the earliest instant) to the end
/// of `to` (or `now`). `from_field`/`to_field` name the query parameters in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Whether the caller gave a first day (trends cover 12 months when not).
    pub bounded_start: bool,
}

impl Range {
    pub fn new(
        tz: Tz,
        now: DateTime<Utc>,
        from: (&'static str, Option<NaiveDate>),
        to: (&'static str, Option<NaiveDate>),
    ) -> Result<Self, MetricsError> {
        if let (Some(a), Some(b)) = (from.1, to.1)
            && b < a
        {
            return Err(MetricsError::invalid(
                to.0,
                format!("must not be before {} ({b} is before {a})", from.0),
            ));
        }
        let start = from
            .1
            .map(|d| start_of_day(tz, d))
            .unwrap_or_else(|| start_of_day(tz, EARLIEST));
        let end = match to.1 {
            Some(d) => start_of_day(tz, d.checked_add_days(Days::new(1)).unwrap_or(LATEST)),
            None => now,
        };
        Ok(Self {
            start,
            end: end.max(start),
            bounded_start: from.1.is_some(),
        })
    }
}

/// The length of a trend bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Week,
    Month,
    Quarter,
    Year,
}

impl Period {
    /// Parses the `period` parameter; empty means month.
    pub fn parse(value: &str) -> Result<Self, MetricsError> {
        match value.trim() {
            "" | "month" => Ok(Self::Month),
            "week" => Ok(Self::Week),
            "quarter" => Ok(Self::Quarter),
            "year" => Ok(Self::Year),
            _ => Err(MetricsError::invalid(
                "period",
                "must be one of week, month, quarter, year",
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }

    /// The first day of the period holding `day` (weeks start on Monday, as ISO weeks do).
    pub fn first_day(self, day: NaiveDate) -> NaiveDate {
        let first_of = |month: u32| {
            NaiveDate::from_ymd_opt(day.year(), month, 1).expect("first of a month exists")
        };
        match self {
            Self::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Self::Month => first_of(day.month()),
            Self::Quarter => first_of((day.month() - 1) / 3 * 3 + 1),
            Self::Year => first_of(1),
        }
    }

    /// The first day of the next period, given the first day of one.
    pub fn next(self, first: NaiveDate) -> NaiveDate {
        let next = match self {
            Self::Week => first.checked_add_days(Days::new(7)),
            Self::Month => first.checked_add_months(Months::new(1)),
            Self::Quarter => first.checked_add_months(Months::new(3)),
            Self::Year => first.checked_add_months(Months::new(12)),
        };
        next.unwrap_or(LATEST)
    }

    /// The period's label: `2025-W07` (ISO week-numbering year and week), `2025-02`,
    /// `2025-Q1`, `2025`.
    pub fn label(self, first: NaiveDate) -> String {
        match self {
            Self::Week => {
                let week = first.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Self::Month => format!("{}-{:02}", first.year(), first.month()),
            Self::Quarter => format!("{}-Q{}", first.year(), (first.month() - 1) / 3 + 1),
            Self::Year => format!("{}", first.year()),
        }
    }

    /// Days a forecast of this period looks ahead.
    pub fn forecast_days(self) -> u64 {
        match self {
            Self::Week => 7,
            Self::Month => 30,
            Self::Quarter => 90,
            Self::Year => 365,
        }
    }
}

/// One trend bucket: its label and `[start, end)` cut to the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The periods overlapping `range`, newest first, at most `max`: the last one holds the
/// range's last instant. Each is cut to the range.
pub fn buckets(tz: Tz, period: Period, range: &Range, max: usize) -> Vec<Bucket> {
    let mut out = Vec::new();
    if range.end <= range.start {
        return out;
    }
    let last_day = local_day(tz, range.end - chrono::Duration::microseconds(1));
    let mut first = period.first_day(last_day);
    while out.len() < max {
        let start = start_of_day(tz, first);
        let end = start_of_day(tz, period.next(first));
        if end <= range.start {
            break;
        }
        out.push(Bucket {
            label: period.label(first),
            start: start.max(range.start),
            end: end.min(range.end),
        });
        match first.checked_sub_days(Days::new(1)) {
            Some(previous) if previous >= EARLIEST => first = period.first_day(previous),
            _ => break,
        }
    }
    out
}

/// The forecast window of `days` days starting today (local): `[today, today + days)`.
pub fn window(tz: Tz, now: DateTime<Utc>, days: u64) -> (NaiveDate, NaiveDate) {
    let today = local_day(tz, now);
    (
        today,
        today.checked_add_days(Days::new(days)).unwrap_or(LATEST),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_must_be_iso_calendar_days() {
        assert_eq!(parse_date("startDate", "").unwrap(), None);
        assert_eq!(
            parse_date("startDate", "2025-02-28").unwrap(),
            Some(d(2025, 2, 28))
        );
        for bad in [
            "2025-02-30",
            "2025-2-3",
            "02/03/2025",
            "2025-02-03T00:00:00Z",
            "x",
        ] {
            let e = parse_date("startDate", bad).unwrap_err().to_string();
            assert!(e.starts_with("startDate must be YYYY-MM-DD"), "{bad}: {e}");
        }
    }

    #[test]
    fn range_days_are_local_and_inclusive() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let now = utc("2025-06-15T12:00:00Z");
        let r = Range::new(
            tz,
            now,
            ("startDate", Some(d(2025, 3, 1))),
            ("endDate", Some(d(2025, 3, 31))),
        )
        .unwrap();
        assert_eq!(r.start, utc("2025-03-01T05:00:00Z"));
        // DST began on March 9: the end of March 31 is at 04:00 UTC.
        assert_eq!(r.end, utc("2025-04-01T04:00:00Z"));
        let open = Range::new(tz, now, ("startDate", None), ("endDate", None)).unwrap();
        assert_eq!(open.end, now);
        assert!(!open.bounded_start);
        let e = Range::new(
            tz,
            now,
            ("startDate", Some(d(2025, 3, 2))),
            ("endDate", Some(d(2025, 3, 1))),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("endDate must not be before startDate")
        );
    }

    #[test]
    fn a_midnight_that_does_not_exist_starts_the_day_at_its_first_instant() {
        // Santiago skipped from 00:00 to 01:00 on 2022-09-11.
        let tz: Tz = "America/Santiago".parse().unwrap();
        assert_eq!(
            start_of_day(tz, d(2022, 9, 11)),
            utc("2022-09-11T04:00:00Z")
        );
    }

    #[test]
    fn labels_for_each_period() {
        assert_eq!(Period::Week.label(d(2025, 2, 10)), "2025-W07");
        assert_eq!(Period::Week.label(d(2024, 12, 30)), "2025-W01");
        assert_eq!(Period::Month.label(d(2025, 2, 1)), "2025-02");
        assert_eq!(Period::Quarter.label(d(2025, 4, 1)), "2025-Q2");
        assert_eq!(Period::Year.label(d(2025, 1, 1)), "2025");
        assert_eq!(Period::Week.first_day(d(2025, 2, 13)), d(2025, 2, 10));
        assert_eq!(Period::Quarter.first_day(d(2025, 12, 31)), d(2025, 10, 1));
        assert!(Period::parse("fortnight").is_err());
        assert_eq!(Period::parse("").unwrap(), Period::Month);
    }

    #[test]
    fn month_buckets_are_local_newest_first_and_cut_to_the_range() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let r = Range::new(
            tz,
            utc("2025-06-15T12:00:00Z"),
            ("startDate", Some(d(2025, 1, 15))),
            ("endDate", Some(d(2025, 3, 10))),
        )
        .unwrap();
        let b = buckets(tz, Period::Month, &r, 24);
        let labels: Vec<&str> = b.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["2025-03", "2025-02", "2025-01"]);
        assert_eq!(b[0].start, utc("2025-02-28T23:00:00Z"));
        assert_eq!(b[0].end, utc("2025-03-10T23:00:00Z"));
        assert_eq!(b[2].start, utc("2025-01-14T23:00:00Z"));
        assert_eq!(b[1].end, b[0].start);
        let open = Range::new(tz, utc("2025-06-15T12:00:00Z"), ("s", None), ("e", None)).unwrap();
        assert_eq!(buckets(tz, Period::Month, &open, 12).len(), 12);
    }

    #[test]
    fn extreme_dates_are_clamped_not_refused() {
        let tz: Tz = "Pacific/Kiritimati".parse().unwrap();
        let r = Range::new(
            tz,
            utc("2025-06-15T12:00:00Z"),
            ("startDate", Some(d(1, 1, 1))),
            ("endDate", Some(d(9999, 12, 31))),
        )
        .unwrap();
        assert!(r.start < r.end);
        assert_eq!(buckets(tz, Period::Week, &r, 24).len(), 24);
    }
}
