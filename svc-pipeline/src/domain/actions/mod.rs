//! Actions (seed 004 "Action Execution API"): one action run on one contact of the workspace,
//! each type a small [`ActionHandler`] that reuses the domain path a REST call would take
//! (the contact update, the opportunity move, the tag catalog), so validation is the same.
//!
//! Every run is recorded in `action_executions`: claimed as `running` before the handler
//! runs (the claim carries the idempotency key, unique per workspace, so a retry finds it
//! instead of running again), then finished as `completed` or `failed` together with its
//! `action.executed` event in one transaction. The handler's own change commits in its own
//! transaction before that; a crash in between leaves the execution `running`.

mod add_tag;
mod apply_sequence;
mod assign_agent;
pub mod config;
pub mod messaging;
mod move_opportunity;
mod remove_tag;
mod send_email;
mod send_sms;
mod tagging;
mod trigger_webhook;
mod update_field;

use super::{PipelineState, events, now};
use crate::store::{
    actions::{self as store, Outcome, action_executions::Model as Execution},
    contacts as contact_store, db_error,
    entities::contacts::Model as Contact,
    is_unique_violation,
};
use config::Configuration;
use crm_platform::{
    Principal,
    error::{ApiError, HTTP_STATUS_KEY},
};
use serde_json::{Map, Value, json};
use tonic::{Code, Status};

/// `running`: claimed, the handler has not finished.
pub const RUNNING: &str = "running";
/// `completed`: the handler did what it was asked.
pub const COMPLETED: &str = "completed";
/// `failed`: the handler refused or could not; `error` says why.
pub const FAILED: &str = "failed";

/// Largest `configuration` or `execution_context`, as JSON text.
const MAX_OBJECT_BYTES: usize = 8 * 1024;
/// Longest idempotency key (the gateway's, Stripe's limit).
const MAX_KEY_CHARS: usize = 255;
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: i32 = 100;

/// What a handler works on.
pub struct ActionContext<'a> {
    pub state: &'a PipelineState,
    pub workspace_id: &'a str,
    /// The live contact the action runs on, as it was before.
    pub contact: &'a Contact,
    /// Who asked (user id, key owner or service), for history rows.
    pub actor: &'a str,
    /// The caller as verified, forwarded to svc-messaging so it applies the caller's scopes.
    pub caller: &'a Principal,
}

/// One action type.
#[tonic::async_trait]
pub trait ActionHandler: Send + Sync {
    /// The `action_type` that selects this handler.
    fn action_type(&self) -> &'static str;
    /// Checks the configuration's shape before anything is recorded (400 naming the field).
    fn check(&self, config: &Configuration) -> Result<(), ApiError>;
    /// Runs the action; returns the execution's `result` object, or why it failed.
    async fn run(&self, ctx: &ActionContext<'_>, config: &Configuration)
    -> Result<Value, ApiError>;
}

/// Every known handler, in the order error messages list them.
const HANDLERS: &[&dyn ActionHandler] = &[
    &add_tag::AddTag,
    &remove_tag::RemoveTag,
    &update_field::UpdateField,
    &move_opportunity::MoveOpportunity,
    &assign_agent::AssignAgent,
    &trigger_webhook::TriggerWebhook,
    &send_sms::SendSms,
    &send_email::SendEmail,
    &apply_sequence::ApplySequence,
];

/// The action types this service runs.
pub fn known_types() -> Vec<&'static str> {
    HANDLERS.iter().map(|h| h.action_type()).collect()
}

fn handler_for(action_type: &str) -> Result<&'static dyn ActionHandler, ApiError> {
    let wanted = action_type.trim();
    if wanted.is_empty() {
        return Err(ApiError::invalid_field("action_type", "is required"));
    }
    HANDLERS
        .iter()
        .copied()
        .find(|h| h.action_type() == wanted)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "action_type",
                format!(
                    "unknown action type '{wanted}'; must be one of: {}",
                    known_types().join(", ")
                ),
            )
            .with_meta("known_action_types", known_types().join(","))
        })
}

/// An execute request as given.
pub struct ExecuteRequest {
    pub action_type: String,
    pub contact_id: String,
    pub configuration: Map<String, Value>,
    pub execution_context: Map<String, Value>,
    /// From the caller's `idempotency-key` metadata.
    pub idempotency_key: Option<String>,
}

