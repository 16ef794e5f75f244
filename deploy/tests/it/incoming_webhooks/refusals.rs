//! Calls refused and calls logged: field errors named by payload path, the body limit,
//! the per-hook rate limit, and the log every call (but a rate-limited one) leaves.

use super::{HOOKS, call, call_json, contact_mapping, hook, logs};
use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn field_errors_name_the_payload_path_and_every_call_is_logged() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Leads", "field_mapping": contact_mapping()}),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"contact": {"email": "x@example.com", "name": "Bad Phone", "phones": ["12"]}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "contact.phones.0", "{b}");
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"contact": {"name": "Ada Lovelace", "phones": [{"not": "text"}]}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "contact.phones.0", "{b}");
    let (s, b) = call(&app, &token, "not json").await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "body");
    let (s, ok) = call_json(
        &app,
        &token,
        &json!({"contact": {"name": "Ok Person", "phones": ["+15551230004"]}}),
    )
    .await;
    assert_eq!(s, 201, "{ok}");

    let page = logs(&app, &owner, &id, "").await;
    let entries = page["data"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{page}");
    // Newest first.
    assert_eq!(entries[0]["status"], "success");
    assert_eq!(entries[0]["response_status"], 201);
    assert_eq!(entries[0]["action"], "created");
    assert_eq!(entries[0]["record_id"], ok["record_id"]);
    assert!(
        entries[0]["payload"]
            .as_str()
            .unwrap()
            .contains("Ok Person")
    );
    assert_eq!(entries[1]["status"], "failed");
    assert_eq!(entries[1]["payload"], "not json");
    assert_eq!(entries[3]["response_status"], 400);
    assert!(
        entries[3]["error"]
            .as_str()
            .unwrap()
            .contains("contact.phones.0"),
        "{page}"
    );
    let first = logs(&app, &owner, &id, "?limit=3").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = logs(&app, &owner, &id, &format!("?limit=3&cursor={cursor}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["id"], entries[3]["id"]);
    let (_, got) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}")))
        .await;
    assert!(got["data"]["last_received_at"].is_string(), "{got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_get_413_and_a_hook_takes_60_calls_a_minute() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Busy", "field_mapping": contact_mapping()}),
    )
    .await;
    let big = json!({"notes": "x".repeat(300 * 1024)});
    let (s, b) = call_json(&app, &token, &big).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(b["code"], "PAYLOAD_TOO_LARGE");

    // The oversized call was the first of the minute's 60 (unless the minute turned).
    let mut refused_at = None;
    for n in 2..=121 {
        let (s, b) = call(&app, &token, "not json").await;
        if s == 429 {
            assert_eq!(b["code"], "RATE_LIMIT_EXCEEDED", "{b}");
            refused_at = Some(n);
            break;
        }
        assert_eq!(s, 400, "call {n}: {b}");
    }
    let refused_at = refused_at.expect("the hook never refused a call");
    // 61 unless the calls straddled a minute boundary, which restarts the count.
    assert!(refused_at >= 61, "refused at call {refused_at}");
    let r = app
        .http
        .post(app.url(&format!("/api/v1/webhooks/incoming/{token}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));

    // Refused calls are not logged; every other one is.
    let id = created["data"]["id"].as_str().unwrap();
    let page = logs(&app, &owner, id, "?limit=100").await;
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        refused_at - 1,
        "{}",
        page["data"][0]
    );
    assert_eq!(page["data"][refused_at - 2]["response_status"], 413);
}
