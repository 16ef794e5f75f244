//! Seed 003's per-client webhooks: `/api/v1/api-clients/{clientId}/webhooks` creates,
//! lists, changes and deletes a partner client's subscriptions, which default to the
//! client's `webhookUrl` and receive the workspace's events; another client's path or an
//! unknown client never reaches them.

use crate::{
    api_clients::new_client,
    webhook_deliveries::{Receiver, app, contact},
};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_subscription_defaults_to_its_webhook_url_and_stays_under_its_path() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let receiver = Receiver::start(&[], 200).await;
    let alpha = new_client(
        &app,
        &owner.token,
        json!({"name": "Alpha", "contactEmail": "tech@alpha.com", "scopes": ["contacts:read"],
               "webhookUrl": receiver.url}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta = new_client(
        &app,
        &owner.token,
        json!({"name": "Beta", "contactEmail": "tech@beta.com", "scopes": ["contacts:read"]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let under = |client: &str, rest: &str| format!("/api/v1/api-clients/{client}/webhooks{rest}");

    // Seed 003's body: no URL, so the client's webhookUrl.
    let (s, created) = app
        .send(app.post_as(&owner.token, &under(&alpha, "")).json(&json!({
            "events": ["contact.created"],
            "retryConfig": {"maxRetries": 3, "retryDelay": 60000, "backoffMultiplier": 2, "timeout": 30000}
        })))
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["url"], receiver.url.as_str());
    assert_eq!(created["data"]["client_id"], alpha.as_str());
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));

    // A client without a webhookUrl needs a URL; an unknown client is a 404.
    let (s, b) = app
        .send(
            app.post_as(&owner.token, &under(&beta, ""))
                .json(&json!({"events": ["*"]})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "url", "{b}");
    let unknown = uuid::Uuid::new_v4().to_string();
    let (s, _) = app
        .send(
            app.post_as(&owner.token, &under(&unknown, ""))
                .json(&json!({"url": receiver.url, "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 404);

    // Lists: the client's own, the filter on the workspace list, and nothing for Beta.
    let (_, mine) = app.send(app.get_as(&owner.token, &under(&alpha, ""))).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1, "{mine}");
    let (_, filtered) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/webhooks?client_id={alpha}")))
        .await;
    assert_eq!(filtered["data"][0]["id"], id.as_str());
    let (_, theirs) = app.send(app.get_as(&owner.token, &under(&beta, ""))).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0, "{theirs}");

    // The workspace's events reach the client's URL.
    contact(&app, &owner.token, 1).await;
    let started = std::time::Instant::now();
    while receiver.count() == 0 && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.count(), 1, "the client's endpoint got the event");
    let (s, deliveries) = app
        .send(app.get_as(&owner.token, &under(&alpha, &format!("/{id}/deliveries"))))
        .await;
    assert_eq!(s, 200, "{deliveries}");
    assert_eq!(deliveries["data"][0]["event_type"], "contact.created");

    // Another client's path never reaches it.
    let (s, _) = app
        .send(
            app.put_as(&owner.token, &under(&beta, &format!("/{id}")))
                .json(&json!({"name": "taken over"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.get_as(&owner.token, &under(&beta, &format!("/{id}/deliveries"))))
        .await;
    assert_eq!(s, 404);
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &under(&alpha, &format!("/{id}")))
                .json(&json!({"events": ["contact.*"]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app
        .send(app.delete_as(&owner.token, &under(&beta, &format!("/{id}"))))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.delete_as(&owner.token, &under(&alpha, &format!("/{id}"))))
        .await;
    assert_eq!(s, 200);

    // Another workspace cannot use the client at all.
    let other = app.owner("Other").await;
    let (s, _) = app.send(app.get_as(&other.token, &under(&alpha, ""))).await;
    assert_eq!(s, 404);
}
