//! Sending one signed event to one subscription and recording the attempt: test sends and
//! every try of the delivery engine.

use super::{
    WebhooksState,
    catalog::TEST_EVENT,
    db_error,
    envelope::Envelope,
    new_id,
    signature::signed_headers,
    subscriptions::{self, signing_secrets},
};
use crate::store::{
    attempts::{self, AttemptRow},
    subscriptions::SubscriptionRow,
};
use chrono::Utc;
use reqwest::Url;
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::Status;

/// How much of a receiver's answer is kept.
pub const BODY_EXCERPT_BYTES: usize = 4096;
/// What an attempt is called when the receiver answered 2xx.
pub const DELIVERED: &str = "delivered";
/// ... and otherwise.
pub const FAILED: &str = "failed";

/// What the receiver did with one attempt.
struct Outcome {
    response_status: Option<i32>,
    response_body: String,
    error: Option<String>,
    /// The receiver's `Retry-After`, when it sent one.
    retry_after: Option<String>,
}

/// The first [`BODY_EXCERPT_BYTES`] of the answer, read no further, as text.
async fn excerpt(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut kept = Vec::new();
    while kept.len() < BODY_EXCERPT_BYTES {
        match response.chunk().await? {
            Some(chunk) => kept.extend_from_slice(&chunk),
            None => break,
        }
    }
    kept.truncate(BODY_EXCERPT_BYTES);
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    // A cut through a multi-byte character leaves a replacement character; drop it.
    if kept.len() == BODY_EXCERPT_BYTES && text.ends_with('\u{FFFD}') {
        text.pop();
    }
    Ok(text)
}

fn describe(e: &reqwest::Error, timeout_ms: i32) -> String {
    if e.is_timeout() {
        format!("the receiver did not answer within {timeout_ms} ms")
    } else if e.is_connect() {
        "could not connect to the receiver".to_owned()
    } else {
        // The source chain says what went wrong (TLS, reset...) without our internals.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

/// POSTs `envelope` to the subscription's URL, signed with its current secrets: connecting
/// only to the address checked against the target policy, never following a redirect.
async fn post(
    state: &WebhooksState,
    row: &SubscriptionRow,
    envelope: &Envelope,
) -> Result<Outcome, Status> {
    let failed = |error: String| Outcome {
        response_status: None,
        response_body: String::new(),
        error: Some(error),
        retry_after: None,
    };
    let Ok(url) = Url::parse(&row.url) else {
        return Ok(failed("the stored URL does not parse".into()));
    };
    // Checked again now: the name may resolve elsewhere than when it was saved.
    let addr = match state.targets.resolve(&url).await {
        Ok(addr) => addr,
        Err(why) => return Ok(failed(format!("url {why}"))),
    };
    let timeout = Duration::from_millis(row.timeout_ms.max(1) as u64);
    let host = url
        .host_str()
        .filter(|h| h.parse::<std::net::IpAddr>().is_err());
    let client = state
        .http
        .get(host, addr, row.verify_ssl)
        .map_err(|e| crm_platform::error::internal("building the webhook client", e))?;
    let body = envelope.body();
    let mut request = client
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "crm-webhooks/1");
    let custom: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&row.headers).unwrap_or_default();
    for (name, value) in custom {
        request = request.header(name, value);
    }
    let secrets = signing_secrets(state, row)?;
    // Signed as of now, not the event's time: receivers refuse old signatures (Standard
    // Webhooks allows five minutes), and a retry may come hours after the event.
    for (name, value) in signed_headers(
        &secrets,
        &envelope.id,
        &envelope.event_type,
        Utc::now(),
        &body,
    ) {
        request = request.header(name, value);
    }
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => return Ok(failed(describe(&e, row.timeout_ms))),
    };
    let code = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let redirect = code.is_redirection();
    let response_body = match excerpt(response).await {
        Ok(text) => text,
        Err(e) => {
            return Ok(Outcome {
                response_status: Some(code.as_u16().into()),
                response_body: String::new(),
                error: Some(describe(&e, row.timeout_ms)),
                retry_after,
            });
        }
    };
    let error = if code.is_success() {
        None
    } else if redirect {
        Some(format!(
            "the receiver answered {code}; redirects are not followed, give the final URL"
        ))
    } else {
        Some(format!("the receiver answered {code}"))
    };
    Ok(Outcome {
        response_status: Some(code.as_u16().into()),
        response_body,
        error,
        retry_after,
    })
}

/// One try to deliver `envelope` to the subscription, recorded in `webhook_attempts`.
pub async fn attempt(
    state: &WebhooksState,
    row: &SubscriptionRow,
    envelope: &Envelope,
) -> Result<AttemptRow, Status> {
    let (attempt, _) = send(state, row, envelope, None).await?;
    attempts::insert(&state.db, &row.workspace_id, attempt.clone())
        .await
        .map_err(db_error("record webhook attempt"))?;
    Ok(attempt)
}

/// Sends `envelope` once on behalf of delivery `delivery_id` (none for a test send) and
/// answers the attempt, not yet stored (the engine stores it with the delivery's new state,
/// in one transaction), with the receiver's `Retry-After`.
pub async fn send(
    state: &WebhooksState,
    row: &SubscriptionRow,
    envelope: &Envelope,
    delivery_id: Option<&str>,
) -> Result<(AttemptRow, Option<String>), Status> {
    let attempted_at = Utc::now();
    let started = Instant::now();
    let outcome = post(state, row, envelope).await?;
    let attempt = AttemptRow {
        id: new_id(),
        workspace_id: row.workspace_id.clone(),
        webhook_id: row.id.clone(),
        event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        status: if outcome.error.is_none() {
            DELIVERED
        } else {
            FAILED
        }
        .to_owned(),
        response_status: outcome.response_status,
        response_body: outcome.response_body,
        duration_ms: started.elapsed().as_millis() as i64,
        error: outcome.error,
        attempted_at,
        delivery_id: delivery_id.map(str::to_owned),
    };
    Ok((attempt, outcome.retry_after))
}

/// Sends a `webhook.test` event to the subscription now and answers what happened.
pub async fn test(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<AttemptRow, Status> {
    let row = subscriptions::row(state, workspace_id, id).await?;
    let envelope = Envelope {
        id: new_id(),
        event_type: TEST_EVENT.to_owned(),
        timestamp: Utc::now(),
        data: json!({
            "message": "This is a test event from the CRM.",
            "webhook_id": row.id,
        }),
    };
    attempt(state, &row, &envelope).await
}
