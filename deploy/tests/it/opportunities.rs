//! Opportunities over REST: create defaults, moves with history and closing, updates with
//! history, archive on delete, isolation (list filters: `opportunity_lists`).

use crate::helpers::{Owner, TestApp};
use crate::pipelines::{opportunity, pipeline};
use serde_json::{Value, json};

pub(crate) async fn list(app: &TestApp, owner: &Owner, query: &str) -> (u16, Value) {
    app.send(app.get_as(&owner.token, &format!("/api/pipeline/opportunities{query}")))
        .await
}

pub(crate) fn titles(body: &Value) -> Vec<String> {
    let mut t: Vec<String> = body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|o| o["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn create_applies_stage_defaults_and_accepts_value_or_amount() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let pending = p["stages"][1]["id"].as_str().unwrap();

    let o = opportunity(
        &app,
        &a,
        pending,
        json!({
            "title": "Bathroom Renovation - Johnson Family",
            "description": "Master bathroom",
            "value": 28000.00, "priority": "high",
            "expected_close_date": "2025-08-01",
            "tags": ["bathroom", "renovation", "high-value"],
            "notes": "Ready to start", "source": "website"
        }),
    )
    .await;
    assert_eq!(o["amount"], 28000.0);
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["probability"], 50, "defaults to the stage's probability");
    assert_eq!(o["pipeline_id"], p["id"]);
    assert_eq!(o["expected_close_date"], "2025-08-01T00:00:00Z");
    assert_eq!(o["tags"], json!(["bathroom", "renovation", "high-value"]));
    assert_eq!(o["is_closed"], false);
    assert_eq!(o["is_won"], Value::Null);
    assert_eq!(o["closed_at"], Value::Null);
    assert_eq!(o["contact"], Value::Null);
    assert_eq!(o["created_by"], a.user_id.as_str());
    assert_eq!(o["assigned_to"], a.user_id.as_str());
    assert_eq!(o["stage"]["name"], "Pending");
    assert_eq!(o["workspace_id"], a.workspace_id.as_str());

    let o = opportunity(
        &app,
        &a,
        pending,
        json!({"title": "B", "amount": 10.25, "probability": 5, "currency": "eur"}),
    )
    .await;
    assert_eq!(o["amount"], 10.25);
    assert_eq!(o["probability"], 5);
    assert_eq!(o["currency"], "EUR");

    // Created straight into a won stage: closed and won.
    let done = p["stages"][2]["id"].as_str().unwrap();
    let o = opportunity(&app, &a, done, json!({"title": "Signed"})).await;
    assert_eq!(o["is_closed"], true);
    assert_eq!(o["is_won"], true);
    assert!(o["closed_at"].is_string());

    for (body, field) in [
        (json!({"stage_id": pending}), "title"),
        (json!({"title": "x"}), "stage_id"),
        (json!({"title": "x", "stage_id": "nope"}), "stage_id"),
        (
            json!({"title": "x", "stage_id": pending, "value": -1}),
            "value",
        ),
        (
            json!({"title": "x", "stage_id": pending, "value": 1, "amount": 2}),
            "amount",
        ),
        (
            json!({"title": "x", "stage_id": pending, "probability": 150}),
            "probability",
        ),
        (
            json!({"title": "x", "stage_id": pending, "priority": "urgent"}),
            "priority",
        ),
        (
            json!({"title": "x", "stage_id": pending, "expected_close_date": "08/01/2025"}),
            "expected_close_date",
        ),
        (
            json!({"title": "x", "stage_id": pending, "currency": "dollars"}),
            "currency",
        ),
        (
            json!({"title": "x", "stage_id": pending, "contact_id": uuid::Uuid::new_v4().to_string()}),
            "contact_id",
        ),
        (
            json!({"title": "x", "stage_id": pending, "value": "lots"}),
            "value",
        ),
    ] {
        let (s, b) = app
            .send(
                app.post_as(&a.token, "/api/pipeline/opportunities")
                    .json(&body),
            )
            .await;
        assert_eq!(s, 400, "{body} → {b}");
        assert_eq!(b["details"]["field"], field, "{body} → {b}");
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_record_history_and_close_on_won_or_lost() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(
        &app,
        &a,
        json!({"name": "Sales", "stages": [
            {"name": "New", "default_probability": 10},
            {"name": "Pending", "default_probability": 50, "color": "#F6AD55"},
            {"name": "Won", "default_probability": 100, "is_won_stage": true},
            {"name": "Lost", "default_probability": 0, "is_lost_stage": true}
        ]}),
    )
    .await;
    let other = pipeline(&app, &a, json!({"name": "Other"})).await;
    let stage = |i: usize| p["stages"][i]["id"].as_str().unwrap().to_owned();
    let o = opportunity(
        &app,
        &a,
        &stage(0),
        json!({"title": "Kitchen", "value": 100}),
    )
    .await;
    let id = o["id"].as_str().unwrap();
    let move_path = format!("/api/pipeline/opportunities/{id}/move");

    let (s, b) = app
        .send(
            app.put_as(&a.token, &move_path)
                .json(&json!({"stage_id": stage(1)})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["stage_id"], stage(1).as_str());
    assert_eq!(b["data"]["probability"], 50, "updated to the stage default");
    assert_eq!(b["data"]["stage"]["name"], "Pending");
    assert_eq!(b["data"]["stage"]["color"], "#F6AD55");
    assert_eq!(b["history"]["opportunity_id"], id);
    assert_eq!(b["history"]["field_changed"], "stage_id");
    assert_eq!(b["history"]["old_value"], stage(0).as_str());
    assert_eq!(b["history"]["new_value"], stage(1).as_str());
    assert_eq!(b["history"]["changed_by"], a.user_id.as_str());
    assert!(b["history"]["changed_at"].is_string());
    let first_history_id = b["history"]["id"].clone();

    // A retried move changes nothing and returns the same history row.
    let (s, again) = app
        .send(
            app.put_as(&a.token, &move_path)
                .json(&json!({"stage_id": stage(1)})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["history"]["id"], first_history_id);

    let (_, won) = app
        .send(
            app.put_as(&a.token, &move_path)
                .json(&json!({"stage_id": stage(2)})),
        )
        .await;
    assert_eq!(won["data"]["is_closed"], true);
    assert_eq!(won["data"]["is_won"], true);
    assert!(won["data"]["closed_at"].is_string());
    let (_, lost) = app
        .send(
            app.put_as(&a.token, &move_path)
                .json(&json!({"stage_id": stage(3)})),
        )
        .await;
    assert_eq!(lost["data"]["is_closed"], true);
    assert_eq!(lost["data"]["is_won"], false);
    let (_, reopened) = app
        .send(
            app.put_as(&a.token, &move_path)
                .json(&json!({"stage_id": stage(0)})),
        )
        .await;
    assert_eq!(reopened["data"]["is_closed"], false);
    assert_eq!(reopened["data"]["is_won"], Value::Null);
    assert_eq!(reopened["data"]["closed_at"], Value::Null);

    // Moving into another pipeline's stage, or nowhere, is refused.
    let foreign = other["stages"][0]["id"].as_str().unwrap();
    for body in [
        json!({"stage_id": foreign}),
        json!({}),
        json!({"stage_id": "x"}),
    ] {
        let (s, b) = app.send(app.put_as(&a.token, &move_path).json(&body)).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["details"]["field"], "stage_id");
    }

    // The single read carries history and activities.
    let (_, one) = app
        .send(app.get_as(&a.token, &format!("/api/pipeline/opportunities/{id}")))
        .await;
    let data = &one["data"];
    let moves: Vec<_> = data["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["new_value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(moves, vec![stage(1), stage(2), stage(3), stage(0)]);
    let kinds: Vec<_> = data["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "stage_changed").count(), 4);
    assert!(kinds.contains(&"created"));
    assert_eq!(data["pipeline"]["name"], "Sales");
    assert_eq!(data["stage"]["default_probability"], 10);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_keep_history_and_delete_archives() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let p = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let stage = p["stages"][0]["id"].as_str().unwrap();
    let o = opportunity(
        &app,
        &a,
        stage,
        json!({"title": "Bathroom", "value": 28000, "tags": ["a", "b"]}),
    )
    .await;
    let path = format!("/api/pipeline/opportunities/{}", o["id"].as_str().unwrap());

    let (s, u) = app
        .send(app.put_as(&a.token, &path).json(&json!({
            "title": "Updated Bathroom", "amount": 32000.00, "probability": 80,
            "priority": "high", "expected_close_date": "2025-07-15",
            "tags": ["bathroom", "luxury"], "notes": "Added heated floors"
        })))
        .await;
    assert_eq!(s, 200, "{u}");
    let d = &u["data"];
    assert_eq!(d["title"], "Updated Bathroom");
    assert_eq!(d["amount"], 32000.0);
    assert_eq!(d["probability"], 80);
    assert_eq!(d["expected_close_date"], "2025-07-15T00:00:00Z");
    assert_eq!(d["tags"], json!(["bathroom", "luxury"]));
    assert_eq!(d["notes"], "Added heated floors");
    let changed: Vec<_> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["field_changed"].as_str().unwrap())
        .collect();
    for field in [
        "title",
        "amount",
        "probability",
        "priority",
        "expected_close_date",
    ] {
        assert!(changed.contains(&field), "{field} in {changed:?}");
    }
    let amount = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["field_changed"] == "amount")
        .unwrap();
    assert_eq!(
        (amount["old_value"].as_str(), amount["new_value"].as_str()),
        (Some("28000"), Some("32000"))
    );

    // Tags untouched when absent; bad values named.
    let (_, u) = app
        .send(
            app.put_as(&a.token, &path)
                .json(&json!({"source": "referral"})),
        )
        .await;
    assert_eq!(u["data"]["tags"], json!(["bathroom", "luxury"]));
    for (body, field) in [
        (json!({"tags": [1, 2]}), "tags"),
        (json!({"title": ""}), "title"),
        (json!({"probability": -1}), "probability"),
    ] {
        let (s, r) = app.send(app.put_as(&a.token, &path).json(&body)).await;
        assert_eq!(s, 400, "{body}: {r}");
        assert_eq!(r["details"]["field"], field);
    }

    // Another workspace cannot see, change, move or delete it.
    for request in [
        app.get_as(&b.token, &path),
        app.put_as(&b.token, &path).json(&json!({"title": "pwned"})),
        app.put_as(&b.token, &format!("{path}/move"))
            .json(&json!({"stage_id": stage})),
        app.delete_as(&b.token, &path),
    ] {
        let (s, body) = app.send(request).await;
        assert_eq!(s, 404, "{body}");
    }
    let (_, b_list) = app
        .send(app.get_as(&b.token, "/api/pipeline/opportunities"))
        .await;
    assert_eq!(b_list["data"], json!([]));

    let (s, del) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 200);
    assert_eq!(
        del["message"],
        "Opportunity 'Updated Bathroom' deleted successfully"
    );
    let (s, _) = app.send(app.get_as(&a.token, &path)).await;
    assert_eq!(s, 404, "archived opportunities are gone from reads");
    let (s, _) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 404);
    let (_, l) = app
        .send(app.get_as(&a.token, "/api/pipeline/opportunities"))
        .await;
    assert_eq!(l["pagination"]["total"], 0);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_act_with_opportunity_scopes() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let stage = p["stages"][0]["id"].as_str().unwrap();
    let (_, reader) = app.key(&a.token, &["opportunities:read"]).await;
    let (_, writer) = app.key(&a.token, &["opportunities:write"]).await;

    let create = |key: &str| {
        app.http
            .post(app.url("/api/v1/pipeline/opportunities"))
            .header("x-api-key", key)
            .json(&json!({"title": "Via key", "stage_id": stage}))
    };
    let (s, _) = app.send(create(&reader)).await;
    assert_eq!(s, 403);
    let (s, created) = app.send(create(&writer)).await;
    assert_eq!(s, 201, "{created}");
    let (s, listed) = app
        .get_with_key("/api/pipeline/opportunities", &reader)
        .await;
    assert_eq!(s, 200);
    assert_eq!(listed["data"][0]["id"], created["data"]["id"]);
    let (s, _) = app
        .get_with_key("/api/pipeline/opportunities", &writer)
        .await;
    assert_eq!(s, 403, "write does not imply read");
    app.stack.stop().await;
}
