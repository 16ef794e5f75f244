use crate::helpers::{TestApp, within};
use serde_json::{Value, json};
use std::time::Duration;
use svc_auth::domain::role::Role;

#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_shown_once_and_never_listed() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key, created) = app
        .create_key(&owner.token, json!({"name": "Mobile App", "permissions": {"contacts": ["read", "write"], "opportunities": ["read"]}}))
        .await;
    assert!(key.starts_with("crm_live_"));
    assert_eq!(created["data"]["key_full"], key.as_str());
    assert_eq!(
        created["warning"],
        "This API key will only be shown once. Please save it securely."
    );
    assert_eq!(
        created["data"]["permissions"],
        json!({"contacts": ["read", "write"], "opportunities": ["read"]})
    );
    assert!(key.starts_with(created["data"]["key_prefix"].as_str().unwrap()));

    let (s, list) = app.send(app.get_as(&owner.token, "/api/api-keys")).await;
    assert_eq!(s, 200);
    let text = list.to_string();
    assert!(!text.contains(&key), "list must never contain the key");
    assert!(
        !text.contains(&key[9..40]),
        "nor any of its secret part beyond the display prefix"
    );
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert!(list["data"][0].get("key").is_none() && list["data"][0].get("key_full").is_none());
    assert_eq!(list["data"][0]["last_used_at"], Value::Null);
    assert_eq!(list["data"][0]["status"], "active");

    let (s, one) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-keys/{id}")))
        .await;
    assert_eq!(s, 200);
    assert!(!one.to_string().contains(&key));
    assert_eq!(
        one["data"]["scopes"],
        json!(["contacts:read", "contacts:write", "opportunities:read"])
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_permission_shapes_normalize_and_bad_ones_name_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, _, a) = app
        .create_key(
            &owner.token,
            json!({"name": "a", "scopes": ["opportunities:write", "leads:read"]}),
        )
        .await;
    assert_eq!(
        a["data"]["scopes"],
        json!(["contacts:read", "opportunities:write"])
    );
    let (_, _, b) = app
        .create_key(
            &owner.token,
            json!({"name": "b", "permissions": ["tags:read"]}),
        )
        .await;
    assert_eq!(b["data"]["permissions"], json!({"tags": ["read"]}));
    for (body, field) in [
        (
            json!({"name": "x", "permissions": {"rockets": ["read"]}}),
            "permissions.rockets",
        ),
        (json!({"name": "x", "scopes": ["contacts:fly"]}), "scopes"),
        (json!({"name": "", "scopes": ["contacts:read"]}), "name"),
        (json!({"name": "x"}), "permissions"),
        (
            json!({"name": "x", "scopes": ["contacts:read"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["contacts:read"], "expires_at": "soon"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["contacts:read"], "prefix": "sk_"}),
            "prefix",
        ),
        (
            json!({"name": "x", "scopes": ["contacts:read"], "colour": "red"}),
            "colour",
        ),
        (json!({"name": 5}), "name"),
    ] {
        let (s, e) = app
            .send(app.post_as(&owner.token, "/api/api-keys").json(&body))
            .await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(e["success"], false);
        assert_eq!(e["code"], "VALIDATION_ERROR", "{body}");
        assert_eq!(e["details"]["field"], field, "{body} -> {e}");
    }
    let (s, e) = app
        .send(
            app.post_as(&owner.token, "/api/api-keys")
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("malformed JSON"));
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn update_regenerate_and_delete_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    assert_eq!(app.get_with_key("/api/agents", &key).await.0, 403);

    let (s, updated) = app
        .send(
            app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
                .json(&json!({
                    "name": "renamed", "permissions": {"workspace_members": ["read"]}
                })),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(updated["data"]["name"], "renamed");
    assert!(
        within(Duration::from_secs(1), || async {
            app.get_with_key("/api/agents", &key).await.0 == 200
        })
        .await
        .is_some()
    );

    let (s, _) = app
        .send(
            app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
                .json(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        within(Duration::from_secs(1), || async {
            app.get_with_key("/api/auth/me", &key).await.0 == 401
        })
        .await
        .is_some()
    );
    let (_, b) = app.get_with_key("/api/auth/me", &key).await;
    assert_eq!(b["code"], "API_KEY_INACTIVE");
    app.send(
        app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
            .json(&json!({"is_active": true})),
    )
    .await;

    let (s, regenerated) = app
        .send(app.post_as(&owner.token, &format!("/api/api-keys/{id}/regenerate")))
        .await;
    assert_eq!(s, 200);
    let new_key = regenerated["data"]["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert!(regenerated["data"]["regenerated_at"].is_string());
    assert_eq!(
        regenerated["warning"],
        "This new API key will only be shown once. Please save it securely."
    );
    assert!(
        within(Duration::from_secs(1), || async {
            app.get_with_key("/api/auth/me", &key).await.0 == 401
        })
        .await
        .is_some()
    );
    assert_eq!(app.get_with_key("/api/auth/me", &new_key).await.0, 200);

    let (s, deleted) = app
        .send(app.delete_as(&owner.token, &format!("/api/api-keys/{id}")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(deleted["message"], "API key 'renamed' deleted successfully");
    assert!(
        within(Duration::from_secs(1), || async {
            app.get_with_key("/api/auth/me", &new_key).await.0 == 401
        })
        .await
        .is_some()
    );
    let (_, list) = app.send(app.get_as(&owner.token, "/api/api-keys")).await;
    assert_eq!(list["data"], json!([]));
    let (s, _) = app
        .send(app.get_as(&owner.token, &format!("/api/api-keys/{id}")))
        .await;
    assert_eq!(s, 404);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_cannot_manage_keys_and_viewers_cannot_mint() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = app.key(&owner.token, &["*"]).await;
    let (s, b) = app
        .send(
            app.http
                .get(app.url("/api/api-keys"))
                .header("x-api-key", &key),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(b["code"], "JWT_REQUIRED");
    let (s, _) = app
        .send(
            app.http
                .post(app.url("/api/api-keys"))
                .header("x-api-key", &key)
                .json(&json!({"name": "x", "scopes": ["*"]})),
        )
        .await;
    assert_eq!(s, 403);

    let viewer = app.member(&owner, Role::Viewer).await;
    let (s, b) = app
        .send(
            app.post_as(&viewer, "/api/api-keys")
                .json(&json!({"name": "v", "scopes": ["contacts:read"]})),
        )
        .await;
    assert_eq!(s, 403, "{b}");

    let agent = app.member(&owner, Role::Agent).await;
    app.create_key(
        &agent,
        json!({"name": "agent key", "scopes": ["contacts:read"]}),
    )
    .await;
    let (_, mine) = app.send(app.get_as(&agent, "/api/api-keys")).await;
    assert_eq!(
        mine["data"].as_array().unwrap().len(),
        1,
        "an agent sees only their own keys"
    );
    let (_, all) = app.send(app.get_as(&owner.token, "/api/api-keys")).await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        2,
        "the owner sees every key"
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn use_is_recorded_in_last_used_at_and_the_request_count() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    let (other, other_key) = app.key(&owner.token, &["contacts:read"]).await;
    for _ in 0..3 {
        assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    }
    assert_eq!(app.get_with_key("/api/auth/me", &other_key).await.0, 200);
    let view = |id: String| {
        let app = &app;
        let token = owner.token.clone();
        async move {
            let (_, b) = app
                .send(app.get_as(&token, &format!("/api/api-keys/{id}")))
                .await;
            b["data"].clone()
        }
    };
    // Both keys' use travels in one report, applied in one statement.
    let counted = within(Duration::from_secs(4), || async {
        view(id.clone()).await["request_count"] == 3
            && view(other.clone()).await["request_count"] == 1
    })
    .await;
    assert!(
        counted.is_some(),
        "request counts reach 3 and 1 after the usage report"
    );
    for key in [id, other] {
        assert!(view(key).await["last_used_at"].is_string());
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_key_never_has_more_than_its_owner() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let agent = app.member(&owner, Role::Agent).await;
    // Agents work records but do not shape pipelines or stages.
    for scopes in [json!(["pipelines:write"]), json!(["*:write"]), json!(["*"])] {
        let (s, b) = app
            .send(
                app.post_as(&agent, "/api/api-keys")
                    .json(&json!({"name": "too much", "scopes": scopes})),
            )
            .await;
        assert_eq!(s, 400, "{scopes}: {b}");
        assert_eq!(b["details"]["field"], "scopes", "{b}");
        assert!(
            b["error"].as_str().unwrap().contains("workspace agent"),
            "{b}"
        );
    }
    let (id, key, _) = app
        .create_key(
            &agent,
            json!({"name": "records", "scopes": ["contacts:write", "pipelines:read"]}),
        )
        .await;
    // Nor can the owner widen the agent's key beyond the agent.
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
                .json(&json!({"scopes": ["contacts:write", "stages:write"]})),
        )
        .await;
    assert_eq!((s, &b["details"]["field"]), (400, &json!("scopes")), "{b}");
    // The key works within its scopes.
    assert_eq!(
        app.get_with_key("/api/pipeline/pipelines", &key).await.0,
        200
    );
    // The owner's own keys may hold everything.
    app.create_key(&owner.token, json!({"name": "all", "scopes": ["*"]}))
        .await;
    app.stack.stop().await;
}
