use crate::helpers::TestApp;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_a_jwt_that_authenticates() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (status, me) = app.send(app.get_as(&owner.token, "/api/auth/me")).await;
    assert_eq!(status, 200);
    assert_eq!(me["kind"], "user");
    assert_eq!(me["workspace_id"], owner.workspace_id.as_str());
    assert_eq!(me["subject"], owner.user_id.as_str());
    assert_eq!(me["role"], "owner");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_email_are_the_same_401() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (s1, b1) = app
        .send(
            app.http
                .post(app.url("/api/auth/login"))
                .json(&json!({"email": owner.email, "password": "nope"})),
        )
        .await;
    let (s2, b2) = app
        .send(
            app.http
                .post(app.url("/api/auth/login"))
                .json(&json!({"email": "who@x.test", "password": "nope"})),
        )
        .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1["error"], b2["error"]);
    assert_eq!(b1["success"], false);
    let (s, b) = app
        .send(
            app.http
                .post(app.url("/api/auth/login"))
                .json(&json!({"password": "x"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(b["details"]["field"], "email");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_or_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let mut forged = owner.token.clone();
    forged.push('x');
    let (s, b) = app.send(app.get_as(&forged, "/api/auth/me")).await;
    assert_eq!(s, 401);
    assert_eq!(b["code"], "INVALID_TOKEN");
    let (s, b) = app.send(app.http.get(app.url("/api/auth/me"))).await;
    assert_eq!(s, 401);
    assert_eq!(b["code"], "AUTH_REQUIRED");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_lists_members_with_filters() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    app.member(&owner, svc_auth::domain::role::Role::Agent)
        .await;
    let (s, b) = app.send(app.get_as(&owner.token, "/api/agents")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
    let (_, b) = app
        .send(app.get_as(&owner.token, "/api/agents?role=agent"))
        .await;
    let agents: &Vec<Value> = b["data"].as_array().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["role"], "agent");
    assert!(agents[0]["joined_at"].is_string());
    let (s, b) = app
        .send(app.get_as(&owner.token, "/api/agents?role=pilot"))
        .await;
    assert_eq!(s, 400);
    assert_eq!(b["details"]["field"], "role");
    app.stack.stop().await;
}
