//! Outgoing webhook subscriptions over the wire: CRUD by field, workspace isolation, the
//! secret shown once, rotation, the event catalog, SSRF refusals, and test sends to a local
//! receiver that verifies both signature schemes itself.

mod receiver;
mod subscriptions;
mod targets;
mod test_sends;

use crate::helpers::{Options, TestApp};
use serde_json::Value;

/// A stack whose webhooks may reach 127.0.0.1 (the local receivers).
async fn app_reaching_loopback() -> TestApp {
    TestApp::spawn_with(Options {
        webhooks_allow_targets: vec!["127.0.0.1".into()],
        ..Options::default()
    })
    .await
}

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.send(app.post_as(token, "/api/v1/webhooks").json(&body))
        .await
}

async fn created(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, b) = create(app, token, body).await;
    assert!(s == 200 || s == 201, "{s} {b}");
    b
}

async fn refused(app: &TestApp, request: reqwest::RequestBuilder, field: &str) {
    let (s, b) = app.send(request).await;
    assert_eq!(s, 400, "{field}: {b}");
    assert_eq!(b["details"]["field"], field, "{b}");
}
