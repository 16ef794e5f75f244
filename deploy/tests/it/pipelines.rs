//! Pipelines and stages over REST: default stages, the default pipeline, soft delete refused
//! while opportunities remain, stage deletion with migration, scopes (stage positions:
//! `stage_positions`).

use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};

/// Creates a pipeline; returns its body's `data`.
pub async fn pipeline(app: &TestApp, owner: &Owner, body: Value) -> Value {
    let (s, b) = app
        .send(
            app.post_as(&owner.token, "/api/pipeline/pipelines")
                .json(&body),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"].clone()
}

/// Creates an opportunity in a stage; returns its body's `data`.
pub async fn opportunity(app: &TestApp, owner: &Owner, stage_id: &str, body: Value) -> Value {
    let mut body = body;
    body["stage_id"] = json!(stage_id);
    let (s, b) = app
        .send(
            app.post_as(&owner.token, "/api/pipeline/opportunities")
                .json(&body),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"].clone()
}

pub(crate) async fn positions(
    app: &TestApp,
    owner: &Owner,
    pipeline_id: &str,
) -> Vec<(String, i64)> {
    let (s, b) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/pipeline/stages?pipeline_id={pipeline_id}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["position"].as_i64().unwrap(),
            )
        })
        .collect()
}

pub(crate) fn names(stages: &[(String, i64)]) -> Vec<&str> {
    stages.iter().map(|(n, _)| n.as_str()).collect()
}

