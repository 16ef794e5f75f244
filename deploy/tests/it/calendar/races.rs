//! No double booking under concurrency: parallel bookings never overfill a slot, and one
//! contact never wins two overlapping slots.

use super::{availability, newcomer, open_public, slot};
use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn parallel_bookings_never_overfill_a_slot() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Race").await;
    open_public(&app, &owner).await;
    let id = slot(
        &app,
        &owner,
        "2025-07-15T09:00:00Z",
        "2025-07-15T10:00:00Z",
        3,
    )
    .await;
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let request = app.http.post(app.url("/api/calendar/book")).json(&newcomer(
                &owner,
                n,
                "2025-07-15T09:00:00Z",
                "2025-07-15T10:00:00Z",
            ));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            201 => ok += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 3);
    let (_, body) = availability(&app, &owner, "").await;
    assert_eq!(body["slots"][0]["id"], id.as_str());
    assert_eq!(body["slots"][0]["is_booked"], true);
    assert_eq!(body["slots"][0]["booked_count"], 3);

    // One contact, two overlapping slots, booked in parallel: one wins.
    slot(
        &app,
        &owner,
        "2025-07-16T09:00:00Z",
        "2025-07-16T10:00:00Z",
        5,
    )
    .await;
    slot(
        &app,
        &owner,
        "2025-07-16T09:30:00Z",
        "2025-07-16T10:30:00Z",
        5,
    )
    .await;
    let tasks: Vec<_> = [("09:00", "10:00"), ("09:30", "10:30")]
        .iter()
        .map(|(s, e)| {
            let mut body = newcomer(
                &owner,
                99,
                &format!("2025-07-16T{s}:00Z"),
                &format!("2025-07-16T{e}:00Z"),
            );
            body["contact_phone"] = json!("+15550009999");
            let request = app.http.post(app.url("/api/calendar/book")).json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, vec![201, 409]);
}
