//! The actions that go through svc-messaging (send_sms, send_email, apply_sequence): each
//! leaves its job or execution there, made as the caller (a key needs the messaging scope
//! too), and a REST retry through another gateway without shared Redis runs once.

use super::{completed, execute};
use crate::helpers::{Owner, TestApp};
use serde_json::{Value, json};

async fn contact_with(app: &TestApp, owner: &Owner, email: Option<&str>) -> (String, String) {
    let phone = format!("+1555{:07}", rand::random::<u32>() % 10_000_000);
    let mut body = json!({"firstname": "Ada", "lastname": "King", "phone_number": phone});
    if let Some(email) = email {
        body["email"] = json!(email);
    }
    let (s, b) = app
        .send(app.post_as(&owner.token, "/api/contacts").json(&body))
        .await;
    assert_eq!(s, 201, "{b}");
    (b["data"]["id"].as_str().unwrap().to_owned(), phone)
}

async fn message_job(app: &TestApp, owner: &Owner, id: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/messages/{id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"].clone()
}

async fn execute_with_key(app: &TestApp, base: &str, key: &str, body: &Value) -> (u16, Value) {
    app.send(
        app.http
            .post(format!("{base}/api/actions/execute"))
            .header("x-api-key", key)
            .json(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_and_email_actions_leave_message_jobs_for_the_contact() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, phone) = contact_with(&app, &owner, Some("ada@example.com")).await;

    let sms = completed(
        &app,
        &owner,
        json!({"action_type": "send_sms", "contact_id": id,
               "configuration": {"message": "Hello from a flow"}}),
    )
    .await;
    let job_id = sms["result"]["job_id"].as_str().unwrap().to_owned();
    assert!(
        sms["result"]["message"].as_str().unwrap().contains("SMS"),
        "{sms}"
    );
    let job = message_job(&app, &owner, &job_id).await;
    assert_eq!(job["channel"], "sms", "{job}");
    assert_eq!(job["to"], phone, "{job}");
    assert_eq!(job["contactId"], id, "{job}");

    let email = completed(
        &app,
        &owner,
        json!({"action_type": "send_email", "contact_id": id,
               "configuration": {"subject": "Hi", "html": "<p>Hi</p>", "delay": 3_600_000}}),
    )
    .await;
    let job = message_job(&app, &owner, email["result"]["job_id"].as_str().unwrap()).await;
    assert_eq!(job["channel"], "email", "{job}");
    assert_eq!(job["to"], "ada@example.com", "{job}");
    assert_eq!(job["status"], "pending", "an hour's delay: {job}");

    // A contact without an email, and no `to`: the action fails naming configuration.to,
    // recorded with its execution id.
    let (bare, _) = contact_with(&app, &owner, None).await;
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "send_email", "contact_id": bare,
               "configuration": {"subject": "Hi", "html": "<p>Hi</p>"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "configuration.to", "{b}");
    let failed = b["execution_id"].as_str().unwrap();
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/actions/executions/{failed}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["status"], "failed", "{b}");

    // svc-messaging's own checks name the configuration field too.
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "send_sms", "contact_id": id,
               "configuration": {"message": "x", "phoneNumber": "12345"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "configuration.phoneNumber", "{b}");
    // A configuration missing the message is refused before anything runs.
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "send_sms", "contact_id": id, "configuration": {}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "configuration.message", "{b}");
    assert!(b.get("execution_id").is_none(), "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_sequence_starts_an_execution_and_keys_need_the_messaging_scope() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let ws = owner.workspace_id.clone();
    let (id, _) = contact_with(&app, &owner, None).await;
    let (s, b) = app
        .send(
            app.post_as(&owner.token, &format!("/api/workspaces/{ws}/sequences"))
                .json(&json!({"name": "Welcome", "messages": [
                    {"text": "Welcome!", "timeValue": 1, "timeUnit": "days"}
                ]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let sequence = b["sequence"]["id"].as_str().unwrap().to_owned();

    let applied = completed(
        &app,
        &owner,
        json!({"action_type": "apply_sequence", "contact_id": id,
               "configuration": {"sequence_id": sequence}}),
    )
    .await;
    let execution = applied["result"]["execution_id"].as_str().unwrap();
    let (s, b) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/workspaces/{ws}/sequence-executions/{execution}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["execution"]["contact_id"], id, "{b}");
    assert_eq!(b["execution"]["status"], "active", "{b}");

    // Applying again while it runs: svc-messaging's refusal is the action's failure.
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "apply_sequence", "contact_id": id,
               "configuration": {"sequence_id": sequence}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "configuration.sequence_id", "{b}");

    // A key that may execute actions but not send messages: svc-messaging refuses the
    // caller, naming the scope; one with messages:write sends.
    let (_, narrow) = app
        .key(&owner.token, &["actions:execute", "contacts:read"])
        .await;
    let sms = json!({"action_type": "send_sms", "contact_id": id,
                     "configuration": {"message": "Hi"}});
    let (s, b) = execute_with_key(&app, &app.base, &narrow, &sms).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("messages:write"),
        "{b}"
    );
    assert!(
        b["execution_id"].is_string(),
        "the failure is recorded: {b}"
    );
    let (_, wide) = app
        .key(
            &owner.token,
            &["actions:execute", "contacts:read", "messages:write"],
        )
        .await;
    let (s, b) = execute_with_key(&app, &app.base, &wide, &sms).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["data"]["result"]["job_id"].is_string(), "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rest_retry_through_another_gateway_runs_once() {
    let mut app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, _) = contact_with(&app, &owner, None).await;
    // Without Redis each gateway remembers keys on its own: only the key svc-pipeline
    // stores can make the second call a replay.
    let second = format!("http://{}", app.stack.start_extra_gateway().await.unwrap());
    let (_, key) = app
        .key(
            &owner.token,
            &["actions:execute", "contacts:read", "messages:write"],
        )
        .await;
    let body = json!({"action_type": "send_sms", "contact_id": id,
                      "configuration": {"message": "Only once"}});
    let idempotency = uuid::Uuid::new_v4().to_string();
    let mut answers = Vec::new();
    for base in [app.base.clone(), second] {
        let (s, b) = app
            .send(
                app.http
                    .post(format!("{base}/api/actions/execute"))
                    .header("x-api-key", &key)
                    .header("idempotency-key", &idempotency)
                    .json(&body),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        answers.push(b["data"].clone());
    }
    assert_eq!(answers[0]["execution_id"], answers[1]["execution_id"]);
    assert_eq!(
        answers[0]["result"]["job_id"],
        answers[1]["result"]["job_id"]
    );
    let (s, b) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/actions/executions?contact_id={id}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"].as_array().unwrap().len(), 1, "{b}");
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/messages?contactId={id}")))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"].as_array().unwrap().len(), 1, "one SMS: {b}");
}
