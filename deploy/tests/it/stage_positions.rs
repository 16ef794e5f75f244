//! Stage positions stay 1..n without gaps through inserts, moves and deletes, also under
//! concurrent reorders.

use crate::helpers::TestApp;
use crate::pipelines::{assert_gap_free, names, pipeline, positions};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn stages_insert_move_and_delete_keep_positions_gap_free() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let pid = p["id"].as_str().unwrap().to_owned();

    // Insert at 2: later stages shift down.
    let (s, b) = app
        .send(app.post_as(&a.token, "/api/pipeline/stages").json(&json!({
            "name": "Proposal Review", "pipeline_id": pid, "position": 2,
            "description": "Customer reviewing our proposal", "color": "#9333ea",
            "default_probability": 65
        })))
        .await;
    assert_eq!(s, 201, "{b}");
    let proposal = b["data"].clone();
    assert_eq!(proposal["position"], 2);
    assert_eq!(proposal["color"], "#9333EA");
    assert_eq!(proposal["opportunity_count"], 0);
    assert_eq!(proposal["total_value"], 0.0);
    assert_eq!(proposal["pipeline"]["name"], "Sales");
    let stages = positions(&app, &a, &pid).await;
    assert_eq!(
        names(&stages),
        ["New", "Proposal Review", "Pending", "Done"]
    );
    assert_gap_free(&stages);

    // Appended when no position is given; defaults applied.
    let (_, b) = app
        .send(
            app.post_as(&a.token, "/api/pipeline/stages")
                .json(&json!({"name": "Archive", "pipeline_id": pid})),
        )
        .await;
    assert_eq!(b["data"]["position"], 5);
    assert_eq!(b["data"]["color"], "#3B82F6");
    assert_eq!(b["data"]["default_probability"], 50);

    // Out-of-range positions are refused with the range.
    for bad in [0, 7] {
        let (s, b) = app
            .send(
                app.post_as(&a.token, "/api/pipeline/stages")
                    .json(&json!({"name": "X", "pipeline_id": pid, "position": bad})),
            )
            .await;
        assert_eq!(s, 400);
        assert_eq!(b["details"]["field"], "position");
        assert!(
            b["error"].as_str().unwrap().contains("between 1 and 6"),
            "{b}"
        );
    }
    let (s, b) = app
        .send(
            app.post_as(&a.token, "/api/pipeline/stages")
                .json(&json!({"name": "X"})),
        )
        .await;
    assert_eq!(
        (s, b["details"]["field"].as_str()),
        (400, Some("pipeline_id"))
    );

    // Moving up and down shifts the ones in between.
    let proposal_path = format!("/api/pipeline/stages/{}", proposal["id"].as_str().unwrap());
    let (s, b) = app
        .send(
            app.put_as(&a.token, &proposal_path).json(
                &json!({"position": 4, "name": "Contract Under Review", "is_won_stage": false}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["name"], "Contract Under Review");
    assert_eq!(b["data"]["description"], "Customer reviewing our proposal");
    let stages = positions(&app, &a, &pid).await;
    assert_eq!(
        names(&stages),
        ["New", "Pending", "Done", "Contract Under Review", "Archive"]
    );
    assert_gap_free(&stages);
    app.send(
        app.put_as(&a.token, &proposal_path)
            .json(&json!({"position": 1})),
    )
    .await;
    let stages = positions(&app, &a, &pid).await;
    assert_eq!(
        names(&stages),
        ["Contract Under Review", "New", "Pending", "Done", "Archive"]
    );
    let (s, b) = app
        .send(
            app.put_as(&a.token, &proposal_path)
                .json(&json!({"position": 6})),
        )
        .await;
    assert_eq!((s, b["details"]["field"].as_str()), (400, Some("position")));

    // Deleting closes the gap.
    let (s, b) = app.send(app.delete_as(&a.token, &proposal_path)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["message"],
        "Pipeline stage 'Contract Under Review' deleted successfully"
    );
    let stages = positions(&app, &a, &pid).await;
    assert_eq!(names(&stages), ["New", "Pending", "Done", "Archive"]);
    assert_gap_free(&stages);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_stage_changes_keep_positions_one_to_n() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Busy"})).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let ids: Vec<String> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();

    let mut calls = Vec::new();
    for i in 0..12 {
        let app_http = app.http.clone();
        let token = a.token.clone();
        let base = app.base.clone();
        let pid = pid.clone();
        let ids = ids.clone();
        calls.push(tokio::spawn(async move {
            let r = if i % 3 == 0 {
                app_http
                    .put(format!("{base}/api/pipeline/stages/{}", ids[i % ids.len()]))
                    .bearer_auth(&token)
                    .json(&json!({"position": 1 + (i % 3)}))
            } else {
                app_http
                    .post(format!("{base}/api/pipeline/stages"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("S{i}"), "pipeline_id": pid, "position": 1 + (i % 4)}))
            };
            r.send().await.unwrap().status().as_u16()
        }));
    }
    for call in calls {
        let status = call.await.unwrap();
        assert!(status == 200 || status == 201, "status {status}");
    }
    let stages = positions(&app, &a, &pid).await;
    assert_eq!(stages.len(), 3 + 8);
    assert_gap_free(&stages);
    app.stack.stop().await;
}
