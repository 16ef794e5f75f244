//! Scheduling: the seed's bodies and answers, now or after a delay, and its errors.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn sms_and_email_go_out_now_or_after_their_delay() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let c = contact(&app, &a.token, &[]).await;

    // Immediate SMS: the seed's answer, then sent through the log provider.
    let (s, b) = app
        .send(
            app.post_as(&a.token, "/api/schedule-sms")
                .json(&sms(ws, &c, json!({}))),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "SMS queued for immediate delivery");
    let id = b["jobId"].as_str().unwrap().to_owned();
    let sent = settled(&app, &a.token, &id, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["channel"], "sms");
    assert_eq!(sent["to"], "+14345054099");
    assert_eq!(sent["contactId"], c);
    assert_eq!(sent["attempts"], 1);
    assert_eq!(sent["providerMessageId"], format!("log-{id}"));
    assert_eq!(sent["metadata"]["source"], "broadcast2");

    // Delayed email (the /api/v1 alias): scheduled, pending until its time, sent after it.
    let (s, b) = app
        .send(app.post_as(&a.token, "/api/v1/schedule-email").json(&email(
            ws,
            &c,
            json!({"delay": 300}),
        )))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "Email scheduled successfully");
    let id = b["jobId"].as_str().unwrap().to_owned();
    let pending = job(&app, &a.token, &id).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    assert!(pending["sentAt"].is_null(), "{pending}");
    let due = millis(&pending["dueAt"]);
    let created = millis(&pending["createdAt"]);
    assert!(
        (due - created - 300).abs() <= 5,
        "due {due} created {created}"
    );
    let sent = settled(&app, &a.token, &id, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["subject"], "Hello");
    let sent_at = millis(&sent["sentAt"]);
    assert!(sent_at >= due, "sent {sent_at} before due {due}");
    // Workers sleep until the next due job: it does not stall.
    assert!(sent_at - due < 1500, "sent {} ms late", sent_at - due);

    // An absolute scheduledTime in the future schedules; a past one sends now.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, b) = app
        .send(app.post_as(&a.token, "/api/schedule-sms").json(&sms(
            ws,
            &c,
            json!({"scheduledTime": at}),
        )))
        .await;
    assert_eq!(b["message"], "SMS scheduled successfully", "{b}");
    let (_, b) = app
        .send(app.post_as(&a.token, "/api/schedule-sms").json(&sms(
            ws,
            &c,
            json!({"metadata": {"scheduledTime": "2025-03-27T00:20:00.182Z"}}),
        )))
        .await;
    assert_eq!(b["message"], "SMS queued for immediate delivery", "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_errors_name_each_field() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b_owner = app.owner("Beta").await;
    let ws = &a.workspace_id;
    let c = contact(&app, &a.token, &[]).await;

    // Every missing field is named, in the seed's message.
    let (s, b) = app
        .send(app.post_as(&a.token, "/api/schedule-sms").json(&sms(
            ws,
            &c,
            json!({"phoneNumber": null, "message": "  ", "workspaceId": null}),
        )))
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["success"], false);
    assert_eq!(
        b["message"],
        "Missing required fields: phoneNumber, message, workspaceId"
    );
    let fields: Vec<&str> = b["details"]["field_violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["phoneNumber", "message", "workspaceId"]);
    let (s, b) = app
        .send(
            app.post_as(&a.token, "/api/schedule-email")
                .json(&json!({"contactId": c, "workspaceId": ws})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["message"], "Missing required fields: to, subject, html");

    // Malformed values name their field.
    for (path, body, field) in [
        (
            "/api/schedule-sms",
            sms(ws, &c, json!({"phoneNumber": "4345054099"})),
            "phoneNumber",
        ),
        (
            "/api/schedule-sms",
            sms(ws, &c, json!({"contactId": "contact-1"})),
            "contactId",
        ),
        (
            "/api/schedule-sms",
            sms(ws, &c, json!({"delay": -5})),
            "delay",
        ),
        (
            "/api/schedule-sms",
            sms(ws, &c, json!({"scheduledTime": "tomorrow"})),
            "scheduledTime",
        ),
        (
            "/api/schedule-email",
            email(ws, &c, json!({"to": "not-an-address"})),
            "to",
        ),
    ] {
        let (s, b) = app.send(app.post_as(&a.token, path).json(&body)).await;
        assert_eq!(s, 400, "{field}: {b}");
        assert_eq!(b["details"]["field_violations"][0]["field"], field, "{b}");
    }

    // Another workspace's id in the body is refused, whatever the contact.
    let (s, b) = app
        .send(app.post_as(&a.token, "/api/schedule-sms").json(&sms(
            &b_owner.workspace_id,
            &c,
            json!({}),
        )))
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["details"]["field_violations"][0]["field"], "workspaceId");
    let (s, _) = app
        .send(
            app.post_as(&a.token, "/api/schedule-sms")
                .json(&sms("66338", &c, json!({}))),
        )
        .await;
    assert_eq!(s, 403);

    // A contact of another workspace is as unknown as one that never existed.
    let theirs = contact(&app, &b_owner.token, &[]).await;
    for id in [theirs, uuid::Uuid::new_v4().to_string()] {
        let (s, b) = app
            .send(
                app.post_as(&a.token, "/api/schedule-email")
                    .json(&email(ws, &id, json!({}))),
            )
            .await;
        assert_eq!(s, 404, "{b}");
        assert_eq!(b["code"], "CONTACT_NOT_FOUND", "{b}");
    }

    // Keys need messages:write (and contacts:read, since the contact is checked as them).
    let (_, reader) = app.key(&a.token, &["messages:read", "contacts:read"]).await;
    let r = app
        .http
        .post(app.url("/api/schedule-sms"))
        .header("x-api-key", &reader)
        .json(&sms(ws, &c, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, writer) = app
        .key(&a.token, &["messages:write", "contacts:read"])
        .await;
    let r = app
        .http
        .post(app.url("/api/schedule-sms"))
        .header("x-api-key", &writer)
        .json(&sms(ws, &c, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
