//! Rate limits as gRPC and gRPC-web callers see them: the same headers as metadata, and
//! RESOURCE_EXHAUSTED (with Retry-After) when a window is spent.

use crate::{helpers::TestApp, rate_limits::key_with};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn grpc_callers_get_resource_exhausted() {
    use crm_proto::auth::{GetMeRequest, auth_service_client::AuthServiceClient};
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, json!({"rate_limit_override": 2})).await;
    let mut client = AuthServiceClient::connect(app.base.clone()).await.unwrap();
    let request = || {
        let mut r = tonic::Request::new(GetMeRequest {});
        r.metadata_mut().insert("x-api-key", key.parse().unwrap());
        r
    };
    for _ in 0..2 {
        let ok = client.get_me(request()).await.unwrap();
        assert_eq!(ok.metadata().get("x-ratelimit-limit").unwrap(), "2");
    }
    let err = client.get_me(request()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(err.message().contains("2 requests per minute"));
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_web_callers_see_the_limit_and_resource_exhausted() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, json!({"rate_limit_override": 2})).await;
    let send = || app.grpc_web_get_me(&key).send();
    // gRPC-web puts the status in the headers (trailers-only answer) or in a trailers frame.
    let grpc_status = |headers: &reqwest::header::HeaderMap, body: &[u8]| {
        headers
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
            .or_else(|| {
                let text = String::from_utf8_lossy(body).into_owned();
                let at = text.find("grpc-status:")? + "grpc-status:".len();
                Some(
                    text[at..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect(),
                )
            })
    };
    for remaining in ["1", "0"] {
        let r = send().await.unwrap();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap();
        assert_eq!(grpc_status(&headers, &body).as_deref(), Some("0"));
        assert_eq!(headers["x-ratelimit-limit"], "2");
        assert_eq!(headers["x-ratelimit-remaining"], remaining);
    }
    let r = send().await.unwrap();
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        grpc_status(&headers, &body).as_deref(),
        Some("8"),
        "RESOURCE_EXHAUSTED: {headers:?} {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    app.stack.stop().await;
}
