//! Regeneration with a grace period: the old secret keeps working until the period the
//! caller chose ends, then gets a 401 that says it was rotated. Without one, it stops at once.

use crate::helpers::{TestApp, within};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_old_secret_works_during_the_grace_period_and_not_after() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    // Polled every 20 ms below: room above the default 50/min, which both secrets share.
    let (id, old, _) = app
        .create_key(
            &owner.token,
            json!({"name": "k", "scopes": ["contacts:read"], "rate_limit_override": 1000}),
        )
        .await;
    assert_eq!(
        app.get_with_key("/api/auth/me", &old).await.0,
        200,
        "cached"
    );
    let before = chrono::Utc::now();
    let (s, r) = app
        .send(
            app.post_as(&owner.token, &format!("/api/v1/api-keys/{id}/regenerate"))
                .json(&json!({"grace_period_seconds": 3})),
        )
        .await;
    assert_eq!(s, 200);
    let new = r["data"]["key"].as_str().unwrap().to_owned();
    let grace_end = chrono::DateTime::parse_from_rfc3339(
        r["data"]["previous_key_expires_at"].as_str().unwrap(),
    )
    .unwrap();
    let grace = grace_end.timestamp_millis() - before.timestamp_millis();
    assert!((2500..=3600).contains(&grace), "{grace} ms");

    let (s, me) = app.get_with_key("/api/auth/me", &old).await;
    assert_eq!(s, 200, "old secret still works in the grace period");
    assert_eq!(me["api_key_id"], id.as_str(), "as the same key");
    assert_eq!(app.get_with_key("/api/auth/me", &new).await.0, 200);
    let (_, shown) = app
        .send(app.get_as(&owner.token, &format!("/api/api-keys/{id}")))
        .await;
    assert_eq!(
        shown["data"]["previous_key_expires_at"],
        r["data"]["previous_key_expires_at"]
    );

    let stopped = within(Duration::from_secs(5), || async {
        app.get_with_key("/api/auth/me", &old).await.0 == 401
    })
    .await
    .expect("the old secret stops when the grace period ends");
    assert!(
        chrono::Utc::now().timestamp_millis() >= grace_end.timestamp_millis(),
        "not before it ({stopped:?})"
    );
    let (_, body) = app.get_with_key("/api/auth/me", &old).await;
    assert_eq!(body["code"], "API_KEY_ROTATED");
    assert_eq!(app.get_with_key("/api/auth/me", &new).await.0, 200);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_grace_period_or_on_revocation_the_old_secret_stops_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, first) = app.key(&owner.token, &["contacts:read"]).await;
    assert_eq!(app.get_with_key("/api/auth/me", &first).await.0, 200);
    let (_, r) = app
        .send(app.post_as(&owner.token, &format!("/api/api-keys/{id}/regenerate")))
        .await;
    assert!(r["data"]["previous_key_expires_at"].is_null());
    let second = r["data"]["key"].as_str().unwrap().to_owned();
    let stopped = within(Duration::from_secs(1), || async {
        let (s, body) = app.get_with_key("/api/auth/me", &first).await;
        s == 401 && body["code"] == json!("INVALID_API_KEY")
    })
    .await;
    assert!(stopped.is_some(), "the replaced secret still works");

    // Grace on the next rotation; revoking the key stops both secrets.
    let (_, r) = app
        .send(
            app.post_as(&owner.token, &format!("/api/api-keys/{id}/regenerate"))
                .json(&json!({"grace_period_seconds": 600})),
        )
        .await;
    let third = r["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get_with_key("/api/auth/me", &second).await.0, 200);
    // A further rotation replaces the previous secret: `second` stops at once.
    let (_, r) = app
        .send(
            app.post_as(&owner.token, &format!("/api/api-keys/{id}/regenerate"))
                .json(&json!({"grace_period_seconds": 600})),
        )
        .await;
    let fourth = r["data"]["key"].as_str().unwrap().to_owned();
    // Gateways drop the replaced secret when the change reaches them over the bus.
    let stopped = within(Duration::from_secs(1), || async {
        app.get_with_key("/api/auth/me", &second).await.0 == 401
    })
    .await;
    assert!(stopped.is_some(), "the replaced secret still works");
    assert_eq!(app.get_with_key("/api/auth/me", &third).await.0, 200);
    app.send(app.post_as(&owner.token, &format!("/api/api-keys/{id}/revoke")))
        .await;
    for secret in [&third, &fourth] {
        let revoked = within(Duration::from_secs(1), || async {
            let (s, body) = app.get_with_key("/api/auth/me", secret).await;
            s == 401 && body["code"] == json!("API_KEY_REVOKED")
        })
        .await;
        assert!(revoked.is_some(), "a revoked key's secret still works");
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grace_period_is_bounded_to_a_week() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, _) = app.key(&owner.token, &["contacts:read"]).await;
    let (s, body) = app
        .send(
            app.post_as(&owner.token, &format!("/api/api-keys/{id}/regenerate"))
                .json(&json!({"grace_period_seconds": 604801})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["details"]["field"], "grace_period_seconds");
    app.stack.stop().await;
}
