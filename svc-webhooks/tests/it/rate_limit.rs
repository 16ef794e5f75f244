//! A subscription's rate limit is enforced, not only stored: its deliveries are spread out
//! to the limit, none is lost, and another subscription is not held back by it.

use crate::{Receiver, spawn_app, within};
use std::{collections::HashMap, time::Duration};

#[tokio::test]
async fn deliveries_keep_to_the_rate_limit_and_other_endpoints_are_not_held_back() {
    let app = spawn_app(|_| {}).await;
    let limited = Receiver::start(200).await;
    let free = Receiver::start(200).await;
    app.subscribe(&limited.url, &["contact.*"], Some(2)).await;
    app.subscribe(&free.url, &["contact.*"], None).await;

    let started = std::time::Instant::now();
    let events = app.publish(8).await;
    within(
        Duration::from_secs(10),
        "the unlimited endpoint's events",
        || free.delivered().len() == 8,
    )
    .await;
    let free_done = started.elapsed();
    within(
        Duration::from_secs(20),
        "the limited endpoint's events",
        || limited.delivered().len() == 8,
    )
    .await;

    let received = limited.received();
    let span = received.last().unwrap().at - received.first().unwrap().at;
    // Eight at two a second span four Unix seconds: more than two seconds from the first
    // to the last (less a little for the way to the receiver).
    assert!(span >= Duration::from_millis(1900), "took only {span:?}");
    assert!(
        free_done < Duration::from_secs(2),
        "the unlimited endpoint waited {free_done:?}"
    );
    // No more than the limit in any Unix second (one more allowed for a send that
    // straddles the boundary on its way).
    let mut per_second: HashMap<u64, usize> = HashMap::new();
    for r in &received {
        let second = r
            .wall
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        *per_second.entry(second).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n <= 3), "{per_second:?}");
    let mut delivered = limited.delivered();
    delivered.sort();
    let mut expected = events;
    expected.sort();
    assert_eq!(delivered, expected, "every event once");
}
