//! What a client has used of its tier right now, for the dashboard, two ways:
//! - `current`: seed 003 `ApiRateLimit` (window, request count, limit, reset), counted by
//!   svc-metrics from its per-minute rollup over the current calendar minute, hour and day
//!   (UTC), leaving out calls a limit refused. It trails live traffic by the gateways' log
//!   flush interval.
//! - `admission`: the gateways' own buckets for the client (GCRA, which refills continuously
//!   instead of at a window's edge), read through `crm_platform::quota_view`: what they would
//!   admit right now.

use super::AuthState;
use chrono::{DateTime, DurationRound, SubsecRound, TimeDelta, Utc};
use crm_platform::{
    quota_view::BucketSpec,
    rate_tiers::{self, TierLimits, TierWindow},
};
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

/// The tier's windows at `now` with the requests the keys of `client_id` made in each.
pub async fn current(
    state: &AuthState,
    workspace_id: &str,
    client_id: &str,
    tier: &TierLimits,
    now: DateTime<Utc>,
) -> Result<Vec<WindowUse>, Status> {
    let windows = tier.windows().map(|w| {
        (
            w.name,
            w.limit,
            TimeDelta::seconds(i64::from(w.period_secs)),
        )
    });
    let starts = windows.map(|(_, _, len)| now.duration_trunc(len).unwrap_or(now));
    let counts = state
        .usage
        .accepted_since(workspace_id, client_id, starts)
        .await?;
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

/// One of the client's shared buckets as the gateways hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUse {
    /// The tier window the bucket enforces.
    pub window: TierWindow,
    /// Requests it admits right now.
    pub remaining: u32,
    /// When it is full again if no request comes.
    pub full_at: DateTime<Utc>,
}

/// The client's tier buckets as the gateways see them at `now`, and where they were read
/// (`shared`, `local`, or `unavailable` with no buckets).
pub async fn admission(
    state: &AuthState,
    client_id: &str,
    tier: &TierLimits,
    now: DateTime<Utc>,
) -> (Vec<BucketUse>, &'static str) {
    let windows = tier.windows();
    let owner = rate_tiers::client_owner(client_id);
    let specs: Vec<BucketSpec> = windows
        .iter()
        .map(|w| BucketSpec {
            bucket: rate_tiers::bucket_name(&owner, w.name),
            interval_us: w.interval_us(),
            capacity: w.capacity,
        })
        .collect();
    let Some(reading) = state.quota.read(&specs).await else {
        return (Vec::new(), "unavailable");
    };
    let buckets = windows
        .iter()
        .zip(reading.ahead_us)
        .map(|(w, ahead)| BucketUse {
            window: *w,
            remaining: rate_tiers::remaining(ahead, w.interval_us(), w.capacity),
            // At the millisecond precision of every time the API shows, rounded up: the
            // bucket is never full before the time given.
            full_at: now.trunc_subsecs(3)
                + TimeDelta::milliseconds(
                    i64::try_from(ahead.div_ceil(1000)).unwrap_or(i64::MAX / 2_000_000),
                ),
        })
        .collect();
    (buckets, reading.source.as_str())
}
