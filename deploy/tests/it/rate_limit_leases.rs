//! Leases of a busy key's cells: its calls mostly skip the Redis round trip, its headers
//! still count one by one, and two gateways leasing from one bucket never admit more than
//! the bucket holds.

use crate::{
    helpers::{TestApp, real_redis},
    rate_limits::{call, together_on_both, two_gateways_and_key},
};
use serde_json::json;
use std::time::Instant;

const PER_MINUTE: i64 = 1500;
/// Milliseconds for one cell to refill at 1500 per minute.
const REFILL_MS: i64 = 60_000 / PER_MINUTE;

async fn round_trips(app: &TestApp, base: &str) -> i64 {
    app.metrics(base)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("crm_gateway_redis_round_trips_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("round trips metric")
}

fn remaining(h: &crate::rate_limits::Headers) -> i64 {
    h.remaining.as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_key_is_served_from_leases_and_two_gateways_still_share_its_limit() {
    if real_redis().is_none() {
        eprintln!("skipped: needs REDIS_URL");
        return;
    }
    let (app, second, key) = two_gateways_and_key(json!({"rateLimitOverride": PER_MINUTE})).await;

    // One by one on the first gateway: the headers count each call, leased or not.
    let start = Instant::now();
    let trips_before = round_trips(&app, &app.base).await;
    let mut seen = Vec::new();
    for _ in 0..200 {
        let (s, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
        assert_eq!((s, h.limit.as_deref()), (200, Some("1500")));
        seen.push(remaining(&h));
    }
    let trips = round_trips(&app, &app.base).await - trips_before;
    assert!(
        trips < 60,
        "200 calls of a busy key took {trips} Redis round trips"
    );
    for pair in seen.windows(2) {
        assert!(
            pair[0] - pair[1] <= 1,
            "each call uses one cell, leased or not: {seen:?}"
        );
    }
    let refilled = start.elapsed().as_millis() as i64 / REFILL_MS;
    let expected = (PER_MINUTE - 200 + refilled).min(PER_MINUTE - 1);
    let last = *seen.last().unwrap();
    assert!(
        (expected - 2..=expected + 1).contains(&last),
        "after 200 calls and {refilled} refilled: {last}"
    );

    // The second gateway sees the first's calls, and at most one lease the first still holds.
    let (_, h, _) = call(&app, &second, "/api/auth/me", &key).await;
    let there = remaining(&h);
    assert!(
        (last - 30..=last + 1).contains(&there),
        "first gateway showed {last}, the second {there}"
    );

    // Both gateways at once until well past the limit: never more than the bucket held.
    let mut admitted = 201;
    let mut refused = 0;
    for _ in 0..(PER_MINUTE / 8) {
        for status in together_on_both(&app, &second, &key, 8).await {
            match status {
                200 => admitted += 1,
                429 => refused += 1,
                s => panic!("unexpected status {s}"),
            }
        }
    }
    let refilled = start.elapsed().as_millis() as i64 / REFILL_MS;
    assert!(refused > 0, "the limit bit");
    assert!(
        admitted <= PER_MINUTE + refilled + 1,
        "{admitted} admitted, bucket {PER_MINUTE} + {refilled} refilled"
    );
    assert!(
        admitted >= PER_MINUTE + refilled - 60,
        "leases held back too much: {admitted} admitted of {PER_MINUTE} + {refilled}"
    );
    app.stack.stop().await;
}
