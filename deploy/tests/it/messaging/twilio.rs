//! SMS through a Twilio-compatible API: a local server speaking its protocol (form POST to
//! `/2010-04-01/Accounts/{sid}/Messages.json`, basic auth, JSON errors, 429).

use super::*;
use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
};
use base64::Engine;
use std::sync::{Arc, Mutex};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-for-tests";
/// A number the fake refuses for good, as Twilio does invalid ones.
const INVALID: &str = "+15005550001";
/// A number the fake answers 429 first, then accepts.
const BUSY: &str = "+15005550002";

#[derive(Default)]
pub(super) struct Fake {
    /// (To, Body) of each accepted message.
    pub(super) accepted: Vec<(String, String)>,
    /// Requests per number.
    calls: std::collections::HashMap<String, u32>,
    /// Requests whose basic auth or From was wrong.
    pub(super) bad_requests: u32,
    /// The `StatusCallback` URL of each accepted message.
    status_callbacks: Vec<String>,
}

fn form(body: &str) -> std::collections::HashMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 3 <= bytes.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

async fn messages(
    State(fake): State<Arc<Mutex<Fake>>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    // A provider takes a moment: jobs spend it `sending`, where cancels race them.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    let params = form(&body);
    let mut fake = fake.lock().unwrap();
    if sid != SID
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
        || params.get("From").map(String::as_str) != Some("+15005550006")
    {
        fake.bad_requests += 1;
        return (
            StatusCode::UNAUTHORIZED,
            HeaderMap::new(),
            axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        );
    }
    let to = params.get("To").cloned().unwrap_or_default();
    let n = {
        let n = fake.calls.entry(to.clone()).or_default();
        *n += 1;
        *n
    };
    if to == INVALID {
        return (
            StatusCode::BAD_REQUEST,
            HeaderMap::new(),
            axum::Json(json!({
                "code": 21211,
                "message": format!("The 'To' number {to} is not a valid phone number."),
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400
            })),
        );
    }
    if to == BUSY && n == 1 {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "1".parse().unwrap());
        return (
            StatusCode::TOO_MANY_REQUESTS,
            h,
            axum::Json(json!({"code": 20429, "message": "Too Many Requests", "status": 429})),
        );
    }
    fake.accepted
        .push((to.clone(), params.get("Body").cloned().unwrap_or_default()));
    if let Some(url) = params.get("StatusCallback") {
        fake.status_callbacks.push(url.clone());
    }
    (
        StatusCode::CREATED,
        HeaderMap::new(),
        axum::Json(json!({
            "sid": format!("SM{:032x}", fake.accepted.len()),
            "status": "queued",
            "to": to,
        })),
    )
}

/// A Twilio-compatible server on a free port; returns its base URL and what it saw.
pub(super) async fn start_fake() -> (String, Arc<Mutex<Fake>>) {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let server = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    (base, fake)
}

