//! Incoming webhooks over the wire (seed 002 "Incoming Webhooks"): hooks managed under
//! `/api/v1/incoming-webhooks` (token shown once, regenerated at once), and the public
//! `POST /api/v1/webhooks/incoming/{token}` creating, updating or upserting contacts and
//! opportunities in the hook's workspace through its field mapping, with per-field errors
//! named by payload path, optional HMAC signatures, a body limit, a per-hook rate limit and a
//! log of every call.

mod management;
mod records;
mod refusals;
mod signatures;

use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};

const HOOKS: &str = "/api/v1/incoming-webhooks";

/// Creates a hook; returns (answer, token).
async fn hook(app: &TestApp, owner: &Owner, body: Value) -> (Value, String) {
    let (s, b) = app.send(app.post_as(&owner.token, HOOKS).json(&body)).await;
    assert_eq!(s, 201, "{b}");
    let token = b["token"].as_str().unwrap().to_owned();
    (b, token)
}

/// Posts `body` (raw bytes) to the hook's public URL, without credentials.
async fn call(app: &TestApp, token: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    app.send(
        app.http
            .post(app.url(&format!("/api/v1/webhooks/incoming/{token}")))
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

async fn call_json(app: &TestApp, token: &str, payload: &Value) -> (u16, Value) {
    call(app, token, payload.to_string()).await
}

async fn logs(app: &TestApp, owner: &Owner, id: &str, query: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}/logs{query}")))
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

fn contact_mapping() -> Value {
    json!({
        "contact.email": "email",
        "contact.name": "full_name",
        "contact.phones.0": "phone_number",
        "meta.status": "lead_status",
    })
}