fn object_text(field: &str, object: &Map<String, Value>) -> Result<String, ApiError> {
    let text = Value::Object(object.clone()).to_string();
    if text.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {MAX_OBJECT_BYTES} bytes as JSON"),
        ));
    }
    Ok(text)
}

fn idempotency_key(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(k) if k.chars().count() > MAX_KEY_CHARS => Err(ApiError::invalid_field(
            "Idempotency-Key",
            format!("at most {MAX_KEY_CHARS} characters"),
        )),
        Some(k) => Ok(Some(k.to_owned())),
    }
}

/// Runs one action on a contact of the workspace and records it. A failed action is
/// recorded too and answered as a 400 naming the configuration field, with its
/// `execution_id`.
pub async fn execute(
    state: &PipelineState,
    workspace_id: &str,
    caller: &Principal,
    request: ExecuteRequest,
) -> Result<Execution, Status> {
    let actor = caller.subject.as_str();
    let handler = handler_for(&request.action_type)?;
    let configuration = object_text("configuration", &request.configuration)?;
    let execution_context = object_text("execution_context", &request.execution_context)?;
    let key = idempotency_key(request.idempotency_key.as_deref())?;
    let config = Configuration(request.configuration);
    let contact_id = request.contact_id.trim();
    if contact_id.is_empty() {
        return Err(ApiError::invalid_field("contact_id", "is required").into());
    }
    if let Some(key) = &key
        && let Some(first) = store::find_by_key(&state.db, workspace_id, key)
            .await
            .map_err(db_error("find execution by key"))?
    {
        return replay(first, handler.action_type(), contact_id, &config);
    }
    // Any other id, malformed ones and other workspaces' included, is not found.
    let contact = contact_store::find(&state.db, workspace_id, contact_id)
        .await
        .map_err(db_error("find contact"))?
        .ok_or_else(|| ApiError::not_found("Contact", contact_id))?;
    // After the contact: which parameters are right depends on `action_type`, a rule the
    // OpenAPI schema cannot state, so an unknown contact answers 404 whatever they are.
    handler.check(&config)?;

    let started = std::time::Instant::now();
    let mut execution = Execution {
        // v7: time-ordered, so the list's cursor is the id.
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: workspace_id.to_owned(),
        contact_id: contact.id.clone(),
        action_type: handler.action_type().to_owned(),
        configuration,
        execution_context,
        status: RUNNING.to_owned(),
        result: "{}".to_owned(),
        error: None,
        executed_at: now(),
        duration_ms: 0,
        idempotency_key: key.clone(),
    };
    if let Err(e) = store::insert(&state.db, execution.clone()).await {
        // A concurrent retry with the same key claimed it first: answer as that one.
        if is_unique_violation(&e)
            && let Some(key) = &key
            && let Some(first) = store::find_by_key(&state.db, workspace_id, key)
                .await
                .map_err(db_error("find execution by key"))?
        {
            return replay(first, handler.action_type(), contact_id, &config);
        }
        return Err(db_error("insert execution")(e));
    }

    let ctx = ActionContext {
        state,
        workspace_id,
        contact: &contact,
        actor,
        caller,
    };
    let outcome = handler.run(&ctx, &config).await;
    let failure = outcome.as_ref().err().map(|e| {
        e.clone()
            .with_body_field("execution_id", json!(execution.id))
            .into_status()
    });
    execution.status = if failure.is_some() { FAILED } else { COMPLETED }.to_owned();
    execution.result = match &outcome {
        Ok(result) => result.to_string(),
        Err(_) => "{}".to_owned(),
    };
    execution.error = failure.as_ref().map(|s| s.message().to_owned());
    execution.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    finish(state, &execution, outcome.unwrap_or_default()).await?;
    match failure {
        Some(status) => Err(status),
        None => Ok(execution),
    }
}

