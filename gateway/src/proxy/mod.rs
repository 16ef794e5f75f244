//! gRPC and gRPC-web: authenticated, then forwarded to the owning service unchanged. gRPC-web
//! is translated to gRPC here, so browsers need no proxy of their own.

use crate::{
    admission, auth::key_cache::KeyEntry, error::http_status, ratelimit::decision::Decision,
    state::GatewayState, usage::request_log::Seen,
};
use crm_platform::principal::{PRINCIPAL_HEADER, SIGNATURE_HEADER};
use http::{HeaderValue, Request, Response};
use std::{
    convert::Infallible,
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tonic::body::Body;
use tower::{Layer, Service, ServiceExt};

/// True for `application/grpc`, `application/grpc+proto`, `application/grpc-web*`.
pub fn is_grpc(request: &Request<axum::body::Body>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Handles a gRPC or gRPC-web request.
pub async fn handle(
    state: Arc<GatewayState>,
    request: Request<axum::body::Body>,
    ip: IpAddr,
) -> axum::response::Response {
    let service = tonic_web::GrpcWebLayer::new().layer(GrpcForwarder { state, ip });
    match service.oneshot(request).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

/// Forwards one gRPC call after admission.
#[derive(Clone)]
struct GrpcForwarder {
    state: Arc<GatewayState>,
    ip: IpAddr,
}

impl Service<Request<Body>> for GrpcForwarder {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let state = self.state.clone();
        let ip = self.ip;
        Box::pin(async move {
            let seen = state
                .request_log
                .enabled()
                .then(|| Seen::new(request.headers(), ip));
            let path: Arc<str> = request.uri().path().into();
            let mut limit = None;
            let mut key = None;
            let mut response = forward(&state, request, ip, &mut limit, &mut key)
                .await
                .unwrap_or_else(|status| status.into_http());
            if let Some(d) = &limit {
                d.apply(response.headers_mut());
            }
            if let (Some(seen), Some(key)) = (seen, &key) {
                // A trailers-only answer carries its status in the headers; a streamed one
                // reports it in trailers the gateway does not wait for (logged as 200).
                let status = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(200, |c| http_status(tonic::Code::from(c)).as_u16());
                let size = http_body::Body::size_hint(response.body())
                    .exact()
                    .unwrap_or(0);
                state
                    .request_log
                    .finish(key, seen, &http::Method::POST, path, status, size);
            }
            Ok(response)
        })
    }
}

async fn forward(
    state: &GatewayState,
    mut request: Request<Body>,
    ip: IpAddr,
    limit: &mut Option<Decision>,
    key: &mut Option<Arc<KeyEntry>>,
) -> Result<Response<Body>, tonic::Status> {
    let Some(rpc) = state.table.methods.get(request.uri().path()).cloned() else {
        return Err(tonic::Status::unimplemented(format!(
            "unknown method {}",
            request.uri().path()
        )));
    };
    let admitted =
        match admission::admit(state, &rpc, request.headers(), request.uri().query(), ip).await {
            Ok(a) => a,
            Err(refused) => {
                let status = refused.to_status();
                *limit = refused.limit;
                *key = refused.key;
                return Err(status);
            }
        };
    *limit = admitted.limit;
    *key = admitted.caller.key;
    let principal = admitted.caller.principal;
    let (encoded, signature) = state.signer.sign(&principal)?;
    let headers = request.headers_mut();
    // Whatever the client claims to be is discarded: only our signature counts.
    headers.remove(PRINCIPAL_HEADER);
    headers.remove(SIGNATURE_HEADER);
    headers.insert(
        PRINCIPAL_HEADER,
        HeaderValue::from_str(&encoded).map_err(|_| tonic::Status::internal("principal header"))?,
    );
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&signature)
            .map_err(|_| tonic::Status::internal("signature header"))?,
    );
    headers.remove("x-api-key");
    headers.remove(http::header::AUTHORIZATION);
    let channel = state
        .backends
        .get(&rpc.backend)
        .map_err(|e| e.to_status())?;
    state.usage.record(&principal);
    match channel.oneshot(request).await {
        Ok(response) => Ok(response),
        Err(e) => {
            tracing::warn!(backend = %rpc.backend, error = %e, "backend unreachable");
            Err(tonic::Status::unavailable(format!(
                "{} service unavailable; retry shortly",
                rpc.backend
            )))
        }
    }
}
