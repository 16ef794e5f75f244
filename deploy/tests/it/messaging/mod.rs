//! svc-messaging end to end (seed 004 "SMS Endpoints", "Email Endpoints"): scheduling through
//! the gateway, the seed's answers and errors, reading, listing and cancelling jobs, opt-outs,
//! the workers' leases and the providers' protocols.

mod jobs;
mod leases;
mod schedule;
mod sequences;
mod twilio;
mod workers;

use crate::helpers::{Options, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

/// A contact of the token's workspace (with a phone number of its own); returns its id.
async fn contact(app: &TestApp, token: &str, tags: &[&str]) -> String {
    let phone = format!("+1555{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000);
    let (s, b) = app
        .send(app.post_as(token, "/api/contacts").json(&json!({
            "firstname": "Ada",
            "lastname": "Lovelace",
            "phone_number": phone,
            "email": "ada@example.com",
            "tags": tags,
        })))
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

/// The seed's SMS body for `contact_id` in `workspace_id`, with `extra` fields merged in.
fn sms(workspace_id: &str, contact_id: &str, extra: Value) -> Value {
    let mut body = json!({
        "phoneNumber": "+14345054099",
        "message": "Hello",
        "contactId": contact_id,
        "workspaceId": workspace_id,
        "metadata": {"source": "broadcast2"},
    });
    merge(&mut body, extra);
    body
}

/// The seed's email body for `contact_id` in `workspace_id`, with `extra` fields merged in.
fn email(workspace_id: &str, contact_id: &str, extra: Value) -> Value {
    let mut body = json!({
        "to": "recipient@example.com",
        "subject": "Hello",
        "html": "<p>Email content</p>",
        "contactId": contact_id,
        "workspaceId": workspace_id,
        "metadata": {"source": "broadcast2", "callbackEndpoint": "/api/email/send"},
    });
    merge(&mut body, extra);
    body
}

fn merge(body: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(&k);
            } else {
                body[k] = v;
            }
        }
    }
}

/// Schedules through `path`; returns the job id.
async fn schedule(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let (s, b) = app.send(app.post_as(token, path).json(&body)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["success"], true, "{b}");
    b["jobId"].as_str().unwrap().to_owned()
}

/// The job as `GET /api/messages/{id}` shows it.
async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(token, &format!("/api/messages/{id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"].clone()
}

/// Waits (up to `limit`) until the job leaves `pending`/`sending`; returns it.
async fn settled(app: &TestApp, token: &str, id: &str, limit: Duration) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let last = job(app, token, id).await;
        if !matches!(last["status"].as_str(), Some("pending" | "sending"))
            || std::time::Instant::now() >= deadline
        {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Milliseconds of an RFC 3339 time.
fn millis(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("no time: {v}")))
        .unwrap()
        .timestamp_millis()
}

/// svc-messaging's database (its own SQLite file, or its schema of the Postgres database).
async fn messaging_db(app: &TestApp) -> sea_orm::DatabaseConnection {
    let url = app
        .stack
        .auth_database_url
        .replace("/auth.db", "/messaging.db");
    crm_platform::db::connect(&url, "messaging")
        .await
        .expect("messaging db")
}

/// A stack whose svc-messaging uses `settings`, without the gateway's rate limits (these
/// tests poll jobs often and schedule many; the limits have tests of their own).
async fn spawn_with(settings: svc_messaging::MessagingSettings) -> TestApp {
    TestApp::spawn_with(Options {
        messaging: Some(settings),
        rate_limits: Some(crm_gateway::ratelimit::policy::RateLimitConfig {
            enabled: false,
            ..Default::default()
        }),
        ..Options::default()
    })
    .await
}

/// (type, aggregate id) of the `prefix` events svc-webhooks received for the workspace,
/// sorted, once `count` of them arrived (or after 10 s).
async fn received_events(
    app: &TestApp,
    workspace_id: &str,
    prefix: &str,
    count: usize,
) -> Vec<(String, String)> {
    use crm_proto::webhooks::{
        ListReceivedEventsRequest, event_sink_service_client::EventSinkServiceClient,
    };
    let url = app.stack.backend_urls()["webhooks"].clone();
    let mut found = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while found.len() < count && std::time::Instant::now() < deadline {
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
            .into_iter()
            .filter(|e| e.r#type.starts_with(prefix))
            .map(|e| (e.r#type, e.aggregate_id))
            .collect();
    }
    found.sort();
    found
}
