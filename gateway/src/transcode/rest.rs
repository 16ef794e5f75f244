//! The REST face: one handler for every binding in the route table.

use super::{codec::DynamicCodec, request, response, table::RestBinding};
use crate::{
    admission::{self, Refused},
    auth::key_cache::KeyEntry,
    error::GatewayError,
    idempotency::Begin,
    ratelimit::decision::Decision,
    state::GatewayState,
    usage::request_log::Seen,
};
use axum::response::{IntoResponse, Response};
use crm_platform::principal::{CLIENT_IP_HEADER, REQUEST_ID_HEADER};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE, request::Parts, uri::PathAndQuery};
use std::{net::IpAddr, sync::Arc};

/// The header (and gRPC metadata entry) carrying a caller's idempotency key.
const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Handles one REST call: admit, build the request message, call the backend, answer. Every
/// answer, success or error, carries the caller's rate-limit state.
pub async fn handle(
    state: Arc<GatewayState>,
    binding: &RestBinding,
    path_params: Vec<(String, String)>,
    parts: Parts,
    body: axum::body::Body,
    ip: IpAddr,
) -> Response {
    let mut seen = state
        .request_log
        .enabled()
        .then(|| Seen::new(&parts.headers, ip));
    let mut out = Outcome::default();
    let mut response = match call(&state, binding, path_params, parts, body, ip, &mut out).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    if let Some(d) = &out.limit {
        d.apply(response.headers_mut());
    }
    if let (Some(mut seen), Some(key)) = (seen.take(), &out.key) {
        if let Some(n) = out.request_bytes {
            seen.request_bytes = n;
        }
        let size = http_body::Body::size_hint(response.body())
            .exact()
            .unwrap_or(0);
        state.request_log.finish(
            key,
            seen,
            &binding.method,
            binding.path.clone(),
            response.status().as_u16(),
            size,
        );
    }
    response
}

/// What the handler learns while calling, for headers and the request log.
#[derive(Default)]
struct Outcome {
    limit: Option<Decision>,
    key: Option<Arc<KeyEntry>>,
    request_bytes: Option<u64>,
}

async fn call(
    state: &GatewayState,
    binding: &RestBinding,
    path_params: Vec<(String, String)>,
    parts: Parts,
    body: axum::body::Body,
    ip: IpAddr,
    out: &mut Outcome,
) -> Result<Response, GatewayError> {
    let rpc = &binding.rpc;
    let query = parts.uri.query();
    let admitted = match admission::admit(state, rpc, &parts.headers, query, ip).await {
        Ok(a) => a,
        Err(Refused { error, limit, key }) => {
            out.limit = limit;
            out.key = key;
            return Err(error);
        }
    };
    out.limit = admitted.limit;
    out.key = admitted.caller.key;
    let principal = admitted.caller.principal;
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| GatewayError::payload_too_large(state.max_body_bytes))?;
    out.request_bytes = Some(body.len() as u64);
    let message = request::build(&rpc.input, &binding.body, &path_params, query, &body)?;
    // After admission (the caller scopes the key) and after the request proved well-formed
    // (a malformed one never ran, so there is nothing to replay).
    let claim = match state
        .idempotency
        .begin(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &principal,
            ip,
            &body,
        )
        .await?
    {
        Begin::NotRequested => None,
        Begin::Claimed(claim) => Some(claim),
        Begin::Replay(response) => return Ok(response),
    };
    let answer = forward(state, binding, &parts, message, &principal, ip).await;
    match claim {
        None => answer,
        Some(claim) => Ok(claim
            .finish(answer.unwrap_or_else(IntoResponse::into_response))
            .await),
    }
}

/// Calls the backend with the built message and turns its reply into the REST answer.
async fn forward(
    state: &GatewayState,
    binding: &RestBinding,
    parts: &Parts,
    message: prost_reflect::DynamicMessage,
    principal: &crm_platform::Principal,
    ip: IpAddr,
) -> Result<Response, GatewayError> {
    let rpc = &binding.rpc;
    let mut grpc_request = tonic::Request::new(message);
    state
        .signer
        .sign_into(principal, grpc_request.metadata_mut())
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    // A fresh request: nothing the client sent reaches the service unless copied here.
    let metadata = grpc_request.metadata_mut();
    if let Some(id) = parts
        .headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        metadata.insert(REQUEST_ID_HEADER, id);
    }
    // The caller's Idempotency-Key goes on too: a service that stores keys (svc-pipeline's
    // actions) then runs a retry once even through another gateway that has no shared Redis
    // and so cannot replay it.
    if let Some(key) = parts
        .headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        metadata.insert(IDEMPOTENCY_KEY_HEADER, key);
    }
    // An address's text is always valid metadata.
    if let Ok(address) = ip.to_string().parse() {
        metadata.insert(CLIENT_IP_HEADER, address);
    }
    let path = PathAndQuery::from_maybe_shared(rpc.grpc_path.clone())
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let mut client = tonic::client::Grpc::new(state.backends.get(&rpc.backend)?);
    client.ready().await.map_err(|e| {
        tracing::warn!(backend = %rpc.backend, error = %e, "backend unreachable");
        GatewayError::new(
            tonic::Code::Unavailable,
            "SERVICE_UNAVAILABLE",
            format!("{} service unavailable; retry shortly", rpc.backend),
        )
    })?;
    let reply = client
        .unary(grpc_request, path, DynamicCodec::new(rpc.output.clone()))
        .await
        .map_err(|s| GatewayError::from_status(&s))?;
    let body = response::to_body(reply.get_ref(), rpc.output_needs_nulls)?;
    let status = if binding.method == http::Method::POST && rpc.operation_id.contains(".Create") {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
