//! Field-change triggers over the wire (seed 004 "Trigger.dev Webhook Endpoints"): each
//! reported change reaches a subscription to `contact.field_changed`, signed, with the
//! answer's task id as the event id; the bulk form queues each change; bad calls are refused
//! with the seed's messages, another workspace's id and a key without `contacts:write` too.

use crate::helpers::{Options, TestApp, within};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// How long a delivery may take to arrive (workers poll every 500 ms when nothing wakes them).
const ARRIVES: Duration = Duration::from_secs(15);

const SINGLE: &str = "/api/triggers/webhooks/contact-field-changed";
const BULK: &str = "/api/triggers/webhooks/bulk-field-changes";

async fn app() -> TestApp {
    TestApp::spawn_with(Options {
        webhooks_allow_targets: vec!["127.0.0.1".into()],
        ..Options::default()
    })
    .await
}

/// What a receiver got: (headers, body).
type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A receiver on 127.0.0.1:0 answering 200 and recording every request; returns its URL.
async fn receiver() -> (String, Seen) {
    use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((headers, body.to_vec()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

/// True when the Standard Webhooks signature of the request is `secret`'s.
fn signed_by(headers: &axum::http::HeaderMap, body: &[u8], secret: &str) -> bool {
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

fn change(workspace: &str, field: &str) -> Value {
    json!({
        "contactId": uuid::Uuid::new_v4().to_string(),
        "workspaceId": workspace,
        "fieldName": field,
        "oldValue": ["lead"],
        "newValue": ["lead", "qualified"],
    })
}

#[tokio::test]
async fn each_change_reaches_a_subscription_signed_with_its_task_id() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let (url, seen) = receiver().await;
    let (s, b) = app
        .send(
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": url, "events": ["contact.field_changed"]})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {b}");
    let secret = b["secret"].as_str().unwrap().to_owned();

    let contact = uuid::Uuid::new_v4().to_string();
    let (s, one) = app
        .send(app.post_as(&owner.token, SINGLE).json(&json!({
            "contactId": contact, "workspaceId": owner.workspace_id,
            "fieldName": "lead_status", "oldValue": "new", "newValue": "qualified",
            "changedAt": "2025-05-29T10:30:00.000Z",
        })))
        .await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["success"], true);
    assert_eq!(one["message"], "Trigger processing queued successfully");
    let task = one["taskId"].as_str().unwrap().to_owned();
    assert!(
        within(ARRIVES, || async { seen.lock().unwrap().len() == 1 })
            .await
            .is_some(),
        "the change never arrived"
    );
    let (headers, body) = seen.lock().unwrap()[0].clone();
    assert!(signed_by(&headers, &body, &secret));
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["id"], task.as_str(), "the task id is the event id");
    assert_eq!(envelope["eventType"], "contact.field_changed");
    assert_eq!(
        envelope["data"],
        json!({"contactId": contact, "fieldName": "lead_status", "oldValue": "new",
               "newValue": "qualified", "changedAt": "2025-05-29T10:30:00.000Z"})
    );

    let (s, bulk) = app
        .send(app.post_as(&owner.token, BULK).json(&json!({"changes": [
            change(&owner.workspace_id, "lead_status"),
            change(&owner.workspace_id, "tags"),
        ]})))
        .await;
    assert_eq!(s, 200, "{bulk}");
    assert_eq!(bulk["success"], true);
    assert_eq!(bulk["tasksQueued"], 2);
    let tasks: Vec<String> = bulk["taskIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tasks.len(), 2);
    assert!(
        within(ARRIVES, || async { seen.lock().unwrap().len() == 3 })
            .await
            .is_some(),
        "got {} of 3",
        seen.lock().unwrap().len()
    );
    // A moment more: nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "each change once");
    let mut arrived: Vec<String> = Vec::new();
    for (headers, body) in &got[1..] {
        assert!(signed_by(headers, body, &secret));
        let envelope: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(envelope["data"]["newValue"], json!(["lead", "qualified"]));
        assert!(envelope["data"]["changedAt"].is_string(), "defaults to now");
        arrived.push(envelope["id"].as_str().unwrap().to_owned());
    }
    arrived.sort();
    let mut expected = tasks.clone();
    expected.sort();
    assert_eq!(arrived, expected);
    app.stack.stop().await;
}

#[tokio::test]
async fn bad_calls_are_refused_with_the_field_named() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Other").await;

    let (s, b) = app
        .send(
            app.post_as(&owner.token, SINGLE)
                .json(&json!({"contactId": uuid::Uuid::new_v4().to_string()})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["error"],
        "Missing required fields: contactId, workspaceId, fieldName"
    );

    let (s, b) = app
        .send(app.post_as(&owner.token, SINGLE).json(&json!({
            "contactId": "contact-uuid", "workspaceId": owner.workspace_id, "fieldName": "x",
        })))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("contactId"), "{b}");

    let (s, b) = app
        .send(
            app.post_as(&owner.token, SINGLE)
                .json(&change(&other.workspace_id, "lead_status")),
        )
        .await;
    assert_eq!(s, 403, "another workspace's id is never trusted: {b}");

    let too_many: Vec<Value> = (0..101)
        .map(|_| change(&owner.workspace_id, "lead_status"))
        .collect();
    let (s, b) = app
        .send(
            app.post_as(&owner.token, BULK)
                .json(&json!({"changes": too_many})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("changes"), "{b}");

    let (s, b) = app
        .send(app.post_as(&owner.token, BULK).json(&json!({"changes": [
            change(&owner.workspace_id, "lead_status"),
            change(&other.workspace_id, "lead_status"),
        ]})))
        .await;
    assert_eq!(s, 403, "one foreign change refuses the batch: {b}");

    let (_, read_only) = app.key(&owner.token, &["contacts:read"]).await;
    let (s, b) = app
        .send(
            app.post_as(&read_only, SINGLE)
                .json(&change(&owner.workspace_id, "lead_status")),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let (_, writer) = app.key(&owner.token, &["contacts:write"]).await;
    let (s, b) = app
        .send(app.post_as(&writer, BULK).json(&json!({"changes": [{
            "contactId": uuid::Uuid::new_v4().to_string(), "workspaceId": owner.workspace_id,
            "fieldName": "lead_status", "oldValue": null, "newValue": null,
            "changedAt": "2000-01-01T00:00:00Z",
        }]})))
        .await;
    assert_eq!(s, 200, "explicit nulls are values like any other: {b}");
    app.stack.stop().await;
}
