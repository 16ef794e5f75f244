//! The REST face: one handler for every binding in the route table.

use super::{codec::DynamicCodec, request, response, table::RestBinding};
use crate::{
    admission::{self, Refused},
    error::GatewayError,
    ratelimit::decision::Decision,
    state::GatewayState,
};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE, request::Parts, uri::PathAndQuery};
use std::{net::IpAddr, sync::Arc};

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
    let mut limit = None;
    let mut response = match call(&state, binding, path_params, parts, body, ip, &mut limit).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    if let Some(d) = &limit {
        d.apply(response.headers_mut());
    }
    response
}

async fn call(
    state: &GatewayState,
    binding: &RestBinding,
    path_params: Vec<(String, String)>,
    parts: Parts,
    body: axum::body::Body,
    ip: IpAddr,
    limit: &mut Option<Decision>,
) -> Result<Response, GatewayError> {
    let rpc = &binding.rpc;
    let query = parts.uri.query();
    let admitted = match admission::admit(state, rpc, &parts.headers, query, ip).await {
        Ok(a) => a,
        Err(Refused { error, limit: l }) => {
            *limit = l;
            return Err(error);
        }
    };
    *limit = admitted.limit;
    let principal = admitted.caller.principal;
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| {
            GatewayError::new(
                tonic::Code::InvalidArgument,
                "PAYLOAD_TOO_LARGE",
                format!("request body exceeds {} bytes", state.max_body_bytes),
            )
            .with_detail("field", "body")
        })?;
    let message = request::build(&rpc.input, &binding.body, &path_params, query, &body)?;

    let mut grpc_request = tonic::Request::new(message);
    state
        .signer
        .sign_into(&principal, grpc_request.metadata_mut())
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    if let Some(id) = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        grpc_request.metadata_mut().insert("x-request-id", id);
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
    state.usage.record(&principal);
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
