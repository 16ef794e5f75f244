//! Operational endpoints: liveness, readiness, the API description and its reference page.

use crate::state::GatewayState;
use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use serde_json::{Map, Value, json};
use std::{sync::Arc, time::Duration};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Alive as long as the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when every backend reports SERVING. Redis being away degrades, but does not stop,
/// the gateway: it says so here.
pub async fn readyz(State(state): State<Arc<GatewayState>>) -> Response {
    let mut backends = Map::new();
    let mut ready = true;
    for name in state.backends.names() {
        let status = match state.backends.get(name) {
            Ok(channel) => {
                let mut client = HealthClient::new(channel);
                let check = client.check(HealthCheckRequest {
                    service: String::new(),
                });
                match tokio::time::timeout(Duration::from_secs(1), check).await {
                    Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => "serving",
                    Ok(Ok(_)) => "not_serving",
                    _ => "unreachable",
                }
            }
            Err(_) => "unconfigured",
        };
        ready &= status == "serving";
        backends.insert(name.clone(), Value::String(status.to_owned()));
    }
    let redis = match &state.redis {
        None => "not_configured (in-process cache only)",
        Some(r) if r.ping().await => "up",
        Some(_) => {
            "down (serving from the in-process cache; keys validated directly with svc-auth)"
        }
    };
    let degraded = redis.starts_with("down");
    let body = json!({
        "status": if !ready { "not_ready" } else if degraded { "degraded" } else { "ready" },
        "details": {
            "backends": backends,
            "redis": redis,
            "request_logs": {
                "enabled": state.request_log.enabled(),
                "sent": state.request_log.sent(),
                "dropped": state.request_log.dropped(),
            },
        },
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Counters in the Prometheus text format: refused calls, Redis round trips.
pub async fn metrics(State(state): State<Arc<GatewayState>>) -> Response {
    let redis = state.redis.as_ref().map_or(0, |r| r.round_trips());
    let body = format!(
        "# TYPE crm_gateway_rate_limited_total counter\ncrm_gateway_rate_limited_total {}\n# TYPE crm_gateway_redis_round_trips_total counter\ncrm_gateway_redis_round_trips_total {}\n# TYPE crm_gateway_request_logs_sent_total counter\ncrm_gateway_request_logs_sent_total {}\n# TYPE crm_gateway_request_logs_dropped_total counter\ncrm_gateway_request_logs_dropped_total {}\n",
        state.limiter.refused(),
        redis,
        state.request_log.sent(),
        state.request_log.dropped(),
    );
    let mut r = body.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// The OpenAPI document.
pub async fn openapi(State(state): State<Arc<GatewayState>>) -> Response {
    let mut r = state.openapi.clone().into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `/docs`: the API reference page, rendered in the browser from `/openapi.json`.
pub async fn docs() -> Response {
    crate::openapi::docs_page::page()
}

/// `/docs/assets/{file}`: the page's embedded scripts and styles.
pub async fn docs_asset(Path(file): Path<String>) -> Response {
    crate::openapi::docs_page::asset(&file).unwrap_or_else(|| {
        crate::error::GatewayError::new(
            tonic::Code::NotFound,
            "NOT_FOUND",
            format!("no asset {file}; the reference page is /docs"),
        )
        .into_response()
    })
}
