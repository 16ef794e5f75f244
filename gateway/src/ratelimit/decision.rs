//! The outcome of one check and how callers see it: `X-RateLimit-*` (seed 003/004), the IETF
//! `RateLimit` / `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers), and on
//! refusal `Retry-After` plus the error envelope naming the window.

use super::policy::Plan;
use crate::error::GatewayError;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::fmt::Write;

/// State of one window after a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    /// Window name.
    pub name: &'static str,
    /// Requests per period.
    pub limit: u32,
    /// Period length.
    pub period_secs: u32,
    /// Requests still accepted right now.
    pub remaining: u32,
    /// Seconds until the window is full again.
    pub reset_secs: u64,
    /// Seconds until one more request is accepted (0 unless this window refused).
    pub retry_after_secs: u64,
    /// Who the window limits ("API key", "API client", ...).
    pub holder: &'static str,
}

/// Whether a call may proceed, and the state of every window.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Accepted.
    pub allowed: bool,
    /// One entry per window of the plan, in plan order.
    pub windows: Vec<WindowState>,
    /// Unix seconds when the decision was made.
    pub now: i64,
}

/// A window as `RateLimit-Policy` shows it: name, quota, period.
type PolicyWindow = (&'static str, u32, u32);

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Milliseconds to whole seconds, rounding up so a client that waits that long succeeds.
pub fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// Unix seconds as `2026-11-23T12:01:00Z`.
fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// [`rfc3339`] as a header value, reusing the last one this thread made for the same second
/// (consecutive answers nearly always share their reset second).
fn rfc3339_header(secs: i64) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, HeaderValue)> =
            const { std::cell::RefCell::new((i64::MIN, HeaderValue::from_static(""))) };
    }
    LAST.with_borrow_mut(|(at, value)| {
        if *at != secs {
            *value = HeaderValue::try_from(rfc3339(secs))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            *at = secs;
        }
        value.clone()
    })
}

