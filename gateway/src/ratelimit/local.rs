//! In-process limits with `governor`, used when Redis is not configured (the embedded stack)
//! or is away: the gateway keeps serving and still limits, each instance on its own. One
//! keyed governor limiter per distinct quota; buckets are keyed like the Redis ones.
//!
//! Unlike the Redis script, governor checks windows one by one, so a request refused by a
//! later window has already used a cell of the earlier ones; windows are checked shortest
//! first, where refusals happen, to keep that rare.
//!
//! Each limiter's state store is kept beside it so views (a client's dashboard, through
//! `crm_platform::quota_view`) can read a bucket without using a cell of it.

use super::{decision::Decision, policy::Plan};
use crm_platform::quota_view::LocalBuckets;
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock, Reference},
    middleware::StateInformationMiddleware,
    nanos::Nanos,
    state::{
        StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};
use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::Duration,
};

/// A limiter's buckets, shared with the limiter so they can be read without a check.
#[derive(Clone, Default)]
struct Store(Arc<DashMapStateStore<String>>);

impl StateStore for Store {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<String> for Store {
    fn retain_recent(&self, drop_below: Nanos) {
        self.0.retain_recent(drop_below)
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0)
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

type Keyed = RateLimiter<String, Store, DefaultClock, StateInformationMiddleware>;

/// One quota's limiter, its store, and the instant its times count from.
struct QuotaBuckets {
    limiter: Keyed,
    store: Store,
    /// Taken just before the limiter's own start, so times measured from it run at most
    /// nanoseconds ahead of the limiter's.
    start: <DefaultClock as Clock>::Instant,
}

/// Buckets by quota (interval µs, capacity).
#[derive(Default)]
pub struct LocalLimiter {
    by_quota: RwLock<HashMap<(u64, u32), Arc<QuotaBuckets>>>,
    clock: DefaultClock,
}

impl LocalLimiter {
    fn existing(&self, interval_us: u64, capacity: u32) -> Option<Arc<QuotaBuckets>> {
        self.by_quota
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(interval_us, capacity))
            .cloned()
    }

    fn limiter(&self, interval_us: u64, capacity: u32) -> Arc<QuotaBuckets> {
        if let Some(l) = self.existing(interval_us, capacity) {
            return l;
        }
        let quota = Quota::with_period(Duration::from_micros(interval_us.max(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(capacity).unwrap_or(NonZeroU32::MIN));
        self.by_quota
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry((interval_us, capacity))
            .or_insert_with(|| {
                let store = Store::default();
                let clock = self.clock.clone();
                let start = clock.now();
                let limiter = Keyed::new(quota, store.clone(), clock);
                Arc::new(QuotaBuckets {
                    limiter,
                    store,
                    start,
                })
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
                .limiter
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
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
    }
}

impl LocalBuckets for LocalLimiter {
    fn ahead_us(&self, bucket: &str, interval_us: u64, capacity: u32) -> u64 {
        let Some(q) = self.existing(interval_us, capacity) else {
            return 0;
        };
        let key = bucket.to_owned();
        if !q.store.0.contains_key(&key) {
            // Reading through the store would make the bucket.
            return 0;
        }
        let tat = q
            .store
            .measure_and_replace(&key, Err::<((), Nanos), _>)
            .err()
            .flatten();
        let now = self.clock.now().duration_since(q.start);
        tat.map_or(0, |tat| tat.as_u64().saturating_sub(now.as_u64()) / 1000)
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

    #[test]
    fn a_bucket_is_read_without_using_a_cell() {
        let local = LocalLimiter::default();
        let p = plan(10);
        let w = &p.windows[0];
        assert_eq!(
            local.ahead_us(&w.bucket, w.interval_us(), 10),
            0,
            "never used"
        );
        for _ in 0..3 {
            assert!(local.check(&p).allowed);
        }
        let ahead = local.ahead_us(&w.bucket, w.interval_us(), 10);
        let three = 3 * w.interval_us();
        assert!(three - 1_000_000 < ahead && ahead <= three, "{ahead}");
        assert!(
            local.ahead_us(&w.bucket, w.interval_us(), 10) <= ahead,
            "time only refills"
        );
        assert_eq!(
            local.check(&p).windows[0].remaining,
            6,
            "the reads used nothing"
        );
        assert_eq!(local.ahead_us("key:other:minute", w.interval_us(), 10), 0);
    }
}
