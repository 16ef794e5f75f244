//! Availability by day: a day is the workspace's local day, not UTC's.

use super::{availability, open_public, slot};
use crate::helpers::TestApp;
use serde_json::json;

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
