//! svc-webhooks on its own: started on port 0 with a database of its own (SQLite, or
//! Postgres when `DATABASE_URL` is set), fed events through its event sink as the outbox
//! relays feed it, called over gRPC with principals signed as the gateway signs them, and
//! delivering to receivers on 127.0.0.1.

mod endpoint_health;
mod rate_limit;
mod retention;
mod workers;

use crm_platform::{
    Principal, PrincipalKind, Secret, principal::PrincipalVerifier, testing::TestStorage,
};
use crm_proto::webhooks::{
    self as pb, event_sink_service_client::EventSinkServiceClient,
    webhooks_service_client::WebhooksServiceClient,
};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const SERVICE_SECRET: &str = "svc-webhooks-tests-service-secret-0123456789";
const DATA_KEY: &str = "svc-webhooks-tests-data-key-0123456789abcdefgh";

/// One running svc-webhooks (several may share a database, as worker processes do).
pub struct TestApp {
    pub channel: Channel,
    pub config: svc_webhooks::Config,
    pub workspace: String,
    signer: PrincipalVerifier,
    pub shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _storage: Option<Arc<TestStorage>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The configuration a test starts from: fresh storage, 127.0.0.1 allowed as a target.
pub async fn test_config() -> (svc_webhooks::Config, Arc<TestStorage>) {
    let storage = Arc::new(TestStorage::new().await);
    let config = svc_webhooks::Config {
        database_url: crm_platform::db::service_url(
            storage.database_url.as_deref(),
            &storage.data_dir,
            "webhooks",
        ),
        service_secret: Secret::new(SERVICE_SECRET),
        data_key: Secret::new(DATA_KEY),
        allow_targets: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    (config, storage)
}

/// Starts svc-webhooks on 127.0.0.1:0 with `config`.
pub async fn spawn_with(config: svc_webhooks::Config, storage: Arc<TestStorage>) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(svc_webhooks::serve(
        config.clone(),
        listener,
        shutdown.clone(),
    ));
    // Ready once an RPC is answered: the listener accepts connections before migrations end.
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut ready = false;
    for _ in 0..200 {
        if server.is_finished() {
            panic!("svc-webhooks stopped during start-up: {:?}", server.await);
        }
        if probe_answered(&channel).await {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "svc-webhooks answers within 10 s");
    TestApp {
        channel,
        config,
        workspace: uuid::Uuid::new_v4().to_string(),
        signer: PrincipalVerifier::new(&Secret::new(SERVICE_SECRET)),
        shutdown,
        server: Some(server),
        _storage: Some(storage),
    }
}

/// Starts svc-webhooks with the test defaults changed by `change`.
pub async fn spawn_app(change: impl FnOnce(&mut svc_webhooks::Config)) -> TestApp {
    let (mut config, storage) = test_config().await;
    change(&mut config);
    spawn_with(config, storage).await
}

/// True when the service behind `channel` answers an RPC (with any status of its own).
async fn probe_answered(channel: &Channel) -> bool {
    let answer = WebhooksServiceClient::new(channel.clone())
        .list_webhook_events(pb::ListWebhookEventsRequest::default())
        .await;
    match answer {
        Ok(_) => true,
        Err(status) => status.code() == tonic::Code::Unauthenticated,
    }
}

impl TestApp {
    /// `message` as a call by a workspace owner, signed as the gateway signs.
    pub fn as_owner<T>(&self, message: T) -> tonic::Request<T> {
        let mut principal = Principal::new(PrincipalKind::User, &self.workspace, "owner-1");
        principal.role = "owner".into();
        self.signed(principal, message)
    }

    /// `message` as a call by one of our own services.
    pub fn as_service<T>(&self, message: T) -> tonic::Request<T> {
        self.signed(Principal::service("tests"), message)
    }

    fn signed<T>(&self, principal: Principal, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.signer
            .sign_into(&principal, request.metadata_mut())
            .unwrap();
        request
    }

    pub fn webhooks(&self) -> WebhooksServiceClient<Channel> {
        WebhooksServiceClient::new(self.channel.clone())
    }

    /// Subscribes `url` to `events`; returns the subscription's id.
    pub async fn subscribe(&self, url: &str, events: &[&str], rate_limit: Option<i32>) -> String {
        self.subscribe_with(pb::CreateWebhookRequest {
            url: url.to_owned(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            rate_limit_per_second: rate_limit,
            ..Default::default()
        })
        .await
    }

    /// Subscribes `url` to `contact.*`, retrying every `delay_ms` up to ten times.
    pub async fn subscribe_retrying(&self, url: &str, delay_ms: i64) -> String {
        self.subscribe_with(pb::CreateWebhookRequest {
            url: url.to_owned(),
            events: vec!["contact.*".into()],
            retry_config: Some(pb::RetryConfig {
                max_retries: Some(10),
                retry_delay: Some(delay_ms),
                backoff_multiplier: Some(1.0),
                timeout: None,
            }),
            ..Default::default()
        })
        .await
    }

    pub async fn subscribe_with(&self, request: pb::CreateWebhookRequest) -> String {
        let created = self
            .webhooks()
            .create_webhook(self.as_owner(request))
            .await
            .expect("subscription created")
            .into_inner();
        created.data.expect("data").id
    }

    /// The subscription as read back.
    pub async fn webhook(&self, id: &str) -> pb::Webhook {
        self.webhooks()
            .get_webhook(self.as_owner(pb::GetWebhookRequest { id: id.to_owned() }))
            .await
            .unwrap()
            .into_inner()
            .data
            .unwrap()
    }

    /// Publishes `n` `contact.created` events through the sink, as a relay does; returns
    /// their ids.
    pub async fn publish(&self, n: usize) -> Vec<String> {
        self.try_publish(n).await.expect("events published")
    }

    /// [`Self::publish`], answering the sink's error instead of failing.
    pub async fn try_publish(&self, n: usize) -> Result<Vec<String>, tonic::Status> {
        let events: Vec<pb::DomainEvent> = (0..n)
            .map(|i| pb::DomainEvent {
                id: uuid::Uuid::now_v7().to_string(),
                workspace_id: self.workspace.clone(),
                r#type: "contact.created".into(),
                aggregate_type: "contact".into(),
                aggregate_id: uuid::Uuid::new_v4().to_string(),
                payload_json: format!(r#"{{"n":{i}}}"#),
                occurred_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                source: "tests".into(),
            })
            .collect();
        let ids = events.iter().map(|e| e.id.clone()).collect();
        EventSinkServiceClient::new(self.channel.clone())
            .publish_events(self.as_service(pb::PublishEventsRequest { events }))
            .await?;
        Ok(ids)
    }

    /// A connection to this instance's database, for what only an operator would look at.
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        crm_platform::db::connect(&self.config.database_url, "webhooks")
            .await
            .unwrap()
    }

    /// Stops this instance and waits until it has.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub event_id: String,
    /// Wall-clock time of receipt (the rate limit counts Unix seconds).
    pub wall: std::time::SystemTime,
    pub event_type: String,
    pub at: Instant,
    pub answered: u16,
}

/// A receiver on 127.0.0.1:0 that records every request and answers `answer`, which the
/// test may change at any time.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub answer: Arc<AtomicU16>,
    /// Milliseconds the receiver waits before answering.
    pub delay_ms: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(answer: u16) -> Self {
        use axum::{Router, body::Bytes, routing::post};
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer = Arc::new(AtomicU16::new(answer));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (log, code, delay) = (seen.clone(), answer.clone(), delay_ms.clone());
        let app = Router::new().route(
            "/hook",
            post(move |body: Bytes| {
                let (log, code, delay) = (log.clone(), code.clone(), delay.clone());
                async move {
                    let wait = delay.load(Ordering::SeqCst);
                    if wait > 0 {
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let answered = code.load(Ordering::SeqCst);
                    log.lock().unwrap().push(Received {
                        event_id: envelope["id"].as_str().unwrap_or_default().to_owned(),
                        event_type: envelope["eventType"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        at: Instant::now(),
                        wall: std::time::SystemTime::now(),
                        answered,
                    });
                    axum::http::StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/hook"),
            answer,
            delay_ms,
            seen,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The ids of the events answered 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .map(|r| r.event_id)
            .collect()
    }
}

/// Polls `check` every 50 ms until it holds, failing with `what` after `limit`.
pub async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
