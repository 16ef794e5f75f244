//! Start-up failures name the setting or resource at fault and what to do.

use crm_platform::{Secret, testing::TestStorage};
use crm_stack::{Stack, StackConfig, random_secret};

fn config(storage: &TestStorage) -> StackConfig {
    StackConfig {
        gateway_addr: "127.0.0.1:0".into(),
        database_url: storage.database_url.clone(),
        data_dir: storage.data_dir.clone(),
        redis_url: storage.redis_url.clone(),
        redis_prefix: storage.redis_prefix.clone(),
        jwt_secret: Secret::new(random_secret()),
        service_secret: Secret::new(random_secret()),
        data_key: Secret::new(random_secret()),
        bootstrap_owner_email: String::new(),
        gateway: crm_gateway::Config::default(),
        request_log_retention_days: 30,
        request_log_prune_every_secs: 3600,
        signup: Default::default(),
        key_limits: Default::default(),
        webhooks_allow_targets: Vec::new(),
        webhooks_retention_days: 30,
        messaging: Default::default(),
    }
}

/// The whole error chain, as `crm` prints it.
async fn start_error(config: StackConfig) -> String {
    match Stack::start(config).await {
        Ok(stack) => {
            stack.stop().await;
            panic!("the stack started")
        }
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_weak_secret_names_its_variable_and_how_to_make_one() {
    let storage = TestStorage::new().await;
    let mut c = config(&storage);
    c.service_secret = Secret::new("x");
    let e = start_error(c).await;
    assert!(e.contains("CRM_SERVICE_SECRET"), "{e}");
    assert!(e.contains("at least 32"), "{e}");
    assert!(e.contains("openssl rand"), "{e}");
}

#[tokio::test]
async fn a_port_in_use_names_crm_listen_and_the_fix() {
    let storage = TestStorage::new().await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = config(&storage);
    c.gateway_addr = taken.local_addr().unwrap().to_string();
    let e = start_error(c).await;
    assert!(e.contains("CRM_LISTEN"), "{e}");
    assert!(e.contains("already listens"), "{e}");
    assert!(e.contains("free address"), "{e}");
}

#[tokio::test]
async fn an_unreachable_postgres_names_database_url_and_what_to_check() {
    let storage = TestStorage::new().await;
    let mut c = config(&storage);
    c.database_url = Some("postgres://postgres:hunter2@127.0.0.1:1/x".into());
    let e = start_error(c).await;
    assert!(e.contains("DATABASE_URL"), "{e}");
    assert!(e.contains("127.0.0.1:1"), "{e}");
    assert!(e.contains("Postgres is running"), "{e}");
    assert!(
        !e.contains("hunter2"),
        "the password stays out of messages: {e}"
    );
}

#[tokio::test]
async fn a_malformed_redis_url_names_redis_url() {
    let storage = TestStorage::new().await;
    let mut c = config(&storage);
    c.redis_url = Some("http://not-redis".into());
    let e = start_error(c).await;
    assert!(e.contains("REDIS_URL"), "{e}");
    assert!(e.contains("redis://"), "{e}");
}

#[tokio::test]
async fn a_component_failing_at_start_up_reports_its_own_error() {
    // Checked by the gateway itself, not before: the error travels from the failed task.
    let storage = TestStorage::new().await;
    let mut c = config(&storage);
    c.gateway.trusted_proxies = vec!["not-a-network".into()];
    let e = start_error(c).await;
    assert!(e.contains("gateway stopped"), "{e}");
    assert!(e.contains("trusted_proxies"), "{e}");
    assert!(e.contains("not-a-network"), "{e}");
}

#[tokio::test]
async fn an_external_issuer_without_iss_names_the_setting() {
    let storage = TestStorage::new().await;
    let mut c = config(&storage);
    c.gateway.external_jwt.jwks_url = "http://127.0.0.1:1/jwks.json".into();
    let e = start_error(c).await;
    assert!(e.contains("CRM_EXTERNAL_JWT__ISSUER"), "{e}");
}
