use super::{audit_actions, invite, join};
use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn invitations_make_new_and_existing_users_members_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Elsewhere").await;
    let accept = |token: &str| app.url(&format!("/api/invitations/{token}/accept"));

    // A new account: name and password make it, and the answer is a session in Acme.
    let (user_id, token) = join(&app, &owner, "agent").await;
    let (s, me) = app.send(app.get_as(&token, "/api/auth/me")).await;
    assert_eq!(s, 200);
    assert_eq!(me["workspace_id"], owner.workspace_id.as_str());
    assert_eq!(me["subject"], user_id.as_str());
    assert_eq!(me["role"], "agent");

    // An existing user, logged in to their own workspace, joins with their token.
    let invitation = invite(&app, &owner, &other.email, "viewer").await;
    let (s, b) = app
        .send(
            app.post_as(
                &other.token,
                &format!("/api/invitations/{invitation}/accept"),
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["workspace"]["id"], owner.workspace_id.as_str());
    assert_eq!(b["role"], "viewer");
    // Single use.
    let (s, b) = app
        .send(
            app.post_as(
                &other.token,
                &format!("/api/invitations/{invitation}/accept"),
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    // Both now list Acme among their workspaces.
    let (_, list) = app.send(app.get_as(&other.token, "/api/workspaces")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    // An invitation is for its email only.
    let for_someone = invite(&app, &owner, "someone@else.test", "agent").await;
    let (s, _) = app
        .send(
            app.http
                .post(accept(&for_someone))
                .bearer_auth(&other.token)
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 403);
    // Without a token, a new account needs a proper password.
    let (s, e) = app
        .send(
            app.http
                .post(accept(&for_someone))
                .json(&json!({"name": "S", "password": "short"})),
        )
        .await;
    assert_eq!((s, e["details"]["field"].as_str()), (400, Some("password")));
    // Inviting the same email twice, or a member, is a conflict.
    let (s, _) = app
        .send(
            app.post_as(
                &owner.token,
                &format!("/api/workspaces/{}/invitations", owner.workspace_id),
            )
            .json(&json!({"email": "someone@else.test", "role": "agent"})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .send(
            app.post_as(
                &owner.token,
                &format!("/api/workspaces/{}/invitations", owner.workspace_id),
            )
            .json(&json!({"email": other.email, "role": "agent"})),
        )
        .await;
    assert_eq!(s, 409);

    // Revoked: listed as such, and the token no longer works.
    let (_, pending) = app
        .send(app.get_as(
            &owner.token,
            &format!(
                "/api/workspaces/{}/invitations?status=pending",
                owner.workspace_id
            ),
        ))
        .await;
    let pending = pending["data"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].get("token").is_none() && pending[0].get("token_hash").is_none());
    let id = pending[0]["id"].as_str().unwrap();
    let (s, b) = app
        .send(app.delete_as(
            &owner.token,
            &format!("/api/workspaces/{}/invitations/{id}", owner.workspace_id),
        ))
        .await;
    assert_eq!(
        (s, b["invitation"]["status"].as_str()),
        (200, Some("revoked"))
    );
    let (s, _) = app
        .send(
            app.http
                .post(accept(&for_someone))
                .json(&json!({"name": "S", "password": "a long enough secret"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(
            app.http
                .post(accept("inv_0000"))
                .json(&json!({"name": "S", "password": "a long enough secret"})),
        )
        .await;
    assert_eq!(s, 404);

    // The token is stored hashed: the database never holds it.
    let db = app.auth_db().await;
    let stored: Vec<String> = {
        use sea_orm::{ConnectionTrait, Statement};
        db.query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT token_hash FROM invitations",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
    };
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 64 && !h.starts_with("inv_"))
    );
    assert!(!stored.contains(&for_someone));

    // Agents and viewers cannot invite; admins cannot invite admins.
    let (s, e) = app
        .send(
            app.post_as(
                &token,
                &format!("/api/workspaces/{}/invitations", owner.workspace_id),
            )
            .json(&json!({"email": "x@y.test", "role": "viewer"})),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("ROLE_NOT_ALLOWED")));

    let actions: Vec<String> = audit_actions(&app, &owner)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "invitation.created",
        "invitation.accepted",
        "invitation.revoked",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_account_without_a_token_proves_its_password() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Elsewhere").await;
    let token = invite(&app, &owner, &other.email, "manager").await;
    let url = app.url(&format!("/api/invitations/{token}/accept"));
    let (s, _) = app
        .send(
            app.http
                .post(&url)
                .json(&json!({"password": "not the password"})),
        )
        .await;
    assert_eq!(s, 401);
    let (s, b) = app
        .send(
            app.http
                .post(&url)
                .json(&json!({"password": "correct horse battery staple"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["user"]["id"], other.user_id.as_str());
    assert_eq!(b["role"], "manager");
    app.stack.stop().await;
}
