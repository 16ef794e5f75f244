//! Leases: cells a gateway takes from the shared buckets ahead of a busy caller's calls, so
//! most of its calls are admitted in-process and Redis is asked about one call in many.
//!
//! A lease is charged in Redis when granted (the script advances every window of the plan by
//! the leased cells), so gateways together never admit more than a bucket holds; the only
//! cost is that another gateway sees a held lease as used until it is spent or returned.
//! The script grants a lease only while every window of the plan has at least
//! [`MIN_ROOM`] cells left, and at most 1/[`SHARE`] of them, so buckets small enough for a
//! caller to run into (every seed tier, the seed-004 defaults) are never leased and stay
//! exact call by call. A lease lives [`TTL`]; cells still unused then are returned to the
//! buckets with the plan's next call to Redis (or, if no call comes, are simply refilled by
//! the buckets in time).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// How long leased cells may be used, and the period whose calls size the next lease. A
/// second lets a caller making only a few calls a second (many quiet partners) be served
/// from leases too: with a quarter second its leases were a cell or two and a third of its
/// calls still went to Redis.
pub const TTL: Duration = Duration::from_secs(1);
/// How long an unanswered ask keeps other calls of its plan waiting (its call may have been
/// dropped); far longer than a round trip to Redis.
pub const ASK_PATIENCE: Duration = Duration::from_millis(250);
/// Most cells asked for at once.
pub const MAX_LEASE: u32 = 256;
/// Fewest cells every window of a plan must have left for the script to grant a lease.
pub const MIN_ROOM: u64 = 1024;
/// A lease takes at most this fraction (1/SHARE) of a window's cells left.
pub const SHARE: u64 = 64;
/// Entries unused this long are forgotten by [`Leases::prune`].
const IDLE: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Entry {
    /// Leased cells not yet used.
    left: u32,
    granted_at: Instant,
    /// Per window of the plan: how far its theoretical arrival time lay ahead of Redis' clock
    /// (µs) right after the grant, leased cells included.
    ahead_us: Vec<i64>,
    /// When a call of this plan asked Redis for a lease that is not settled yet; others do
    /// not ask too. An ask older than [`ASK_PATIENCE`] is forgotten.
    asking: Option<Instant>,
    /// Calls of this plan since `period_start` (one lease period): the size of the next ask.
    seen: u32,
    /// Calls in the period before, when it ended less than a period ago: the least the next
    /// ask asks for, so a caller making a few calls a period is not asked about call by call
    /// each time a period starts.
    last_seen: u32,
    period_start: Instant,
    /// Bumped whenever an ask is settled, waking the calls that waited for it.
    settled: watch::Sender<u64>,
}

/// What a call does next.
#[derive(Debug)]
pub enum Take {
    /// Admitted from a lease; per window, how far its theoretical arrival time lies ahead
    /// now with this call counted and the cells still leased given back (µs).
    Served(Vec<i64>),
    /// Another call of the plan is asking for a lease: wait until it is settled, then take
    /// again (most of the time from the new lease, instead of each asking Redis meanwhile).
    Wait(watch::Receiver<u64>),
    /// Ask Redis: the call itself plus `want` cells to lease, returning `refund` cells of an
    /// expired lease.
    Ask {
        /// Cells to lease beyond the call.
        want: u32,
        /// Cells of an expired lease to give back.
        refund: u32,
    },
}

#[cfg(test)]
impl PartialEq for Take {
    /// Two waits are alike whatever they wait on (only the tests compare takes).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Served(a), Self::Served(b)) => a == b,
            (Self::Wait(_), Self::Wait(_)) => true,
            (Self::Ask { want, refund }, Self::Ask { want: w, refund: r }) => {
                (want, refund) == (w, r)
            }
            _ => false,
        }
    }
}

/// The leases of one gateway, by plan (its buckets' names).
#[derive(Default)]
pub struct Leases {
    by_plan: Mutex<HashMap<String, Entry>>,
}

impl Leases {
    /// Admits a call of `plan` (the plan's signature) from its lease, or says what to ask.
    /// `intervals_us` are the emission intervals of the plan's windows. `first` is false when
    /// the call takes again after waiting: it is not counted twice and does not wait again.
    pub fn take(&self, plan: &str, intervals_us: &[u64], now: Instant, first: bool) -> Take {
        let mut map = self.by_plan.lock().unwrap_or_else(|p| p.into_inner());
        let e = match map.get_mut(plan) {
            Some(e) => e,
            None => map.entry(plan.to_owned()).or_insert(Entry {
                left: 0,
                granted_at: now,
                ahead_us: Vec::new(),
                asking: None,
                seen: 0,
                last_seen: 0,
                period_start: now,
                settled: watch::Sender::new(0),
            }),
        };
        let since = now.duration_since(e.period_start);
        if since > TTL {
            e.last_seen = if since > 2 * TTL { 0 } else { e.seen };
            e.period_start = now;
            e.seen = 0;
        }
        if first {
            e.seen = e.seen.saturating_add(1);
        }
        let age = now.duration_since(e.granted_at);
        if e.left > 0 && age <= TTL && e.ahead_us.len() == intervals_us.len() {
            e.left -= 1;
            let elapsed = age.as_micros() as i64;
            let left = i64::from(e.left);
            return Take::Served(
                e.ahead_us
                    .iter()
                    .zip(intervals_us)
                    .map(|(&ahead, &t)| (ahead - elapsed - left * t as i64).max(0))
                    .collect(),
            );
        }
        let refund = std::mem::take(&mut e.left);
        let asking = e
            .asking
            .is_some_and(|at| now.duration_since(at) <= ASK_PATIENCE);
        if asking && first && refund == 0 {
            return Take::Wait(e.settled.subscribe());
        }
        let want = if asking {
            0
        } else {
            e.seen.saturating_sub(1).max(e.last_seen).min(MAX_LEASE)
        };
        if want > 0 {
            e.asking = Some(now);
        }
        Take::Ask { want, refund }
    }

