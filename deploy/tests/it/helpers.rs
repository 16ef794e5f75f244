use crm_platform::{Secret, testing::TestStorage};
use crm_stack::{Stack, StackConfig, random_secret};
use serde_json::{Value, json};
use std::time::Duration;

pub struct TestApp {
    pub stack: Stack,
    pub base: String,
    pub http: reqwest::Client,
    pub service_secret: Secret,
    _storage: TestStorage,
}

/// An owner of a fresh workspace, logged in.
pub struct Owner {
    pub email: String,
    pub token: String,
    pub workspace_id: String,
    pub user_id: String,
}

#[derive(Default)]
pub struct Options {
    /// Overrides the Redis URL (`Some(None)` for none).
    pub redis_url: Option<Option<String>>,
    /// Accept an external issuer's tokens.
    pub external_jwt: Option<crm_gateway::auth::jwt::ExternalIssuer>,
    /// Rate-limit settings other than the defaults.
    pub rate_limits: Option<crm_gateway::ratelimit::policy::RateLimitConfig>,
    /// Proxies whose `X-Forwarded-For` the gateway believes.
    pub trusted_proxies: Vec<String>,
    /// Request-log settings other than the defaults.
    pub request_log: Option<crm_gateway::usage::request_log::RequestLogConfig>,
    /// How often svc-auth prunes old request logs (default: hourly).
    pub request_log_prune_every_secs: Option<u64>,
    /// Who may sign up (default: invitations only).
    pub signup: svc_auth::domain::session::SignupMode,
    /// svc-auth's key ceilings other than the defaults.
    pub key_limits: Option<svc_auth::domain::key_policy::KeyLimits>,
    /// Gateway settings changed from the test defaults after those above are applied.
    pub gateway: Option<fn(&mut crm_gateway::Config)>,
    /// Addresses webhooks may reach besides public ones (`["127.0.0.1"]` for a local
    /// receiver).
    pub webhooks_allow_targets: Vec<String>,
    /// svc-messaging's workers, limits and providers (default: the `log` provider).
    pub messaging: Option<svc_messaging::MessagingSettings>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// A stack whose Redis never answers: port 1 on loopback, where nothing listens, so
    /// every Redis call fails fast.
    pub async fn spawn_with_redis_unreachable() -> Self {
        Self::spawn_with(Options {
            redis_url: Some(Some("redis://127.0.0.1:1".into())),
            ..Options::default()
        })
        .await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let storage = TestStorage::new().await;
        let service_secret = Secret::new(random_secret());
        let mut gateway = crm_gateway::Config {
            usage_flush_millis: 200,
            ..Default::default()
        };
        gateway.key_cache_ttl_secs = 300;
        if let Some(external) = options.external_jwt {
            gateway.external_jwt = external;
        }
        if let Some(limits) = options.rate_limits {
            gateway.rate_limits = limits;
        }
        gateway.trusted_proxies = options.trusted_proxies;
        if let Some(log) = options.request_log {
            gateway.request_log = log;
        }
        if let Some(change) = options.gateway {
            change(&mut gateway);
        }
        let config = StackConfig {
            gateway_addr: "127.0.0.1:0".into(),
            database_url: storage.database_url.clone(),
            data_dir: storage.data_dir.clone(),
            redis_url: options
                .redis_url
                .unwrap_or_else(|| storage.redis_url.clone()),
            redis_prefix: storage.redis_prefix.clone(),
            jwt_secret: Secret::new(random_secret()),
            service_secret: service_secret.clone(),
            data_key: Secret::new(random_secret()),
            bootstrap_owner_email: String::new(),
            gateway,
            request_log_retention_days: 30,
            request_log_prune_every_secs: options.request_log_prune_every_secs.unwrap_or(3600),
            signup: options.signup,
            key_limits: options.key_limits.unwrap_or_default(),
            webhooks_allow_targets: options.webhooks_allow_targets,
            webhooks_retention_days: 30,
            messaging: options.messaging.unwrap_or_default(),
        };
        let stack = Stack::start(config).await.expect("stack starts");
        let base = format!("http://{}", stack.gateway_addr);
        Self {
            stack,
            base,
            http: reqwest::Client::new(),
            service_secret,
            _storage: storage,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn auth_db(&self) -> sea_orm::DatabaseConnection {
        crm_platform::db::connect(&self.stack.auth_database_url, "auth")
            .await
            .expect("auth db")
    }

    /// svc-pipeline's database (its own SQLite file, or its schema of the Postgres database).
    pub async fn pipeline_db(&self) -> sea_orm::DatabaseConnection {
        let url = self
            .stack
            .auth_database_url
            .replace("/auth.db", "/pipeline.db");
        crm_platform::db::connect(&url, "pipeline")
            .await
            .expect("pipeline db")
    }

    /// A new workspace with its owner, logged in through the gateway.
    pub async fn owner(&self, workspace: &str) -> Owner {
        let email = format!(
            "{}@{}.test",
            uuid::Uuid::new_v4().simple(),
            workspace.to_lowercase().replace(' ', "-")
        );
        let password = "correct horse battery staple".to_owned();
        let db = self.auth_db().await;
        let (workspace_id, user_id) = svc_auth::domain::provision::create_workspace(
            &db, workspace, &email, "Owner", &password,
        )
        .await
        .unwrap();
        let token = self.login(&email, &password).await;
        Owner {
            email,
            token,
            workspace_id,
            user_id,
        }
    }

    /// A user with `role` in an existing workspace, logged in.
    pub async fn member(&self, owner: &Owner, role: svc_auth::domain::role::Role) -> String {
        let email = format!("{}@member.test", uuid::Uuid::new_v4().simple());
        let db = self.auth_db().await;
        svc_auth::domain::provision::add_user(
            &db,
            &owner.workspace_id,
            &email,
            "pw-member-123",
            role,
        )
        .await
        .unwrap();
        let r = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": "pw-member-123", "workspace_id": owner.workspace_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login");
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a key; returns (id, full key, whole response body).
    pub async fn create_key(&self, token: &str, body: Value) -> (String, String, Value) {
        let r = self
            .http
            .post(self.url("/api/api-keys"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create key");
        let v: Value = r.json().await.unwrap();
        (
            v["data"]["id"].as_str().unwrap().to_owned(),
            v["data"]["key"].as_str().unwrap().to_owned(),
            v,
        )
    }

    /// A key with these scopes; returns (id, full key).
    pub async fn key(&self, token: &str, scopes: &[&str]) -> (String, String) {
        let (id, key, _) = self
            .create_key(token, json!({"name": "test key", "scopes": scopes}))
            .await;
        (id, key)
    }

    /// GET as a user (JWT).
    pub fn get_as(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    /// A gRPC-web `AuthService.GetMe` call with an API key, framed as a browser sends it.
    pub fn grpc_web_get_me(&self, key: &str) -> reqwest::RequestBuilder {
        use prost::Message;
        let message = crm_proto::auth::GetMeRequest {}.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        self.http
            .post(self.url("/crm.auth.v1.AuthService/GetMe"))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header("x-api-key", key)
            .header("origin", "https://app.example.com")
            .body(frame)
    }

    /// POST as a user (JWT).
    pub fn post_as(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token)
    }

    /// PUT as a user (JWT).
    pub fn put_as(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(token)
    }

    /// DELETE as a user (JWT).
    pub fn delete_as(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(token)
    }

    /// GET with an API key in the X-API-Key header.
    pub async fn get_with_key(&self, path: &str, key: &str) -> (u16, Value) {
        self.get_with_key_at(&self.base, path, key).await
    }

    pub async fn get_with_key_at(&self, base: &str, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{base}{path}"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `message` as a request from one of our own services, for internal RPCs.
    pub fn as_service<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        crm_platform::principal::PrincipalVerifier::new(&self.service_secret)
            .sign_into(
                &crm_platform::Principal::service("tests"),
                request.metadata_mut(),
            )
            .unwrap();
        request
    }

    /// The gateway at `base`'s `/metrics` text.
    pub async fn metrics(&self, base: &str) -> String {
        let r = self.http.get(format!("{base}/metrics")).send().await;
        r.unwrap().text().await.unwrap()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// Polls `check` every 20 ms until it returns true or `limit` passes; returns the time taken.
pub async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The Redis URL the suite runs against, if any: tests of shared state across gateways and
/// of Redis failing need a real one.
pub fn real_redis() -> Option<String> {
    crm_platform::config::env_nonempty("REDIS_URL")
}

/// A TCP relay in front of Redis that a test can cut, to make Redis unreachable mid-test
/// (connections dropped, new ones refused) without touching the shared server.
pub struct RedisRelay {
    /// `redis://` URL of the relay.
    pub url: String,
    stop: tokio_util::sync::CancellationToken,
}

impl RedisRelay {
    /// Relays to the Redis at `target` (a `redis://host:port[/db]` URL).
    pub async fn to(target: &str) -> Self {
        let rest = target.strip_prefix("redis://").expect("redis:// URL");
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let upstream = host.rsplit('@').next().unwrap_or(host).to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}/{path}", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let mut inbound = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((c, _)) => c,
                        Err(_) => return,
                    },
                };
                let (upstream, token) = (upstream.clone(), token.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Self { url, stop }
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.stop.cancel();
    }
}
