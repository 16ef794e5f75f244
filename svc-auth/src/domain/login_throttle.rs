//! Failed logins slow down per account: after 5 failures in a row, each further attempt on
//! that email waits 1, 2, 4 ... seconds (at most 15 minutes) before it is even checked.
//! Counted per email as typed, known or not, so the answer says nothing about which emails
//! have accounts. (Per address, the gateway limits calls without a caller.)

use super::AuthState;
use crate::store::{db_error, login_failure as store};
use chrono::{DateTime, Duration, Utc};
use crm_platform::error::ApiError;
use tonic::Status;

/// Failures allowed before attempts are delayed.
pub const FREE_FAILURES: i32 = 5;
/// Longest delay.
const MAX_DELAY_SECS: i64 = 900;

/// How long after the `failures`-th failure in a row the next attempt must wait.
pub fn delay_after(failures: i32) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let exponent = (failures - FREE_FAILURES).min(20) as u32;
    Some(Duration::seconds((1i64 << exponent).min(MAX_DELAY_SECS)))
}

/// Refuses an attempt that comes before the account's delay is over.
pub async fn check(state: &AuthState, email: &str, now: DateTime<Utc>) -> Result<(), Status> {
    let row = store::get_global(&state.db, email)
        .await
        .map_err(db_error("read login failures"))?;
    if let Some(until) = row.and_then(|r| r.locked_until).filter(|u| *u > now) {
        let wait = ((until - now).num_milliseconds().max(1) + 999) / 1000;
        return Err(ApiError::new(
            tonic::Code::ResourceExhausted,
            "LOGIN_THROTTLED",
            format!("too many failed logins for this account; retry in {wait} s"),
        )
        .with_meta("retry_after_seconds", wait.to_string())
        .into());
    }
    Ok(())
}

/// Counts a failure and sets the delay it earns.
pub async fn failed(state: &AuthState, email: &str, now: DateTime<Utc>) -> Result<(), Status> {
    let failures = store::get_global(&state.db, email)
        .await
        .map_err(db_error("read login failures"))?
        .map_or(0, |r| r.failures)
        .saturating_add(1);
    store::put_global(
        &state.db,
        email,
        failures,
        delay_after(failures).map(|d| now + d),
    )
    .await
    .map_err(db_error("count login failure"))
}

/// Forgets the failures after a success.
pub async fn succeeded(state: &AuthState, email: &str) -> Result<(), Status> {
    store::clear_global(&state.db, email)
        .await
        .map_err(db_error("clear login failures"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_after_five_failures_and_is_capped() {
        assert_eq!(delay_after(4), None);
        assert_eq!(delay_after(5), Some(Duration::seconds(1)));
        assert_eq!(delay_after(6), Some(Duration::seconds(2)));
        assert_eq!(delay_after(9), Some(Duration::seconds(16)));
        assert_eq!(delay_after(40), Some(Duration::seconds(900)));
        assert_eq!(delay_after(i32::MAX), Some(Duration::seconds(900)));
    }
}
