//! svc-metrics's usage services on their own: started on port 0 with a database of their
//! own (SQLite, or Postgres when `DATABASE_URL` is set), called over gRPC with principals
//! signed as the gateway and svc-auth sign them. svc-auth's key and client lookups are
//! answered by a stand-in (`fake_auth`); deploy/tests runs the real one end to end.

mod fake_auth;
mod model;
mod public;
mod retention;
mod usage;

use chrono::{DateTime, Utc};
use crm_platform::{
    Principal, PrincipalKind, Secret, principal::PrincipalVerifier, testing::TestStorage,
};
use crm_proto::metrics::{self as pb, usage_ingest_service_client::UsageIngestServiceClient};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub struct TestApp {
    pub channel: Channel,
    /// The svc-auth stand-in the public reads ask.
    pub auth: fake_auth::FakeAuth,
    /// svc-metrics's own database, for looking at the tables.
    pub db: sea_orm::DatabaseConnection,
    signer: PrincipalVerifier,
    shutdown: CancellationToken,
    _storage: TestStorage,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts svc-metrics on 127.0.0.1:0 with fresh storage and a svc-auth stand-in.
pub async fn spawn_app() -> TestApp {
    let storage = TestStorage::new().await;
    let service_secret = Secret::new("svc-metrics-tests-service-secret-0123456789");
    let url = |service| {
        crm_platform::db::service_url(storage.database_url.as_deref(), &storage.data_dir, service)
    };
    let shutdown = CancellationToken::new();
    let verifier = PrincipalVerifier::new(&service_secret);
    let auth = fake_auth::FakeAuth::default();
    let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth_addr = auth_listener.local_addr().unwrap();
    tokio::spawn(
        auth.clone()
            .serve(auth_listener, verifier.clone(), shutdown.clone()),
    );
    let config = svc_metrics::Config {
        service_secret: service_secret.clone(),
        database_url: url("metrics"),
        pipeline_database_url: url("pipeline"),
        auth_url: format!("http://{auth_addr}"),
        // Tests prune by calling the upkeep themselves, at times they choose.
        request_log_retention_days: 0,
        ..Default::default()
    };
    let db = svc_metrics::connect(&config).await.expect("database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(svc_metrics::serve(config, listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let app = TestApp {
        channel,
        auth,
        db,
        signer: verifier,
        shutdown,
        _storage: storage,
    };
    // Serving starts after the start-up upkeep (partitions): wait for an answer.
    for _ in 0..200 {
        let probe = app.as_service(pb::CountAcceptedRequest {
            api_client_id: "probe".into(),
            ..Default::default()
        });
        if app.ingest().count_accepted(probe).await.is_ok() {
            return app;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("svc-metrics does not answer");
}

impl TestApp {
    /// `message` as a call by one of our own services.
    pub fn as_service<T>(&self, message: T) -> tonic::Request<T> {
        self.signed(Principal::service("tests"), message)
    }

    /// `message` as a call by a user of `workspace`.
    pub fn as_user<T>(&self, workspace: &str, message: T) -> tonic::Request<T> {
        self.signed(user(workspace), message)
    }

    pub fn signed<T>(&self, principal: Principal, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.signer
            .sign_into(&principal, request.metadata_mut())
            .unwrap();
        request
    }

    pub fn ingest(&self) -> UsageIngestServiceClient<Channel> {
        UsageIngestServiceClient::new(self.channel.clone())
    }

    /// Records `requests` as a gateway does; returns `recorded`.
    pub async fn record(&self, requests: Vec<pb::RequestLog>) -> u32 {
        self.ingest()
            .record_requests(self.as_service(pb::RecordRequestsRequest { requests }))
            .await
            .expect("record")
            .into_inner()
            .recorded
    }

    /// Usage of `keys` (ids, or a client) over `[from, to)`.
    pub async fn usage(&self, q: UsageAsk<'_>) -> pb::UsageStats {
        self.ingest()
            .get_keys_usage(self.as_service(pb::GetKeysUsageRequest {
                workspace_id: q.workspace_id.to_owned(),
                api_key_ids: q.api_key_ids.to_vec(),
                api_client_id: q.api_client_id.to_owned(),
                date_from: q.from.map(ts),
                date_to: q.to.map(ts),
                group_by: q.group_by.to_owned(),
            }))
            .await
            .expect("usage")
            .into_inner()
    }

    /// Accepted requests of `keys` since each of `since`.
    pub async fn accepted(
        &self,
        workspace_id: &str,
        api_key_ids: &[String],
        api_client_id: &str,
        since: &[DateTime<Utc>],
    ) -> Vec<u64> {
        self.ingest()
            .count_accepted(self.as_service(pb::CountAcceptedRequest {
                workspace_id: workspace_id.to_owned(),
                api_key_ids: api_key_ids.to_vec(),
                api_client_id: api_client_id.to_owned(),
                since: since.iter().copied().map(ts).collect(),
            }))
            .await
            .expect("count accepted")
            .into_inner()
            .counts
    }
}

/// A usage question.
#[derive(Clone, Copy, Default)]
pub struct UsageAsk<'a> {
    pub workspace_id: &'a str,
    pub api_key_ids: &'a [String],
    pub api_client_id: &'a str,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub group_by: &'a str,
}

pub fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A request of `key` in `workspace` at `at`.
pub fn request(
    workspace: &str,
    key: &str,
    endpoint: &str,
    status_code: u32,
    response_time_ms: u32,
    at: DateTime<Utc>,
) -> pb::RequestLog {
    pb::RequestLog {
        workspace_id: workspace.to_owned(),
        api_key_id: key.to_owned(),
        method: "GET".into(),
        endpoint: endpoint.to_owned(),
        status_code,
        response_time_ms,
        request_ip: "203.0.113.9".into(),
        user_agent: "sdk/1".into(),
        request_size: 10,
        response_size: 100,
        timestamp: Some(ts(at)),
        request_id: "req-1".into(),
        ..Default::default()
    }
}

/// A user of `workspace`, as the gateway signs one.
pub fn user(workspace: &str) -> Principal {
    let mut p = Principal::new(PrincipalKind::User, workspace, "user-1");
    p.role = "owner".into();
    p
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
