//! One call of the public endpoint: find the hook by its token's hash, count the call
//! against the hook's per-minute limit, check size and signature, read the payload through
//! the mapping, write the record in svc-pipeline, and log the call with what it did.
//!
//! Unknown, inactive and deleted tokens get the same 404, so a URL reveals nothing about the
//! hook it once named. Calls refused by the rate limit are counted but not logged: a flood
//! would otherwise write a row per call.

use super::{
    IncomingState,
    fields::{Action, Module},
    hooks::{self, Hook},
    mapping,
    records::{Actor, Written},
    signature::{self, SignatureError},
};
use crate::domain::db_error;
use crate::store::{
    incoming::{self as store, IncomingRow},
    incoming_calls,
    incoming_logs::{self, IncomingLogRow},
};
use chrono::Utc;
use crm_platform::error::{ApiError, HTTP_STATUS_KEY};
use std::{collections::HashMap, time::Instant};
use tonic::{Code, Status};

/// Bytes of a body kept in the log.
const LOGGED_BODY_BYTES: usize = 4096;

/// What a call did.
pub struct Received {
    pub written: Written,
    pub module: Module,
    pub record_id: String,
}

/// The one answer for a token that names no active hook.
fn unknown_token() -> Status {
    ApiError::new(
        Code::NotFound,
        "NOT_FOUND",
        "no active incoming webhook has this URL; check the URL, or ask its owner for the current one",
    )
    .into()
}

/// Handles one call. `headers` are the request's, names in lower case.
pub async fn receive(
    state: &IncomingState,
    token: &str,
    body: &[u8],
    headers: &HashMap<String, String>,
) -> Result<Received, Status> {
    let started = Instant::now();
    let db = &state.webhooks.db;
    let token = token.trim();
    if token.is_empty() || token.len() > 200 {
        return Err(unknown_token());
    }
    let row = store::find_by_token_hash_global(db, &signature::token_hash(token))
        .await
        .map_err(db_error("find incoming webhook by token"))?
        .ok_or_else(unknown_token)?;
    if row.status != "active" {
        return Err(unknown_token());
    }
    let window = Utc::now().timestamp().div_euclid(60);
    let calls = incoming_calls::count_call_global(db, &row.id, window)
        .await
        .map_err(db_error("count incoming webhook call"))?;
    if calls > i64::from(state.calls_per_minute) {
        let retry_after = 60 - Utc::now().timestamp().rem_euclid(60);
        return Err(ApiError::new(
            Code::ResourceExhausted,
            "RATE_LIMIT_EXCEEDED",
            format!(
                "this webhook accepts {} calls per minute; retry in {retry_after} s",
                state.calls_per_minute
            ),
        )
        .with_meta("retry_after_seconds", retry_after.to_string())
        .into());
    }
    let result = process(state, &row, body, headers).await;
    let elapsed = started.elapsed();
    log(state, &row, body, &result, elapsed.as_millis() as i64).await;
    result
}

