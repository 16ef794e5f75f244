//! Subscriptions by field: create, read, change and delete with the secret shown once,
//! bad input named by field, workspace isolation, the scopes keys need, the event catalog.

use super::{app_reaching_loopback, created, refused};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

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
