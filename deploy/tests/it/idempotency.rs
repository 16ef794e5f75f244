//! `Idempotency-Key` on REST POSTs: a retry replays the first answer without running the call
//! again; the key is the caller's own; misuse is refused with the header named.

use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};

async fn create_pipeline(
    app: &TestApp,
    owner: &Owner,
    key: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let r = app
        .post_as(&owner.token, "/api/pipeline/pipelines")
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, r.json().await.unwrap_or(Value::Null))
}

async fn pipeline_count(app: &TestApp, owner: &Owner) -> usize {
    let (s, b) = app
        .send(app.get_as(&owner.token, "/api/pipeline/pipelines"))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_replays_the_first_answer_without_creating_twice() {
    let app = TestApp::spawn().await;
    let a = app.owner("Acme").await;
    let key = uuid::Uuid::new_v4().to_string();

    let (s, replayed, first) = create_pipeline(&app, &a, &key, json!({"name": "Sales"})).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(replayed, None);
    let (s, replayed, again) = create_pipeline(&app, &a, &key, json!({"name": "Sales"})).await;
    assert_eq!(s, 201, "{again}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again, first, "the same answer, same id");
    assert_eq!(pipeline_count(&app, &a).await, 1, "created once");

    // The same key for another request is refused, naming the header.
    let (s, _, refused) = create_pipeline(&app, &a, &key, json!({"name": "Other"})).await;
    assert_eq!(s, 422, "{refused}");
    assert_eq!(refused["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(refused["details"]["field"], "Idempotency-Key");
    assert_eq!(pipeline_count(&app, &a).await, 1);

    // Without a key every POST runs.
    let (s, b) = app
        .send(
            app.post_as(&a.token, "/api/pipeline/pipelines")
                .json(&json!({"name": "Sales"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(pipeline_count(&app, &a).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_belong_to_their_caller() {
    let app = TestApp::spawn().await;
    let a = app.owner("Acme").await;
    let b = app.owner("Bolt").await;
    let key = "shared-key-1";
    let (s, _, for_a) = create_pipeline(&app, &a, key, json!({"name": "Sales"})).await;
    assert_eq!(s, 201);
    let (s, replayed, for_b) = create_pipeline(&app, &b, key, json!({"name": "Sales"})).await;
    assert_eq!(s, 201, "{for_b}");
    assert_eq!(replayed, None, "another caller's key never replays");
    assert_ne!(for_a["data"]["id"], for_b["data"]["id"]);

    // An API key of the same workspace is another caller too.
    let (_, api_key) = app
        .key(&a.token, &["pipelines:write", "pipelines:read"])
        .await;
    let r = app
        .http
        .post(app.url("/api/pipeline/pipelines"))
        .header("x-api-key", &api_key)
        .header("idempotency-key", key)
        .json(&json!({"name": "Sales"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_replayed_and_bad_keys_refused() {
    let app = TestApp::spawn().await;
    let a = app.owner("Acme").await;
    // The service refuses this (no name): kept and replayed like any answer.
    let (s, replayed, first) = create_pipeline(&app, &a, "k-400", json!({"name": ""})).await;
    assert_eq!(s, 400, "{first}");
    assert_eq!(replayed, None);
    let (s, replayed, again) = create_pipeline(&app, &a, "k-400", json!({"name": ""})).await;
    assert_eq!(s, 400);
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again, first);

    let (s, _, b) = create_pipeline(&app, &a, &"k".repeat(256), json!({"name": "S"})).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "Idempotency-Key");
    let (s, _, b) = create_pipeline(&app, &a, &"k".repeat(255), json!({"name": "S"})).await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_retries_run_the_call_once() {
    let app = TestApp::spawn().await;
    let a = app.owner("Acme").await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"name": "Sales"});
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = app
            .post_as(&a.token, "/api/pipeline/pipelines")
            .header("idempotency-key", &key)
            .json(&body);
        calls.spawn(async move {
            let r = request.send().await.unwrap();
            let replayed = r
                .headers()
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = r.status().as_u16();
            (status, replayed, r.json::<Value>().await.unwrap())
        });
    }
    let answers = calls.join_all().await;
    let mut first = 0;
    for (status, replayed, b) in &answers {
        match (status, replayed.as_deref()) {
            (201, None) => first += 1,
            (201, Some("true")) => {}
            (409, None) => assert_eq!(b["code"], "IDEMPOTENCY_KEY_IN_PROGRESS", "{b}"),
            other => panic!("unexpected answer {other:?}: {b}"),
        }
    }
    assert_eq!(first, 1, "exactly one ran: {answers:?}");
    assert_eq!(pipeline_count(&app, &a).await, 1);
}
