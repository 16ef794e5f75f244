//! Cancelling a booking, by its token and by an admin: the slot is free again.

use super::{availability, book, newcomer, open_public, outbox_count, slot};
use crate::helpers::TestApp;
use serde_json::json;

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
