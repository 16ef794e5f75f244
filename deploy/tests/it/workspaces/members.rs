use super::{audit_actions, join, me_at};
use crate::helpers::{TestApp, within};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_and_removal_reach_a_second_gateway_within_a_second() {
    let mut app = TestApp::spawn().await;
    let second = format!("http://{}", app.stack.start_extra_gateway().await.unwrap());
    let owner = app.owner("Acme").await;
    let (user_id, token) = join(&app, &owner, "agent").await;
    let (_, key) = app.key(&token, &["contacts:read"]).await;
    // Warm the second gateway's caches: the member's role and the member's key.
    let (s, me) = me_at(&app, &second, &token).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("agent")));
    assert_eq!(
        app.get_with_key_at(&second, "/api/auth/me", &key).await.0,
        200
    );

    let member_path = format!("/api/workspaces/{}/members/{user_id}", owner.workspace_id);
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &member_path)
                .json(&json!({"role": "manager"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["member"]["role"], "manager");
    let seen = within(Duration::from_secs(1), || async {
        me_at(&app, &second, &token).await.1["role"] == "manager"
    })
    .await;
    assert!(seen.is_some(), "the second gateway kept the old role");

    let (s, b) = app.send(app.delete_as(&owner.token, &member_path)).await;
    assert_eq!((s, b["removed"].as_bool()), (200, Some(true)), "{b}");
    let refused = within(Duration::from_secs(1), || async {
        me_at(&app, &second, &token).await.0 == 403
    })
    .await;
    assert!(refused.is_some(), "a removed member's token still works");
    let key_refused = within(Duration::from_secs(1), || async {
        app.get_with_key_at(&second, "/api/auth/me", &key).await.0 == 401
    })
    .await;
    assert!(key_refused.is_some(), "a removed member's key still works");

    // Every step is in the audit log with who, what, the request and the address.
    let entries = audit_actions(&app, &owner).await;
    let of = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} not in {entries:?}"))
            .clone()
    };
    let change = of("member.role_changed");
    assert_eq!(change["actor_id"], owner.user_id.as_str());
    assert_eq!(change["target_id"], user_id.as_str());
    assert_eq!(change["details"]["from"], "agent");
    assert_eq!(change["details"]["to"], "manager");
    assert_eq!(change["source_ip"], "127.0.0.1");
    assert!(
        !change["request_id"].as_str().unwrap().is_empty(),
        "{change}"
    );
    assert_eq!(of("member.removed")["target_id"], user_id.as_str());
    assert_eq!(of("api_key.created")["actor_id"], user_id.as_str());
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_follow_the_ownership_rules() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (admin_id, admin) = join(&app, &owner, "admin").await;
    let (agent_id, agent) = join(&app, &owner, "agent").await;
    let (viewer_id, _) = join(&app, &owner, "viewer").await;
    let ws = &owner.workspace_id;
    let set = |token: &str, user: &str, role: &str| {
        app.put_as(token, &format!("/api/workspaces/{ws}/members/{user}"))
            .json(&json!({"role": role}))
    };
    let refused = |(s, b): (u16, serde_json::Value)| {
        assert_eq!(
            (s, b["code"].as_str()),
            (403, Some("ROLE_NOT_ALLOWED")),
            "{b}"
        );
        b["error"].as_str().unwrap().to_owned()
    };

    // An admin manages managers, agents and viewers, never admins or owners.
    assert_eq!(app.send(set(&admin, &viewer_id, "manager")).await.0, 200);
    let rule = refused(app.send(set(&admin, &agent_id, "admin")).await);
    assert!(rule.contains("only an owner"), "{rule}");
    refused(app.send(set(&admin, &owner.user_id, "viewer")).await);
    // Agents change nobody, and nobody raises their own role.
    refused(app.send(set(&agent, &viewer_id, "viewer")).await);
    let rule = refused(app.send(set(&agent, &agent_id, "manager")).await);
    assert!(rule.contains("own role"), "{rule}");
    let rule = refused(app.send(set(&admin, &admin_id, "owner")).await);
    assert!(rule.contains("own role"), "{rule}");
    // A bad role names the field.
    let (s, e) = app.send(set(&owner.token, &agent_id, "boss")).await;
    assert_eq!((s, e["details"]["field"].as_str()), (400, Some("role")));

    // The last owner can neither leave nor step down.
    let (s, e) = app.send(set(&owner.token, &owner.user_id, "admin")).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("LAST_OWNER")), "{e}");
    let (s, e) = app
        .send(app.delete_as(
            &owner.token,
            &format!("/api/workspaces/{ws}/members/{}", owner.user_id),
        ))
        .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("LAST_OWNER")), "{e}");
    // Only an owner transfers ownership; the old owner becomes an admin.
    let transfer = |token: &str, user: &str| {
        app.post_as(token, &format!("/api/workspaces/{ws}/transfer-ownership"))
            .json(&json!({"user_id": user}))
    };
    refused(app.send(transfer(&admin, &agent_id)).await);
    let (s, b) = app.send(transfer(&owner.token, &admin_id)).await;
    assert_eq!(s, 200, "{b}");
    let role_of = |id: &str| {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == id)
            .unwrap()["role"]
            .clone()
    };
    assert_eq!(role_of(&admin_id), "owner");
    assert_eq!(role_of(&owner.user_id), "admin");
    // Now the former owner is an admin and cannot touch the new owner; anyone may leave.
    refused(app.send(set(&owner.token, &admin_id, "viewer")).await);
    let (s, _) = app
        .send(app.delete_as(&agent, &format!("/api/workspaces/{ws}/members/{agent_id}")))
        .await;
    assert_eq!(s, 200);
    let (s, members) = app
        .send(app.get_as(&admin, &format!("/api/workspaces/{ws}/members")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(members["data"].as_array().unwrap().len(), 3);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workspaces_never_meet() {
    let app = TestApp::spawn().await;
    let acme = app.owner("Acme").await;
    let globex = app.owner("Globex").await;
    let (acme_member, _) = join(&app, &acme, "agent").await;
    let (_, globex_agent) = join(&app, &globex, "agent").await;
    let acme_ws = &acme.workspace_id;
    for path in [
        format!("/api/workspaces/{acme_ws}"),
        format!("/api/workspaces/{acme_ws}/members"),
        format!("/api/workspaces/{acme_ws}/invitations"),
        format!("/api/workspaces/{acme_ws}/audit-log"),
    ] {
        assert_eq!(
            app.send(app.get_as(&globex.token, &path)).await.0,
            404,
            "{path}"
        );
        assert_eq!(
            app.send(app.get_as(&globex_agent, &path)).await.0,
            404,
            "{path}"
        );
    }
    let (s, _) = app
        .send(
            app.put_as(
                &globex.token,
                &format!("/api/workspaces/{acme_ws}/members/{acme_member}"),
            )
            .json(&json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(s, 404);
    // Keys: each owner sees only their own workspace's.
    let (acme_key, _) = app.key(&acme.token, &["contacts:read"]).await;
    let (s, _) = app
        .send(app.get_as(&globex.token, &format!("/api/api-keys/{acme_key}")))
        .await;
    assert_eq!(s, 404);
    // Switching workspace with X-Workspace-ID needs a membership there.
    let (s, _) = app
        .send(
            app.get_as(&globex.token, "/api/auth/me")
                .header("x-workspace-id", acme_ws.as_str()),
        )
        .await;
    assert_eq!(s, 403);
    // Audit entries stay with their workspace.
    assert!(
        audit_actions(&app, &globex)
            .await
            .iter()
            .all(|e| e["target_id"] != acme_member.as_str())
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_key_owner_regenerates_and_client_keys_belong_to_the_client() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, admin) = join(&app, &owner, "admin").await;
    let (_, manager) = join(&app, &owner, "manager").await;
    let (manager_key, manager_secret) = app.key(&manager, &["contacts:read"]).await;

    // An admin may not receive another member's secret, but may pause and revoke the key.
    let (s, e) = app
        .send(
            app.post_as(&admin, &format!("/api/api-keys/{manager_key}/regenerate"))
                .json(&json!({})),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("NOT_KEY_OWNER")), "{e}");
    let (s, _) = app
        .send(
            app.put_as(&admin, &format!("/api/api-keys/{manager_key}"))
                .json(&json!({"is_active": false})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .send(
            app.post_as(&manager, &format!("/api/api-keys/{manager_key}/regenerate"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_ne!(b["data"]["key"].as_str().unwrap(), manager_secret);

    // A client's key made by an admin keeps working after that admin is removed.
    let (s, client) = app
        .send(
            app.post_as(&admin, "/api/v1/api-clients")
                .json(&json!({"name": "Partner", "contactEmail": "dev@partner.test", "scopes": ["contacts:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{client}");
    let client_id = client["data"]["id"].as_str().unwrap().to_owned();
    let (client_key_id, client_key, _) = app
        .create_key(
            &admin,
            json!({"name": "partner key", "scopes": ["contacts:read"], "client_id": client_id}),
        )
        .await;
    assert_eq!(app.get_with_key("/api/auth/me", &client_key).await.0, 200);
    // A manager cannot change or regenerate it.
    let (s, _) = app
        .send(
            app.post_as(
                &manager,
                &format!("/api/api-keys/{client_key_id}/regenerate"),
            )
            .json(&json!({})),
        )
        .await;
    assert!(s == 403 || s == 404, "{s}");
    let admin_id = app.send(app.get_as(&admin, "/api/auth/me")).await.1["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = app
        .send(app.delete_as(
            &owner.token,
            &format!("/api/workspaces/{}/members/{admin_id}", owner.workspace_id),
        ))
        .await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get_with_key("/api/auth/me", &client_key).await.0, 200);
    // The owner can still regenerate the client's key.
    let (s, b) = app
        .send(
            app.post_as(
                &owner.token,
                &format!("/api/api-keys/{client_key_id}/regenerate"),
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    app.stack.stop().await;
}
