//! Who may read metrics and what they see: the `analytics:read` scope, another workspace's
//! data never counted nor named, the legacy endpoints' shapes and definitions, bad input.

use super::book::{Book, Plan};
use chrono::{Duration, Utc};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_key_needs_analytics_read_and_sees_only_its_workspace() {
    let app = super::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let mut mine = Book::new(&app, &a);
    let p = mine.pipeline("Mine", serde_json::Value::Null).await;
    let stage = mine.stage(p, 0).clone();
    mine.deal(Plan {
        stage: &stage,
        amount_cents: 10000,
        currency: "USD",
        probability: None,
        expected_close: None,
        created_at: Utc::now() - Duration::days(2),
        moves: vec![],
    })
    .await;
    let mut theirs = Book::new(&app, &b);
    let q = theirs.pipeline("Theirs", serde_json::Value::Null).await;
    let their_stage = theirs.stage(q, 0).clone();
    for _ in 0..3 {
        theirs
            .deal(Plan {
                stage: &their_stage,
                amount_cents: 500000,
                currency: "USD",
                probability: None,
                expected_close: None,
                created_at: Utc::now() - Duration::days(1),
                moves: vec![],
            })
            .await;
    }

    // A's figures hold A's deal only.
    let data = mine.get("/api/pipeline/metrics").await;
    assert_eq!(data["summary"]["total_opportunities"], 1, "{data}");
    assert_eq!(data["summary"]["total_value"], 100.0);
    assert_eq!(data["by_pipeline"].as_array().unwrap().len(), 1);

    // B's pipeline or stage, named by A, is not found (never B's figures).
    for path in [
        format!(
            "/api/pipeline/metrics?pipeline_id={}",
            theirs.pipelines[q].id
        ),
        format!("/api/pipeline/metrics?stageId={}", their_stage.id),
        format!(
            "/api/pipeline/metrics?pipeline_id={}&stageId={}",
            mine.pipelines[p].id, their_stage.id
        ),
    ] {
        let (s, body) = app.send(app.get_as(&a.token, &path)).await;
        assert_eq!(s, 404, "{path}: {body}");
        assert_eq!(body["success"], false);
    }
    // The legacy workspace_id: one's own is fine, another's is refused.
    for legacy in ["overview", "conversion", "performance"] {
        let path = format!(
            "/api/pipeline/metrics/{legacy}?workspace_id={}",
            a.workspace_id
        );
        let (s, body) = app.send(app.get_as(&a.token, &path)).await;
        assert_eq!(s, 200, "{path}: {body}");
        let path = format!(
            "/api/pipeline/metrics/{legacy}?workspace_id={}",
            b.workspace_id
        );
        let (s, body) = app.send(app.get_as(&a.token, &path)).await;
        assert_eq!(s, 403, "{path}: {body}");
        assert_eq!(body["details"]["field"], "workspace_id", "{body}");
    }

    // Keys: analytics:read reads, under both paths; another scope is refused.
    let (_, reader) = app.key(&a.token, &["analytics:read"]).await;
    let (_, other) = app.key(&a.token, &["opportunities:read"]).await;
    for path in [
        "/api/pipeline/metrics",
        "/api/v1/pipeline/metrics",
        "/api/pipeline/metrics/overview",
        "/api/v1/pipeline/metrics/conversion",
        "/api/v1/pipeline/metrics/performance?period=week",
    ] {
        let (s, body) = app.get_with_key(path, &reader).await;
        assert_eq!(s, 200, "{path}: {body}");
        let (s, body) = app.get_with_key(path, &other).await;
        assert_eq!(s, 403, "{path}: {body}");
    }
    let (s, body) = app.get_with_key("/api/pipeline/metrics", &reader).await;
    assert_eq!(s, 200);
    assert_eq!(body["data"]["summary"]["total_opportunities"], 1);
    // A viewer reads analytics too.
    let viewer = app.member(&a, svc_auth::domain::role::Role::Viewer).await;
    let (s, body) = app.send(app.get_as(&viewer, "/api/pipeline/metrics")).await;
    assert_eq!(s, 200, "{body}");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_endpoints_keep_their_shapes_and_definitions() {
    let app = super::spawn().await;
    let a = app.owner("Legacy").await;
    let mut book = Book::new(&app, &a);
    let p = book
        .pipeline(
            "Sales",
            json!([
                {"name": "Prospecting", "default_probability": 20},
                {"name": "Qualified", "default_probability": 80},
                {"name": "Won", "default_probability": 100, "is_won_stage": true},
                {"name": "Lost", "default_probability": 0, "is_lost_stage": true}
            ]),
        )
        .await;
    let s = |i: usize| book.stage(p, i).clone();
    let (prospecting, qualified, won, lost) = (s(0), s(1), s(2), s(3));
    let at = |d: i64| Utc::now() - Duration::days(d);
    let today = Utc::now().date_naive();
    for (amount, moves, expected_close) in [
        (10000, vec![(&qualified, at(8)), (&won, at(6))], None),
        (
            30000,
            vec![(&qualified, at(7))],
            Some(today + Duration::days(3)),
        ),
        (20000, vec![(&lost, at(5))], None),
        (40000, vec![], Some(today + Duration::days(20))),
    ] {
        book.deal(Plan {
            stage: &prospecting,
            amount_cents: amount,
            currency: "USD",
            probability: None,
            expected_close,
            created_at: at(10),
            moves,
        })
        .await;
    }

    let overview = book.get("/api/pipeline/metrics/overview").await;
    assert_eq!(overview["totalOpportunities"], 4, "{overview}");
    assert_eq!(overview["totalValue"], 1000.0);
    assert_eq!(overview["avgDealSize"], 250.0);
    assert_eq!(overview["wonOpportunities"], 1);
    assert_eq!(overview["wonValue"], 100.0);
    // Legacy: won / total, not won / closed.
    assert_eq!(overview["winRate"], 25.0);
    let distribution = overview["stageDistribution"].as_array().unwrap();
    assert_eq!(distribution.len(), 4);
    assert_eq!(distribution[0]["stage_name"], "Prospecting");
    assert_eq!(distribution[0]["count"], 1);
    assert_eq!(distribution[0]["value"], 400.0);
    assert_eq!(distribution[1]["count"], 1);
    assert_eq!(distribution[1]["stage_id"], qualified.id.as_str());

    let conversion = book.get("/api/pipeline/metrics/conversion").await;
    let rates = conversion["conversionRates"].as_array().unwrap();
    assert_eq!(rates.len(), 3, "{conversion}");
    assert_eq!(rates[0]["from_stage"], "Prospecting");
    assert_eq!(rates[0]["to_stage"], "Qualified");
    assert_eq!(rates[0]["total_opportunities"], 4);
    assert_eq!(rates[0]["opportunities_moved"], 2);
    assert_eq!(rates[0]["conversion_rate"], 50.0);
    assert_eq!(rates[1]["opportunities_moved"], 1);
    assert_eq!(rates[1]["conversion_rate"], 50.0);
    let times = conversion["avgTimeInStage"].as_array().unwrap();
    assert_eq!(times[0]["stage_name"], "Prospecting");
    // Prospecting stays: 2, 3, 5 and 10 days (the last still open) → 5.
    assert_eq!(times[0]["avg_days"], 5.0);

    let performance = book.get("/api/pipeline/metrics/performance").await;
    assert_eq!(performance["period"], "month");
    assert_eq!(performance["trends"].as_array().unwrap().len(), 12);
    // Within 30 days: the two open deals with a close date (300 at 80 %, 400 at 20 %).
    assert_eq!(
        performance["forecast"]["expected_revenue"], 700.0,
        "{performance}"
    );
    assert_eq!(performance["forecast"]["weighted_revenue"], 320.0);
    assert_eq!(performance["forecast"]["best_case"], 700.0);
    assert_eq!(performance["forecast"]["worst_case"], 300.0);
    let week = book
        .get("/api/pipeline/metrics/performance?period=week")
        .await;
    assert_eq!(week["forecast"]["expected_revenue"], 300.0);
    let label = week["trends"][0]["period"].as_str().unwrap().to_owned();
    assert!(label.contains("-W"), "{label}");
    for (period, shape) in [("quarter", "-Q"), ("year", "")] {
        let data = book
            .get(&format!(
                "/api/pipeline/metrics/performance?period={period}"
            ))
            .await;
        assert!(
            data["trends"][0]["period"]
                .as_str()
                .unwrap()
                .contains(shape)
        );
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_400_naming_the_field() {
    let app = super::spawn().await;
    let a = app.owner("Bad input").await;
    for (path, field) in [
        ("/api/pipeline/metrics?startDate=2025-13-01", "startDate"),
        ("/api/pipeline/metrics?endDate=yesterday", "endDate"),
        (
            "/api/pipeline/metrics?startDate=2025-02-02&endDate=2025-02-01",
            "endDate",
        ),
        ("/api/pipeline/metrics?pipeline_id=nope", "pipeline_id"),
        ("/api/pipeline/metrics?stageId=nope", "stageId"),
        (
            "/api/pipeline/metrics/overview?date_from=01-02-2025",
            "date_from",
        ),
        (
            "/api/pipeline/metrics/conversion?date_to=2025-02-30",
            "date_to",
        ),
        ("/api/pipeline/metrics/performance?period=decade", "period"),
    ] {
        let (s, body) = app.send(app.get_as(&a.token, path)).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["details"]["field"], field, "{path}: {body}");
    }
    let (_, body) = app
        .send(app.get_as(&a.token, "/api/pipeline/metrics?startDate=2025-13-01"))
        .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("startDate must be YYYY-MM-DD"),
        "{body}"
    );
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/api/pipeline/metrics?pipeline_id={unknown}"),
        format!("/api/pipeline/metrics?stageId={unknown}"),
    ] {
        let (s, body) = app.send(app.get_as(&a.token, &path)).await;
        assert_eq!(s, 404, "{path}: {body}");
    }
    app.stack.stop().await;
}
