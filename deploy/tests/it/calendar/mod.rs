//! Calendar booking (seed 004 "Calendar Booking API") over REST: admin slots, public
//! availability and booking behind the per-workspace switch, no double booking under
//! concurrency, cancel by token and by admin, workspace isolation.

mod access;
mod bookings;
mod cancel;
mod days;
mod races;

use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};

const DAY: &str = "2025-07-15";

async fn open_public(app: &TestApp, owner: &Owner) {
    let (status, body) = app
        .send(
            app.put_as(&owner.token, "/api/calendar/settings")
                .json(&json!({"public_booking": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["public_booking"], true);
}

async fn slot(app: &TestApp, owner: &Owner, start: &str, end: &str, max: i32) -> String {
    let (status, body) = app
        .send(
            app.post_as(&owner.token, "/api/calendar/events")
                .json(&json!({
                    "workspace_id": owner.workspace_id,
                    "admin_id": "admin-1",
                    "event_title": "Consultation Slot",
                    "event_description": "Available for product consultation",
                    "start_time": start,
                    "end_time": end,
                    "status": "scheduled",
                    "location": "Virtual Meeting",
                    "booking_type": if max > 1 { "group" } else { "single" },
                    "max_bookings": max,
                })),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    assert_eq!(body["success"], true);
    body["appointment"]["id"].as_str().unwrap().to_owned()
}

async fn book(app: &TestApp, body: Value) -> (u16, Value) {
    app.send(app.http.post(app.url("/api/calendar/book")).json(&body))
        .await
}

fn newcomer(owner: &Owner, n: usize, start: &str, end: &str) -> Value {
    json!({
        "workspace_id": owner.workspace_id,
        "contact_name": format!("Booker {n}"),
        "contact_email": format!("booker{n}@example.com"),
        "contact_phone": format!("+1555{:07}", 1_000_000 + n),
        "start_time": start,
        "end_time": end,
        "product_interest": "Kitchen Renovation",
    })
}

async fn availability(app: &TestApp, owner: &Owner, extra: &str) -> (u16, Value) {
    app.send(app.http.get(app.url(&format!(
        "/api/calendar/availability?date={DAY}&workspace_id={}{extra}",
        owner.workspace_id
    ))))
    .await
}

async fn outbox_count(app: &TestApp, workspace: &str, event_type: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.pipeline_db().await;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "SELECT COUNT(*) AS n FROM outbox WHERE workspace_id = $1 AND event_type = $2"
                }
                _ => "SELECT COUNT(*) AS n FROM outbox WHERE workspace_id = ? AND event_type = ?",
            },
            [workspace.into(), event_type.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}
