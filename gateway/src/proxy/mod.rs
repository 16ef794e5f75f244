//! gRPC and gRPC-web: authenticated, then forwarded to the owning service unchanged. gRPC-web
//! is translated to gRPC here, so browsers need no proxy of their own. Health and reflection
//! are answered by the gateway itself (`local`).

pub mod health;
pub mod local;
pub mod public_api;

use crate::{
    admission, auth::key_cache::KeyEntry, error::http_status, ratelimit::decision::Decision,
    state::GatewayState, usage::request_log::Seen,
};
use crm_platform::principal::{
    CLIENT_IP_HEADER, PRINCIPAL_HEADER, REQUEST_ID_HEADER, SIGNATURE_HEADER,
};
use http::{HeaderMap, HeaderValue, Request, Response};
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
use tower_http::request_id::RequestId;

/// True for `application/grpc`, `application/grpc+proto`, `application/grpc-web*`.
pub fn is_grpc(request: &Request<axum::body::Body>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// True for `application/grpc-web-text` (and `+proto`): frames travel base64-encoded.
fn is_grpc_web_text(request: &Request<axum::body::Body>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web-text"))
}

/// Handles a gRPC or gRPC-web request.
pub async fn handle(
    state: Arc<GatewayState>,
    request: Request<axum::body::Body>,
    ip: IpAddr,
) -> axum::response::Response {
    let web = tonic_web::GrpcWebLayer::new();
    let answer = if state.local.serves(request.uri().path()) {
        web.layer(state.local.routes()).oneshot(request).await
    } else {
        let text = is_grpc_web_text(&request);
        web.layer(GrpcForwarder { state, ip, text })
            .oneshot(request)
            .await
    };
    match answer {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

/// Forwards one gRPC call after admission.
#[derive(Clone)]
struct GrpcForwarder {
    state: Arc<GatewayState>,
    ip: IpAddr,
    /// The client spoke gRPC-web text, so the body is decoded on its way through.
    text: bool,
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
        let request = if self.text {
            request.map(forget_length)
        } else {
            request
        };
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
    let request_id = request.extensions().get::<RequestId>().cloned();
    set_call_facts(request.headers_mut(), ip, request_id.as_ref());
    let channel = state
        .backends
        .get(&rpc.backend)
        .map_err(|e| e.to_status())?;
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

/// The body with its size unknown. A gRPC-web text body is base64-decoded on its way to the
/// backend, so it ends up shorter than the client's `content-length`, which tonic-web's body
/// still reports as its exact size; hyper would send that size on as the HTTP/2
/// `content-length`, the body would fall short of it and the backend would reset the stream
/// (the client saw `UNAVAILABLE`). gRPC frames carry their own lengths; none is needed.
fn forget_length(body: Body) -> Body {
    Body::new(http_body_util::StreamBody::new(
        http_body_util::BodyStream::new(body),
    ))
}

/// Tells the service what the gateway knows of the call: the client address it determined
/// (whatever the client sent under that name is dropped) and the request id it assigned.
fn set_call_facts(headers: &mut HeaderMap, ip: IpAddr, request_id: Option<&RequestId>) {
    headers.remove(CLIENT_IP_HEADER);
    // An address's text is always a valid header value.
    if let Ok(address) = HeaderValue::from_str(&ip.to_string()) {
        headers.insert(CLIENT_IP_HEADER, address);
    }
    // The router's request-id layer put the id in the headers too; the extension is what it
    // assigned, so it wins should the two ever differ.
    if let Some(id) = request_id {
        headers.insert(REQUEST_ID_HEADER, id.header_value().clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_cannot_choose_its_address_and_the_request_id_travels() {
        let mut headers = HeaderMap::new();
        headers.append(CLIENT_IP_HEADER, HeaderValue::from_static("10.0.0.1"));
        headers.append(CLIENT_IP_HEADER, HeaderValue::from_static("10.0.0.2"));
        let id = RequestId::new(HeaderValue::from_static("req-1"));
        set_call_facts(&mut headers, "2001:db8::7".parse().unwrap(), Some(&id));
        let addresses: Vec<_> = headers.get_all(CLIENT_IP_HEADER).iter().collect();
        assert_eq!(addresses, vec!["2001:db8::7"]);
        assert_eq!(headers[REQUEST_ID_HEADER], "req-1");
    }
}
