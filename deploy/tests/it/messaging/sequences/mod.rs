//! Sequences (seed 004 "Sequence API Endpoints"): CRUD, applying to contacts, execution
//! status, completion, cancel (also racing sends), and timing in the contact's zone.

mod definitions;
mod executions;
mod timing;

use super::*;
use chrono::{DateTime, Utc};

/// A contact in `timezone` (or none); returns its id.
async fn contact_in(app: &TestApp, token: &str, timezone: Option<&str>) -> String {
    let phone = format!("+1555{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000);
    let mut body = json!({"firstname": "Grace", "lastname": "Hopper", "phone_number": phone});
    if let Some(tz) = timezone {
        body["timezone"] = json!(tz);
    }
    let (s, b) = app
        .send(app.post_as(token, "/api/contacts").json(&body))
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

fn seed_sequence() -> Value {
    json!({
        "name": "Follow-up Sequence",
        "messages": [
            {"text": "Thanks for reaching out! I'll follow up soon.", "timeValue": 0, "timeUnit": "minutes"},
            {"text": "Just checking in. Let me know if you have any questions.", "timeValue": 1,
             "timeUnit": "days", "subflow": "optional-subflow-id"}
        ]
    })
}

async fn create(app: &TestApp, token: &str, ws: &str, body: Value) -> String {
    let (s, b) = app
        .send(
            app.post_as(token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&body),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["sequence"]["id"].as_str().unwrap().to_owned()
}

async fn apply(app: &TestApp, token: &str, ws: &str, id: &str, contacts: &[&str]) -> Value {
    let (s, b) = app
        .send(
            app.post_as(token, &format!("/api/workspaces/{ws}/sequences/{id}/apply"))
                .json(&json!({"contactIds": contacts})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn execution(app: &TestApp, token: &str, ws: &str, id: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(
            token,
            &format!("/api/workspaces/{ws}/sequence-executions/{id}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b["execution"].clone()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}
