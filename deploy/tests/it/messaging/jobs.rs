//! Reading, listing and cancelling jobs; opt-outs; the events of final outcomes.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn jobs_are_read_listed_and_cancelled_while_pending() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let other = app.owner("Beta").await;
    let ws = &a.workspace_id;
    let c1 = contact(&app, &a.token, &[]).await;
    let c2 = contact(&app, &a.token, &[]).await;

    let later = schedule(
        &app,
        &a.token,
        "/api/schedule-sms",
        sms(ws, &c1, json!({"delay": 3_600_000})),
    )
    .await;
    let now = schedule(
        &app,
        &a.token,
        "/api/schedule-email",
        email(ws, &c2, json!({})),
    )
    .await;
    let sent = settled(&app, &a.token, &now, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent");

    // Cancel a pending job: it says so, and stays cancelled.
    let (s, b) = app
        .send(app.delete_as(&a.token, &format!("/api/messages/{later}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["status"], "cancelled");
    // Cancelling again, or a job already sent, is a conflict naming the status.
    for (id, status) in [(&later, "cancelled"), (&now, "sent")] {
        let (s, b) = app
            .send(app.delete_as(&a.token, &format!("/api/v1/messages/{id}")))
            .await;
        assert_eq!(s, 409, "{b}");
        assert_eq!(b["code"], "MESSAGE_NOT_PENDING");
        assert!(b["message"].as_str().unwrap().contains(status), "{b}");
    }
    // Other workspaces see nothing.
    let (s, _) = app
        .send(app.get_as(&other.token, &format!("/api/messages/{later}")))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.delete_as(&other.token, &format!("/api/messages/{later}")))
        .await;
    assert_eq!(s, 404);
    let (s, b) = app.send(app.get_as(&other.token, "/api/messages")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"], json!([]));

    // Filters and a cursor.
    let third = schedule(
        &app,
        &a.token,
        "/api/schedule-sms",
        sms(ws, &c2, json!({"delay": 3_600_000})),
    )
    .await;
    let list = |q: &str| app.send(app.get_as(&a.token, &format!("/api/messages{q}")));
    let ids = |b: &Value| -> Vec<String> {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["jobId"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, b) = list("").await;
    assert_eq!(
        ids(&b),
        [third.as_str(), now.as_str(), later.as_str()],
        "newest first"
    );
    let (_, b) = list("?channel=sms").await;
    assert_eq!(ids(&b), [third.as_str(), later.as_str()]);
    let (_, b) = list("?status=cancelled").await;
    assert_eq!(ids(&b), [later.as_str()]);
    let (_, b) = list(&format!("?contactId={c2}")).await;
    assert_eq!(ids(&b), [third.as_str(), now.as_str()]);
    let (_, b) = list("?limit=2").await;
    assert_eq!(ids(&b), [third.as_str(), now.as_str()]);
    let cursor = b["nextCursor"].as_str().unwrap().to_owned();
    let (_, b) = list(&format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&b), [later.as_str()]);
    assert!(b["nextCursor"].is_null(), "{b}");
    let (s, b) = list("?status=lost").await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn opted_out_contacts_are_skipped_and_outcomes_become_events() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let c = contact(&app, &a.token, &[svc_messaging::SMS_OPT_OUT_TAG]).await;

    let text = schedule(&app, &a.token, "/api/schedule-sms", sms(ws, &c, json!({}))).await;
    let mail = schedule(
        &app,
        &a.token,
        "/api/schedule-email",
        email(ws, &c, json!({})),
    )
    .await;
    let skipped = settled(&app, &a.token, &text, Duration::from_secs(10)).await;
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["attempts"], 0);
    assert!(
        skipped["reason"].as_str().unwrap().contains("sms:opt-out"),
        "{skipped}"
    );
    let sent = settled(&app, &a.token, &mail, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");

    // message.skipped and message.sent reach svc-webhooks through the outbox.
    let found = received_events(&app, ws, "message.", 2).await;
    assert_eq!(
        found,
        [
            ("message.sent".to_owned(), mail.clone()),
            ("message.skipped".to_owned(), text.clone())
        ]
    );
}
