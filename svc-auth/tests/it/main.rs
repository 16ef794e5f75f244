//! svc-auth on its own: started on port 0 with a database of its own (SQLite, or Postgres
//! when `DATABASE_URL` is set), called over gRPC with principals signed as the gateway does.

mod memberships;

use crm_platform::{
    Principal, PrincipalKind, Secret, bus::Bus, principal::PrincipalVerifier,
    quota_view::QuotaView, testing::TestStorage,
};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub struct TestApp {
    pub channel: Channel,
    pub db: sea_orm::DatabaseConnection,
    pub bus: Bus,
    signer: PrincipalVerifier,
    shutdown: CancellationToken,
    _storage: TestStorage,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts svc-auth on 127.0.0.1:0 with fresh storage.
pub async fn spawn_app() -> TestApp {
    let storage = TestStorage::new().await;
    let service_secret = Secret::new("svc-auth-tests-service-secret-0123456789");
    let config = svc_auth::Config {
        database_url: crm_platform::db::service_url(
            storage.database_url.as_deref(),
            &storage.data_dir,
            "auth",
        ),
        jwt_secret: Secret::new("svc-auth-tests-jwt-secret-0123456789abcdef"),
        service_secret: service_secret.clone(),
        data_key: Secret::new("svc-auth-tests-data-key-0123456789abcdefgh"),
        bootstrap_owner_email: String::new(),
        ..Default::default()
    };
    let db = svc_auth::connect(&config).await.expect("database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bus = Bus::in_process();
    let shutdown = CancellationToken::new();
    tokio::spawn(svc_auth::serve(
        config,
        bus.clone(),
        QuotaView::in_process(),
        listener,
        shutdown.clone(),
    ));
    let endpoint = Channel::from_shared(format!("http://{addr}")).unwrap();
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = endpoint.connect().await {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    TestApp {
        channel: channel.expect("svc-auth answers"),
        db,
        bus,
        signer: PrincipalVerifier::new(&service_secret),
        shutdown,
        _storage: storage,
    }
}

impl TestApp {
    /// `message` as a call by `user` acting in `workspace`, signed as the gateway signs.
    pub fn as_user<T>(&self, workspace: &str, user: &str, message: T) -> tonic::Request<T> {
        self.signed(
            Principal::new(PrincipalKind::User, workspace, user),
            message,
        )
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
}
