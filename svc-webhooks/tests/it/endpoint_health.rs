//! A receiver that fails every attempt for longer than the limit gets its subscription
//! disabled, the workspace hears of it through `webhook.disabled`, and one call re-enables
//! it and replays what failed meanwhile, each event once.

use crate::{Receiver, spawn_app, within};
use crm_proto::webhooks as pb;
use std::{collections::HashSet, sync::atomic::Ordering, time::Duration};

#[tokio::test]
async fn failing_past_the_limit_disables_says_so_and_enable_replays_each_event_once() {
    let app = spawn_app(|c| c.disable_after_failing_secs = 2).await;
    let failing = Receiver::start(500).await;
    let watcher = Receiver::start(200).await;
    let id = app.subscribe_retrying(&failing.url, 400).await;
    app.subscribe(&watcher.url, &["webhook.disabled"], None)
        .await;

    let events = app.publish(3).await;
    within(
        Duration::from_secs(20),
        "the webhook.disabled event",
        || {
            watcher
                .received()
                .iter()
                .any(|r| r.event_type == "webhook.disabled")
        },
    )
    .await;
    let disabled = app.webhook(&id).await;
    assert_eq!(disabled.status, "disabled");
    let reason = disabled.disabled_reason.unwrap_or_default();
    assert!(
        reason.contains("every attempt failed for 2 seconds"),
        "{reason}"
    );
    // Nothing more is attempted once disabled (an attempt already on the wire when the
    // endpoint was disabled may still land: let it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tried = failing.received().len();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(failing.received().len(), tried);

    failing.answer.store(200, Ordering::SeqCst);
    let enabled = app
        .webhooks()
        .enable_webhook(app.as_owner(pb::EnableWebhookRequest { id: id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(enabled.data.unwrap().status, "active");
    assert_eq!(enabled.replayed_deliveries, 3);
    within(
        Duration::from_secs(10),
        "every event after the replay",
        || failing.delivered().len() >= 3,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let delivered = failing.delivered();
    assert_eq!(delivered.len(), 3, "each event once: {delivered:?}");
    assert_eq!(
        delivered.into_iter().collect::<HashSet<_>>(),
        events.into_iter().collect::<HashSet<_>>()
    );
    // Enabling an active subscription replays nothing.
    let again = app
        .webhooks()
        .enable_webhook(app.as_owner(pb::EnableWebhookRequest { id }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.replayed_deliveries, 0);
}

#[tokio::test]
async fn a_410_disables_at_once_and_reenabling_by_update_replays_the_event() {
    let app = spawn_app(|_| {}).await;
    let gone = Receiver::start(410).await;
    let id = app.subscribe(&gone.url, &["contact.*"], None).await;
    let events = app.publish(1).await;
    within(Duration::from_secs(10), "the 410", || {
        !gone.received().is_empty()
    })
    .await;
    let mut status = String::new();
    for _ in 0..50 {
        status = app.webhook(&id).await.status;
        if status == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "disabled");

    gone.answer.store(204, Ordering::SeqCst);
    app.webhooks()
        .update_webhook(app.as_owner(pb::UpdateWebhookRequest {
            id: id.clone(),
            status: Some("active".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    within(Duration::from_secs(10), "the replayed event", || {
        !gone.delivered().is_empty()
    })
    .await;
    assert_eq!(gone.delivered(), events);
}