    /// Records Redis' answer to a call that asked for `want` cells: `granted` of them (0 when
    /// refused, not granted or not answered), and the windows' state after the grant.
    pub fn settle(&self, plan: &str, want: u32, granted: u32, ahead_us: &[i64], now: Instant) {
        if want == 0 && granted == 0 {
            return;
        }
        let mut map = self.by_plan.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get_mut(plan) {
            if want > 0 {
                e.asking = None;
                e.settled.send_modify(|n| *n += 1);
            }
            if granted > 0 {
                e.left += granted;
                e.granted_at = now;
                e.ahead_us = ahead_us.to_vec();
            }
        }
    }

    /// Forgets plans not called for a while (their leases have long expired).
    pub fn prune(&self, now: Instant) {
        self.by_plan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| now.duration_since(e.period_start) < IDLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 6; // µs per cell: 10 000 000 per minute

    #[test]
    fn a_busy_plan_asks_for_more_and_is_served_from_its_lease() {
        let leases = Leases::default();
        let t0 = Instant::now();
        // First call: nothing to go on, ask for nothing beyond itself.
        assert_eq!(
            leases.take("p", &[T], t0, true),
            Take::Ask { want: 0, refund: 0 }
        );
        // Second call in the same period: ask for one more.
        assert_eq!(
            leases.take("p", &[T], t0, true),
            Take::Ask { want: 1, refund: 0 }
        );
        // While that ask is out, others wait for it instead of asking too.
        let Take::Wait(waiting) = leases.take("p", &[T], t0, true) else {
            panic!("waits")
        };
        assert!(!waiting.has_changed().unwrap());
        // Granted 3 cells; TAT 4 cells ahead after the grant (the call + 3).
        leases.settle("p", 1, 3, &[4 * T as i64], t0);
        assert!(waiting.has_changed().unwrap(), "the waiting call is woken");
        // Each served call counts itself and gives back what is still leased.
        assert_eq!(
            leases.take("p", &[T], t0, false),
            Take::Served(vec![2 * T as i64])
        );
        assert_eq!(
            leases.take("p", &[T], t0, true),
            Take::Served(vec![3 * T as i64])
        );
        assert_eq!(
            leases.take("p", &[T], t0, true),
            Take::Served(vec![4 * T as i64])
        );
        // Spent: ask again, for the calls seen this period (the waiter counted once).
        assert_eq!(
            leases.take("p", &[T], t0, true),
            Take::Ask { want: 5, refund: 0 }
        );
        // A call that already waited once asks rather than wait again.
        assert_eq!(
            leases.take("p", &[T], t0, false),
            Take::Ask { want: 0, refund: 0 }
        );
    }

    #[test]
    fn an_expired_lease_is_given_back_with_the_next_ask() {
        let leases = Leases::default();
        let t0 = Instant::now();
        leases.take("p", &[T], t0, true);
        let Take::Ask { want, .. } = leases.take("p", &[T], t0, true) else {
            panic!("asks")
        };
        leases.settle("p", want, 5, &[6 * T as i64], t0);
        assert!(matches!(leases.take("p", &[T], t0, true), Take::Served(_)));
        let later = t0 + TTL + Duration::from_millis(1);
        // The last period's three calls size the ask.
        assert_eq!(
            leases.take("p", &[T], later, true),
            Take::Ask { want: 3, refund: 4 }
        );
        // Refused or unanswered asks free the plan to ask again.
        leases.settle("p", 3, 0, &[], later);
        assert_eq!(
            leases.take("p", &[T], later, true),
            Take::Ask { want: 3, refund: 0 }
        );
        leases.settle("p", 3, 0, &[], later);
        // After a pause longer than a period, only this period's calls count.
        let idle = later + 3 * TTL;
        assert_eq!(
            leases.take("p", &[T], idle, true),
            Take::Ask { want: 0, refund: 0 }
        );
        leases.prune(idle + IDLE);
        assert!(leases.by_plan.lock().unwrap().is_empty());
    }
}
