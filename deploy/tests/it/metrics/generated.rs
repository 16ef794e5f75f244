//! Generated data sets: random opportunities over two pipelines, moved at random between
//! their stages (back and forth, closed, reopened), in two currencies, then every figure of
//! several random ranges, per pipeline and per stage, against the model. The seed is printed;
//! `METRICS_SEED=<seed>` replays a run.

use super::book::{Book, Plan};
use super::correctness::{check, day, days_ago};
use super::model::Query;
use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn generated_data_sets_match_the_model() {
    let app = super::spawn().await;
    let a = app.owner("Generated").await;
    let mut book = Book::new(&app, &a);
    let p0 = book
        .pipeline(
            "Sales",
            json!([
                {"name": "Lead", "default_probability": 10},
                {"name": "Qualified", "default_probability": 40},
                {"name": "Proposal", "default_probability": 75},
                {"name": "Won", "default_probability": 100, "is_won_stage": true},
                {"name": "Lost", "default_probability": 0, "is_lost_stage": true}
            ]),
        )
        .await;
    let p1 = book.pipeline("Projects", serde_json::Value::Null).await;
    let seed: u64 = std::env::var("METRICS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("generated data set seed {seed} (METRICS_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..36 {
        let pipeline = if rng.random_bool(0.7) { p0 } else { p1 };
        let stages = book.pipelines[pipeline].stages.clone();
        let first = rng.random_range(0..stages.len());
        let mut at =
            days_ago(rng.random_range(5..120)) + Duration::minutes(rng.random_range(0..1440));
        let created_at = at;
        let mut moves = Vec::new();
        let mut current = first;
        for _ in 0..rng.random_range(0..5) {
            let mut next = rng.random_range(0..stages.len());
            if next == current {
                next = (next + 1) % stages.len();
            }
            at += Duration::minutes(rng.random_range(1..20_000));
            if at >= Utc::now() - Duration::hours(1) {
                break;
            }
            moves.push((next, at));
            current = next;
        }
        let moves = moves.into_iter().map(|(i, at)| (&stages[i], at)).collect();
        let currency = if rng.random_bool(0.8) { "USD" } else { "EUR" };
        let probability = rng.random_bool(0.5).then(|| rng.random_range(0..=100));
        let expected_close = rng
            .random_bool(0.7)
            .then(|| day(Utc::now()) + Duration::days(rng.random_range(-10..120)));
        book.deal(Plan {
            stage: &stages[first],
            amount_cents: rng.random_range(0..500000000),
            currency,
            probability,
            expected_close,
            created_at,
            moves,
        })
        .await;
    }
    let now = Utc::now();
    for _ in 0..6 {
        let start = rng
            .random_bool(0.7)
            .then(|| day(days_ago(rng.random_range(0..130))));
        let end = rng.random_bool(0.7).then(|| {
            start.unwrap_or(day(days_ago(130))) + Duration::days(rng.random_range(0..100))
        });
        for pipeline in [None, Some(p0), Some(p1)] {
            let q = Query {
                pipeline,
                start,
                end,
                ..Query::new(now)
            };
            check(&book, &q).await;
        }
        let q = Query {
            stage: Some((p0, rng.random_range(0..5))),
            start,
            end,
            ..Query::new(now)
        };
        check(&book, &q).await;
    }
    app.stack.stop().await;
}
