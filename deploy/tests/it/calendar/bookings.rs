//! Slots and the bookings made in them: the whole flow (edit, book, the contact found or
//! made, list with its filters and pages, delete), and the seed's errors naming the fields.

use super::{DAY, availability, book, newcomer, open_public, outbox_count, slot};
use crate::helpers::TestApp;
use serde_json::{Value, json};

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

/// The ids of a bookings list, in order.
fn body_ids(body: &Value) -> Vec<Value> {
    body["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].clone())
        .collect()
}
