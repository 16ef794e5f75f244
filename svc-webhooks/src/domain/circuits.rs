//! Circuit breaking per subscription, in each process: once a receiver has failed
//! [`TRIP_AFTER`] attempts in a row, the workers stop sending to it for [`COOL_OFF`], then
//! send one delivery at a time (a probe) until one is answered 2xx. A receiver that is down
//! then costs a probe every few seconds instead of every due retry of its backlog, and the
//! sends, database writes and CPU it would have taken stay with the receivers that answer.
//!
//! Deliveries waiting behind an open circuit are not attempted, so they keep their retries
//! and go out once the receiver answers again. The circuit is the process's own: a second
//! worker process learns of the failures by itself, and a restart starts closed.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failed attempts in a row after which a receiver's circuit opens.
pub const TRIP_AFTER: u32 = 5;
/// How long an open circuit sends nothing before it lets one probe through.
pub const COOL_OFF: Duration = Duration::from_secs(5);

/// How many sends a subscription may have in flight now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// Its usual share: the receiver answers, or has not failed often enough to tell.
    Full,
    /// One send, to learn whether the receiver answers again.
    Probe,
    /// None until the cool-off ends.
    Closed,
}

#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
}

/// The circuits of one process's subscriptions, by subscription id. Only failing
/// subscriptions have an entry.
#[derive(Debug, Default)]
pub struct Circuits {
    failing: Mutex<HashMap<String, Circuit>>,
}

impl Circuits {
    /// What the subscription may send at `now`.
    pub fn share(&self, subscription_id: &str, now: Instant) -> Share {
        let failing = self.failing.lock().expect("not poisoned");
        match failing.get(subscription_id) {
            None => Share::Full,
            Some(c) if c.failures < TRIP_AFTER => Share::Full,
            Some(Circuit {
                open_until: Some(until),
                ..
            }) if *until > now => Share::Closed,
            Some(_) => Share::Probe,
        }
    }

    /// Records an attempt's outcome: a 2xx closes the circuit; a failure counts, and from
    /// the [`TRIP_AFTER`]th in a row on each one (re)opens it for [`COOL_OFF`].
    pub fn record(&self, subscription_id: &str, answered_2xx: bool, now: Instant) {
        let mut failing = self.failing.lock().expect("not poisoned");
        if answered_2xx {
            if failing
                .remove(subscription_id)
                .is_some_and(|c| c.failures >= TRIP_AFTER)
            {
                tracing::info!(
                    webhook_id = subscription_id,
                    "webhook receiver answers again"
                );
            }
            return;
        }
        let circuit = failing.entry(subscription_id.to_owned()).or_default();
        circuit.failures = circuit.failures.saturating_add(1);
        if circuit.failures >= TRIP_AFTER {
            if circuit.failures == TRIP_AFTER {
                tracing::info!(
                    webhook_id = subscription_id,
                    "webhook receiver failed {TRIP_AFTER} attempts in a row: one probe every {} s until it answers",
                    COOL_OFF.as_secs()
                );
            }
            circuit.open_until = Some(now + COOL_OFF);
        }
    }

    /// Forgets the subscription's failures (it was re-enabled or deleted).
    pub fn reset(&self, subscription_id: &str) {
        self.failing
            .lock()
            .expect("not poisoned")
            .remove(subscription_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_trip_count_probes_after_the_cool_off_and_closes_on_a_2xx() {
        let circuits = Circuits::default();
        let t0 = Instant::now();
        for _ in 0..TRIP_AFTER - 1 {
            circuits.record("a", false, t0);
        }
        assert_eq!(circuits.share("a", t0), Share::Full);
        circuits.record("a", false, t0);
        assert_eq!(circuits.share("a", t0), Share::Closed);
        assert_eq!(circuits.share("b", t0), Share::Full, "others are untouched");
        assert_eq!(circuits.share("a", t0 + COOL_OFF), Share::Probe);
        // A failed probe opens it again from the probe's end.
        let t1 = t0 + COOL_OFF + Duration::from_millis(300);
        circuits.record("a", false, t1);
        assert_eq!(circuits.share("a", t1 + COOL_OFF / 2), Share::Closed);
        assert_eq!(circuits.share("a", t1 + COOL_OFF), Share::Probe);
        circuits.record("a", true, t1 + COOL_OFF);
        assert_eq!(circuits.share("a", t1 + COOL_OFF), Share::Full);
    }

    #[test]
    fn a_2xx_between_failures_starts_the_count_again() {
        let circuits = Circuits::default();
        let now = Instant::now();
        for _ in 0..3 {
            for _ in 0..TRIP_AFTER - 1 {
                circuits.record("a", false, now);
            }
            circuits.record("a", true, now);
        }
        assert_eq!(circuits.share("a", now), Share::Full);
        circuits.reset("a");
        assert!(circuits.failing.lock().unwrap().is_empty());
    }

    /// Whatever came before, the share depends only on the failures since the last 2xx:
    /// fewer than TRIP_AFTER → full; otherwise closed until COOL_OFF after the last one.
    /// Checked for every sequence of up to twelve outcomes.
    #[test]
    fn the_share_follows_the_failures_since_the_last_2xx() {
        let t0 = Instant::now();
        let at = |i: usize| t0 + Duration::from_millis(i as u64 * 700);
        for len in 0..=12usize {
            for bits in 0..1u32 << len {
                let outcomes: Vec<bool> = (0..len).map(|i| bits & (1 << i) != 0).collect();
                let circuits = Circuits::default();
                for (i, ok) in outcomes.iter().enumerate() {
                    circuits.record("s", *ok, at(i));
                }
                let since_2xx = outcomes.iter().rev().take_while(|ok| !**ok).count();
                let last = at(len.saturating_sub(1));
                if since_2xx < TRIP_AFTER as usize {
                    assert_eq!(circuits.share("s", last), Share::Full, "{outcomes:?}");
                } else {
                    assert_eq!(circuits.share("s", last), Share::Closed, "{outcomes:?}");
                    assert_eq!(circuits.share("s", last + COOL_OFF), Share::Probe);
                }
            }
        }
    }
}
