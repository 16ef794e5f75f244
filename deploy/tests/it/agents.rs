//! Agents (seed 004 "Agents Management") over REST: the list and its filters, assignment
//! counts from svc-pipeline (open opportunities and live contacts only), `assigned_to`
//! checked to be a member, one agent, the statistics, the scope, and `last_active`.

use crate::helpers::{Owner, TestApp};
use crate::pipelines::{opportunity, pipeline};
use serde_json::{Value, json};
use std::time::Duration;
use svc_auth::domain::role::Role;

/// A member with `role`: (user id, token).
async fn member(app: &TestApp, owner: &Owner, role: Role) -> (String, String) {
    let token = app.member(owner, role).await;
    let (s, me) = app.send(app.get_as(&token, "/api/auth/me")).await;
    assert_eq!(s, 200, "{me}");
    (me["subject"].as_str().unwrap().to_owned(), token)
}

async fn agents(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (s, b) = app
        .send(app.get_as(token, &format!("/api/agents{query}")))
        .await;
    assert_eq!(s, 200, "{query}: {b}");
    b["data"].as_array().unwrap().clone()
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list:?}"))
}

async fn contact(app: &TestApp, owner: &Owner, assigned_to: &str) -> (u16, Value) {
    let phone = format!("+1555{:07}", rand::random::<u32>() % 10_000_000);
    let mut body = json!({"firstname": "Jo", "lastname": "Doe", "phone_number": phone});
    if !assigned_to.is_empty() {
        body["assigned_to"] = json!(assigned_to);
    }
    app.send(app.post_as(&owner.token, "/api/contacts").json(&body))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_and_counts_open_assignments() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (agent, _) = member(&app, &owner, Role::Agent).await;
    let (viewer, _) = member(&app, &owner, Role::Viewer).await;
    crate::workspaces::invite(&app, &owner, "later@invited.test", "manager").await;

    let all = agents(&app, &owner.token, "").await;
    assert_eq!(all.len(), 4, "{all:?}");
    let a = find(&all, &agent);
    assert_eq!(a["role"], "agent");
    assert_eq!(a["status"], "active");
    assert_eq!(a["avatar"], Value::Null, "no avatars are stored");
    assert_eq!(a["active_assignments"], 0);
    assert!(
        a["joined_at"].is_string() && a["last_active"].is_string(),
        "{a}"
    );
    let invitee = all.iter().find(|a| a["status"] == "pending").unwrap();
    assert_eq!(invitee["email"], "later@invited.test");
    assert_eq!(invitee["role"], "manager");
    assert_eq!(invitee["joined_at"], Value::Null);
    assert_eq!(invitee["last_active"], Value::Null);

    for (query, expected) in [
        ("?role=agent", vec![agent.as_str()]),
        ("?role=viewer&status=active", vec![viewer.as_str()]),
        ("?status=inactive", vec![]),
        ("?role=admin", vec![]),
        (
            &*format!("?search={}", &agent_email(&all, &agent)[..12]),
            vec![agent.as_str()],
        ),
    ] {
        let ids: Vec<Value> = agents(&app, &owner.token, query)
            .await
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        assert_eq!(ids, expected, "{query}");
    }
    assert_eq!(agents(&app, &owner.token, "?status=active").await.len(), 3);
    assert_eq!(agents(&app, &owner.token, "?status=pending").await.len(), 1);
    assert_eq!(
        agents(&app, &owner.token, "?search=INVITED.test")
            .await
            .len(),
        1
    );
    for (query, field) in [("?role=pilot", "role"), ("?status=gone", "status")] {
        let (s, b) = app
            .send(app.get_as(&owner.token, &format!("/api/agents{query}")))
            .await;
        assert_eq!(s, 400, "{query}: {b}");
        assert_eq!(b["details"]["field"], field);
    }

    // Two open opportunities count; a closed one and an archived one do not.
    let p = pipeline(&app, &owner, json!({"name": "Sales"})).await;
    let (new, done) = (
        p["stages"][0]["id"].as_str().unwrap(),
        p["stages"][2]["id"].as_str().unwrap(),
    );
    for title in ["one", "two"] {
        opportunity(
            &app,
            &owner,
            new,
            json!({"title": title, "assigned_to": agent}),
        )
        .await;
    }
    opportunity(
        &app,
        &owner,
        done,
        json!({"title": "won", "assigned_to": agent}),
    )
    .await;
    let gone = opportunity(
        &app,
        &owner,
        new,
        json!({"title": "gone", "assigned_to": agent}),
    )
    .await;
    let (s, b) = app
        .send(app.delete_as(
            &owner.token,
            &format!(
                "/api/pipeline/opportunities/{}",
                gone["id"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    // Two contacts assigned at creation, one by an update; a deleted one does not count.
    for _ in 0..2 {
        assert_eq!(contact(&app, &owner, &agent).await.0, 201);
    }
    let (_, later) = contact(&app, &owner, "").await;
    assert_eq!(later["data"]["assigned_to"], Value::Null);
    let later_id = later["data"]["id"].as_str().unwrap();
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &format!("/api/contacts/{later_id}"))
                .json(&json!({"assigned_to": agent})),
        )
        .await;
    assert_eq!((s, &b["data"]["assigned_to"]), (200, &json!(agent)), "{b}");
    let (_, deleted) = contact(&app, &owner, &agent).await;
    let (s, _) = app
        .send(app.delete_as(
            &owner.token,
            &format!("/api/contacts/{}", deleted["data"]["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(s, 200);

    let all = agents(&app, &owner.token, "?include_assignments=true").await;
    assert_eq!(
        find(&all, &agent)["active_assignments"],
        5,
        "2 opportunities + 3 contacts"
    );
    assert_eq!(find(&all, &viewer)["active_assignments"], 0);
    // The owner created the opportunities, but they are assigned to the agent.
    assert_eq!(find(&all, &owner.user_id)["active_assignments"], 0);
    let bare = agents(&app, &owner.token, "?include_assignments=false").await;
    assert_eq!(find(&bare, &agent)["active_assignments"], Value::Null);
    let (s, v1) = app
        .send(app.get_as(&owner.token, "/api/v1/agents?role=agent"))
        .await;
    assert_eq!(
        (s, v1["data"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{v1}"
    );
    app.stack.stop().await;
}

fn agent_email(list: &[Value], id: &str) -> String {
    find(list, id)["email"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn assigned_to_must_be_a_member_of_the_workspace() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Elsewhere").await;
    let (agent, _) = member(&app, &owner, Role::Agent).await;
    let p = pipeline(&app, &owner, json!({"name": "Sales"})).await;
    let stage = p["stages"][0]["id"].as_str().unwrap();
    let refused = |(s, b): (u16, Value)| {
        assert_eq!(s, 400, "{b}");
        assert_eq!(
            b["error"], "assigned_to: not a member of this workspace",
            "{b}"
        );
        assert_eq!(b["details"]["field"], "assigned_to");
    };

    // Another workspace's owner is a user, but not a member here.
    refused(contact(&app, &owner, &other.user_id).await);
    refused(
        app.send(
            app.post_as(&owner.token, "/api/pipeline/opportunities")
                .json(&json!({"title": "x", "stage_id": stage, "assigned_to": other.user_id})),
        )
        .await,
    );
    let (s, c) = contact(&app, &owner, &agent).await;
    assert_eq!((s, &c["data"]["assigned_to"]), (201, &json!(agent)));
    let cid = c["data"]["id"].as_str().unwrap();
    refused(
        app.send(
            app.put_as(&owner.token, &format!("/api/contacts/{cid}"))
                .json(&json!({"assigned_to": other.user_id})),
        )
        .await,
    );
    let o = opportunity(
        &app,
        &owner,
        stage,
        json!({"title": "y", "assigned_to": agent}),
    )
    .await;
    assert_eq!(o["assigned_to"], agent.as_str());
    let oid = o["id"].as_str().unwrap();
    refused(
        app.send(
            app.put_as(&owner.token, &format!("/api/pipeline/opportunities/{oid}"))
                .json(&json!({"assigned_to": other.user_id})),
        )
        .await,
    );
    // Not a user id at all: refused by its shape.
    let (s, b) = contact(&app, &owner, "someone").await;
    assert_eq!(
        (s, &b["details"]["field"]),
        (400, &json!("assigned_to")),
        "{b}"
    );
    // "" unassigns.
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &format!("/api/contacts/{cid}"))
                .json(&json!({"assigned_to": ""})),
        )
        .await;
    assert_eq!((s, &b["data"]["assigned_to"]), (200, &Value::Null), "{b}");
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/contacts/{cid}")))
        .await;
    assert_eq!((s, &b["data"]["assigned_to"]), (200, &Value::Null));
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_agent_and_the_statistics() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Elsewhere").await;
    let (agent, _) = member(&app, &owner, Role::Agent).await;
    let (second, _) = member(&app, &owner, Role::Agent).await;
    member(&app, &owner, Role::Manager).await;
    crate::workspaces::invite(&app, &owner, "soon@invited.test", "viewer").await;
    for _ in 0..2 {
        assert_eq!(contact(&app, &owner, &second).await.0, 201);
    }
    assert_eq!(contact(&app, &owner, &agent).await.0, 201);

    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/agents/{second}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["id"], second.as_str());
    assert_eq!(b["data"]["active_assignments"], 2);
    for key in [
        "name",
        "email",
        "role",
        "status",
        "avatar",
        "joined_at",
        "last_active",
    ] {
        assert!(b["data"].get(key).is_some(), "{key} in {b}");
    }
    let (s, b) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/v1/agents/{agent}?include_assignments=false"),
        ))
        .await;
    assert_eq!(
        (s, &b["data"]["active_assignments"]),
        (200, &Value::Null),
        "{b}"
    );
    // Another workspace's member is not found here; a malformed id is a 400.
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/agents/{}", other.user_id)))
        .await;
    assert_eq!(s, 404, "{b}");
    let (s, _) = app
        .send(app.get_as(&owner.token, "/api/agents/nobody"))
        .await;
    assert_eq!(s, 400);

    // `stats` is its own route, not an agent id.
    for path in ["/api/agents/stats", "/api/v1/agents/stats"] {
        let (s, b) = app.send(app.get_as(&owner.token, path)).await;
        assert_eq!(s, 200, "{b}");
        let d = &b["data"];
        assert_eq!(d["total_agents"], 5, "4 members and an invitee: {d}");
        assert_eq!(d["active_agents"], 4);
        assert_eq!(
            d["by_role"],
            json!({"owner": 1, "admin": 0, "manager": 1, "agent": 2, "viewer": 1})
        );
        let dist = d["assignment_distribution"].as_array().unwrap();
        assert_eq!(dist.len(), 4, "members only: {d}");
        assert_eq!(
            dist[0]["agent_id"],
            second.as_str(),
            "most assignments first"
        );
        assert_eq!(dist[0]["assignment_count"], 2);
        assert_eq!(dist[1]["agent_id"], agent.as_str());
        assert_eq!(dist[1]["assignment_count"], 1);
        assert!(dist[0]["agent_name"].is_string());
    }
    let (_, b) = app
        .send(app.get_as(&other.token, "/api/agents/stats"))
        .await;
    assert_eq!(
        b["data"]["total_agents"], 1,
        "another workspace sees its own"
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_need_the_workspace_members_read_scope() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, narrow) = app.key(&owner.token, &["contacts:read"]).await;
    let (_, wide) = app.key(&owner.token, &["workspace_members:read"]).await;
    for path in [
        "/api/agents".to_owned(),
        "/api/agents/stats".to_owned(),
        format!("/api/agents/{}", owner.user_id),
    ] {
        let (s, b) = app.get_with_key(&path, &narrow).await;
        assert_eq!(s, 403, "{path}: {b}");
        let (s, b) = app.get_with_key(&path, &wide).await;
        assert_eq!(s, 200, "{path}: {b}");
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn last_active_follows_sign_ins_and_key_use() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (agent, token) = member(&app, &owner, Role::Agent).await;
    let last_active = || async {
        let (s, b) = app
            .send(app.get_as(&owner.token, &format!("/api/agents/{agent}")))
            .await;
        assert_eq!(s, 200, "{b}");
        b["data"]["last_active"]
            .as_str()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).expect("an RFC 3339 time"))
    };
    // The sign-in counted.
    let signed_in = last_active().await.expect("last_active after the sign-in");
    // The agent's own key, used: the gateway's usage report moves last_active on. Reports
    // carry whole seconds, so the use comes a second after the sign-in.
    let (_, key) = app.key(&token, &["contacts:read"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, b) = app
        .get_with_key("/api/contacts/search?firstname=a", &key)
        .await;
    assert_eq!(s, 200, "{b}");
    // Polled gently: the owner's token has its own 100 requests a minute.
    let mut moved = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        moved = last_active().await.filter(|t| *t > signed_in);
        if moved.is_some() {
            break;
        }
    }
    assert!(moved.is_some(), "last_active stayed at {signed_in}");
    app.stack.stop().await;
}