async fn process(
    state: &IncomingState,
    row: &IncomingRow,
    body: &[u8],
    headers: &HashMap<String, String>,
) -> Result<Received, Status> {
    if body.len() > state.max_body_bytes {
        return Err(ApiError::new(
            Code::InvalidArgument,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the body is {} bytes; this endpoint takes at most {}",
                body.len(),
                state.max_body_bytes
            ),
        )
        .with_field("body", "too large")
        .with_meta(HTTP_STATUS_KEY, "413")
        .into());
    }
    if let Some(secret) = hooks::signing_secret(&state.webhooks, row)? {
        let value = headers
            .get(&row.signature_header.to_ascii_lowercase())
            .map(String::as_str);
        signature::verify(&secret, body, value).map_err(|why| {
            let message = match why {
                SignatureError::Missing => format!(
                    "this webhook needs a signature: send the hex HMAC-SHA256 of the body in {}",
                    row.signature_header
                ),
                SignatureError::Malformed => format!(
                    "{} must hold the hex HMAC-SHA256 of the body (optionally 'sha256=<hex>')",
                    row.signature_header
                ),
                SignatureError::Mismatch => format!(
                    "the signature in {} does not match the body; sign the exact bytes sent with the webhook's signing secret",
                    row.signature_header
                ),
            };
            Status::from(ApiError::new(Code::Unauthenticated, "INVALID_SIGNATURE", message))
        })?;
    }
    let payload: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_field("body", format!("must be a JSON object ({e})")))?;
    if !payload.is_object() {
        return Err(ApiError::invalid_field("body", "must be a JSON object").into());
    }
    let hook = Hook::from(row);
    let record = mapping::apply(hook.module, &hook.field_mapping, &payload)?;
    let actor = Actor {
        workspace_id: &hook.workspace_id,
        user_id: &hook.created_by,
    };
    let pipeline = &state.pipeline;
    let key_value = record
        .text(&hook.upsert_key)
        .map(str::trim)
        .filter(|v| !v.is_empty());
    // The key is not a field to write: an id is where the record is, not what it holds.
    let mut fields = record.clone();
    if hook.upsert_key == "id" {
        fields.values.remove("id");
    }
    let existing = match (hook.action, key_value) {
        (Action::Create, _) => None,
        (Action::Update, None) => {
            return Err(ApiError::invalid_field(
                &record_path(&hook, &record),
                format!(
                    "an update needs the {} '{}' to find the record; the payload has none",
                    hook.module.name(),
                    hook.upsert_key
                ),
            )
            .into());
        }
        (_, None) => None,
        (_, Some(value)) => {
            pipeline
                .find(&actor, hook.module, &hook.upsert_key, value, &record)
                .await?
        }
    };
    if hook.action == Action::Update && existing.is_none() {
        return Err(ApiError::new(
            Code::NotFound,
            "RECORD_NOT_FOUND",
            format!(
                "no {} of this workspace has {} '{}'; this webhook only updates existing records (use upsert to create missing ones)",
                hook.module.name(),
                hook.upsert_key,
                key_value.unwrap_or_default()
            ),
        )
        .with_field(&record_path(&hook, &record), "matches no record")
        .into());
    }
    let (written, record_id) = match existing {
        Some(id) => {
            pipeline.update(&actor, hook.module, &id, &fields).await?;
            (Written::Updated, id)
        }
        None => {
            let id = pipeline
                .create(&actor, hook.module, &fields, &hook.name)
                .await?;
            (Written::Created, id)
        }
    };
    Ok(Received {
        written,
        module: hook.module,
        record_id,
    })
}

/// The payload path the hook reads its upsert key from.
fn record_path(hook: &Hook, record: &mapping::MappedRecord) -> String {
    hook.field_mapping
        .iter()
        .find(|(_, target)| **target == hook.upsert_key)
        .map(|(path, _)| path.clone())
        .unwrap_or_else(|| record.path_of(&hook.upsert_key))
}

/// The HTTP status the sender is answered for `status` (as the gateway maps it).
fn http_status(status: &Status) -> i32 {
    use tonic_types::StatusExt;
    if let Some(code) = status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get(HTTP_STATUS_KEY))
        .and_then(|v| v.parse().ok())
    {
        return code;
    }
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::FailedPrecondition => 400,
        Code::ResourceExhausted => 429,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        _ => 500,
    }
}

/// Records the call; a failure to record is logged, never the caller's problem.
async fn log(
    state: &IncomingState,
    row: &IncomingRow,
    body: &[u8],
    result: &Result<Received, Status>,
    duration_ms: i64,
) {
    let truncated = body.len() > LOGGED_BODY_BYTES;
    let kept = &body[..body.len().min(LOGGED_BODY_BYTES)];
    let payload = String::from_utf8_lossy(kept)
        .trim_end_matches('\u{FFFD}')
        .replace('\0', "");
    let at = Utc::now();
    let (status, response_status, action, record_id, error) = match result {
        Ok(r) => (
            "success",
            if r.written == Written::Created {
                201
            } else {
                200
            },
            Some(r.written.name().to_owned()),
            Some(r.record_id.clone()),
            None,
        ),
        Err(s) => {
            use tonic_types::StatusExt;
            let fields: Vec<String> = s
                .get_error_details()
                .bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| format!("{}: {}", v.field, v.description))
                        .collect()
                })
                .unwrap_or_default();
            let message = if s.code() == Code::Internal || s.code() == Code::Unknown {
                "internal error".to_owned()
            } else if fields.len() > 1 {
                fields.join("; ")
            } else {
                s.message().to_owned()
            };
            ("failed", http_status(s), None, None, Some(message))
        }
    };
    let entry = IncomingLogRow {
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: row.workspace_id.clone(),
        webhook_id: row.id.clone(),
        status: status.to_owned(),
        response_status,
        action,
        record_id,
        error,
        payload,
        payload_truncated: truncated,
        duration_ms,
        received_at: at,
    };
    let db = &state.webhooks.db;
    if let Err(e) = incoming_logs::insert(db, entry).await {
        tracing::error!(error = %e, webhook_id = %row.id, "recording an incoming webhook call");
    }
    if let Err(e) = store::touch(db, &row.workspace_id, &row.id, at).await {
        tracing::error!(error = %e, webhook_id = %row.id, "noting an incoming webhook call");
    }
}
