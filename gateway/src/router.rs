//! Builds the one axum router that serves all three faces.

use crate::{
    error::GatewayError,
    ops, proxy,
    state::GatewayState,
    transcode::{raw_body, rest},
};
use axum::{
    Router,
    extract::{ConnectInfo, Path, Request, State},
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter, get},
};
use http::{
    HeaderValue,
    header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS},
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};
use tower_http::{
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

/// The router: REST bindings from the table, ops endpoints, gRPC/gRPC-web as fallback.
/// `cors` comes from [`cors_layer`].
pub fn build(state: Arc<GatewayState>, cors: CorsLayer) -> Router {
    let mut by_path: BTreeMap<String, MethodRouter<Arc<GatewayState>>> = BTreeMap::new();
    for binding in &state.table.bindings {
        let path = binding.path.to_string();
        if raw_body::route(&path).is_some() {
            // Served below with the raw body (its signature covers the exact bytes).
            continue;
        }
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
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(ops::docs))
        .route("/docs/assets/{file}", get(ops::docs_asset));
    for &raw in raw_body::ROUTES {
        router = router.route(
            raw.path,
            axum::routing::post(
                move |State(state): State<Arc<GatewayState>>,
                      params: Option<Path<Vec<(String, String)>>>,
                      request: Request| async move {
                    let ip = client_ip(&state, &request);
                    let params = params.map(|Path(p)| p).unwrap_or_default();
                    raw_body::handle(state, raw, params, request, ip).await
                },
            )
            .fallback(method_not_allowed),
        );
    }
    for (path, route) in by_path {
        router = router.route(&path, route);
    }
    router
        .fallback(fallback)
        .with_state(state)
        .layer(cors)
        // Outside CORS, so preflight answers carry them too.
        .layer(axum::middleware::map_response(safety_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// CORS for `origins` (`CRM_CORS_ORIGINS`): comma-separated origins such as
/// `https://app.example.com`, or empty / `*` for any. Any origin is the default because no
/// credential travels in a cookie: a page can only call with a token or key it already holds,
/// so an allow-list protects nothing by default while it would break every partner's browser
/// app. Operators who serve only their own front end list it here.
pub fn cors_layer(origins: &str) -> Result<CorsLayer, String> {
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any);
    let listed: Vec<&str> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if listed.is_empty() || listed == ["*"] {
        return Ok(layer.allow_origin(Any));
    }
    let parsed = listed
        .iter()
        .map(|o| {
            let uri: http::Uri = o.parse().map_err(|_| bad_origin(o))?;
            let bare = uri.scheme().is_some()
                && uri.authority().is_some()
                && uri
                    .path_and_query()
                    .is_none_or(|p| p.as_str() == "/" && !o.ends_with('/'));
            if !bare || *o == "*" {
                return Err(bad_origin(o));
            }
            HeaderValue::from_str(o).map_err(|_| bad_origin(o))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(layer.allow_origin(AllowOrigin::list(parsed)))
}

fn bad_origin(origin: &str) -> String {
    format!(
        "cors_origins: '{origin}' is not an origin; set CRM_CORS_ORIGINS to comma-separated origins like https://app.example.com (scheme and host, no path), or to * for any"
    )
}

/// Headers on every answer: `nosniff`, so a browser never runs a JSON body as something else;
/// `Cache-Control: no-store` unless the handler chose a policy, since API answers are per
/// caller and several carry secrets (new keys, tokens, webhook secrets) that no cache or
/// browser history may keep.
async fn safety_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
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
