//! Headers every answer carries: `nosniff`, `no-store` on answers (they may carry secrets),
//! and CORS limited to `CRM_CORS_ORIGINS` when set.

use crate::helpers::{Options, TestApp};
use reqwest::Response;
use serde_json::json;

fn assert_safe(r: &Response, what: &str) {
    assert_eq!(
        r.headers()["x-content-type-options"],
        "nosniff",
        "{what}: nosniff"
    );
}

fn assert_not_stored(r: &Response, what: &str) {
    assert_eq!(r.headers()["cache-control"], "no-store", "{what}: no-store");
}

#[tokio::test]
async fn answers_with_secrets_are_never_stored_and_every_answer_is_nosniff() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;

    let login = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": owner.email, "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_safe(&login, "login");
    assert_not_stored(&login, "login (a token)");

    let created = app
        .post_as(&owner.token, "/api/api-keys")
        .json(&json!({"name": "k", "scopes": ["contacts:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_safe(&created, "key create");
    assert_not_stored(&created, "key create (the key)");
    let id = created.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let regenerated = app
        .post_as(&owner.token, &format!("/api/api-keys/{id}/regenerate"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(regenerated.status(), 200);
    assert_not_stored(&regenerated, "key regenerate");

    let invitation = app
        .post_as(
            &owner.token,
            &format!("/api/workspaces/{}/invitations", owner.workspace_id),
        )
        .json(&json!({"email": "new@acme.test", "role": "agent"}))
        .send()
        .await
        .unwrap();
    assert!(invitation.status().is_success(), "{}", invitation.status());
    assert_not_stored(&invitation, "invitation (its token)");

    for (path, status) in [("/healthz", 200), ("/nowhere", 404), ("/api/agents", 401)] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_safe(&r, path);
    }
    let refused = app
        .http
        .get(app.url("/api/api-keys"))
        .header("x-api-key", "crm_live_nope")
        .send()
        .await
        .unwrap();
    assert_safe(&refused, "a refusal");
    assert_not_stored(&refused, "a refusal");
}

#[tokio::test]
async fn cors_allows_any_origin_by_default() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("origin", "https://partner.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn cors_origins_limit_which_pages_may_read_answers() {
    let app = TestApp::spawn_with(Options {
        gateway: Some(|g| g.cors_origins = "https://app.acme.test, https://admin.acme.test".into()),
        ..Options::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/agents"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-api-key")
            .send()
    };
    let allowed = preflight("https://admin.acme.test").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://admin.acme.test"
    );
    assert_safe(&allowed, "preflight");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "an unlisted origin gets no CORS grant"
    );
}