pub(crate) fn assert_gap_free(stages: &[(String, i64)]) {
    let got: Vec<i64> = stages.iter().map(|(_, p)| *p).collect();
    let want: Vec<i64> = (1..=stages.len() as i64).collect();
    assert_eq!(got, want, "positions must be 1..n: {stages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelines_get_seed_stages_and_one_default() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;

    let sales = pipeline(
        &app,
        &a,
        json!({"name": "Sales Pipeline", "description": "Main"}),
    )
    .await;
    assert_eq!(
        sales["is_default"], true,
        "the first pipeline is the default"
    );
    assert_eq!(sales["is_active"], true);
    assert_eq!(sales["workspace_id"], a.workspace_id.as_str());
    assert_eq!(sales["created_by"], a.user_id.as_str());
    let stages = sales["stages"].as_array().unwrap();
    let shape: Vec<_> = stages
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["position"].as_i64().unwrap(),
                s["color"].as_str().unwrap(),
                s["default_probability"].as_i64().unwrap(),
                s["is_won_stage"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("New", 1, "#4299E1", 10, false),
            ("Pending", 2, "#F6AD55", 50, false),
            ("Done", 3, "#48BB78", 90, true),
        ]
    );

    let custom = pipeline(
        &app,
        &a,
        json!({"name": "Projects", "stages": [
            {"name": "Plan", "color": "#112233"},
            {"name": "Lost", "is_lost_stage": true, "default_probability": 0}
        ]}),
    )
    .await;
    assert_eq!(custom["is_default"], false);
    assert_eq!(custom["description"], Value::Null);
    assert_eq!(custom["stages"][0]["default_probability"], 50);
    assert_eq!(custom["stages"][1]["is_lost_stage"], true);

    // Figures come from real opportunities.
    let new_stage = stages[0]["id"].as_str().unwrap();
    let done_stage = stages[2]["id"].as_str().unwrap();
    opportunity(&app, &a, new_stage, json!({"title": "A", "value": 1000.5})).await;
    opportunity(&app, &a, new_stage, json!({"title": "B", "amount": 2000})).await;
    opportunity(&app, &a, done_stage, json!({"title": "C", "value": 300})).await;
    let (s, list) = app
        .send(app.get_as(&a.token, "/api/pipeline/pipelines"))
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["success"], true);
    let first = &list["data"][0];
    assert_eq!(first["id"], sales["id"]);
    assert_eq!(first["opportunity_count"], 3);
    assert_eq!(first["total_value"], 3300.5);
    assert_eq!(first["stages"][0]["opportunity_count"], 2);
    assert_eq!(first["stages"][0]["total_value"], 3000.5);
    assert_eq!(first["stages"][2]["opportunity_count"], 1);
    assert_eq!(list["data"][1]["opportunity_count"], 0);

    // Making another pipeline the default takes the flag from the first.
    let custom_id = custom["id"].as_str().unwrap();
    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/pipeline/pipelines/{custom_id}"))
                .json(&json!({"is_default": true, "name": "Projects 2", "description": "Renovations"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["name"], "Projects 2");
    assert_eq!(b["data"]["description"], "Renovations");
    let (_, list) = app
        .send(app.get_as(&a.token, "/api/pipeline/pipelines"))
        .await;
    let defaults: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_default"] == true)
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(defaults, vec![custom["id"].clone()]);

    // Validation names the field.
    for (body, field) in [
        (json!({"name": "  "}), "name"),
        (
            json!({"name": "X", "stages": [{"name": "S", "color": "blue"}]}),
            "stages[0].color",
        ),
        (
            json!({"name": "X", "stages": [{"name": "S", "default_probability": 101}]}),
            "stages[0].default_probability",
        ),
        (
            json!({"name": "X", "stages": [{"name": "S", "is_won_stage": true, "is_lost_stage": true}]}),
            "stages[0].is_lost_stage",
        ),
        (json!({"name": "X", "colour": "red"}), "colour"),
    ] {
        let (s, b) = app
            .send(app.post_as(&a.token, "/api/pipeline/pipelines").json(&body))
            .await;
        assert_eq!(s, 400, "{body} → {b}");
        assert_eq!(b["details"]["field"], field, "{b}");
    }
    let (s, _) = app
        .send(app.get_as(&a.token, "/api/pipeline/pipelines/not-a-real-id"))
        .await;
    assert_eq!(s, 404);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_pipeline_with_opportunities_is_refused_with_the_count() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Customer Service Pipeline"})).await;
    let id = p["id"].as_str().unwrap();
    let stage = p["stages"][0]["id"].as_str().unwrap();
    let o1 = opportunity(&app, &a, stage, json!({"title": "One"})).await;
    opportunity(&app, &a, stage, json!({"title": "Two"})).await;

    let path = format!("/api/pipeline/pipelines/{id}");
    let (s, b) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["success"], false);
    assert_eq!(
        b["error"],
        "Cannot delete pipeline with active opportunities. Move or delete 2 opportunities first."
    );
    assert_eq!(b["opportunity_count"], 2);

    let (s, _) = app
        .send(app.delete_as(
            &a.token,
            &format!("/api/pipeline/opportunities/{}", o1["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(s, 200);
    let (_, b) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(
        b["opportunity_count"], 1,
        "archived opportunities no longer count"
    );
    let (_, list) = app
        .send(app.get_as(&a.token, "/api/pipeline/opportunities"))
        .await;
    for o in list["data"].as_array().unwrap() {
        let (s, _) = app
            .send(app.delete_as(
                &a.token,
                &format!("/api/pipeline/opportunities/{}", o["id"].as_str().unwrap()),
            ))
            .await;
        assert_eq!(s, 200);
    }
    let (s, b) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["message"],
        "Pipeline 'Customer Service Pipeline' has been deactivated successfully"
    );
    let (_, list) = app
        .send(app.get_as(&a.token, "/api/pipeline/pipelines"))
        .await;
    assert!(list["data"].as_array().unwrap().is_empty(), "{list}");
    let (s, _) = app.send(app.get_as(&a.token, &path)).await;
    assert_eq!(s, 404);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_stage_with_opportunities_needs_a_target_and_migrates_them() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let other = pipeline(&app, &a, json!({"name": "Other"})).await;
    let new_id = p["stages"][0]["id"].as_str().unwrap();
    let pending_id = p["stages"][1]["id"].as_str().unwrap();
    let o1 = opportunity(&app, &a, new_id, json!({"title": "One", "value": 10})).await;
    opportunity(&app, &a, new_id, json!({"title": "Two", "value": 20})).await;

    let path = format!("/api/pipeline/stages/{new_id}");
    let (s, b) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        b["error"],
        "Cannot delete stage with active opportunities. Specify moveToStageId parameter or move opportunities first."
    );
    assert_eq!(b["opportunity_count"], 2);

    // The target must be another stage of the same pipeline.
    let foreign = other["stages"][0]["id"].as_str().unwrap();
    for target in [foreign, new_id] {
        let (s, b) = app
            .send(app.delete_as(&a.token, &format!("{path}?moveToStageId={target}")))
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["details"]["field"], "moveToStageId");
    }

    let (s, b) = app
        .send(app.delete_as(&a.token, &format!("{path}?moveToStageId={pending_id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["opportunities_moved"], 2);
    assert_eq!(b["target_stage"], "Pending");
    assert_eq!(
        b["message"],
        "Pipeline stage 'New' deleted successfully. 2 opportunities moved to 'Pending'"
    );
    let (_, moved) = app
        .send(app.get_as(
            &a.token,
            &format!("/api/pipeline/opportunities/{}", o1["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(moved["data"]["stage_id"], pending_id);
    assert_eq!(moved["data"]["history"][0]["field_changed"], "stage_id");
    assert_eq!(moved["data"]["history"][0]["old_value"], new_id);
    let stages = positions(&app, &a, p["id"].as_str().unwrap()).await;
    assert_eq!(names(&stages), ["Pending", "Done"]);
    assert_gap_free(&stages);
    let (_, list) = app
        .send(app.get_as(
            &a.token,
            &format!(
                "/api/pipeline/stages?pipeline_id={}",
                p["id"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(list["data"][0]["opportunity_count"], 2);
    assert_eq!(list["data"][0]["total_value"], 30.0);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_need_the_seed_scopes_and_see_only_their_workspace() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let pa = pipeline(&app, &a, json!({"name": "A pipeline"})).await;
    let pb = pipeline(&app, &b, json!({"name": "B pipeline"})).await;
    let (_, read_key) = app.key(&a.token, &["pipelines:read", "stages:read"]).await;

    let (s, list) = app.get_with_key("/api/pipeline/pipelines", &read_key).await;
    assert_eq!(s, 200);
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, vec![pa["id"].clone()]);
    let (s, _) = app.get_with_key("/api/v1/pipeline/stages", &read_key).await;
    assert_eq!(s, 200);

    let r = app
        .http
        .post(app.url("/api/pipeline/pipelines"))
        .header("x-api-key", &read_key)
        .json(&json!({"name": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["details"]["required_scope"], "pipelines:write");

    // B's ids are not found from A.
    let b_pipeline = pb["id"].as_str().unwrap();
    let b_stage = pb["stages"][0]["id"].as_str().unwrap();
    for path in [
        format!("/api/pipeline/pipelines/{b_pipeline}"),
        format!("/api/pipeline/stages?pipeline_id={b_pipeline}"),
    ] {
        let (s, _) = app.get_with_key(&path, &read_key).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/pipeline/stages/{b_stage}"))
                .json(&json!({"name": "pwned"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.delete_as(&a.token, &format!("/api/pipeline/pipelines/{b_pipeline}")))
        .await;
    assert_eq!(s, 404);
    let (s, b_body) = app
        .send(
            app.post_as(&a.token, "/api/pipeline/opportunities")
                .json(&json!({"title": "x", "stage_id": b_stage})),
        )
        .await;
    assert_eq!(s, 400, "{b_body}");
    assert_eq!(b_body["details"]["field"], "stage_id");
    app.stack.stop().await;
}
