//! Executions: applying starts them (timed in the contact's zone), they complete when the
//! last message is out, and a cancel stops them, also while sends race it.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn applying_starts_executions_timed_in_the_contacts_zone_and_cancel_stops_them() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let seq = create(&app, &a.token, ws, seed_sequence()).await;
    let ny = contact_in(&app, &a.token, Some("America/New_York")).await;
    let plain = contact_in(&app, &a.token, None).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let b = apply(&app, &a.token, ws, &seq, &[&ny, &plain, &unknown]).await;
    let succeeded = b["succeeded"].as_array().unwrap();
    assert_eq!(succeeded.len(), 2, "{b}");
    assert_eq!(b["failed"][0]["contactId"], unknown);
    let exec = succeeded[0]["executionId"].as_str().unwrap().to_owned();
    assert_eq!(succeeded[0]["contactId"], ny);
    // A contact already running the sequence is refused.
    let b = apply(&app, &a.token, ws, &seq, &[&ny]).await;
    assert_eq!(b["succeeded"], json!([]));
    assert_eq!(
        b["failed"][0]["error"],
        "the contact is already active in this sequence"
    );

    // Editing the sequence leaves the running execution as it was.
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{seq}"))
                .json(&json!({"messages": [{"text": "changed", "timeValue": 5, "timeUnit": "minutes"}]})),
        )
        .await;
    assert_eq!(s, 200);

    // The first message goes out now; the second is due a calendar day later at the same
    // New York wall time.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut e = execution(&app, &a.token, ws, &exec).await;
    while e["messageJobs"][0]["status"] != "sent" && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        e = execution(&app, &a.token, ws, &exec).await;
    }
    assert_eq!(e["status"], "active", "{e}");
    assert_eq!(e["timezone"], "America/New_York");
    assert_eq!(e["sequence_id"], seq.as_str());
    assert_eq!(e["contact_id"], ny.as_str());
    let jobs = e["messageJobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{e}");
    assert_eq!(jobs[0]["status"], "sent", "{e}");
    assert_eq!(
        jobs[0]["message"]["text"],
        "Thanks for reaching out! I'll follow up soon."
    );
    assert_eq!(jobs[1]["status"], "pending");
    assert_eq!(jobs[1]["message"]["subflow"], "optional-subflow-id");
    // (That the wall time holds across DST changes is unit-tested in svc-messaging's
    // timing module; here: a calendar day, which is 23, 24 or 25 hours.)
    let gap = time(&jobs[1]["scheduled_time"]) - time(&jobs[0]["scheduled_time"]);
    assert!(
        [23, 24, 25].contains(&gap.num_hours()) && gap.num_minutes().rem_euclid(60) == 0,
        "{gap}"
    );
    // The job is a message job like any other.
    let job = crate::messaging::job(&app, &a.token, jobs[1]["id"].as_str().unwrap()).await;
    assert_eq!(job["channel"], "sms");
    assert_eq!(job["metadata"]["executionId"], exec.as_str());

    let (s, b) = app
        .send(app.get_as(
            &a.token,
            &format!("/api/workspaces/{ws}/contacts/{ny}/active-sequences"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["executions"][0]["id"], exec.as_str());
    assert_eq!(b["executions"][0]["sequence_name"], "Follow-up Sequence");

    // Cancel: the pending message is cancelled with it; a second cancel is a conflict.
    let (s, b) = app
        .send(app.delete_as(
            &a.token,
            &format!("/api/workspaces/{ws}/sequence-executions/{exec}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["execution"]["status"], "cancelled");
    assert_eq!(b["execution"]["messageJobs"][1]["status"], "cancelled");
    let (s, b) = app
        .send(app.delete_as(
            &a.token,
            &format!("/api/workspaces/{ws}/sequence-executions/{exec}"),
        ))
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["code"], "EXECUTION_NOT_ACTIVE");
    let events = received_events(&app, ws, "sequence.cancelled", 1).await;
    assert_eq!(events, [("sequence.cancelled".to_owned(), exec.clone())]);
    let (_, b) = app
        .send(app.get_as(
            &a.token,
            &format!("/api/workspaces/{ws}/contacts/{ny}/active-sequences"),
        ))
        .await;
    assert_eq!(b["executions"], json!([]), "{b}");
    // Cancelled, the contact may start the sequence again.
    let b = apply(&app, &a.token, ws, &seq, &[&ny]).await;
    assert_eq!(b["succeeded"].as_array().unwrap().len(), 1, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_completes_when_its_last_message_is_out() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let seq = create(
        &app,
        &a.token,
        ws,
        json!({"name": "Quick", "messages": [
            {"text": "one", "timeValue": 0, "timeUnit": "minutes"},
            {"text": "two", "timeValue": 0, "timeUnit": "hours"}
        ]}),
    )
    .await;
    let c = contact_in(&app, &a.token, Some("Europe/London")).await;
    let b = apply(&app, &a.token, ws, &seq, &[&c]).await;
    let exec = b["succeeded"][0]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut e = execution(&app, &a.token, ws, &exec).await;
    while e["status"] == "active" && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        e = execution(&app, &a.token, ws, &exec).await;
    }
    assert_eq!(e["status"], "completed", "{e}");
    assert!(e["finished_at"].is_string(), "{e}");
    assert!(
        e["messageJobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["status"] == "sent"),
        "{e}"
    );
    let events = received_events(&app, ws, "sequence.", 2).await;
    assert_eq!(
        events,
        [
            ("sequence.completed".to_owned(), exec.clone()),
            ("sequence.started".to_owned(), exec.clone()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_cancel_answers_no_message_of_the_execution_goes_out() {
    let (base, fake) = crate::messaging::twilio::start_fake().await;
    let app = spawn_with(crate::messaging::twilio::settings(&base)).await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let messages: Vec<Value> = (0..8)
        .map(|n| json!({"text": format!("step {n}"), "timeValue": 0, "timeUnit": "minutes"}))
        .collect();
    let seq = create(
        &app,
        &a.token,
        ws,
        json!({"name": "Burst", "messages": messages}),
    )
    .await;
    for round in 0..5u64 {
        let c = contact_in(&app, &a.token, None).await;
        let b = apply(&app, &a.token, ws, &seq, &[&c]).await;
        let exec = b["succeeded"][0]["executionId"]
            .as_str()
            .unwrap()
            .to_owned();
        tokio::time::sleep(Duration::from_millis(10 * round)).await;
        let (s, b) = app
            .send(app.delete_as(
                &a.token,
                &format!("/api/workspaces/{ws}/sequence-executions/{exec}"),
            ))
            .await;
        if s == 409 {
            // Every message went out before the cancel: nothing to race.
            assert_eq!(b["code"], "EXECUTION_NOT_ACTIVE");
            continue;
        }
        assert_eq!(s, 200, "{b}");
        let sent_at_cancel = b["execution"]["messageJobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["status"] == "sent")
            .count();
        let phone = {
            let j = &b["execution"]["messageJobs"][0]["id"];
            crate::messaging::job(&app, &a.token, j.as_str().unwrap()).await["to"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let count = || {
            fake.lock()
                .unwrap()
                .accepted
                .iter()
                .filter(|(to, _)| *to == phone)
                .count()
        };
        let at_answer = count();
        assert_eq!(at_answer, sent_at_cancel, "the answer shows what went out");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            count(),
            at_answer,
            "a message went out after the cancel answered"
        );
        let e = execution(&app, &a.token, ws, &exec).await;
        assert!(
            e["messageJobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["status"] == "sent" || j["status"] == "cancelled"),
            "{e}"
        );
    }
}
