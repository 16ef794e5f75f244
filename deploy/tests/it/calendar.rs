//! Calendar booking (seed 004 "Calendar Booking API") over REST: admin slots, public
//! availability and booking behind the per-workspace switch, no double booking under
//! concurrency, cancel by token and by admin, workspace isolation.

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

#[tokio::test]
async fn public_booking_is_off_until_an_admin_switches_it_on() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Off").await;
    slot(
        &app,
        &owner,
        "2025-07-15T09:00:00Z",
        "2025-07-15T10:00:00Z",
        1,
    )
    .await;
    let (status, body) = availability(&app, &owner, "").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["success"], false);
    let (status, _) = book(
        &app,
        newcomer(&owner, 1, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z"),
    )
    .await;
    assert_eq!(status, 403);
    open_public(&app, &owner).await;
    let (status, body) = availability(&app, &owner, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
}

#[tokio::test]
async fn slots_bookings_and_their_filters() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Flow").await;
    open_public(&app, &owner).await;
    let morning = slot(
        &app,
        &owner,
        "2025-07-15T09:00:00Z",
        "2025-07-15T10:00:00Z",
        1,
    )
    .await;
    let afternoon = slot(
        &app,
        &owner,
        "2025-07-15T14:00:00Z",
        "2025-07-15T15:00:00Z",
        2,
    )
    .await;
    slot(
        &app,
        &owner,
        "2025-07-16T09:00:00Z",
        "2025-07-16T10:00:00Z",
        1,
    )
    .await;

    // Update with id.
    let (status, body) = app
        .send(
            app.post_as(&owner.token, "/api/calendar/events")
                .json(&json!({
                    "id": afternoon, "event_title": "Updated Consultation",
                    "start_time": "2025-07-15T13:00:00Z", "end_time": "2025-07-15T15:00:00Z"
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appointment"]["event_title"], "Updated Consultation");
    assert_eq!(body["appointment"]["start_time"], "2025-07-15T13:00:00Z");
    assert_eq!(body["appointment"]["max_bookings"], 2);
    assert_eq!(body["appointment"]["location"], "Virtual Meeting");

    let (status, body) = availability(&app, &owner, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["date"], DAY);
    assert_eq!(body["count"], 2);
    let first = &body["slots"][0];
    assert_eq!(first["id"], morning.as_str());
    assert_eq!(first["is_booked"], false);
    assert_eq!(first["admin_id"], "admin-1");
    assert_eq!(first["booking_type"], "single");
    assert_eq!(first["max_bookings"], 1);
    let (_, body) = availability(&app, &owner, "&admin_id=someone-else").await;
    assert_eq!(body["count"], 0);

    // A new contact: created with lead source calendar_booking.
    let (status, body) = book(
        &app,
        newcomer(&owner, 1, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "Booking created successfully");
    let booking = &body["booking"];
    assert_eq!(booking["title"], "Kitchen Renovation - Booker 1");
    assert_eq!(booking["appointment_date"], "2025-07-15T09:00:00Z");
    assert_eq!(booking["duration_minutes"], 60);
    assert_eq!(booking["workspace_id"], owner.workspace_id.as_str());
    assert!(booking["cancel_token"].as_str().is_some());
    let contact = booking["contact_id"].as_str().unwrap().to_owned();
    let (status, c) = app
        .send(app.get_as(&owner.token, &format!("/api/contacts/{contact}")))
        .await;
    assert_eq!(status, 200, "{c}");
    let c = if c["data"].is_object() {
        &c["data"]
    } else {
        &c
    };
    assert_eq!(c["lead_source"], "calendar_booking", "{c}");

    // The slot is full: availability says so, another booking is refused.
    let (_, body) = availability(&app, &owner, "").await;
    assert_eq!(body["slots"][0]["is_booked"], true);
    let (status, _) = book(
        &app,
        newcomer(&owner, 2, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z"),
    )
    .await;
    assert_eq!(status, 409);

    // The same email is matched to the same contact; the same contact cannot overlap.
    let mut again = newcomer(&owner, 1, "2025-07-15T13:30:00Z", "2025-07-15T14:30:00Z");
    again["contact_phone"] = Value::Null;
    let (status, body) = book(&app, again).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["booking"]["contact_id"], contact.as_str());
    let (status, body) = book(
        &app,
        json!({"workspace_id": owner.workspace_id, "contact_id": contact,
               "start_time": "2025-07-15T14:00:00Z", "end_time": "2025-07-15T15:00:00Z"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Times outside any slot.
    let (status, body) = book(
        &app,
        newcomer(&owner, 3, "2025-07-15T11:00:00Z", "2025-07-15T12:00:00Z"),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // An edit must keep room and time for the bookings the slot holds (morning: one, 9–10).
    let edit = |changes: Value| {
        app.post_as(&owner.token, "/api/calendar/events")
            .json(&changes)
    };
    for (changes, field) in [
        (
            json!({"id": morning, "start_time": "2025-07-15T09:30:00Z"}),
            "start_time",
        ),
        (
            json!({"id": morning, "end_time": "2025-07-15T09:45:00Z"}),
            "start_time",
        ),
    ] {
        let (status, body) = app.send(edit(changes)).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "SLOT_HAS_BOOKINGS");
        assert_eq!(body["details"]["field"], field, "{body}");
    }
    let (status, body) = app
        .send(edit(
            json!({"id": morning, "start_time": "2025-07-15T08:30:00Z"}),
        ))
        .await;
    assert_eq!(status, 200, "a wider slot still holds it: {body}");
    let (status, body) = app
        .send(edit(
            json!({"id": morning, "start_time": "2025-07-15T09:00:00Z"}),
        ))
        .await;
    assert_eq!(status, 200, "{body}");

    // List and its filters.
    let list = |q: &str| app.get_as(&owner.token, &format!("/api/calendar/bookings{q}"));
    let (status, body) = app.send(list("")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bookings"].as_array().unwrap().len(), 2);
    let (_, body) = app
        .send(list(&format!(
            "?workspace_id={}&date={DAY}",
            owner.workspace_id
        )))
        .await;
    assert_eq!(body["bookings"].as_array().unwrap().len(), 2);
    let (_, body) = app.send(list("?date=2025-07-16")).await;
    assert_eq!(body["bookings"].as_array().unwrap().len(), 0);
    let (_, body) = app.send(list(&format!("?contact_id={contact}"))).await;
    assert_eq!(body["bookings"].as_array().unwrap().len(), 2);
    let (_, body) = app.send(list("?admin_id=admin-1")).await;
    assert_eq!(body["bookings"].as_array().unwrap().len(), 2);
    let (_, body) = app.send(list("?admin_id=nobody")).await;
    assert_eq!(body["bookings"].as_array().unwrap().len(), 0);
    let (status, _) = app.send(list("?date=15-07-2025")).await;
    assert_eq!(status, 400);
    // Pages: one booking each, soonest first, the total beside them.
    let (_, first) = app.send(list("?limit=1")).await;
    let (_, second) = app.send(list("?limit=1&page=2")).await;
    assert_eq!(first["pagination"]["total"], 2, "{first}");
    assert_eq!(first["pagination"]["hasNext"], true);
    assert_ne!(second["pagination"]["hasNext"], true, "{second}");
    let ids = |b: &Value| b["bookings"][0]["id"].clone();
    assert_ne!(ids(&first), ids(&second));
    assert_eq!(
        body_ids(&app.send(list("")).await.1),
        [ids(&first), ids(&second)]
    );
    let (status, body) = app.send(list("?limit=501")).await;
    assert_eq!((status, &body["details"]["field"]), (400, &json!("limit")));

    // Delete a slot: its booking is cancelled.
    let (status, body) = app
        .send(
            app.delete_as(&owner.token, "/api/calendar/events")
                .json(&json!({"id": morning})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Appointment deleted");
    let (_, body) = app.send(list("?status=cancelled")).await;
    assert_eq!(body["bookings"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .send(
            app.delete_as(&owner.token, "/api/calendar/events")
                .json(&json!({"id": morning})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        outbox_count(&app, &owner.workspace_id, "booking.created").await,
        2
    );
    assert_eq!(
        outbox_count(&app, &owner.workspace_id, "booking.cancelled").await,
        1
    );
}

#[tokio::test]
async fn the_seeds_errors_name_the_fields() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Errors").await;
    open_public(&app, &owner).await;
    let (status, body) = app
        .send(
            app.post_as(&owner.token, "/api/calendar/events")
                .json(&json!({})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("start_time"),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("end_time"),
        "{body}"
    );
    let (status, body) = app
        .send(
            app.post_as(&owner.token, "/api/calendar/events")
                .json(&json!({
            "start_time": "2025-07-15T10:00:00Z", "end_time": "2025-07-15T09:00:00Z"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("end_time"),
        "{body}"
    );
    let (status, body) = book(&app, json!({"workspace_id": owner.workspace_id})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("start_time"),
        "{body}"
    );
    let (status, body) = book(
        &app,
        json!({"workspace_id": owner.workspace_id,
               "start_time": "2025-07-15T09:00:00Z", "end_time": "2025-07-15T10:00:00Z"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("contact_name"),
        "{body}"
    );
    slot(
        &app,
        &owner,
        "2025-07-15T09:00:00Z",
        "2025-07-15T10:00:00Z",
        1,
    )
    .await;
    let mut no_phone = newcomer(&owner, 1, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z");
    no_phone["contact_phone"] = Value::Null;
    let (status, body) = book(&app, no_phone).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("contact_phone"),
        "{body}"
    );
    let (status, _) = app
        .send(
            app.http
                .get(app.url("/api/calendar/availability?date=2025-07-15")),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = availability(&app, &owner, "&date=tomorrow").await;
    assert_eq!(status, 400);
}

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

#[tokio::test]
async fn cancel_by_token_and_by_admin() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Cancel").await;
    open_public(&app, &owner).await;
    slot(
        &app,
        &owner,
        "2025-07-15T09:00:00Z",
        "2025-07-15T10:00:00Z",
        1,
    )
    .await;
    let (_, body) = book(
        &app,
        newcomer(&owner, 1, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z"),
    )
    .await;
    let id = body["booking"]["id"].as_str().unwrap().to_owned();
    let token = body["booking"]["cancel_token"].as_str().unwrap().to_owned();
    let cancel = |t: &str| {
        app.http
            .post(app.url("/api/calendar/book/cancel"))
            .json(&json!({"id": id, "cancel_token": t}))
    };
    let (status, _) = app.send(cancel("wrong")).await;
    assert_eq!(status, 404);
    let (status, body) = app.send(cancel(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["booking"]["status"], "cancelled");
    let (status, _) = app.send(cancel(&token)).await;
    assert_eq!(status, 409);
    // The slot is free again.
    let (_, body) = availability(&app, &owner, "").await;
    assert_eq!(body["slots"][0]["is_booked"], false);
    let (status, body) = book(
        &app,
        newcomer(&owner, 2, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let second = body["booking"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .send(
            app.post_as(
                &owner.token,
                &format!("/api/calendar/bookings/{second}/cancel"),
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["booking"]["status"], "cancelled");
    assert_eq!(
        outbox_count(&app, &owner.workspace_id, "booking.cancelled").await,
        2
    );
}

#[tokio::test]
async fn admin_endpoints_stay_in_the_callers_workspace() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Iso A").await;
    let other = app.owner("Cal Iso B").await;
    open_public(&app, &owner).await;
    let id = slot(
        &app,
        &owner,
        "2025-07-15T09:00:00Z",
        "2025-07-15T10:00:00Z",
        1,
    )
    .await;
    let (_, body) = book(
        &app,
        newcomer(&owner, 1, "2025-07-15T09:00:00Z", "2025-07-15T10:00:00Z"),
    )
    .await;
    let booking = body["booking"]["id"].as_str().unwrap().to_owned();

    // Another workspace's records are not found.
    let (status, _) = app
        .send(
            app.post_as(&other.token, "/api/calendar/events")
                .json(&json!({
            "id": id, "event_title": "Mine now"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .send(
            app.delete_as(&other.token, "/api/calendar/events")
                .json(&json!({"id": id})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .send(
            app.post_as(
                &other.token,
                &format!("/api/calendar/bookings/{booking}/cancel"),
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .send(app.get_as(&other.token, "/api/calendar/bookings"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["bookings"].as_array().unwrap().len(), 0);

    // A foreign workspace_id is refused, never trusted.
    let (status, _) = app
        .send(app.get_as(
            &other.token,
            &format!("/api/calendar/bookings?workspace_id={}", owner.workspace_id),
        ))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .send(
            app.post_as(&other.token, "/api/calendar/events")
                .json(&json!({
            "workspace_id": owner.workspace_id,
            "start_time": "2025-07-15T09:00:00Z", "end_time": "2025-07-15T10:00:00Z"})),
        )
        .await;
    assert_eq!(status, 403);

    // Admin endpoints need credentials; an agent is not an admin.
    let (status, _) = app
        .send(app.http.get(app.url("/api/calendar/bookings")))
        .await;
    assert_eq!(status, 401);
    let agent = app
        .member(&owner, svc_auth::domain::role::Role::Agent)
        .await;
    let (status, _) = app.send(app.get_as(&agent, "/api/calendar/bookings")).await;
    assert_eq!(status, 403);
    // A key with the calendar scope works.
    let (_, key) = app.key(&owner.token, &["calendar:read"]).await;
    let (status, body) = app.get_with_key("/api/calendar/bookings", &key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bookings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn public_routes_are_limited_per_address() {
    let app = TestApp::spawn().await;
    // The route allows 60 a minute per address: the 61st call in quick succession is refused
    // (a slow run refills a token a second, hence the margin).
    let mut codes = Vec::new();
    for _ in 0..90 {
        let (status, _) = app
            .send(
                app.http
                    .post(app.url("/api/calendar/book/cancel"))
                    .json(&json!({
                "id": uuid::Uuid::new_v4().to_string(), "cancel_token": "nope"})),
            )
            .await;
        codes.push(status);
        if status == 429 {
            break;
        }
    }
    let refused = codes.iter().position(|c| *c == 429);
    assert!(refused.is_some_and(|at| at >= 60), "{codes:?}");
    assert!(
        codes[..codes.len() - 1].iter().all(|c| *c == 404),
        "{codes:?}"
    );
}

#[tokio::test]
async fn an_oversized_public_body_is_refused() {
    let app = TestApp::spawn().await;
    let (status, body) = book(&app, json!({"notes": "x".repeat(2 << 20)})).await;
    // The gateway's default limit (1 MiB) answers before the service is called.
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn days_are_the_workspaces_local_days() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Cal Tz").await;
    let (status, body) = app
        .send(
            app.put_as(
                &owner.token,
                &format!("/api/workspaces/{}", owner.workspace_id),
            )
            .json(&json!({"timezone": "America/New_York"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    open_public(&app, &owner).await;
    // 02:00 UTC on the 16th is 22:00 on the 15th in New York.
    let id = slot(
        &app,
        &owner,
        "2025-07-16T02:00:00Z",
        "2025-07-16T03:00:00Z",
        1,
    )
    .await;
    slot(
        &app,
        &owner,
        "2025-07-15T03:00:00Z",
        "2025-07-15T03:30:00Z",
        1,
    )
    .await;
    let (status, body) = availability(&app, &owner, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(body["slots"][0]["id"], id.as_str());
    assert_eq!(body["slots"][0]["start_time"], "2025-07-16T02:00:00Z");
}

/// The ids of a bookings list, in order.
fn body_ids(body: &Value) -> Vec<Value> {
    body["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].clone())
        .collect()
}
