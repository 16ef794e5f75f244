//! The delivery engine over the wire: contact events reach a local receiver once each,
//! signed; a failing receiver is retried until it answers; a 410 disables the subscription;
//! deliveries are listed, read with their attempts and retried by hand; another workspace's
//! subscription never receives.

use crate::helpers::{Options, TestApp, within};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// How long a delivery may take to arrive: the outbox relay polls every second and the
/// workers every 500 ms when nothing wakes them.
const ARRIVES: Duration = Duration::from_secs(15);

pub(crate) async fn app() -> TestApp {
    TestApp::spawn_with(Options {
        webhooks_allow_targets: vec!["127.0.0.1".into()],
        ..Options::default()
    })
    .await
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn envelope(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// True when one of the Standard Webhooks signatures is `secret`'s.
    fn signed_by(&self, secret: &str) -> bool {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut signed = format!(
            "{}.{}.",
            self.header("webhook-id"),
            self.header("webhook-timestamp")
        )
        .into_bytes();
        signed.extend_from_slice(&self.body);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(&signed);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.header("webhook-signature")
            .split(' ')
            .any(|s| s == expected)
    }
}

/// A receiver on 127.0.0.1:0 that records every request and answers `script` in turn, then
/// `then` for ever.
pub(crate) struct Receiver {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(script: &[u16], then: u16) -> Self {
        use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = seen.clone();
        let script = script.to_vec();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                let script = script.clone();
                async move {
                    let mut log = log.lock().unwrap();
                    let code = script.get(log.len()).copied().unwrap_or(then);
                    log.push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    axum::http::StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/hook"),
            seen,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Creates a subscription; returns (id, secret).
async fn subscribe(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let (s, b) = app
        .send(app.post_as(token, "/api/v1/webhooks").json(&body))
        .await;
    assert!(s == 200 || s == 201, "{s} {b}");
    (
        b["data"]["id"].as_str().unwrap().to_owned(),
        b["secret"].as_str().unwrap().to_owned(),
    )
}

/// Creates a contact over REST (which writes `contact.created` to the outbox).
pub(crate) async fn contact(app: &TestApp, token: &str, n: u32) {
    let (s, b) = app
        .send(app.post_as(token, "/api/contacts").json(&json!({
            "firstname": format!("Ann{n}"), "lastname": "Lee",
            "phone_number": format!("+1555123{n:04}"),
            "email": format!("ann{n}@example.com"),
        })))
        .await;
    assert!(s == 200 || s == 201, "{s} {b}");
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str, query: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(
            token,
            &format!("/api/v1/webhooks/{webhook}/deliveries{query}"),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

/// The subscription's only delivery, once `done` holds for it.
async fn delivery_when(
    app: &TestApp,
    token: &str,
    webhook: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    // Polled every 400 ms, not `within`'s 20 ms: a user token may make 100 requests a minute.
    let started = std::time::Instant::now();
    let mut last = Value::Null;
    let mut found = None;
    while started.elapsed() < ARRIVES {
        last = deliveries(app, token, webhook, "").await["data"][0].clone();
        if !last.is_null() && done(&last) {
            found = Some(());
            break;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(found.is_some(), "the delivery never got there: {last}");
    last
}

#[tokio::test]
async fn contact_events_arrive_once_each_signed_and_only_to_their_own_workspace() {
    let app = app().await;
    let acme = app.owner("Acme").await;
    let other = app.owner("Other").await;
    let ours = Receiver::start(&[], 200).await;
    let theirs = Receiver::start(&[], 200).await;
    let (hook, secret) = subscribe(
        &app,
        &acme.token,
        json!({"url": ours.url, "events": ["contact.*"]}),
    )
    .await;
    subscribe(
        &app,
        &other.token,
        json!({"url": theirs.url, "events": ["*"]}),
    )
    .await;

    for n in 0..3 {
        contact(&app, &acme.token, n).await;
    }
    let arrived = within(ARRIVES, || async { ours.count() >= 3 }).await;
    assert!(arrived.is_some(), "got {} of 3", ours.count());
    // A moment more: nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = ours.received();
    assert_eq!(got.len(), 3, "each event once");
    let ids: HashSet<String> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    for r in &got {
        assert!(
            r.signed_by(&secret),
            "signed with the subscription's secret"
        );
        let envelope = r.envelope();
        assert_eq!(envelope["eventType"], "contact.created");
        assert_eq!(envelope["id"], r.header("webhook-id"));
        assert_eq!(envelope["version"], "1.0");
        assert!(envelope["data"].is_object(), "{envelope}");
    }
    assert_eq!(
        theirs.count(),
        0,
        "another workspace's subscription never receives"
    );

    // Listed newest first, a page at a time.
    let page = deliveries(&app, &acme.token, &hook, "?limit=2").await;
    let first: Vec<Value> = page["data"].as_array().unwrap().clone();
    assert_eq!(first.len(), 2, "{page}");
    for d in &first {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempt_count"], 1);
        assert_eq!(d["last_status_code"], 200);
        assert_eq!(d["event_type"], "contact.created");
        assert!(ids.contains(d["event_id"].as_str().unwrap()));
    }
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = deliveries(
        &app,
        &acme.token,
        &hook,
        &format!("?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest.get("next_cursor").is_none_or(Value::is_null), "{rest}");
    let filtered = deliveries(&app, &acme.token, &hook, "?status=failed").await;
    assert_eq!(filtered["data"], json!([]));
    let filtered = deliveries(&app, &acme.token, &hook, "?event_type=contact.created").await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 3);

    // One read with its attempt; a delivered one may be sent again by hand.
    let id = first[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{hook}/deliveries/{id}");
    let (s, one) = app.send(app.get_as(&acme.token, &path)).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["attempts"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["attempts"][0]["response_status"], 200);
    assert_eq!(one["attempts"][0]["delivery_id"], id);
    let (s, again) = app
        .send(
            app.post_as(&acme.token, &format!("{path}/retry"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{again}");
    assert!(
        within(ARRIVES, || async { ours.count() == 4 })
            .await
            .is_some()
    );
    assert_eq!(
        ours.received()[3].header("webhook-id"),
        first[0]["event_id"].as_str().unwrap(),
        "the same event, signed again"
    );
    assert!(ours.received()[3].signed_by(&secret));

    // Another workspace cannot read them.
    let (s, _) = app.send(app.get_as(&other.token, &path)).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.get_as(&other.token, &format!("/api/v1/webhooks/{hook}/deliveries")))
        .await;
    assert_eq!(s, 404);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers_with_every_attempt_listed() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let flaky = Receiver::start(&[500, 500], 200).await;
    let (hook, secret) = subscribe(
        &app,
        &owner.token,
        json!({"url": flaky.url, "events": ["contact.created"],
               "retryConfig": {"maxRetries": 3, "retryDelay": 200, "backoffMultiplier": 1}}),
    )
    .await;
    contact(&app, &owner.token, 1).await;
    let delivered = delivery_when(&app, &owner.token, &hook, |d| d["status"] == "delivered").await;
    assert_eq!(delivered["attempt_count"], 3, "{delivered}");
    let got = flaky.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.signed_by(&secret)));
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == delivered["event_id"].as_str().unwrap()),
        "one event, tried three times"
    );
    let (s, one) = app
        .send(app.get_as(
            &owner.token,
            &format!(
                "/api/v1/webhooks/{hook}/deliveries/{}",
                delivered["id"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(s, 200, "{one}");
    let codes: Vec<Value> = one["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response_status"].clone())
        .collect();
    assert_eq!(codes, vec![json!(500), json!(500), json!(200)], "{one}");
    app.stack.stop().await;
}

#[tokio::test]
async fn a_delivery_out_of_retries_fails_and_is_queued_again_by_hand_but_not_while_pending() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let down = Receiver::start(&[], 500).await;
    let (hook, _) = subscribe(
        &app,
        &owner.token,
        json!({"url": down.url, "events": ["contact.*"],
               "retryConfig": {"maxRetries": 1, "retryDelay": 3000}}),
    )
    .await;
    contact(&app, &owner.token, 1).await;
    let waiting = delivery_when(&app, &owner.token, &hook, |d| d["attempt_count"] == 1).await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert_eq!(waiting["last_status_code"], 500);
    assert!(waiting["next_attempt_at"].is_string(), "{waiting}");
    let retry = format!(
        "/api/v1/webhooks/{hook}/deliveries/{}/retry",
        waiting["id"].as_str().unwrap()
    );
    let (s, b) = app
        .send(app.post_as(&owner.token, &retry).json(&json!({})))
        .await;
    assert_eq!(s, 409, "pending: {b}");

    let failed = delivery_when(&app, &owner.token, &hook, |d| d["status"] == "failed").await;
    assert_eq!(failed["attempt_count"], 2, "{failed}");
    assert_eq!(down.count(), 2);
    let (s, b) = app
        .send(app.post_as(&owner.token, &retry).json(&json!({})))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["status"], "pending");
    assert!(
        within(ARRIVES, || async { down.count() == 3 })
            .await
            .is_some()
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn a_receiver_answering_410_disables_its_subscription() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let gone = Receiver::start(&[], 410).await;
    let (hook, _) = subscribe(
        &app,
        &owner.token,
        json!({"url": gone.url, "events": ["contact.*"]}),
    )
    .await;
    contact(&app, &owner.token, 1).await;
    let cancelled = delivery_when(&app, &owner.token, &hook, |d| d["status"] == "cancelled").await;
    assert_eq!(cancelled["last_status_code"], 410, "{cancelled}");
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/webhooks/{hook}")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["status"], "disabled", "{b}");
    assert!(
        b["data"]["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{b}"
    );
    // A disabled subscription gets no new deliveries.
    contact(&app, &owner.token, 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = deliveries(&app, &owner.token, &hook, "").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(gone.count(), 1);
    app.stack.stop().await;
}

#[tokio::test]
async fn delivery_requests_are_checked_by_field_and_scope() {
    let app = app().await;
    let owner = app.owner("Acme").await;
    let (hook, _) = subscribe(
        &app,
        &owner.token,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["contact.*"]}),
    )
    .await;
    let base = format!("/api/v1/webhooks/{hook}/deliveries");
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?status=lost", "status"),
        ("?cursor=nope", "cursor"),
    ] {
        let (s, b) = app
            .send(app.get_as(&owner.token, &format!("{base}{query}")))
            .await;
        assert_eq!(s, 400, "{query}: {b}");
        assert_eq!(b["details"]["field"], field, "{query}: {b}");
    }
    let missing = uuid::Uuid::now_v7();
    let (s, _) = app
        .send(app.get_as(&owner.token, &format!("{base}/{missing}")))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(
            app.post_as(&owner.token, &format!("{base}/{missing}/retry"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 404);

    let (_, reader) = app.key(&owner.token, &["webhooks:read"]).await;
    let (s, b) = app.get_with_key(&base, &reader).await;
    assert_eq!(s, 200, "{b}");
    let r = reqwest::Client::new()
        .post(app.url(&format!("{base}/{missing}/retry")))
        .header("x-api-key", &reader)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "retrying needs webhooks:write");
    app.stack.stop().await;
}
