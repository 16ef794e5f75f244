//! Outgoing webhook subscriptions over the wire: CRUD by field, workspace isolation, the
//! secret shown once, rotation, the event catalog, SSRF refusals, and test sends to a local
//! receiver that verifies both signature schemes itself.

use crate::helpers::{Options, TestApp};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

/// A stack whose webhooks may reach 127.0.0.1 (the local receivers).
async fn app_reaching_loopback() -> TestApp {
    TestApp::spawn_with(Options {
        webhooks_allow_targets: vec!["127.0.0.1".into()],
        ..Options::default()
    })
    .await
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

/// A receiver on 127.0.0.1:0 that records what it gets and answers `status` with `answer`.
async fn receiver(status: u16, answer: &'static str) -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Received {
                    headers: headers.clone(),
                    body: body.to_vec(),
                });
                let code = axum::http::StatusCode::from_u16(status).unwrap();
                let mut response = axum::response::IntoResponse::into_response((code, answer));
                if code.is_redirection() {
                    response
                        .headers_mut()
                        .insert("location", "http://127.0.0.1:1/elsewhere".parse().unwrap());
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// True when one of the Standard Webhooks signatures is `secret`'s.
fn standard_signed_by(r: &Received, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed = format!(
        "{}.{}.",
        header(r, "webhook-id"),
        header(r, "webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = format!("v1,{}", STANDARD.encode(hmac(&key, &signed)));
    header(r, "webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// True when one of seed 003's `v1=` signatures is `secret`'s: hex HMAC of `ts.body` keyed
/// by the secret as shown.
fn seed_signed_by(r: &Received, secret: &str) -> bool {
    let value = header(r, "x-webhook-signature");
    let mut parts = value.split(',');
    let ts = parts.next().unwrap().strip_prefix("t=").unwrap();
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = hex::encode(hmac(secret.as_bytes(), &signed));
    parts.any(|p| p.strip_prefix("v1=") == Some(expected.as_str()))
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

#[tokio::test]
async fn a_subscription_is_created_read_changed_and_deleted_with_its_secret_shown_once() {
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    let b = created(
        &app,
        &owner.token,
        json!({"url": "http://127.0.0.1:9/hook", "name": "Slack Notification",
               "events": ["opportunity.*", "contact.created"], "verify_ssl": false,
               "retryConfig": {"maxRetries": 5, "timeout": 5000},
               "headers": {"X-Team": "sales"}}),
    )
    .await;
    let secret = b["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{b}");
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 24);
    let hook = &b["data"];
    let id = hook["id"].as_str().unwrap();
    assert_eq!(hook["name"], "Slack Notification");
    assert_eq!(hook["events"], json!(["opportunity.*", "contact.created"]));
    assert_eq!(hook["retryConfig"]["maxRetries"], 5);
    assert_eq!(hook["retryConfig"]["timeout"], 5000);
    assert_eq!(hook["retryConfig"]["backoffMultiplier"], 2.0);
    assert_eq!(hook["verify_ssl"], false);
    assert_eq!(hook["status"], "active");
    assert_eq!(hook["has_secret"], true);
    assert_eq!(hook["headers"], json!({"X-Team": "sales"}));
    assert_eq!(hook["workspace_id"], owner.workspace_id.as_str());

    // Reads never show the secret again.
    let (s, got) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/webhooks/{id}")))
        .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["data"]["has_secret"], true);
    assert!(!got.to_string().contains(secret), "{got}");
    let (s, list) = app.send(app.get_as(&owner.token, "/api/v1/webhooks")).await;
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("whsec_"), "{list}");

    let (s, up) = app
        .send(
            app.put_as(&owner.token, &format!("/api/v1/webhooks/{id}"))
                .json(&json!({"events": ["*"], "status": "disabled",
                              "retryConfig": {"maxRetries": 0}, "headers": {}})),
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["data"]["events"], json!(["*"]));
    assert_eq!(up["data"]["status"], "disabled");
    assert_eq!(up["data"]["retryConfig"]["maxRetries"], 0);
    assert_eq!(up["data"]["retryConfig"]["timeout"], 5000, "untouched");
    assert_eq!(up["data"]["name"], "Slack Notification", "untouched");
    assert_eq!(up["data"]["headers"], json!({}));

    let (s, del) = app
        .send(app.delete_as(&owner.token, &format!("/api/v1/webhooks/{id}")))
        .await;
    assert_eq!(s, 200, "{del}");
    let (s, _) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/webhooks/{id}")))
        .await;
    assert_eq!(s, 404);
    let (_, list) = app.send(app.get_as(&owner.token, "/api/v1/webhooks")).await;
    assert_eq!(list["data"], json!([]));
    app.stack.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    let t = &owner.token;
    let ok = json!({"url": "http://127.0.0.1:9/hook", "events": ["tag.created"]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        app.post_as(t, "/api/v1/webhooks").json(&b)
    };
    refused(&app, with("events", json!(["lead.created"])), "events").await;
    refused(&app, with("events", json!(["lead.*"])), "events").await;
    refused(&app, with("events", json!([])), "events").await;
    refused(&app, with("url", json!("ftp://127.0.0.1/x")), "url").await;
    refused(&app, with("url", json!("not a url")), "url").await;
    refused(
        &app,
        with("retryConfig", json!({"maxRetries": 11})),
        "retryConfig.maxRetries",
    )
    .await;
    refused(
        &app,
        with("retryConfig", json!({"timeout": 999})),
        "retryConfig.timeout",
    )
    .await;
    refused(
        &app,
        with("retryConfig", json!({"backoffMultiplier": 0.5})),
        "retryConfig.backoffMultiplier",
    )
    .await;
    refused(
        &app,
        with("headers", json!({"Connection": "close"})),
        "headers",
    )
    .await;
    refused(
        &app,
        with("headers", json!({"X-Webhook-Signature": "forged"})),
        "headers",
    )
    .await;
    refused(&app, with("headers", json!({"Bad Name": "x"})), "headers").await;
    refused(&app, with("secret", json!("whsec_tooshort")), "secret").await;
    refused(&app, with("status", json!("paused")), "status").await;
    refused(
        &app,
        with("rate_limit_per_second", json!(0)),
        "rate_limit_per_second",
    )
    .await;
    refused(&app, app.get_as(t, "/api/v1/webhooks/not-a-uuid"), "id").await;

    // The caller's own secret is kept, and shown back once.
    let own = format!("whsec_{}", STANDARD.encode([7u8; 32]));
    let b = created(&app, t, {
        let mut b = ok.clone();
        b["secret"] = json!(own);
        b
    })
    .await;
    assert_eq!(b["secret"], own.as_str());
    let id = b["data"]["id"].as_str().unwrap();
    refused(
        &app,
        app.post_as(t, &format!("/api/v1/webhooks/{id}/rotate-secret"))
            .json(&json!({"grace_period_seconds": 604801})),
        "grace_period_seconds",
    )
    .await;
    refused(
        &app,
        app.put_as(t, &format!("/api/v1/webhooks/{id}"))
            .json(&json!({"events": ["nope.*"]})),
        "events",
    )
    .await;
    app.stack.stop().await;
}

#[tokio::test]
async fn another_workspace_neither_sees_nor_touches_a_subscription() {
    let app = app_reaching_loopback().await;
    let acme = app.owner("Acme").await;
    let rival = app.owner("Rival").await;
    let b = created(
        &app,
        &acme.token,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    .await;
    let id = b["data"]["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{id}");
    let t = &rival.token;
    for request in [
        app.get_as(t, &path),
        app.put_as(t, &path).json(&json!({"name": "mine"})),
        app.delete_as(t, &path),
        app.post_as(t, &format!("{path}/rotate-secret"))
            .json(&json!({})),
        app.post_as(t, &format!("{path}/test")).json(&json!({})),
    ] {
        let (s, b) = app.send(request).await;
        assert_eq!(s, 404, "{b}");
    }
    let (_, list) = app.send(app.get_as(t, "/api/v1/webhooks")).await;
    assert_eq!(list["data"], json!([]));
    let (s, _) = app.send(app.get_as(&acme.token, &path)).await;
    assert_eq!(s, 200, "still there for its owner");
    app.stack.stop().await;
}

#[tokio::test]
async fn keys_need_webhooks_scopes_and_any_caller_reads_the_catalog() {
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    let (_, reader) = app.key(&owner.token, &["webhooks:read"]).await;
    let (_, other) = app.key(&owner.token, &["contacts:read"]).await;
    let (s, _) = app.get_with_key("/api/v1/webhooks", &reader).await;
    assert_eq!(s, 200);
    let (s, _) = app.get_with_key("/api/v1/webhooks", &other).await;
    assert_eq!(s, 403);
    let (s, b) = app
        .send(
            app.http
                .post(app.url("/api/v1/webhooks"))
                .header("x-api-key", &reader)
                .json(&json!({"url": "http://127.0.0.1:9/h", "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 403, "{b}");

    let (s, catalog) = app.get_with_key("/api/v1/webhook-events", &other).await;
    assert_eq!(s, 200, "{catalog}");
    let types: Vec<&str> = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in [
        "opportunity.created",
        "opportunity.stage_changed",
        "opportunity.won",
        "contact.created",
        "pipeline.created",
        "stage.deleted",
        "tag.updated",
        "company.created",
        "webhook.test",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    for e in catalog["data"].as_array().unwrap() {
        assert!(!e["description"].as_str().unwrap().is_empty());
        assert_eq!(e["schema"]["type"], "object", "{e}");
        assert!(e["example"].is_object(), "{e}");
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn private_loopback_link_local_and_cgnat_targets_are_refused_unless_allow_listed() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Hooks").await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://100.64.0.1/hook",
        "http://127.0.0.1:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ] {
        refused(
            &app,
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": url, "events": ["*"]})),
            "url",
        )
        .await;
    }
    app.stack.stop().await;

    // Allow-listing 127.0.0.1 opens exactly that address.
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    created(
        &app,
        &owner.token,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    .await;
    // `localhost` may resolve to ::1 too, which is not allow-listed: a name is refused when
    // any of its addresses is, so it is accepted only when it means 127.0.0.1 alone.
    let (s, body) = create(
        &app,
        &owner.token,
        json!({"url": "http://localhost:9/hook", "events": ["*"]}),
    )
    .await;
    assert!(
        s == 201 || s == 200 || body["details"]["field"] == "url",
        "{s} {body}"
    );
    for url in [
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://100.64.0.1/",
    ] {
        refused(
            &app,
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": url, "events": ["*"]})),
            "url",
        )
        .await;
    }
    let id = created(
        &app,
        &owner.token,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    refused(
        &app,
        app.put_as(&owner.token, &format!("/api/v1/webhooks/{id}"))
            .json(&json!({"url": "http://169.254.169.254/"})),
        "url",
    )
    .await;
    app.stack.stop().await;
}

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
