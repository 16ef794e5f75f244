//! Money never overflows: amounts are capped at a documented maximum and sums of any number
//! of them are exact in the listings.

use crate::helpers::TestApp;
use crate::pipelines::{opportunity, pipeline};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;
use svc_pipeline::{domain::input::MAX_AMOUNT_CENTS, store::entities::opportunities as o};

/// More opportunities at the largest amount than a 64-bit sum of cents can hold
/// (i64::MAX / 10^15 = 9 223).
const MANY: usize = 9_300;

#[tokio::test(flavor = "multi_thread")]
async fn stage_and_pipeline_totals_beyond_64_bits_are_exact() {
    let app = TestApp::spawn().await;
    let a = app.owner("Acme").await;
    let p = pipeline(&app, &a, json!({"name": "Big deals"})).await;
    let stage = p["stages"][0]["id"].as_str().unwrap();

    // The largest amount is accepted; one cent more is a 400 naming the field.
    let first = opportunity(&app, &a, stage, json!({"title": "Max", "amount": 1e13})).await;
    assert_eq!(first["amount"], 1e13);
    let (s, b) =
        app.send(app.post_as(&a.token, "/api/pipeline/opportunities").json(
            &json!({"title": "Too big", "stage_id": stage, "amount": 10_000_000_000_000.01}),
        ))
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "amount", "{b}");

    // The rest go straight into svc-pipeline's table, copies of the first.
    let db = app.pipeline_db().await;
    let template = o::Entity::find_by_id(first["id"].as_str().unwrap())
        .one(&db)
        .await
        .unwrap()
        .expect("the opportunity made over REST");
    assert_eq!(template.amount_cents, MAX_AMOUNT_CENTS);
    let copies: Vec<o::ActiveModel> = (1..MANY)
        .map(|_| {
            let mut copy = template.clone().into_active_model();
            copy.id = Set(uuid::Uuid::new_v4().to_string());
            copy.reset_all()
        })
        .collect();
    for batch in copies.chunks(500) {
        o::Entity::insert_many(batch.to_vec())
            .exec(&db)
            .await
            .unwrap();
    }

    let expected = MANY as f64 * 1e13;
    let (s, list) = app
        .send(app.get_as(&a.token, "/api/pipeline/pipelines"))
        .await;
    assert_eq!(s, 200, "{list}");
    let listed = &list["data"][0];
    assert_eq!(listed["opportunity_count"], MANY);
    assert_eq!(listed["total_value"], expected);
    assert_eq!(listed["stages"][0]["total_value"], expected);

    let (s, stages) = app
        .send(app.get_as(
            &a.token,
            &format!(
                "/api/pipeline/stages?pipeline_id={}",
                p["id"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(s, 200, "{stages}");
    assert_eq!(
        stages["data"][0]["total_value"], expected,
        "{}",
        stages["data"][0]
    );
}
