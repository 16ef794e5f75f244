//! Public endpoints whose caller signs the request body: incoming webhooks
//! (`POST /api/v1/webhooks/incoming/{token}`, any JSON object, HMAC of the bytes) and
//! provider callbacks (Twilio's form-encoded status reports, `X-Twilio-Signature`). The
//! generic REST handler parses a body into the request message, but these signatures cover
//! the exact bytes, so these routes pass the raw body and the request's headers to the RPC as
//! they came. Everything else is as for any public call: admission (per-address limit), a
//! signed anonymous principal, the request id and client address, the backend's answer.

use super::{codec::DynamicCodec, response};
use crate::{
    admission::{self, Refused},
    error::GatewayError,
    state::GatewayState,
};
use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};
use crm_platform::principal::{CLIENT_IP_HEADER, REQUEST_ID_HEADER};
use http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE, uri::PathAndQuery};
use prost_reflect::{DynamicMessage, MapKey, Value};
use std::{collections::HashMap, net::IpAddr, sync::Arc};

/// A route served with the raw body.
#[derive(Debug)]
pub struct RawRoute {
    /// The route, as the proto's http rule writes it.
    pub path: &'static str,
    /// The RPC it calls, whose request has `body` (bytes) and `headers` (map) fields.
    pub grpc_path: &'static str,
}

/// Incoming webhooks: the request also carries the path's `token`.
pub const INCOMING_WEBHOOK: RawRoute = RawRoute {
    path: "/api/v1/webhooks/incoming/{token}",
    grpc_path: "/crm.webhooks.v1.IncomingWebhooksService/ReceiveIncomingWebhook",
};

/// Twilio's message status callbacks.
pub const TWILIO_STATUS: RawRoute = RawRoute {
    path: "/api/v1/messaging/twilio/status",
    grpc_path: "/crm.messaging.v1.ProviderCallbackService/ReceiveTwilioStatus",
};

/// Every route served with the raw body.
pub const ROUTES: &[&RawRoute] = &[&INCOMING_WEBHOOK, &TWILIO_STATUS];

/// The raw route at `path`, if it is one.
pub fn route(path: &str) -> Option<&'static RawRoute> {
    ROUTES.iter().copied().find(|r| r.path == path)
}

/// Headers never passed on: credentials of ours that a sender has no reason to send here.
const WITHHELD: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// Handles one call from `ip`; `params` are the path's variables (the hook's token).
pub async fn handle(
    state: Arc<GatewayState>,
    route: &'static RawRoute,
    params: Vec<(String, String)>,
    request: Request,
    ip: IpAddr,
) -> Response {
    let mut limit = None;
    let mut response = call(&state, route, params, request, ip, &mut limit)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Some(d) = &limit {
        d.apply(response.headers_mut());
    }
    response
}

/// The request's headers as the service reads them: lower-case names, repeated ones joined.
fn forwarded_headers(headers: &HeaderMap) -> HashMap<MapKey, Value> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        if WITHHELD.contains(&name.as_str()) {
            continue;
        }
        let Ok(text) = value.to_str() else { continue };
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(text);
            })
            .or_insert_with(|| text.to_owned());
    }
    out.into_iter()
        .map(|(k, v)| (MapKey::String(k), Value::String(v)))
        .collect()
}

async fn call(
    state: &GatewayState,
    route: &'static RawRoute,
    params: Vec<(String, String)>,
    request: Request,
    ip: IpAddr,
    limit: &mut Option<crate::ratelimit::decision::Decision>,
) -> Result<Response, GatewayError> {
    let rpc = state
        .table
        .methods
        .get(route.grpc_path)
        .ok_or_else(|| {
            GatewayError::internal(format!("{} is not in the route table", route.grpc_path))
        })?
        .clone();
    let (parts, body) = request.into_parts();
    let admitted = match admission::admit(state, &rpc, &parts.headers, parts.uri.query(), ip).await
    {
        Ok(a) => a,
        Err(Refused {
            error, limit: l, ..
        }) => {
            *limit = l;
            return Err(error);
        }
    };
    *limit = admitted.limit;
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| GatewayError::payload_too_large(state.max_body_bytes))?;
    let mut message = DynamicMessage::new(rpc.input.clone());
    for (name, value) in params {
        message.set_field_by_name(&name, Value::String(value));
    }
    message.set_field_by_name("body", Value::Bytes(body));
    message.set_field_by_name("headers", Value::Map(forwarded_headers(&parts.headers)));

    let mut grpc_request = tonic::Request::new(message);
    state
        .signer
        .sign_into(&admitted.caller.principal, grpc_request.metadata_mut())
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    let metadata = grpc_request.metadata_mut();
    if let Some(id) = parts
        .headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        metadata.insert(REQUEST_ID_HEADER, id);
    }
    if let Ok(address) = ip.to_string().parse() {
        metadata.insert(CLIENT_IP_HEADER, address);
    }
    let path = PathAndQuery::from_static(route.grpc_path);
    let mut client = tonic::client::Grpc::new(state.backends.get(&rpc.backend)?);
    client.ready().await.map_err(|e| {
        tracing::warn!(backend = %rpc.backend, error = %e, "backend unreachable");
        GatewayError::new(
            tonic::Code::Unavailable,
            "SERVICE_UNAVAILABLE",
            format!("{} service unavailable; retry shortly", rpc.backend),
        )
    })?;
    let reply = match client
        .unary(grpc_request, path, DynamicCodec::new(rpc.output.clone()))
        .await
    {
        Ok(reply) => reply,
        Err(status) => return Ok(refusal(&status)),
    };
    // An empty answer (a callback's acknowledgement) is a 204; an incoming hook that
    // created a record a 201.
    if rpc.output.fields().next().is_none() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let created = reply
        .get_ref()
        .get_field_by_name("action")
        .is_some_and(|a| a.as_str() == Some("created"));
    let body = response::to_body(reply.get_ref(), rpc.output_needs_nulls)?;
    let status = if created {
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

/// The service's refusal as the sender reads it; a per-hook rate limit says when to retry.
fn refusal(status: &tonic::Status) -> Response {
    use tonic_types::StatusExt;
    let retry_after = (status.code() == tonic::Code::ResourceExhausted)
        .then(|| status.get_error_details())
        .and_then(|d| {
            d.error_info()
                .and_then(|i| i.metadata.get("retry_after_seconds").cloned())
        })
        .and_then(|v| HeaderValue::from_str(&v).ok());
    let mut response = GatewayError::from_status(status).into_response();
    if let Some(v) = retry_after {
        response.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    response
}
