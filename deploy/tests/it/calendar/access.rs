//! Who may call what: public booking behind the workspace's switch, admin endpoints kept
//! to the caller's workspace and role, and the public routes' rate and body limits.

use super::{availability, book, newcomer, open_public, slot};
use crate::helpers::TestApp;
use serde_json::json;

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
