//! API usage: gateways' batches of API-key requests stored as rows and a per-minute rollup,
//! read back as a key's request log and as usage statistics (seeds 002 and 003), pruned
//! after the retention period. Definitions: docs/usage.md.

pub mod ingest;
pub mod keys;
pub mod logs;
#[cfg(test)]
mod logs_tests;
pub mod retention;
pub mod stats;

use crate::error::MetricsError;
use crate::store::usage::UsageDb;
use chrono::{DateTime, TimeZone, Utc};
use keys::KeyDirectory;

/// What usage requests need: the usage tables and svc-auth, which says which keys a caller
/// may see.
#[derive(Clone)]
pub struct UsageState {
    pub db: UsageDb,
    pub keys: KeyDirectory,
}

/// A request's timestamp as UTC; `field` names it in the error.
pub fn time_of(
    t: &prost_types::Timestamp,
    field: &'static str,
) -> Result<DateTime<Utc>, MetricsError> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| Utc.timestamp_opt(t.seconds, nanos).single())
        .ok_or_else(|| MetricsError::invalid(field, "is not a valid timestamp"))
}

/// `at` to the whole millisecond at or before it (how request times are stored).
pub fn floor_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// `at` to the whole millisecond at or after it: an entry stored in whole milliseconds is at
/// or after `at` exactly when it is at or after this.
pub fn ceil_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_ms(at);
    if floor == at {
        at
    } else {
        floor + chrono::Duration::milliseconds(1)
    }
}

/// The first instant of `at`'s minute.
pub fn floor_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_millis_and_minutes() {
        let at = DateTime::parse_from_rfc3339("2024-01-15T10:42:17.123456Z")
            .unwrap()
            .to_utc();
        assert_eq!(floor_ms(at).to_rfc3339(), "2024-01-15T10:42:17.123+00:00");
        assert_eq!(ceil_ms(at).to_rfc3339(), "2024-01-15T10:42:17.124+00:00");
        assert_eq!(ceil_ms(floor_ms(at)), floor_ms(at));
        assert_eq!(floor_minute(at).to_rfc3339(), "2024-01-15T10:42:00+00:00");
        let before_epoch = DateTime::from_timestamp(-30, 0).unwrap();
        assert_eq!(floor_minute(before_epoch).timestamp(), -60);
    }
}