/// `RateLimit` for window `w`: `"minute";r=9;t=1`. Runs on every answer: written byte by
/// byte, it costs a tenth of what `format!` did.
fn current_header(w: &WindowState) -> HeaderValue {
    let mut number = itoa::Buffer::new();
    let mut v = Vec::with_capacity(w.name.len() + 32);
    v.push(b'"');
    v.extend_from_slice(w.name.as_bytes());
    v.extend_from_slice(b"\";r=");
    v.extend_from_slice(number.format(w.remaining).as_bytes());
    v.extend_from_slice(b";t=");
    v.extend_from_slice(number.format(w.reset_secs).as_bytes());
    HeaderValue::try_from(v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl Decision {
    /// Builds a decision for `plan` from per-window (remaining, reset ms, retry ms).
    pub fn new(plan: &Plan, allowed: bool, states: &[(u32, u64, u64)]) -> Self {
        let windows = plan
            .windows
            .iter()
            .zip(states)
            .map(|(w, &(remaining, reset_ms, retry_ms))| WindowState {
                name: w.name,
                limit: w.limit,
                period_secs: w.period_secs,
                remaining: remaining.min(w.capacity),
                reset_secs: ceil_secs(reset_ms),
                retry_after_secs: if allowed { 0 } else { ceil_secs(retry_ms) },
                holder: w.holder,
            })
            .collect();
        Self {
            allowed,
            windows,
            now: chrono::Utc::now().timestamp(),
        }
    }

    /// The window the headers describe: when refused, the one that makes the caller wait
    /// longest; otherwise the one closest to exhaustion (the shorter period on a tie).
    pub fn binding(&self) -> Option<&WindowState> {
        if self.allowed {
            self.windows
                .iter()
                .min_by_key(|w| (w.remaining, w.period_secs))
        } else {
            self.windows.iter().max_by_key(|w| w.retry_after_secs)
        }
    }

    /// Adds the rate-limit headers to a response. Runs on every answer, so numbers go
    /// straight into header values and the reset time is formatted once per second.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let Some(w) = self.binding() else {
            return;
        };
        // Room for all of them at once: inserted one by one into a response's small map,
        // they made it grow and rehash twice.
        headers.reserve(6);
        headers.insert(X_LIMIT, HeaderValue::from(w.limit));
        headers.insert(X_REMAINING, HeaderValue::from(w.remaining));
        headers.insert(X_RESET, rfc3339_header(self.now + w.reset_secs as i64));
        headers.insert(RATELIMIT_POLICY, self.policy_header());
        headers.insert(RATELIMIT, current_header(w));
        if !self.allowed {
            headers.insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(w.retry_after_secs),
            );
        }
    }

    /// `RateLimit-Policy`: the plan's windows, which only change with the caller's tier or
    /// overrides, so this thread reuses the value it made last while they are the same.
    fn policy_header(&self) -> HeaderValue {
        thread_local! {
            static LAST: std::cell::RefCell<(Vec<PolicyWindow>, HeaderValue)> =
                const { std::cell::RefCell::new((Vec::new(), HeaderValue::from_static(""))) };
        }
        let same = |shape: &[PolicyWindow]| {
            shape.len() == self.windows.len()
                && shape
                    .iter()
                    .zip(&self.windows)
                    .all(|(&(n, q, w), p)| n == p.name && q == p.limit && w == p.period_secs)
        };
        LAST.with_borrow_mut(|(shape, value)| {
            if !same(shape) {
                let mut policy = String::with_capacity(24 * self.windows.len());
                for (i, p) in self.windows.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    let _ = write!(
                        policy,
                        "{sep}\"{}\";q={};w={}",
                        p.name, p.limit, p.period_secs
                    );
                }
                *value =
                    HeaderValue::try_from(policy).unwrap_or_else(|_| HeaderValue::from_static(""));
                *shape = self
                    .windows
                    .iter()
                    .map(|p| (p.name, p.limit, p.period_secs))
                    .collect();
            }
            value.clone()
        })
    }

    /// The 429 for a refused call: which window was hit and when to retry.
    pub fn error(&self) -> GatewayError {
        let Some(w) = self.binding() else {
            return GatewayError::new(
                tonic::Code::ResourceExhausted,
                "RATE_LIMITED",
                "rate limited",
            );
        };
        let retry_at = rfc3339(self.now + w.retry_after_secs as i64);
        let per = match w.name {
            "hour" => "hour".to_owned(),
            "day" => "day".to_owned(),
            "route" => "minute on this endpoint".to_owned(),
            _ => "minute".to_owned(),
        };
        GatewayError::new(
            tonic::Code::ResourceExhausted,
            "RATE_LIMIT_EXCEEDED",
            format!(
                "rate limit exceeded: {} requests per {per} for this {}; retry after {} s ({retry_at})",
                w.limit, w.holder, w.retry_after_secs
            ),
        )
        .with_detail("window", w.name)
        .with_detail("limit", w.limit)
        .with_detail("period_seconds", w.period_secs)
        .with_detail("retry_after_seconds", w.retry_after_secs)
        .with_detail("retry_at", retry_at)
    }

    /// The refusal as a gRPC status (gRPC and gRPC-web callers): ResourceExhausted with the
    /// same reason, the window in ErrorInfo metadata and the delay in RetryInfo.
    pub fn status(&self) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt};
        let e = self.error();
        let mut d = ErrorDetails::new();
        let metadata: std::collections::HashMap<String, String> = e
            .details
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), v)
            })
            .collect();
        d.set_error_info(e.code.clone(), crm_platform::error::ERROR_DOMAIN, metadata);
        if let Some(w) = self.binding() {
            d.set_retry_info(Some(std::time::Duration::from_secs(w.retry_after_secs)));
        }
        tonic::Status::with_error_details(e.grpc, e.message, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::policy::Window;

    fn plan() -> Plan {
        let w = |name, limit, period_secs, capacity| Window {
            name,
            limit,
            period_secs,
            capacity,
            bucket: format!("key:k:{name}"),
            holder: "API key",
        };
        Plan::new(vec![w("minute", 60, 60, 10), w("hour", 1000, 3600, 1000)])
    }

    #[test]
    fn headers_describe_the_window_closest_to_exhaustion() {
        let d = Decision::new(&plan(), true, &[(9, 1000, 0), (999, 3600, 0)]);
        let mut h = HeaderMap::new();
        d.apply(&mut h);
        assert_eq!(h["x-ratelimit-limit"], "60");
        assert_eq!(h["x-ratelimit-remaining"], "9");
        assert_eq!(h["ratelimit"], "\"minute\";r=9;t=1");
        assert_eq!(
            h["ratelimit-policy"],
            "\"minute\";q=60;w=60, \"hour\";q=1000;w=3600"
        );
        assert!(h["x-ratelimit-reset"].to_str().unwrap().ends_with('Z'));
        assert!(!h.contains_key("retry-after"));
    }

    #[test]
    fn the_policy_follows_the_plan_from_call_to_call() {
        let mut other = plan();
        other.windows[1].limit = 500;
        for (p, expected) in [
            (plan(), "\"minute\";q=60;w=60, \"hour\";q=1000;w=3600"),
            (other, "\"minute\";q=60;w=60, \"hour\";q=500;w=3600"),
            (plan(), "\"minute\";q=60;w=60, \"hour\";q=1000;w=3600"),
        ] {
            let mut h = HeaderMap::new();
            Decision::new(&p, true, &[(9, 1000, 0), (99, 3600, 0)]).apply(&mut h);
            assert_eq!(h["ratelimit-policy"], expected);
        }
    }

    #[test]
    fn a_refusal_names_the_window_and_when_to_retry() {
        let d = Decision::new(&plan(), false, &[(5, 5000, 0), (0, 3_600_000, 3_599_001)]);
        let mut h = HeaderMap::new();
        d.apply(&mut h);
        assert_eq!(h["retry-after"], "3600");
        assert_eq!(h["x-ratelimit-limit"], "1000");
        let e = d.error();
        assert_eq!(e.http_status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.details["window"], "hour");
        assert_eq!(e.details["retry_after_seconds"], 3600);
        assert!(
            e.message
                .contains("1000 requests per hour for this API key")
        );
        assert_eq!(d.status().code(), tonic::Code::ResourceExhausted);
    }
}
