//! Sequences (seed 004 "Sequence API Endpoints"): CRUD, applying to contacts, execution
//! status, completion, cancel (also racing sends), and timing in the contact's zone.

use super::*;
use chrono::{DateTime, Utc};

/// A contact in `timezone` (or none); returns its id.
async fn contact_in(app: &TestApp, token: &str, timezone: Option<&str>) -> String {
    let phone = format!("+1555{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000);
    let mut body = json!({"firstname": "Grace", "lastname": "Hopper", "phone_number": phone});
    if let Some(tz) = timezone {
        body["timezone"] = json!(tz);
    }
    let (s, b) = app
        .send(app.post_as(token, "/api/contacts").json(&body))
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

fn seed_sequence() -> Value {
    json!({
        "name": "Follow-up Sequence",
        "messages": [
            {"text": "Thanks for reaching out! I'll follow up soon.", "timeValue": 0, "timeUnit": "minutes"},
            {"text": "Just checking in. Let me know if you have any questions.", "timeValue": 1,
             "timeUnit": "days", "subflow": "optional-subflow-id"}
        ]
    })
}

async fn create(app: &TestApp, token: &str, ws: &str, body: Value) -> String {
    let (s, b) = app
        .send(
            app.post_as(token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&body),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["sequence"]["id"].as_str().unwrap().to_owned()
}

async fn apply(app: &TestApp, token: &str, ws: &str, id: &str, contacts: &[&str]) -> Value {
    let (s, b) = app
        .send(
            app.post_as(token, &format!("/api/workspaces/{ws}/sequences/{id}/apply"))
                .json(&json!({"contactIds": contacts})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn execution(app: &TestApp, token: &str, ws: &str, id: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(
            token,
            &format!("/api/workspaces/{ws}/sequence-executions/{id}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b["execution"].clone()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread")]
async fn sequences_are_created_updated_read_and_listed_in_the_callers_workspace() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b_owner = app.owner("Beta").await;
    let ws = &a.workspace_id;
    let (s, b) = app
        .send(
            app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&seed_sequence()),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let seq = &b["sequence"];
    assert_eq!(seq["name"], "Follow-up Sequence");
    assert_eq!(seq["workspace_id"], ws.as_str());
    assert_eq!(seq["status"], "active");
    assert_eq!(seq["messages"][1]["subflow"], "optional-subflow-id");
    assert!(seq["created_at"].is_string() && seq["updated_at"].is_string());
    let id = seq["id"].as_str().unwrap().to_owned();

    let (s, b) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{id}"))
                .json(&json!({
                    "name": "Updated Follow-up Sequence",
                    "messages": [
                        {"text": "Updated message content", "timeValue": 10, "timeUnit": "minutes"},
                        {"text": "Second follow-up message", "timeValue": 2, "timeUnit": "days"}
                    ]
                })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sequence"]["name"], "Updated Follow-up Sequence");
    assert_eq!(b["sequence"]["messages"][0]["timeValue"], 10);
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{id}"))
                .json(&json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .send(app.get_as(&a.token, &format!("/api/workspaces/{ws}/sequences/{id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sequence"]["status"], "inactive");
    assert_eq!(
        b["sequence"]["messages"][1]["text"],
        "Second follow-up message"
    );
    let other = create(&app, &a.token, ws, seed_sequence()).await;
    let list = |q: &'static str| {
        app.send(app.get_as(&a.token, &format!("/api/workspaces/{ws}/sequences{q}")))
    };
    let ids = |b: &Value| -> Vec<String> {
        b["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, b) = list("").await;
    assert_eq!(ids(&b), [other.as_str(), id.as_str()]);
    let (_, b) = list("?status=active").await;
    assert_eq!(ids(&b), [other.as_str()]);
    // An inactive sequence is not applied.
    let c = contact_in(&app, &a.token, None).await;
    let (s, b) = app
        .send(
            app.post_as(
                &a.token,
                &format!("/api/workspaces/{ws}/sequences/{id}/apply"),
            )
            .json(&json!({"contactIds": [c]})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["code"], "SEQUENCE_INACTIVE");

    // Errors: missing fields, too many messages, a bad unit, another workspace.
    let (s, b) = app
        .send(
            app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["message"], "Missing required fields: name, messages");
    let many: Vec<Value> = (0..21)
        .map(|_| json!({"text": "hi", "timeValue": 1, "timeUnit": "minutes"}))
        .collect();
    for body in [
        json!({"name": "x", "messages": many}),
        json!({"name": "x", "messages": [{"text": "hi", "timeValue": 1, "timeUnit": "years"}]}),
    ] {
        let (s, b) = app
            .send(
                app.post_as(&a.token, &format!("/api/workspaces/{ws}/sequences"))
                    .json(&body),
            )
            .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["details"]["field_violations"][0]["field"], "messages");
    }
    let theirs = &b_owner.workspace_id;
    let (s, _) = app
        .send(app.get_as(&a.token, &format!("/api/workspaces/{theirs}/sequences")))
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .send(app.get_as(
            &b_owner.token,
            &format!("/api/workspaces/{theirs}/sequences/{id}"),
        ))
        .await;
    assert_eq!(s, 404);
}

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
    let job = super::job(&app, &a.token, jobs[1]["id"].as_str().unwrap()).await;
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
    let (base, fake) = super::twilio::start_fake().await;
    let app = spawn_with(super::twilio::settings(&base)).await;
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
            super::job(&app, &a.token, j.as_str().unwrap()).await["to"]
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
