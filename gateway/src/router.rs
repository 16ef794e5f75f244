//! Builds the one axum router that serves all three faces.

use crate::{error::GatewayError, ops, proxy, state::GatewayState, transcode::rest};
use axum::{
    Router,
    extract::{ConnectInfo, Path, Request, State},
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter, get},
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};
use tower_http::{
    cors::{Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

/// The router: REST bindings from the table, ops endpoints, gRPC/gRPC-web as fallback.
pub fn build(state: Arc<GatewayState>) -> Router {
    let mut by_path: BTreeMap<String, MethodRouter<Arc<GatewayState>>> = BTreeMap::new();
    for binding in &state.table.bindings {
        let path = binding.path.to_string();
        let binding = Arc::new(binding.clone());
        let filter = MethodFilter::try_from(binding.method.clone())
            .expect("http rule verbs are standard methods");
        let handler = move |State(state): State<Arc<GatewayState>>,
                            params: Option<Path<Vec<(String, String)>>>,
                            request: Request| {
            let binding = binding.clone();
            async move {
                let ip = client_ip(&state, &request);
                let (parts, body) = request.into_parts();
                let params = params.map(|Path(p)| p).unwrap_or_default();
                rest::handle(state, &binding, params, parts, body, ip).await
            }
        };
        let route = by_path
            .remove(&path)
            .unwrap_or_else(|| MethodRouter::new().fallback(method_not_allowed));
        by_path.insert(path, route.on(filter, handler));
    }
    let mut router = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi));
    for (path, route) in by_path {
        router = router.route(&path, route);
    }
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any);
    router
        .fallback(fallback)
        .with_state(state)
        .layer(cors)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The client address: socket peer, or `X-Forwarded-For` behind a trusted proxy.
fn client_ip(state: &GatewayState, request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    state.trusted_proxies.client_ip(peer, request.headers())
}

async fn fallback(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    if proxy::is_grpc(&request) {
        let ip = client_ip(&state, &request);
        return proxy::handle(state, request, ip).await;
    }
    GatewayError::new(
        tonic::Code::NotFound,
        "NOT_FOUND",
        format!(
            "no endpoint {} {}; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    let mut r = GatewayError::new(
        tonic::Code::InvalidArgument,
        "METHOD_NOT_ALLOWED",
        format!(
            "{} is not allowed on {}; see /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response();
    *r.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
    r
}
