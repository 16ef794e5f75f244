//! In-process limits with `governor`, used when Redis is not configured (the embedded stack)
//! or is away: the gateway keeps serving and still limits, each instance on its own. One
//! keyed governor limiter per distinct quota; buckets are keyed like the Redis ones.
//!
//! Unlike the Redis script, governor checks windows one by one, so a request refused by a
//! later window has already used a cell of the earlier ones; windows are checked shortest
//! first, where refusals happen, to keep that rare.

use super::{decision::Decision, policy::Plan};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::Duration,
};

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Buckets by quota (interval µs, capacity).
#[derive(Default)]
pub struct LocalLimiter {
    by_quota: RwLock<HashMap<(u64, u32), Arc<Keyed>>>,
    clock: DefaultClock,
}

impl LocalLimiter {
    fn limiter(&self, interval_us: u64, capacity: u32) -> Arc<Keyed> {
        let id = (interval_us, capacity);
        if let Some(l) = self
            .by_quota
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return l.clone();
        }
        let quota = Quota::with_period(Duration::from_micros(interval_us.max(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(capacity).unwrap_or(NonZeroU32::MIN));
        self.by_quota
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_insert_with(|| {
                Arc::new(RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
            })
            .clone()
    }

    /// Checks every window of `plan`, consuming a cell of each that accepts.
    pub fn check(&self, plan: &Plan) -> Decision {
        let mut order: Vec<usize> = (0..plan.windows.len()).collect();
        order.sort_by_key(|&i| plan.windows[i].period_secs);
        let mut states = vec![(0u32, 0u64, 0u64); plan.windows.len()];
        let mut allowed = true;
        for i in order {
            let w = &plan.windows[i];
            let interval_ms = w.interval_us() / 1000;
            if !allowed {
                // Not consulted: report it as it was, without using a cell.
                states[i] = (w.capacity, 0, 0);
                continue;
            }
            match self
                .limiter(w.interval_us(), w.capacity)
                .check_key(&w.bucket)
            {
                Ok(snapshot) => {
                    let remaining = snapshot.remaining_burst_capacity();
                    let used = u64::from(w.capacity.saturating_sub(remaining));
                    states[i] = (remaining, used * interval_ms, 0);
                }
                Err(not_until) => {
                    allowed = false;
                    let retry = not_until.wait_time_from(self.clock.now()).as_millis() as u64;
                    let reset = retry + u64::from(w.capacity.saturating_sub(1)) * interval_ms;
                    states[i] = (0, reset, retry.max(1));
                }
            }
        }
        Decision::new(plan, allowed, &states)
    }

    /// Forgets buckets that are full again, so memory follows the active callers only.
    pub fn prune(&self) {
        for l in self
            .by_quota
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::policy::minute_plan as plan;

    #[test]
    fn never_admits_more_than_the_capacity_at_once() {
        let local = LocalLimiter::default();
        let p = plan(3);
        let remaining: Vec<_> = (0..3)
            .map(|_| {
                let d = local.check(&p);
                assert!(d.allowed);
                d.windows[0].remaining
            })
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = local.check(&p);
        assert!(!refused.allowed);
        let w = &refused.windows[0];
        assert!((19..=20).contains(&w.retry_after_secs), "{w:?}");
    }
}
