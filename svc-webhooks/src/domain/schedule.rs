//! When a failed delivery is tried again: the default schedule, or the subscription's own
//! retryConfig; a receiver's `Retry-After` can only push the next try later.

use super::subscriptions::RetryConfig;
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// Waits before each attempt under the default schedule: 8 attempts over about 28 hours.
pub const DEFAULT_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Each wait is moved by up to this fraction either way, so receivers that failed together
/// are not all retried in the same instant.
pub const JITTER: f64 = 0.2;

/// The longest a `Retry-After` may push a retry (a day): a receiver cannot park a delivery
/// for ever.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(86_400);

/// A subscription's retry plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    /// [`DEFAULT_SCHEDULE`]: for subscriptions that kept the default retryConfig.
    Default,
    /// `1 + max_retries` attempts; the n-th retry waits `retry_delay * multiplier^(n-1)`.
    Custom(RetryConfig),
}

impl Plan {
    /// The plan of a subscription with this retryConfig.
    pub fn of(retry: RetryConfig) -> Self {
        let default = RetryConfig::default();
        if retry.max_retries == default.max_retries
            && retry.retry_delay_ms == default.retry_delay_ms
            && retry.backoff_multiplier == default.backoff_multiplier
        {
            Plan::Default
        } else {
            Plan::Custom(retry)
        }
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(self) -> i32 {
        match self {
            Plan::Default => DEFAULT_SCHEDULE.len() as i32,
            Plan::Custom(r) => 1 + r.max_retries.max(0),
        }
    }

    /// The wait (before jitter) after `made` attempts, or `None` when none is left.
    pub fn base_wait(self, made: i32) -> Option<Duration> {
        if made < 1 || made >= self.attempts() {
            return None;
        }
        Some(match self {
            Plan::Default => DEFAULT_SCHEDULE[made as usize],
            Plan::Custom(r) => {
                let ms = r.retry_delay_ms.max(0) as f64 * r.backoff_multiplier.powi(made - 1);
                // Capped at a day: a large multiplier must not overflow the timestamp.
                Duration::from_millis(ms.min(86_400_000.0) as u64)
            }
        })
    }

    /// The wait after `made` attempts with jitter, or `None` when none is left.
    pub fn wait(self, made: i32, rng: &mut impl Rng) -> Option<Duration> {
        self.base_wait(made)
            .map(|base| base.mul_f64(1.0 + rng.random_range(-JITTER..=JITTER)))
    }
}

/// A `Retry-After` value (delay in seconds, or an HTTP date) as a wait from `now`.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_default_schedule_has_eight_attempts_and_jitter_stays_within_a_fifth() {
        let plan = Plan::of(RetryConfig::default());
        assert_eq!(plan, Plan::Default);
        assert_eq!(plan.attempts(), 8);
        let mut rng = rand::rng();
        for made in 1..8 {
            let base = DEFAULT_SCHEDULE[made as usize];
            for _ in 0..200 {
                let w = plan.wait(made, &mut rng).unwrap();
                assert!(
                    w >= base.mul_f64(0.8) && w <= base.mul_f64(1.2),
                    "{made}: {w:?}"
                );
            }
        }
        assert_eq!(plan.wait(8, &mut rng), None, "no ninth attempt");
    }

    #[test]
    fn a_retry_config_sets_the_count_delay_and_backoff() {
        let plan = Plan::of(RetryConfig {
            max_retries: 3,
            retry_delay_ms: 200,
            backoff_multiplier: 3.0,
            timeout_ms: 5_000,
        });
        assert_eq!(plan.attempts(), 4);
        assert_eq!(plan.base_wait(1), Some(Duration::from_millis(200)));
        assert_eq!(plan.base_wait(2), Some(Duration::from_millis(600)));
        assert_eq!(plan.base_wait(3), Some(Duration::from_millis(1800)));
        assert_eq!(plan.base_wait(4), None);
        let none = Plan::of(RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        });
        assert_eq!(none.attempts(), 1);
        assert_eq!(none.base_wait(1), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 01 Jan 2026 00:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date past is now"
        );
        assert_eq!(retry_after("999999999", now), Some(RETRY_AFTER_MAX));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
