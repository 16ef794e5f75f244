//! Workspaces, members and roles over the wire: sign-up, invitations, role changes that reach
//! every gateway within a second, ownership rules, passwords and the audit log.

mod invitations;
mod members;
mod passwords;
mod signup;

use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};

/// Invites `email` as `role`; returns the accept token.
pub async fn invite(app: &TestApp, owner: &Owner, email: &str, role: &str) -> String {
    let (s, b) = app
        .send(
            app.post_as(
                &owner.token,
                &format!("/api/workspaces/{}/invitations", owner.workspace_id),
            )
            .json(&json!({"email": email, "role": role})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["invitation"]["status"], "pending");
    b["token"].as_str().unwrap().to_owned()
}

/// A new account accepting an invitation: (user id, token).
pub async fn join(app: &TestApp, owner: &Owner, role: &str) -> (String, String) {
    let email = format!("{}@invited.test", uuid::Uuid::new_v4().simple());
    let token = invite(app, owner, &email, role).await;
    let (s, b) = app
        .send(
            app.http
                .post(app.url(&format!("/api/invitations/{token}/accept")))
                .json(&json!({"name": "New Member", "password": "a long enough secret"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["role"], role);
    (
        b["user"]["id"].as_str().unwrap().to_owned(),
        b["token"].as_str().unwrap().to_owned(),
    )
}

/// The audit log's actions, newest first.
pub async fn audit_actions(app: &TestApp, owner: &Owner) -> Vec<Value> {
    let (s, b) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/workspaces/{}/audit-log?limit=200", owner.workspace_id),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"].as_array().unwrap().clone()
}

/// `GET /api/auth/me` at `base` with a token: (status, body).
pub async fn me_at(app: &TestApp, base: &str, token: &str) -> (u16, Value) {
    app.send(
        app.http
            .get(format!("{base}/api/auth/me"))
            .bearer_auth(token),
    )
    .await
}
