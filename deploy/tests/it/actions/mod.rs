//! Actions (seed 004 "Action Execution API") over the wire: each action type end to end (the
//! change visible through the records' own endpoints), executions recorded, read by id and
//! listed per contact, failures recorded and answered as a 400 naming the configuration
//! field, the scope, workspace isolation, `Idempotency-Key`, the route limit and the
//! `action.executed` event.

mod handlers;
mod requests;
mod send;

use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

pub(super) async fn contact(app: &TestApp, owner: &Owner) -> String {
    let phone = format!("+1555{:07}", rand::random::<u32>() % 10_000_000);
    let (s, b) = app
        .send(
            app.post_as(&owner.token, "/api/contacts")
                .json(&json!({"firstname": "Jo", "lastname": "Doe", "phone_number": phone})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

pub(super) async fn execute(app: &TestApp, owner: &Owner, body: Value) -> (u16, Value) {
    app.send(
        app.post_as(&owner.token, "/api/actions/execute")
            .json(&body),
    )
    .await
}

/// Executes and expects it to complete; returns `data`.
pub(super) async fn completed(app: &TestApp, owner: &Owner, body: Value) -> Value {
    let (s, b) = execute(app, owner, body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["success"], true, "{b}");
    assert_eq!(b["data"]["status"], "completed", "{b}");
    b["data"].clone()
}

pub(super) async fn get_contact(app: &TestApp, owner: &Owner, id: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/contacts/{id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"].clone()
}

/// The workspace's events received by svc-webhooks whose type starts with `prefix`.
pub(super) async fn received_events(
    app: &TestApp,
    workspace_id: &str,
    prefix: &str,
    count: usize,
) -> usize {
    use crm_proto::webhooks::{
        ListReceivedEventsRequest, event_sink_service_client::EventSinkServiceClient,
    };
    let url = app.stack.backend_urls()["webhooks"].clone();
    let mut found = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while found < count && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(mut sink) = EventSinkServiceClient::connect(url.clone()).await else {
            continue;
        };
        let events = sink
            .list_received_events(app.as_service(ListReceivedEventsRequest {
                workspace_id: workspace_id.to_owned(),
                r#type: String::new(),
                limit: 1000,
            }))
            .await
            .map(|r| r.into_inner().events)
            .unwrap_or_default();
        found = events
            .iter()
            .filter(|e| e.r#type.starts_with(prefix))
            .count();
    }
    found
}
