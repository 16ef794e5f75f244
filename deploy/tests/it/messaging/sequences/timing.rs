//! When a sequence's messages are due: a send window holds them until it opens; a contact
//! without a zone follows the workspace's.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_message_due_outside_the_send_window_waits_for_its_opening() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let now = Utc::now();
    let hhmm = |t: DateTime<Utc>| t.format("%H:%M").to_string();
    let (start, end) = (
        hhmm(now + chrono::Duration::hours(2)),
        hhmm(now + chrono::Duration::hours(3)),
    );
    let (s, b) = app
        .send(
            app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&json!({
                    "name": "Office hours",
                    "messages": [{"text": "hello", "timeValue": 0, "timeUnit": "minutes"}],
                    "sendWindow": {"start": start, "end": end},
                })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["sequence"]["sendWindow"]["start"], start.as_str());
    let seq = b["sequence"]["id"].as_str().unwrap().to_owned();
    // Contacts without a zone count in UTC.
    let c = contact_in(&app, &a.token, None).await;
    let b = apply(&app, &a.token, ws, &seq, &[&c]).await;
    let exec = b["succeeded"][0]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = execution(&app, &a.token, ws, &exec).await;
    let job = &e["messageJobs"][0];
    assert_eq!(job["status"], "pending", "{e}");
    let due = time(&job["scheduled_time"]);
    assert_eq!(hhmm(due), start, "{e}");
    let wait = due - now;
    assert!(
        wait > chrono::Duration::minutes(110) && wait <= chrono::Duration::minutes(121),
        "{wait}"
    );

    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{seq}"))
                .json(&json!({"sendWindow": {"start": "09:00", "end": "25:00"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["details"]["field_violations"][0]["field"],
        "sendWindow.end"
    );
    // Equal times: any time (the window is cleared).
    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{seq}"))
                .json(&json!({"sendWindow": {"start": "00:00", "end": "00:00"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["sequence"]["sendWindow"].is_null(), "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contact_without_a_timezone_follows_the_workspaces() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}"))
                .json(&json!({"timezone": "Europe/London"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let seq = create(&app, &a.token, ws, seed_sequence()).await;
    let plain = contact_in(&app, &a.token, None).await;
    let tokyo = contact_in(&app, &a.token, Some("Asia/Tokyo")).await;
    let b = apply(&app, &a.token, ws, &seq, &[&plain, &tokyo]).await;
    let succeeded = b["succeeded"].as_array().unwrap();
    assert_eq!(succeeded.len(), 2, "{b}");
    let zone_of = |n: usize| succeeded[n]["executionId"].as_str().unwrap().to_owned();
    let e = execution(&app, &a.token, ws, &zone_of(0)).await;
    assert_eq!(e["timezone"], "Europe/London", "{e}");
    // The contact's own zone wins over the workspace's.
    let e = execution(&app, &a.token, ws, &zone_of(1)).await;
    assert_eq!(e["timezone"], "Asia/Tokyo", "{e}");
}