/// Records the outcome and its `action.executed` event in one transaction.
async fn finish(state: &PipelineState, execution: &Execution, result: Value) -> Result<(), Status> {
    use sea_orm::TransactionTrait;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    store::finish(
        &txn,
        &execution.workspace_id,
        &execution.id,
        Outcome {
            status: if execution.status == COMPLETED {
                COMPLETED
            } else {
                FAILED
            },
            result: execution.result.clone(),
            error: execution.error.clone(),
            duration_ms: execution.duration_ms,
        },
    )
    .await
    .map_err(db_error("finish execution"))?;
    let context: Value = serde_json::from_str(&execution.execution_context).unwrap_or_default();
    events::emit(
        &txn,
        &execution.workspace_id,
        "action.executed",
        "contact",
        &execution.contact_id,
        json!({
            "execution_id": execution.id,
            "action_type": execution.action_type,
            "contact_id": execution.contact_id,
            "status": execution.status,
            "result": result,
            "error": execution.error,
            "execution_context": context,
            "executed_at": execution.executed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "duration_ms": execution.duration_ms,
        }),
    )
    .await
    .map_err(db_error("action.executed event"))?;
    txn.commit().await.map_err(db_error("commit execution"))?;
    state.events_committed();
    Ok(())
}

/// The answer to a retry carrying the key of an earlier execution: that execution (its
/// failure again, if it failed), or a 422 when the key was used for another request.
fn replay(
    first: Execution,
    action_type: &str,
    contact_id: &str,
    config: &Configuration,
) -> Result<Execution, Status> {
    let same_config = serde_json::from_str::<Value>(&first.configuration).ok()
        == Some(Value::Object(config.0.clone()));
    if first.action_type != action_type || first.contact_id != contact_id || !same_config {
        return Err(ApiError::new(
            Code::InvalidArgument,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used for another request; use a new key for a new request",
        )
        .with_meta(HTTP_STATUS_KEY, "422")
        .into());
    }
    match first.status.as_str() {
        RUNNING => Err(ApiError::new(
            Code::AlreadyExists,
            "IDEMPOTENCY_KEY_IN_PROGRESS",
            "the first request with this Idempotency-Key is still running; retry shortly",
        )
        .into()),
        FAILED => Err(ApiError::new(
            Code::InvalidArgument,
            "ACTION_FAILED",
            first.error.clone().unwrap_or_default(),
        )
        .with_body_field("execution_id", json!(first.id))
        .into()),
        _ => Ok(first),
    }
}

/// One execution of the workspace (any other id is not found).
pub async fn get(state: &PipelineState, workspace_id: &str, id: &str) -> Result<Execution, Status> {
    store::find(&state.db, workspace_id, id.trim())
        .await
        .map_err(db_error("find execution"))?
        .ok_or_else(|| ApiError::not_found("Action execution", id).into())
}

/// One page of a contact's executions.
pub struct ExecutionPage {
    pub executions: Vec<Execution>,
    pub next_cursor: Option<String>,
}

/// A contact's executions, newest first. The contact need not be live: a deleted contact's
/// history stays readable.
pub async fn list(
    state: &PipelineState,
    workspace_id: &str,
    contact_id: &str,
    cursor: Option<&str>,
    limit: Option<i32>,
) -> Result<ExecutionPage, Status> {
    let contact_id = uuid::Uuid::parse_str(contact_id.trim())
        .map_err(|_| ApiError::invalid_field("contact_id", "must be a contact's id (a UUID)"))?
        .to_string();
    let cursor = match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            uuid::Uuid::parse_str(c)
                .map_err(|_| ApiError::invalid_field("cursor", "must be a next_cursor value"))?
                .to_string(),
        ),
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n as u64,
        Some(_) => return Err(ApiError::invalid_field("limit", "must be 1..100").into()),
    };
    let mut rows = store::list_for_contact(
        &state.db,
        workspace_id,
        &contact_id,
        cursor.as_deref(),
        limit + 1,
    )
    .await
    .map_err(db_error("list executions"))?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(ExecutionPage {
        executions: rows,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_list_the_known_ones() {
        assert_eq!(handler_for("add_tag").unwrap().action_type(), "add_tag");
        let e = handler_for("launch_rocket").err().unwrap().into_status();
        assert_eq!(e.code(), Code::InvalidArgument);
        for t in known_types() {
            assert!(e.message().contains(t), "{}", e.message());
        }
        assert!(handler_for(" ").is_err());
    }

    #[test]
    fn keys_and_objects_are_bounded() {
        assert_eq!(idempotency_key(Some("  ")).unwrap(), None);
        assert_eq!(idempotency_key(Some(" k ")).unwrap().as_deref(), Some("k"));
        assert!(idempotency_key(Some(&"k".repeat(256))).is_err());
        let mut big = Map::new();
        big.insert("x".into(), json!("y".repeat(MAX_OBJECT_BYTES)));
        assert!(object_text("configuration", &big).is_err());
    }
}
