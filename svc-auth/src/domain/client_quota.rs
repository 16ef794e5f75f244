//! What a client has used of its tier right now (seed 003 `ApiRateLimit`: window, request
//! count, limit, reset), for the dashboard. Counted from the request log over the current
//! calendar minute, hour and day (UTC), leaving out calls a limit refused. The gateway enforces
//! the same numbers with GCRA, which refills continuously instead of at the window's edge, so
//! this is the usage picture, not the exact admission state; it trails live traffic by the
//! gateways' log flush interval.

use super::AuthState;
use crate::store::request_log as store;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use crm_platform::rate_tiers::TierLimits;
use tonic::Status;

/// One window of the tier and its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowUse {
    /// `minute`, `hour` or `day`.
    pub window: &'static str,
    /// Requests accepted in the current window.
    pub request_count: u64,
    /// The tier's limit for the window.
    pub request_limit: u32,
    /// When the window starts again.
    pub reset_at: DateTime<Utc>,
}

impl WindowUse {
    /// Requests left in the window (never below zero: an override may let a key exceed it).
    pub fn remaining(&self) -> u64 {
        u64::from(self.request_limit).saturating_sub(self.request_count)
    }
}

/// The tier's windows at `now` with the requests `api_key_ids` made in each.
pub async fn current(
    state: &AuthState,
    workspace_id: &str,
    api_key_ids: &[String],
    tier: &TierLimits,
    now: DateTime<Utc>,
) -> Result<Vec<WindowUse>, Status> {
    let windows = [
        ("minute", tier.per_minute, TimeDelta::minutes(1)),
        ("hour", tier.per_hour, TimeDelta::hours(1)),
        ("day", tier.per_day, TimeDelta::days(1)),
    ];
    let starts = windows.map(|(_, _, len)| now.duration_trunc(len).unwrap_or(now));
    let counts = if api_key_ids.is_empty() {
        [0; 3]
    } else {
        store::accepted_since(&state.db, workspace_id, api_key_ids, starts).await?
    };
    Ok(windows
        .iter()
        .zip(starts)
        .zip(counts)
        .map(|(((window, limit, len), start), request_count)| WindowUse {
            window,
            request_count,
            request_limit: *limit,
            reset_at: start + *len,
        })
        .collect())
}
