//! Field-change triggers (seed 004 "Trigger.dev Webhook Endpoints"): each reported change of
//! a contact field becomes a `contact.field_changed` event, stored and fanned out through the
//! same path as the services' own events, so subscriptions get it with the same guarantees.

use super::{WebhooksState, db_error, fanout};
use crate::store::events::StoredEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use crm_platform::error::ApiError;
use serde_json::{Value, json};
use tonic::{Code, Status};

/// The event type a change becomes.
pub const FIELD_CHANGED: &str = "contact.field_changed";

/// Changes one bulk call may carry (the seed's recommended batch size).
pub const MAX_BULK: usize = 100;

/// The seed's answer when a required field is absent; the violations name which ones.
const MISSING: &str = "Missing required fields: contactId, workspaceId, fieldName";

/// Longest accepted field name.
const MAX_FIELD_NAME: usize = 100;

/// A change as the caller reported it, not yet checked.
pub struct FieldChangeInput {
    pub contact_id: String,
    pub workspace_id: String,
    pub field_name: String,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub changed_at: Option<DateTime<Utc>>,
}

/// Checks `change` for the caller's `workspace`; `at` prefixes the field names in errors
/// (`changes[3].`) for the bulk form.
fn event_of(workspace: &str, change: FieldChangeInput, at: &str) -> Result<StoredEvent, Status> {
    let required = [
        ("contactId", &change.contact_id),
        ("workspaceId", &change.workspace_id),
        ("fieldName", &change.field_name),
    ];
    let missing: Vec<&str> = required
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        let mut error = ApiError::new(Code::InvalidArgument, "VALIDATION_ERROR", MISSING);
        for name in missing {
            error = error.with_field(&format!("{at}{name}"), "is required");
        }
        return Err(error.into());
    }
    if uuid::Uuid::parse_str(&change.contact_id).is_err() {
        return Err(ApiError::invalid_field(&format!("{at}contactId"), "must be a UUID").into());
    }
    // Never trusted: the body may only repeat the caller's own workspace.
    if change.workspace_id != workspace {
        let field = format!("{at}workspaceId");
        return Err(ApiError::forbidden(
            "workspaceId must be your own workspace; a key or token acts in its workspace only",
        )
        .with_field(&field, "is not the caller's workspace")
        .into());
    }
    let field_name = change.field_name.trim();
    if field_name.is_empty() {
        return Err(ApiError::invalid_field(&format!("{at}fieldName"), "must not be blank").into());
    }
    if field_name.chars().count() > MAX_FIELD_NAME {
        return Err(ApiError::invalid_field(
            &format!("{at}fieldName"),
            format!("must be at most {MAX_FIELD_NAME} characters"),
        )
        .into());
    }
    let changed_at = change.changed_at.unwrap_or_else(Utc::now);
    let payload = json!({
        "contactId": change.contact_id,
        "fieldName": field_name,
        "oldValue": change.old_value.unwrap_or(Value::Null),
        "newValue": change.new_value.unwrap_or(Value::Null),
        "changedAt": changed_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    Ok(StoredEvent {
        // Time-ordered, and the seed's task id: the caller can find the delivery by it.
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: workspace.to_owned(),
        event_type: FIELD_CHANGED.to_owned(),
        aggregate_type: "contact".to_owned(),
        aggregate_id: change.contact_id,
        payload: payload.to_string(),
        source: "svc-webhooks".to_owned(),
        occurred_at: changed_at,
    })
}

/// Stores one change as an event with its deliveries; returns the event's id (the task id).
pub async fn queue_one(
    state: &WebhooksState,
    workspace: &str,
    change: FieldChangeInput,
) -> Result<String, Status> {
    let event = event_of(workspace, change, "")?;
    let id = event.id.clone();
    fanout::publish(&state.db, &state.wake, vec![event])
        .await
        .map_err(db_error("queueing a field change"))?;
    Ok(id)
}

/// Stores every change in one transaction (all or none); returns their ids in order.
pub async fn queue_bulk(
    state: &WebhooksState,
    workspace: &str,
    changes: Vec<FieldChangeInput>,
) -> Result<Vec<String>, Status> {
    if changes.is_empty() {
        return Err(ApiError::invalid_field("changes", "is required: at least one change").into());
    }
    if changes.len() > MAX_BULK {
        return Err(ApiError::invalid_field(
            "changes",
            format!(
                "at most {MAX_BULK} changes per call (got {}); split them into several calls",
                changes.len()
            ),
        )
        .into());
    }
    let events = changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| event_of(workspace, c, &format!("changes[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    let ids = events.iter().map(|e| e.id.clone()).collect();
    fanout::publish(&state.db, &state.wake, events)
        .await
        .map_err(db_error("queueing field changes"))?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "5b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

    fn change() -> FieldChangeInput {
        FieldChangeInput {
            contact_id: "8d0f7a4e-3b7c-4a55-9d61-2f7f3c1f9a10".into(),
            workspace_id: WS.into(),
            field_name: "lead_status".into(),
            old_value: Some(json!("new")),
            new_value: None,
            changed_at: None,
        }
    }

    #[test]
    fn a_change_becomes_an_event_with_null_for_absent_values_and_now_by_default() {
        let before = Utc::now();
        let e = event_of(WS, change(), "").unwrap();
        assert_eq!(e.event_type, FIELD_CHANGED);
        assert_eq!(e.aggregate_id, "8d0f7a4e-3b7c-4a55-9d61-2f7f3c1f9a10");
        let payload: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(payload["oldValue"], "new");
        assert!(payload["newValue"].is_null());
        assert!(e.occurred_at >= before);
        assert_eq!(uuid::Uuid::parse_str(&e.id).unwrap().get_version_num(), 7);
    }

    #[test]
    fn missing_fields_get_the_seeds_message_and_name_each_field() {
        let mut c = change();
        c.contact_id.clear();
        c.field_name.clear();
        let status = event_of(WS, c, "changes[2].").unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), MISSING);
    }

    #[test]
    fn another_workspace_is_refused_and_a_bad_contact_id_named() {
        let mut c = change();
        c.workspace_id = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d".into();
        assert_eq!(
            event_of(WS, c, "").unwrap_err().code(),
            Code::PermissionDenied
        );
        let mut c = change();
        c.contact_id = "contact-uuid".into();
        let status = event_of(WS, c, "").unwrap_err();
        assert_eq!(status.message(), "contactId: must be a UUID");
    }
}
