//! Contacts through the gateway: create with the seed's messages, duplicate phones (E.164),
//! basic and enhanced search with every parameter and their limits, get/update/delete,
//! workspace isolation and scopes, and the events each change publishes.

mod create;
mod events;
mod lifecycle;
mod search;

use crate::helpers::TestApp;
use serde_json::Value;

pub(super) async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.send(app.post_as(token, "/api/contacts").json(&body))
        .await
}

/// Creates a contact that must succeed; returns its id.
pub(super) async fn contact(app: &TestApp, token: &str, body: Value) -> String {
    let (s, b) = create(app, token, body).await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

pub(super) fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {body}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(super) fn violations(body: &Value) -> Vec<String> {
    body["details"]["field_violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no field violations in {body}"))
        .iter()
        .map(|v| v["field"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 400 naming `field`.
pub(super) async fn refused(app: &TestApp, request: reqwest::RequestBuilder, field: &str) {
    let (s, b) = app.send(request).await;
    assert_eq!(s, 400, "{field}: {b}");
    assert_eq!(b["success"], false);
    assert_eq!(b["details"]["field"], field, "{b}");
}
