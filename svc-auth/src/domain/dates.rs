//! Date filters as callers write them: RFC 3339, or a `YYYY-MM-DD` day (UTC).

use chrono::{DateTime, NaiveDate, Utc};
use crm_platform::error::ApiError;

fn parse(value: &str, field: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid_field(field, "must be YYYY-MM-DD or an RFC 3339 time"))?;
    let time = if end_of_day {
        day.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        day.and_hms_opt(0, 0, 0)
    };
    Ok(time.map(|t| t.and_utc()))
}

/// The first instant `value` names.
pub fn start_of(value: &str, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    parse(value, field, false)
}

/// The last instant `value` names (a whole day for `YYYY-MM-DD`).
pub fn end_of(value: &str, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    parse(value, field, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_cover_the_whole_day_and_bad_values_name_the_field() {
        let from = start_of("2026-03-01", "start_date").unwrap().unwrap();
        let to = end_of("2026-03-01", "end_date").unwrap().unwrap();
        assert_eq!(from.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        assert!(to > from && (to - from).num_hours() == 23);
        assert!(start_of("", "x").unwrap().is_none());
        assert!(start_of("2026-03-01T10:00:00Z", "x").unwrap().is_some());
        let e = end_of("yesterday", "end_date").unwrap_err().into_status();
        assert!(e.message().starts_with("end_date"));
    }
}
