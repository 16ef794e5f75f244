//! gRPC health on the gateway's port: the gateway and each public service answer, internal
//! services are unknown, and a `Watch` reports the shutdown and ends.

use super::{INTERNAL_SERVICES, PUBLIC_SERVICES, base64, channel, gateway_serving};
use crate::helpers::TestApp;
use prost::Message;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// gRPC health on the gateway's port, without credentials: the gateway's readiness under the
/// empty name, each public service's backend under its name; internal services are unknown.
#[tokio::test(flavor = "multi_thread")]
async fn health_answers_for_the_gateway_and_each_public_service() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(channel(&app.base).await);
    assert!(
        gateway_serving(&app.base, Duration::from_secs(5)).await,
        "the gateway reports SERVING once its backends answer"
    );
    for service in PUBLIC_SERVICES {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    for internal in INTERNAL_SERVICES {
        let err = health
            .check(HealthCheckRequest {
                service: internal.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{internal}");
    }

    // gRPC-web text, hand-framed: an empty HealthCheckRequest asks for the gateway.
    let response = app
        .http
        .post(app.url("/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(base64::encode(&[0, 0, 0, 0, 0]))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let body = base64::decode_chunks(&text);
    assert!(body.len() > 5, "no message: {text:?}");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let answer = tonic_health::pb::HealthCheckResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(answer.status, ServingStatus::Serving as i32);
    app.stack.stop().await;
}

/// A `Watch` stream says SERVING, then NOT_SERVING when the gateway shuts down, and ends, so
/// an open watcher does not hold the shutdown.
#[tokio::test(flavor = "multi_thread")]
async fn watch_reports_the_shutdown_and_ends() {
    let app = TestApp::spawn().await;
    assert!(gateway_serving(&app.base, Duration::from_secs(5)).await);
    let mut health = HealthClient::new(channel(&app.base).await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let started = Instant::now();
    let stopping = tokio::spawn(app.stack.stop());
    let mut last = None;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = watch.next().await {
            last = Some(message.status);
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends on shutdown");
    assert_eq!(last, Some(ServingStatus::NotServing as i32));
    stopping.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}
