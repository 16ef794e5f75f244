//! What execute refuses and limits: unknown types, bad configurations, other workspaces'
//! contacts, keys without the scope; `Idempotency-Key` retries; the route limit.

use super::{completed, contact, execute};
use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_scopes_and_other_workspaces_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Globex").await;
    let id = contact(&app, &owner).await;
    let theirs = contact(&app, &other).await;

    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "launch_rocket", "contact_id": id, "configuration": {}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "action_type", "{b}");
    for known in [
        "add_tag",
        "remove_tag",
        "update_field",
        "move_opportunity",
        "assign_agent",
        "trigger_webhook",
    ] {
        assert!(b["error"].as_str().unwrap().contains(known), "{b}");
    }

    for (action, configuration, field) in [
        ("add_tag", json!({}), "configuration.tagName"),
        ("add_tag", json!({"tagName": 7}), "configuration.tagName"),
        (
            "add_tag",
            json!({"tagName": "x", "color": "magenta"}),
            "configuration.color",
        ),
        (
            "update_field",
            json!({"field": "password", "value": "x"}),
            "configuration.field",
        ),
        (
            "update_field",
            json!({"field": "city"}),
            "configuration.value",
        ),
        (
            "move_opportunity",
            json!({"opportunity_id": "x"}),
            "configuration.stage_id",
        ),
        (
            "assign_agent",
            json!({"agent_id": ""}),
            "configuration.agent_id",
        ),
    ] {
        let (s, b) = execute(
            &app,
            &owner,
            json!({"action_type": action, "contact_id": id, "configuration": configuration}),
        )
        .await;
        assert_eq!(s, 400, "{action} {configuration}: {b}");
        assert_eq!(b["details"]["field"], field, "{b}");
        assert!(b.get("execution_id").is_none(), "nothing ran: {b}");
    }

    // Another workspace's contact is not found, and nothing is recorded on it.
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "add_tag", "contact_id": theirs, "configuration": {"tagName": "x"}}),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let done = completed(
        &app,
        &other,
        json!({"action_type": "add_tag", "contact_id": theirs, "configuration": {"tagName": "x"}}),
    )
    .await;
    let (s, _) = app
        .send(app.get_as(
            &owner.token,
            &format!(
                "/api/actions/executions/{}",
                done["execution_id"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(s, 404, "another workspace's execution");
    let (s, list) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/actions/executions?contact_id={theirs}"),
        ))
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["data"], json!([]));
    let (s, b) = app
        .send(app.get_as(&owner.token, "/api/actions/executions?contact_id=null"))
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "contact_id", "{b}");

    // A key needs actions:execute, to run and to read.
    let (_, reader) = app
        .key(&owner.token, &["contacts:read", "contacts:write"])
        .await;
    let (_, runner) = app.key(&owner.token, &["actions:execute"]).await;
    let body =
        json!({"action_type": "add_tag", "contact_id": id, "configuration": {"tagName": "k"}});
    let send = |key: &str| {
        app.http
            .post(app.url("/api/actions/execute"))
            .header("x-api-key", key)
            .json(&body)
    };
    let (s, b) = app.send(send(&reader)).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = app.send(send(&runner)).await;
    assert_eq!(s, 200, "{b}");
    let path = format!(
        "/api/v1/actions/executions/{}",
        b["data"]["execution_id"].as_str().unwrap()
    );
    assert_eq!(app.get_with_key(&path, &reader).await.0, 403);
    assert_eq!(app.get_with_key(&path, &runner).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_runs_the_action_once() {
    use crm_proto::pipeline::{ExecuteActionRequest, action_service_client::ActionServiceClient};
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let id = contact(&app, &owner).await;
    let body =
        json!({"action_type": "add_tag", "contact_id": id, "configuration": {"tagName": "Once"}});

    // REST: the gateway replays the first answer.
    let key = uuid::Uuid::new_v4().to_string();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (s, b) = app
            .send(
                app.post_as(&owner.token, "/api/actions/execute")
                    .header("idempotency-key", &key)
                    .json(&body),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        ids.push(b["data"]["execution_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);

    // gRPC: the key travels as metadata and the service itself runs the action once.
    let (_, api_key) = app.key(&owner.token, &["actions:execute"]).await;
    let mut client = ActionServiceClient::connect(app.base.clone())
        .await
        .unwrap();
    let grpc_key = uuid::Uuid::new_v4().to_string();
    let call = |tag: &str, key: &str| {
        let mut configuration = prost_types::Struct::default();
        configuration.fields.insert(
            "tagName".into(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(tag.into())),
            },
        );
        let mut r = tonic::Request::new(ExecuteActionRequest {
            action_type: "add_tag".into(),
            contact_id: id.clone(),
            configuration: Some(configuration),
            execution_context: None,
        });
        r.metadata_mut()
            .insert("x-api-key", api_key.parse().unwrap());
        r.metadata_mut()
            .insert("idempotency-key", key.parse().unwrap());
        r
    };
    let one = client
        .execute_action(call("Twice?", &grpc_key))
        .await
        .unwrap()
        .into_inner();
    let two = client
        .execute_action(call("Twice?", &grpc_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        one.data.as_ref().unwrap().execution_id,
        two.data.as_ref().unwrap().execution_id
    );
    let reused = client
        .execute_action(call("Other", &grpc_key))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), tonic::Code::InvalidArgument, "{reused:?}");

    // Retries racing each other: one runs; the others answer it or say it is still running.
    let raced = uuid::Uuid::new_v4().to_string();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let mut client = client.clone();
        let request = call("Raced", &raced);
        calls.spawn(async move { client.execute_action(request).await });
    }
    let mut ran = std::collections::HashSet::new();
    for answer in calls.join_all().await {
        match answer {
            Ok(r) => {
                ran.insert(r.into_inner().data.unwrap().execution_id);
            }
            Err(status) => assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}"),
        }
    }
    assert!(ran.len() <= 1, "{ran:?}");

    let (s, list) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/actions/executions?contact_id={id}"),
        ))
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        3,
        "one per key: {list}"
    );
}

/// Seed 004: 50 executions a minute per workspace, whichever of its keys or tokens calls.
#[tokio::test(flavor = "multi_thread")]
async fn execute_is_limited_to_50_a_minute_per_workspace() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = app.key(&owner.token, &["actions:execute"]).await;
    let body = json!({"action_type": "nothing", "contact_id": uuid::Uuid::new_v4().to_string()});
    let by_key = |app: &TestApp| {
        app.http
            .post(app.url("/api/actions/execute"))
            .header("x-api-key", &key)
            .json(&body)
    };
    for i in 0..25 {
        let (s, b) = execute(&app, &owner, body.clone()).await;
        assert_eq!(s, 400, "call {i}: {b}");
        let (s, b) = app.send(by_key(&app)).await;
        assert_eq!(s, 400, "key call {i}: {b}");
    }
    let r = by_key(&app).send().await.unwrap();
    assert_eq!(r.status(), 429, "the key's 51st of the workspace");
    let (s, b) = execute(&app, &owner, body.clone()).await;
    assert_eq!(s, 429, "{b}");
    // Another workspace has its own 50; other routes of the same user are not held back.
    let other = app.owner("Other").await;
    assert_eq!(execute(&app, &other, body.clone()).await.0, 400);
    let (s, _) = app.send(app.get_as(&owner.token, "/api/tags")).await;
    assert_eq!(s, 200);
}
