use crate::helpers::{TestApp, within};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_openapi_cors_and_request_ids() {
    let app = TestApp::spawn().await;
    let (s, h) = app.send(app.http.get(app.url("/healthz"))).await;
    assert_eq!((s, h["status"].as_str()), (200, Some("ok")));
    let (s, r) = app.send(app.http.get(app.url("/readyz"))).await;
    assert_eq!(s, 200);
    assert_eq!(r["details"]["backends"]["auth"], "serving");
    assert_eq!(r["details"]["backends"]["pipeline"], "serving");

    let r = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/api-keys/{id}/regenerate"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/api-keys/{id}/revoke"]["post"].is_object());
    assert_eq!(
        doc["paths"]["/api/agents"]["get"]["x-required-scopes"],
        json!(["workspace_members:read"])
    );

    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/api-keys"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    let r = app
        .http
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], false);
    let r = app
        .http
        .patch(app.url("/api/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_unreachable_the_gateway_keeps_serving_and_says_so() {
    let app = TestApp::spawn_with_redis_unreachable().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    let (s, r) = app.send(app.http.get(app.url("/readyz"))).await;
    assert_eq!(s, 200);
    assert_eq!(r["status"], "degraded");
    assert!(r["details"]["redis"].as_str().unwrap().starts_with("down"));
    // No invalidation can travel while Redis is away, so cached keys live only briefly and
    // a revocation still takes effect within seconds rather than the full cache TTL (300 s here).
    let (s, _) = app
        .send(app.post_as(&owner.token, &format!("/api/api-keys/{id}/revoke")))
        .await;
    assert_eq!(s, 200);
    let stopped = within(Duration::from_secs(5), || async {
        app.get_with_key("/api/auth/me", &key).await.0 == 401
    })
    .await;
    assert!(
        stopped.is_some(),
        "a revoked key kept working while Redis was down"
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_answers_health_and_reflection_with_its_package() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = TestApp::spawn().await;
    for (name, url) in app.stack.backend_urls() {
        let channel = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(health.status, 1, "{name} serving");
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut replies = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .unwrap()
            .into_inner();
        let reply = replies.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("{name}: no service list");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        let package = format!("crm.{name}.v1.");
        assert!(
            names.iter().any(|n| n.starts_with(&package)),
            "{name} lists {names:?}"
        );
        assert!(
            names
                .iter()
                .all(|n| n.starts_with(&package) || n.starts_with("grpc.")),
            "{name} lists only what it serves: {names:?}"
        );
    }
    app.stack.stop().await;
}
