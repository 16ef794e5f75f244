//! Test sends to a local receiver: signed in both schemes, both secrets during a rotation's
//! grace period, and failing or redirecting receivers reported as failed.

use super::receiver::{header, receiver, seed_signed_by, standard_signed_by};
use super::{app_reaching_loopback, created};
use serde_json::{Value, json};

#[tokio::test]
async fn a_test_send_arrives_signed_in_both_schemes_and_the_attempt_is_answered() {
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    let (url, seen) = receiver(200, "thanks").await;
    let b = created(
        &app,
        &owner.token,
        json!({"url": url, "events": ["opportunity.*"], "headers": {"X-Team": "sales"}}),
    )
    .await;
    let secret = b["secret"].as_str().unwrap().to_owned();
    let id = b["data"]["id"].as_str().unwrap();
    let (s, answer) = app
        .send(
            app.post_as(&owner.token, &format!("/api/v1/webhooks/{id}/test"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{answer}");
    let attempt = &answer["data"];
    assert_eq!(attempt["status"], "delivered", "{answer}");
    assert_eq!(attempt["response_status"], 200);
    assert_eq!(attempt["response_body"], "thanks");
    assert_eq!(attempt["event_type"], "webhook.test");
    assert_eq!(attempt["webhook_id"], id);
    assert!(attempt["duration_ms"].as_i64().is_some(), "{answer}");

    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert!(standard_signed_by(r, &secret), "standard signature");
    assert!(seed_signed_by(r, &secret), "seed 003 signature");
    assert_eq!(
        header(r, "webhook-id"),
        attempt["event_id"].as_str().unwrap()
    );
    assert_eq!(header(r, "x-webhook-id"), header(r, "webhook-id"));
    assert_eq!(header(r, "x-webhook-event"), "webhook.test");
    assert_eq!(header(r, "x-team"), "sales");
    assert_eq!(header(r, "content-type"), "application/json");
    let ts: i64 = header(r, "webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    let envelope: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(envelope["eventType"], "webhook.test");
    assert_eq!(envelope["id"], attempt["event_id"]);
    assert_eq!(envelope["version"], "1.0");
    assert_eq!(envelope["data"]["webhook_id"], id);
    assert!(envelope["timestamp"].as_str().unwrap().ends_with('Z'));
    app.stack.stop().await;
}

#[tokio::test]
async fn during_a_rotation_grace_period_both_secrets_sign() {
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    let (url, seen) = receiver(204, "").await;
    let b = created(&app, &owner.token, json!({"url": url, "events": ["*"]})).await;
    let old = b["secret"].as_str().unwrap().to_owned();
    let id = b["data"]["id"].as_str().unwrap();
    let rotate = |grace: Value| {
        app.post_as(
            &owner.token,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
        )
        .json(&json!({"grace_period_seconds": grace}))
    };
    let test = || {
        app.post_as(&owner.token, &format!("/api/v1/webhooks/{id}/test"))
            .json(&json!({}))
    };

    let (s, rotated) = app.send(rotate(json!(3600))).await;
    assert_eq!(s, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(
        rotated["data"]["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let (s, answer) = app.send(test()).await;
    assert_eq!(s, 200);
    assert_eq!(answer["data"]["status"], "delivered", "{answer}");
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(header(&r, "webhook-signature").split(' ').count(), 2);
    assert!(standard_signed_by(&r, &new) && standard_signed_by(&r, &old));
    assert_eq!(header(&r, "x-webhook-signature").matches("v1=").count(), 2);
    assert!(seed_signed_by(&r, &new) && seed_signed_by(&r, &old));

    // Without a grace period only the newest secret signs.
    let (s, rotated) = app.send(rotate(json!(0))).await;
    assert_eq!(s, 200, "{rotated}");
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    app.send(test()).await;
    let r = seen.lock().unwrap()[1].clone();
    assert_eq!(header(&r, "webhook-signature").split(' ').count(), 1);
    assert!(standard_signed_by(&r, &newest) && !standard_signed_by(&r, &new));
    assert!(seed_signed_by(&r, &newest) && !seed_signed_by(&r, &new));
    app.stack.stop().await;
}

#[tokio::test]
async fn a_failing_or_redirecting_receiver_is_reported_as_failed() {
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    let test = |url: String| {
        let app = &app;
        let token = owner.token.clone();
        async move {
            let b = created(app, &token, json!({"url": url, "events": ["*"]})).await;
            let id = b["data"]["id"].as_str().unwrap().to_owned();
            let (s, answer) = app
                .send(
                    app.post_as(&token, &format!("/api/v1/webhooks/{id}/test"))
                        .json(&json!({})),
                )
                .await;
            assert_eq!(s, 200, "{answer}");
            answer["data"].clone()
        }
    };
    let (url, _) = receiver(500, "boom").await;
    let a = test(url).await;
    assert_eq!(a["status"], "failed");
    assert_eq!(a["response_status"], 500);
    assert_eq!(a["response_body"], "boom");
    assert!(a["error"].as_str().unwrap().contains("500"), "{a}");

    let (url, seen) = receiver(302, "").await;
    let a = test(url).await;
    assert_eq!(a["status"], "failed");
    assert_eq!(a["response_status"], 302);
    assert!(a["error"].as_str().unwrap().contains("redirect"), "{a}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the redirect was not followed"
    );

    // Nothing listens on port 9 of loopback: the attempt says it could not connect.
    let a = test("http://127.0.0.1:9/hook".into()).await;
    assert_eq!(a["status"], "failed");
    assert!(a["response_status"].is_null(), "{a}");
    assert!(!a["error"].as_str().unwrap().is_empty());
    app.stack.stop().await;
}
