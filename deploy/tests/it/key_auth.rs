use crate::helpers::{TestApp, within};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn all_three_key_placements_authenticate() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    for request in [
        app.get_as(&key, "/api/auth/me"),
        app.http
            .get(app.url("/api/auth/me"))
            .header("X-API-Key", &key),
        app.http
            .get(app.url(&format!("/api/v1/auth/me?api_key={key}"))),
    ] {
        let (s, me) = app.send(request).await;
        assert_eq!(s, 200);
        assert_eq!(me["kind"], "api_key");
        assert_eq!(me["api_key_id"], id.as_str());
        assert_eq!(me["workspace_id"], owner.workspace_id.as_str());
        assert_eq!(me["scopes"], json!(["contacts:read"]));
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_key_is_refused_by_its_checksum() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = app.key(&owner.token, &["contacts:read"]).await;
    let mut typo: Vec<char> = key.chars().collect();
    typo[20] = if typo[20] == '0' { '1' } else { '0' };
    let typo: String = typo.into_iter().collect();
    let (s, b) = app.get_with_key("/api/auth/me", &typo).await;
    assert_eq!(s, 401);
    assert_eq!(b["code"], "INVALID_API_KEY");
    assert!(b["error"].as_str().unwrap().contains("checksum"));
    let (s, _) = app.get_with_key("/api/auth/me", "crm_live_short").await;
    assert_eq!(s, 401);
    // A well-formed key that was never issued.
    let (s, b) = app
        .get_with_key(
            "/api/auth/me",
            &crm_platform::api_key::mint(crm_platform::api_key::LIVE_PREFIX).full,
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(b["error"], "invalid API key");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_scope_is_named_in_the_403() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = app.key(&owner.token, &["contacts:read"]).await;
    let (s, b) = app.get_with_key("/api/agents", &key).await;
    assert_eq!(s, 403);
    assert_eq!(b["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(b["details"]["required_scope"], "workspace_members:read");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("workspace_members:read")
    );
    let (_, ok_key, _) = app
        .create_key(
            &owner.token,
            json!({"name": "k2", "permissions": {"workspace_members": ["read"]}}),
        )
        .await;
    assert_eq!(app.get_with_key("/api/agents", &ok_key).await.0, 200);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_key_gets_401_saying_when_and_how_to_renew() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let (id, key, _) = app
        .create_key(
            &owner.token,
            json!({"name": "k", "scopes": ["contacts:read"], "expires_at": expires.to_rfc3339()}),
        )
        .await;
    assert_eq!(
        app.get_with_key("/api/auth/me", &key).await.0,
        200,
        "valid before expiry (and now cached)"
    );
    let expired = within(Duration::from_secs(5), || async {
        app.get_with_key("/api/auth/me", &key).await.0 == 401
    })
    .await;
    assert!(expired.is_some());
    let (_, b) = app.get_with_key("/api/auth/me", &key).await;
    assert_eq!(b["code"], "API_KEY_EXPIRED");
    assert!(
        b["details"]["expired_at"]
            .as_str()
            .unwrap()
            .starts_with(&expires.format("%Y-%m-%dT%H:%M").to_string())
    );
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains(&format!("/api/api-keys/{id}"))
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_reaches_every_gateway_within_a_second() {
    let mut app = TestApp::spawn().await;
    let second = format!("http://{}", app.stack.start_extra_gateway().await.unwrap());
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    // Warm both gateways' caches.
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    assert_eq!(
        app.get_with_key_at(&second, "/api/auth/me", &key).await.0,
        200
    );

    let (s, revoked) = app
        .send(app.post_as(&owner.token, &format!("/api/api-keys/{id}/revoke")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(revoked["data"]["status"], "revoked");
    let limit = Duration::from_secs(1);
    let first_gw = within(limit, || async {
        app.get_with_key("/api/auth/me", &key).await.0 == 401
    })
    .await;
    let second_gw = within(limit, || async {
        app.get_with_key_at(&second, "/api/auth/me", &key).await.0 == 401
    })
    .await;
    assert!(
        first_gw.is_some(),
        "first gateway still accepts a revoked key"
    );
    assert!(
        second_gw.is_some(),
        "second gateway still accepts a revoked key"
    );
    let (_, b) = app.get_with_key_at(&second, "/api/auth/me", &key).await;
    assert_eq!(b["code"], "API_KEY_REVOKED");
    let (_, list) = app.send(app.get_as(&owner.token, "/api/api-keys")).await;
    assert_eq!(
        list["data"][0]["status"], "revoked",
        "a revoked key stays listed"
    );
    app.stack.stop().await;
}
