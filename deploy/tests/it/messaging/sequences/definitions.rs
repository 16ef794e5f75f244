//! A sequence's definition: created, updated, read and listed in the caller's workspace;
//! an inactive one is not applied; the seed's errors; another workspace's refused.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn sequences_are_created_updated_read_and_listed_in_the_callers_workspace() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b_owner = app.owner("Beta").await;
    let ws = &a.workspace_id;
    let (s, b) = app
        .send(
            app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&seed_sequence()),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let seq = &b["sequence"];
    assert_eq!(seq["name"], "Follow-up Sequence");
    assert_eq!(seq["workspace_id"], ws.as_str());
    assert_eq!(seq["status"], "active");
    assert_eq!(seq["messages"][1]["subflow"], "optional-subflow-id");
    assert!(seq["created_at"].is_string() && seq["updated_at"].is_string());
    let id = seq["id"].as_str().unwrap().to_owned();

    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{id}"))
                .json(&json!({
                    "name": "Updated Follow-up Sequence",
                    "messages": [
                        {"text": "Updated message content", "timeValue": 10, "timeUnit": "minutes"},
                        {"text": "Second follow-up message", "timeValue": 2, "timeUnit": "days"}
                    ]
                })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sequence"]["name"], "Updated Follow-up Sequence");
    assert_eq!(b["sequence"]["messages"][0]["timeValue"], 10);
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{id}"))
                .json(&json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .send(app.get_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sequence"]["status"], "inactive");
    assert_eq!(
        b["sequence"]["messages"][1]["text"],
        "Second follow-up message"
    );
    let other = create(&app, &a.token, ws, seed_sequence()).await;
    let list = |q: &'static str| {
        app.send(app.get_as(&a.token, &format!("/api/workspaces/{ws}/sequences{q}")))
    };
    let ids = |b: &Value| -> Vec<String> {
        b["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, b) = list("").await;
    assert_eq!(ids(&b), [other.as_str(), id.as_str()]);
    let (_, b) = list("?status=active").await;
    assert_eq!(ids(&b), [other.as_str()]);
    // An inactive sequence is not applied.
    let c = contact_in(&app, &a.token, None).await;
    let (s, b) = app
        .send(
            app.post_as(
                &a.token,
                &format!("/api/workspaces/{ws}/sequences/{id}/apply"),
            )
            .json(&json!({"contactIds": [c]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["code"], "SEQUENCE_INACTIVE");

    // Errors: missing fields, too many messages, a bad unit, another workspace.
    let (s, b) = app
        .send(
            app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["message"], "Missing required fields: name, messages");
    let many: Vec<Value> = (0..21)
        .map(|_| json!({"text": "hi", "timeValue": 1, "timeUnit": "minutes"}))
        .collect();
    for body in [
        json!({"name": "x", "messages": many}),
        json!({"name": "x", "messages": [{"text": "hi", "timeValue": 1, "timeUnit": "years"}]}),
    ] {
        let (s, b) = app
            .send(
                app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                    .json(&body),
            )
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["details"]["field_violations"][0]["field"], "messages");
    }
    let theirs = &b_owner.workspace_id;
    let (s, _) = app
        .send(app.get_as(&a.token, &format!("/api/workspaces/{theirs}/sequences")))
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .send(app.get_as(
            &b_owner.token,
            &format!("/api/workspaces/{theirs}/sequences/{id}"),
        ))
        .await;
    assert_eq!(s, 404);
}
