//! Every figure of `GET /api/pipeline/metrics` against the test's own computation: an empty
//! workspace and pipeline, a one-stage pipeline, all lost, reopened deals, moves back and
//! forth, ranges that cut stays, two currencies in a workspace off UTC (generated data sets:
//! `generated.rs`).

use super::book::{Book, Plan};
use super::compare::assert_matches;
use super::model::{Query, report};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::json;

/// Midnight UTC `days` ago.
pub(super) fn days_ago(days: i64) -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    (today - Duration::days(days))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

pub(super) fn day(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// Compares the answer to `q` with the model's.
pub(super) async fn check(book: &Book<'_>, q: &Query) {
    let path = q.path(book);
    let data = book.get(&path).await;
    let now = Utc::now();
    let q = Query {
        now,
        ..clone_query(q)
    };
    assert_matches(&data, &report(book, &q), &path);
}

fn clone_query(q: &Query) -> Query {
    Query {
        pipeline: q.pipeline,
        stage: q.stage,
        start: q.start,
        end: q.end,
        offset: q.offset,
        currency: q.currency,
        now: q.now,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_workspace_and_an_empty_pipeline_answer_zeros() {
    let app = super::spawn().await;
    let a = app.owner("Empty").await;
    let mut book = Book::new(&app, &a);
    let q = Query::new(Utc::now());
    check(&book, &q).await;
    let data = book.get("/api/pipeline/metrics").await;
    assert_eq!(data["pipeline_info"], serde_json::Value::Null);
    assert_eq!(data["trends"].as_array().unwrap().len(), 12);

    let p = book.pipeline("Empty", serde_json::Value::Null).await;
    check(&book, &q).await;
    let one = Query {
        pipeline: Some(p),
        ..Query::new(Utc::now())
    };
    check(&book, &one).await;
    let data = book.get(&one.path(&book)).await;
    assert_eq!(data["pipeline_info"]["name"], "Empty");
    assert_eq!(data["by_stage"].as_array().unwrap().len(), 3);
    assert_eq!(data["summary"]["win_rate"], 0.0);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_stage_all_lost_reopened_and_back_and_forth() {
    let app = super::spawn().await;
    let a = app.owner("Hand made").await;
    let mut book = Book::new(&app, &a);
    let solo = book
        .pipeline("Solo", json!([{"name": "Only", "default_probability": 30}]))
        .await;
    let sales = book
        .pipeline(
            "Sales",
            json!([
                {"name": "New", "default_probability": 10},
                {"name": "Pending", "default_probability": 60},
                {"name": "Won", "default_probability": 100, "is_won_stage": true},
                {"name": "Lost", "default_probability": 0, "is_lost_stage": true}
            ]),
        )
        .await;
    let cold = book
        .pipeline(
            "Cold",
            json!([
                {"name": "Open", "default_probability": 20},
                {"name": "Dead", "default_probability": 0, "is_lost_stage": true}
            ]),
        )
        .await;
    let t = |d: i64, h: i64| days_ago(d) + Duration::hours(h);
    let (only, new, pending, won, lost) = (
        book.stage(solo, 0).clone(),
        book.stage(sales, 0).clone(),
        book.stage(sales, 1).clone(),
        book.stage(sales, 2).clone(),
        book.stage(sales, 3).clone(),
    );
    let (open, dead) = (book.stage(cold, 0).clone(), book.stage(cold, 1).clone());
    let soon = Some(day(Utc::now()) + Duration::days(10));
    let later = Some(day(Utc::now()) + Duration::days(60));
    let plans = vec![
        // One stage: never moves.
        (&only, 100000, Some(80), soon, t(40, 3), vec![]),
        (&only, 25050, None, later, t(10, 5), vec![]),
        // All lost.
        (&open, 50000, None, None, t(30, 0), vec![(&dead, t(20, 0))]),
        (&open, 70000, None, None, t(25, 0), vec![(&dead, t(5, 12))]),
        // Won, then reopened (open again, not counted as won).
        (
            &new,
            90000,
            None,
            soon,
            t(35, 0),
            vec![(&won, t(30, 0)), (&pending, t(12, 0))],
        ),
        // Lost, reopened, then won.
        (
            &new,
            120000,
            None,
            None,
            t(33, 6),
            vec![(&lost, t(28, 0)), (&new, t(20, 0)), (&won, t(8, 0))],
        ),
        // Back and forth, then lost.
        (
            &new,
            33333,
            None,
            None,
            t(32, 0),
            vec![
                (&pending, t(31, 0)),
                (&new, t(29, 12)),
                (&pending, t(22, 0)),
                (&lost, t(3, 0)),
            ],
        ),
        // Skips Pending straight to Won (it never reached Pending).
        (&new, 8000, Some(90), None, t(15, 0), vec![(&won, t(14, 0))]),
        // Still open in Pending, from long ago.
        (&new, 4500, None, soon, t(70, 0), vec![(&pending, t(50, 0))]),
    ];
    for (stage, cents, probability, expected_close, created_at, moves) in plans {
        book.deal(Plan {
            stage,
            amount_cents: cents,
            currency: "USD",
            probability,
            expected_close,
            created_at,
            moves,
        })
        .await;
    }

    let now = Utc::now();
    let ranges = [
        (None, None),
        // Cuts stays on both sides.
        (Some(day(t(31, 0))), Some(day(t(21, 0)))),
        (Some(day(t(29, 0))), None),
        (None, Some(day(t(13, 0)))),
        // One day.
        (Some(day(t(30, 0))), Some(day(t(30, 0)))),
        // Nothing in it.
        (Some(day(t(200, 0))), Some(day(t(190, 0)))),
    ];
    for (start, end) in ranges {
        for pipeline in [None, Some(solo), Some(sales), Some(cold)] {
            let q = Query {
                pipeline,
                start,
                end,
                ..Query::new(now)
            };
            check(&book, &q).await;
        }
        let q = Query {
            stage: Some((sales, 1)),
            start,
            end,
            ..Query::new(now)
        };
        check(&book, &q).await;
    }

    // Spot checks of the definitions, by hand.
    let cold_only = book
        .get(&format!(
            "/api/pipeline/metrics?pipeline_id={}",
            book.pipelines[cold].id
        ))
        .await;
    assert_eq!(cold_only["summary"]["win_rate"], 0.0);
    assert_eq!(cold_only["summary"]["loss_rate"], 100.0);
    let all = book.get("/api/pipeline/metrics").await;
    // Won now: the lost-reopened-won deal and the skipper; the reopened one is open.
    assert_eq!(all["summary"]["won_opportunities"], 2);
    assert_eq!(all["summary"]["won_value"], 1_280.0);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_currencies_in_a_workspace_off_utc() {
    let app = super::spawn().await;
    let a = app.owner("Currencies").await;
    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{}", a.workspace_id))
                .json(&json!({"timezone": "Asia/Kolkata", "default_currency": "EUR"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let mut book = Book::new(&app, &a);
    let p = book.pipeline("Sales", serde_json::Value::Null).await;
    let (new, pending, done) = (
        book.stage(p, 0).clone(),
        book.stage(p, 1).clone(),
        book.stage(p, 2).clone(),
    );
    // Around local midnight of the first of a month, so the UTC and local months differ.
    let month_start = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let local_midnight =
        month_start.and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::minutes(330);
    let plans = vec![
        (
            &new,
            "EUR",
            100000,
            local_midnight + Duration::minutes(10),
            vec![(&pending, local_midnight + Duration::days(3))],
        ),
        (
            &new,
            "USD",
            200000,
            local_midnight - Duration::minutes(10),
            vec![],
        ),
        (
            &new,
            "EUR",
            30000,
            local_midnight - Duration::days(20),
            vec![(&done, local_midnight + Duration::hours(2))],
        ),
        (
            &pending,
            "USD",
            99999,
            local_midnight + Duration::days(10),
            vec![],
        ),
        (&new, "GBP", 500, local_midnight + Duration::days(1), vec![]),
    ];
    for (stage, currency, cents, created_at, moves) in plans {
        book.deal(Plan {
            stage,
            amount_cents: cents,
            currency,
            probability: Some(75),
            expected_close: Some(day(Utc::now()) + Duration::days(1)),
            created_at,
            moves,
        })
        .await;
    }
    let now = Utc::now();
    let kolkata = FixedOffset::east_opt(330 * 60).unwrap();
    for (start, end) in [
        (None, None),
        (
            Some(month_start - Duration::days(40)),
            Some(month_start + Duration::days(40)),
        ),
        (Some(month_start), Some(month_start)),
        (
            Some(month_start - Duration::days(1)),
            Some(month_start - Duration::days(1)),
        ),
    ] {
        let q = Query {
            start,
            end,
            offset: kolkata,
            currency: "EUR",
            ..Query::new(now)
        };
        check(&book, &q).await;
    }
    let data = book
        .get("/api/pipeline/metrics?startDate=2025-01-01&endDate=2025-04-30")
        .await;
    let march = data["trends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["period"] == "2025-03")
        .unwrap()
        .clone();
    assert_eq!(march["new_opportunities"], 3, "local months: {data}");
    let codes: Vec<&str> = data["summary"]["by_currency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["currency"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["EUR", "GBP", "USD"]);
    assert_eq!(data["summary"]["currency"], "EUR");
    app.stack.stop().await;
}