/// Settings sending SMS through the fake at `base`.
pub(super) fn settings(base: &str) -> svc_messaging::MessagingSettings {
    let mut settings = svc_messaging::MessagingSettings {
        retry_base_millis: 200,
        ..Default::default()
    };
    settings.providers.sms_provider = "twilio".into();
    settings.providers.twilio = svc_messaging::TwilioConfig {
        base_url: base.to_owned(),
        account_sid: SID.into(),
        auth_token: crm_platform::Secret::new(TOKEN),
        from: "+15005550006".into(),
        status_callback_url: String::new(),
    };
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_go_through_a_twilio_compatible_api_with_its_errors_and_429() {
    let (base, fake) = start_fake().await;
    let settings = settings(&base);
    let app = spawn_with(settings).await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let c = contact(&app, &a.token, &[]).await;

    let ok = schedule(
        &app,
        &a.token,
        "/api/schedule-sms",
        sms(ws, &c, json!({"message": "Hello & welcome"})),
    )
    .await;
    let busy = schedule(
        &app,
        &a.token,
        "/api/schedule-sms",
        sms(ws, &c, json!({"phoneNumber": BUSY})),
    )
    .await;
    let invalid = schedule(
        &app,
        &a.token,
        "/api/schedule-sms",
        sms(ws, &c, json!({"phoneNumber": INVALID})),
    )
    .await;

    let sent = settled(&app, &a.token, &ok, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert!(
        sent["providerMessageId"]
            .as_str()
            .unwrap()
            .starts_with("SM"),
        "{sent}"
    );
    // The 429 is retried after the Retry-After it named, then accepted.
    let retried = settled(&app, &a.token, &busy, Duration::from_secs(15)).await;
    assert_eq!(retried["status"], "sent", "{retried}");
    assert_eq!(retried["attempts"], 2);
    let gap = millis(&retried["sentAt"]) - millis(&retried["dueAt"]);
    assert!(gap >= 1000, "retried after {gap} ms, before Retry-After");
    // A permanent error fails at once with the provider's reason.
    let failed = settled(&app, &a.token, &invalid, Duration::from_secs(10)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(
        failed["reason"],
        format!("Twilio error 21211: The 'To' number {INVALID} is not a valid phone number.")
    );

    let fake = fake.lock().unwrap();
    assert_eq!(fake.bad_requests, 0);
    assert!(
        fake.accepted
            .contains(&("+14345054099".to_owned(), "Hello & welcome".to_owned())),
        "{:?}",
        fake.accepted
    );
}

#[test]
fn status_callback_signatures_verify_as_twilio_computes_them() {
    let url = "https://crm.example.com/api/messages/status";
    let params = vec![
        ("MessageSid".to_owned(), "SM123".to_owned()),
        ("MessageStatus".to_owned(), "delivered".to_owned()),
    ];
    let sig = svc_messaging::twilio_signature(TOKEN, url, &params);
    assert!(svc_messaging::verify_twilio_signature(
        TOKEN, url, &params, &sig
    ));
    assert!(!svc_messaging::verify_twilio_signature(
        "other", url, &params, &sig
    ));
}

/// Where the deployment tells Twilio to report: a public URL in front of the gateway, which
/// is what Twilio signs (the test posts to the gateway's own address).
const CALLBACK_URL: &str = "https://crm.example.com/api/v1/messaging/twilio/status";

/// Posts a status callback as Twilio does: a form, signed over `CALLBACK_URL` and the sorted
/// parameters with `token` (Twilio's algorithm, checked against its published example above).
async fn report(app: &TestApp, token: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = svc_messaging::twilio_signature(token, CALLBACK_URL, &owned);
    app.send(
        app.http
            .post(app.url("/api/v1/messaging/twilio/status"))
            .header("x-twilio-signature", signature)
            .form(&owned),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_status_callbacks_are_verified_and_recorded_in_order() {
    let (base, fake) = start_fake().await;
    let mut settings = settings(&base);
    settings.providers.twilio.status_callback_url = CALLBACK_URL.into();
    let app = spawn_with(settings).await;
    let a = app.owner("Alpha").await;
    let ws = &a.workspace_id;
    let c = contact(&app, &a.token, &[]).await;
    let first = schedule(&app, &a.token, "/api/schedule-sms", sms(ws, &c, json!({}))).await;
    let second = schedule(&app, &a.token, "/api/schedule-sms", sms(ws, &c, json!({}))).await;
    let first_sid =
        settled(&app, &a.token, &first, Duration::from_secs(10)).await["providerMessageId"]
            .as_str()
            .unwrap()
            .to_owned();
    let second_sid =
        settled(&app, &a.token, &second, Duration::from_secs(10)).await["providerMessageId"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        fake.lock().unwrap().status_callbacks,
        [CALLBACK_URL, CALLBACK_URL],
        "each message names where Twilio reports"
    );

    // A report signed with another token (or unsigned) changes nothing.
    let delivered = [
        ("MessageSid", first_sid.as_str()),
        ("MessageStatus", "delivered"),
    ];
    let (s, b) = report(&app, "not-the-auth-token", &delivered).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["code"], "INVALID_SIGNATURE");
    let (s, _) = app
        .send(
            app.http
                .post(app.url("/api/v1/messaging/twilio/status"))
                .form(&delivered),
        )
        .await;
    assert_eq!(s, 403);
    let job = super::job(&app, &a.token, &first).await;
    assert!(
        job.get("deliveryStatus").is_none_or(Value::is_null),
        "{job}"
    );

    // Delivered: recorded with its time; a late "sent" does not move it back.
    let (s, b) = report(&app, TOKEN, &delivered).await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = report(
        &app,
        TOKEN,
        &[("MessageSid", &first_sid), ("MessageStatus", "sent")],
    )
    .await;
    assert_eq!(s, 204);
    let job = super::job(&app, &a.token, &first).await;
    assert_eq!(job["deliveryStatus"], "delivered", "{job}");
    assert_eq!(job["status"], "sent");
    assert!(job["deliveredAt"].is_string(), "{job}");

    // Undelivered: the job fails with Twilio's error code, and message.failed goes out.
    let (s, _) = report(
        &app,
        TOKEN,
        &[
            ("MessageSid", &second_sid),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
        ],
    )
    .await;
    assert_eq!(s, 204);
    let job = super::job(&app, &a.token, &second).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["deliveryStatus"], "undelivered");
    assert_eq!(
        job["reason"],
        "Twilio reported the message undelivered (error 30003)"
    );
    let events = received_events(&app, ws, "message.failed", 1).await;
    assert_eq!(events, [("message.failed".to_owned(), second.clone())]);

    // A message we never sent is acknowledged (so Twilio stops retrying); a status Twilio
    // does not have is a 400 naming the field.
    let (s, _) = report(
        &app,
        TOKEN,
        &[("MessageSid", "SM404"), ("MessageStatus", "sent")],
    )
    .await;
    assert_eq!(s, 204);
    let (s, b) = report(
        &app,
        TOKEN,
        &[("MessageSid", &first_sid), ("MessageStatus", "lost")],
    )
    .await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_twilio_the_status_callback_is_not_found() {
    let app = TestApp::spawn().await;
    let (s, b) = report(
        &app,
        TOKEN,
        &[("MessageSid", "SM1"), ("MessageStatus", "sent")],
    )
    .await;
    assert_eq!(s, 404, "{b}");
}
