//! Addresses whose per-address bucket (calls without a caller) refused a call, until a cell
//! comes back. Admission reads this before authenticating, so while an address is over its
//! limit a stream of unknown keys or bad tokens from it costs no key lookup, no svc-auth call
//! and no Redis round trip: only a map read. The bucket itself is still charged only when
//! authentication fails, as before; this memo only remembers its last "no".
//!
//! The price: while an address is refused, a valid credential from it is refused too (it
//! cannot be told apart without the authentication work being saved). Only failures fill the
//! bucket, so that happens behind an address producing more failed authentications than the
//! limit, and each refusal lasts until the next cell (0.6 s at 100 a minute).

use super::decision::Decision;
use moka::future::Cache;
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

/// Most addresses remembered at once; beyond, the least recently refused are forgotten (and
/// then simply authenticated and checked as before).
const CAPACITY: u64 = 100_000;

/// Refused addresses and when each may try again.
#[derive(Clone)]
pub struct RefusedAddresses {
    refused: Cache<(IpAddr, String), (Instant, Decision)>,
}

impl Default for RefusedAddresses {
    fn default() -> Self {
        Self {
            // No refusal lasts longer than the longest address window (a minute).
            refused: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(Duration::from_secs(61))
                .build(),
        }
    }
}

impl RefusedAddresses {
    /// Remembers `decision`, a refusal of a call from `ip` to `route` (operation id).
    pub async fn remember(&self, ip: IpAddr, route: &str, decision: &Decision) {
        let Some(window) = decision.binding() else {
            return;
        };
        // A per-route window refuses only that route; the address window every route.
        let scope = if window.name == "route" { route } else { "" };
        let until = Instant::now() + Duration::from_secs(window.retry_after_secs.max(1));
        self.refused
            .insert((ip, scope.to_owned()), (until, decision.clone()))
            .await;
    }

    /// The refusal still standing for a call from `ip` to `route`, brought up to date.
    pub async fn standing(&self, ip: IpAddr, route: &str) -> Option<Decision> {
        for key in [(ip, String::new()), (ip, route.to_owned())] {
            if let Some((until, decision)) = self.refused.get(&key).await
                && let Some(left) = until.checked_duration_since(Instant::now())
            {
                return Some(aged(decision, left));
            }
        }
        None
    }
}

/// `decision` as it stands now: `left` until a retry succeeds.
fn aged(mut decision: Decision, left: Duration) -> Decision {
    let now = chrono::Utc::now().timestamp();
    let elapsed = u64::try_from(now - decision.now).unwrap_or(0);
    decision.now = now;
    let retry = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    for w in &mut decision.windows {
        w.reset_secs = w.reset_secs.saturating_sub(elapsed);
        if w.retry_after_secs > 0 {
            w.retry_after_secs = retry.max(1);
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::decision::WindowState;

    fn refusal(window: &'static str, retry_after_secs: u64) -> Decision {
        Decision {
            allowed: false,
            windows: vec![WindowState {
                name: window,
                limit: 3,
                period_secs: 60,
                remaining: 0,
                reset_secs: 60,
                retry_after_secs,
                holder: "client address",
            }],
            now: chrono::Utc::now().timestamp(),
        }
    }

    #[tokio::test]
    async fn an_address_refusal_covers_every_route_until_it_lapses() {
        let memo = RefusedAddresses::default();
        let ip = IpAddr::from([203, 0, 113, 7]);
        memo.remember(ip, "Login", &refusal("minute", 20)).await;
        let standing = memo
            .standing(ip, "GetMe")
            .await
            .expect("refused on every route");
        assert!(!standing.allowed);
        assert!(
            memo.standing(IpAddr::from([203, 0, 113, 8]), "GetMe")
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_route_refusal_covers_that_route_only() {
        let memo = RefusedAddresses::default();
        let ip = IpAddr::from([203, 0, 113, 7]);
        memo.remember(ip, "ListAgents", &refusal("route", 20)).await;
        assert!(memo.standing(ip, "ListAgents").await.is_some());
        assert!(memo.standing(ip, "GetMe").await.is_none());
    }

    #[tokio::test]
    async fn a_lapsed_refusal_stands_no_more() {
        let memo = RefusedAddresses::default();
        let ip = IpAddr::from([203, 0, 113, 7]);
        let mut d = refusal("minute", 1);
        d.windows[0].retry_after_secs = 0;
        memo.refused
            .insert(
                (ip, String::new()),
                (Instant::now() - Duration::from_millis(1), d),
            )
            .await;
        assert!(memo.standing(ip, "GetMe").await.is_none());
    }
}
