//! Parsing of the small values requests carry (dates, ids, money, text), each error naming
//! the field.

use chrono::{DateTime, NaiveDate, Utc};
use crm_platform::error::ApiError;

/// A `YYYY-MM-DD` date, or the date part of an RFC 3339 timestamp.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(raw)
                .ok()
                .map(|t| t.date_naive())
        })
        .ok_or_else(|| ApiError::invalid_field(field, "must be a date in YYYY-MM-DD format"))
}

/// An RFC 3339 instant; a bare date means its start (`end_of_day` false) or its last
/// millisecond (`end_of_day` true), in UTC.
pub fn instant(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid_field(
            field,
            "must be an ISO 8601 timestamp (2025-01-01T00:00:00Z) or a date (2025-01-01)",
        )
    })?;
    let time = if end_of_day {
        day.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        day.and_hms_opt(0, 0, 0)
    };
    Ok(time.unwrap_or_default().and_utc())
}

/// A record id: a UUID. Anything else cannot name a record.
pub fn id(field: &str, raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field(field, "must be a UUID"))
}

/// Required text: trimmed, non-empty, at most `max` characters.
pub fn required(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::invalid_field(field, "is required"));
    }
    bounded(field, v, max)
}

/// Optional text: trimmed; empty becomes `None`.
pub fn optional(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => bounded(field, v, max).map(Some),
    }
}

fn bounded(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    if v.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// Largest accepted amount in major units: ten trillion (10^13). Amounts arrive as JSON
/// numbers (doubles); below 2^53 minor units (about 9·10^13 in major units) every cent value
/// is exact, so this leaves a margin while being beyond any real deal.
pub const MAX_AMOUNT: f64 = 1e13;

/// [`MAX_AMOUNT`] in minor units (10^15). Sums of amounts are computed in `i128`
/// (`store::stages::figures`), which no count of such amounts can overflow.
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000_000;

/// A money amount in major units (e.g. dollars) → minor units (cents), 0..=[`MAX_AMOUNT`].
pub fn cents(field: &str, value: f64) -> Result<i64, ApiError> {
    if !value.is_finite() || !(0.0..=MAX_AMOUNT).contains(&value) {
        return Err(ApiError::invalid_field(
            field,
            "must be a number between 0 and 10000000000000",
        ));
    }
    Ok((value * 100.0).round() as i64)
}

/// Minor units → major units, for responses. Takes sums (`i128`) as well as amounts; the
/// result is the double nearest the exact value, which JSON prints exactly while the total is
/// below 2^53 minor units (about 90 trillion in major units).
pub fn major(cents: impl Into<i128>) -> f64 {
    cents.into() as f64 / 100.0
}

/// A percentage 0..=100.
pub fn percent(field: &str, value: i32) -> Result<i32, ApiError> {
    if !(0..=100).contains(&value) {
        return Err(ApiError::invalid_field(field, "must be between 0 and 100"));
    }
    Ok(value)
}

/// `low`, `medium` or `high`.
pub fn priority(field: &str, raw: &str) -> Result<String, ApiError> {
    let v = raw.trim().to_ascii_lowercase();
    match v.as_str() {
        "low" | "medium" | "high" => Ok(v),
        _ => Err(ApiError::invalid_field(
            field,
            "must be one of: low, medium, high",
        )),
    }
}

/// Tags as given: trimmed, non-empty, at most 50 characters each, at most 50 of them,
/// duplicates (ignoring case) dropped, order kept.
pub fn tags(field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > 50 {
        return Err(ApiError::invalid_field(field, "at most 50 tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for t in raw {
        let t = required(field, t, 50)?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&t)) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Tags given as a JSON array (`google.protobuf.ListValue`) on updates.
pub fn tag_list(field: &str, list: &prost_types::ListValue) -> Result<Vec<String>, ApiError> {
    use prost_types::value::Kind;
    let strings = list
        .values
        .iter()
        .map(|v| match &v.kind {
            Some(Kind::StringValue(s)) => Ok(s.clone()),
            _ => Err(ApiError::invalid_field(
                field,
                "must be an array of strings",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    tags(field, &strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_money_and_tags() {
        assert_eq!(date("d", "2025-08-01").unwrap().to_string(), "2025-08-01");
        assert_eq!(
            date("d", "2025-08-01T10:00:00Z").unwrap().to_string(),
            "2025-08-01"
        );
        assert!(date("d", "08/01/2025").is_err());
        assert_eq!(
            instant("t", "2025-01-01", true).unwrap().to_rfc3339(),
            "2025-01-01T23:59:59.999+00:00"
        );
        assert_eq!(cents("v", 28000.0).unwrap(), 2_800_000);
        assert_eq!(cents("v", 0.1 + 0.2).unwrap(), 30);
        assert!(cents("v", -1.0).is_err());
        assert!(cents("v", f64::NAN).is_err());
        assert_eq!(major(2_800_050), 28000.5);
        assert_eq!(cents("v", MAX_AMOUNT).unwrap(), MAX_AMOUNT_CENTS);
        assert!(cents("v", MAX_AMOUNT + 1.0).is_err());
        assert_eq!(major(i128::from(MAX_AMOUNT_CENTS) * 10_000), 1e17);
        assert_eq!(
            tags("t", &["a".into(), "A".into(), " b ".into()]).unwrap(),
            vec!["a", "b"]
        );
        assert!(tags("t", &["".into()]).is_err());
        assert!(priority("p", "urgent").is_err());
        assert_eq!(priority("p", "HIGH").unwrap(), "high");
    }
}
