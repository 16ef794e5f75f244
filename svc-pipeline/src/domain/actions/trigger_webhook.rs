//! `trigger_webhook` {payload?}: sends the contact and the caller's payload to the
//! workspace's webhooks as an `action.webhook_triggered` event. It leaves through the outbox
//! like every event, so svc-webhooks delivers it to each subscription selecting the type
//! (signed, retried, logged), and no URL is ever fetched from here.

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, field, ours},
};
use crate::store::db_error;
use crm_platform::{error::ApiError, outbox};
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

/// The `trigger_webhook` action.
pub struct TriggerWebhook;

/// The event type the action sends.
pub const EVENT: &str = "action.webhook_triggered";

fn payload(config: &Configuration) -> Result<Value, ApiError> {
    match config.get("payload") {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(ApiError::invalid_field(
            &field("payload"),
            "must be a JSON object",
        )),
    }
}

#[tonic::async_trait]
impl ActionHandler for TriggerWebhook {
    fn action_type(&self) -> &'static str {
        "trigger_webhook"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        payload(config).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let c = ctx.contact;
        let data = json!({
            "contact_id": c.id,
            "contact": {
                "id": c.id,
                "firstname": c.firstname,
                "lastname": c.lastname,
                "phone_number": c.phone_number,
                "email": c.email,
                "lead_status": c.lead_status,
                "assigned_to": c.assigned_to,
            },
            "payload": payload(config)?,
        });
        let db_failed = |context| move |e| ours(db_error(context)(e));
        let txn = ctx.state.db.begin().await.map_err(db_failed("begin"))?;
        let event_id = outbox::record(
            &txn,
            outbox::Event {
                workspace_id: ctx.workspace_id.to_owned(),
                event_type: EVENT,
                aggregate_type: "contact",
                aggregate_id: c.id.clone(),
                payload: data,
            },
        )
        .await
        .map_err(db_failed("action.webhook_triggered event"))?;
        txn.commit().await.map_err(db_failed("commit event"))?;
        ctx.state.events_committed();
        Ok(json!({
            "event_type": EVENT,
            "event_id": event_id,
            "contact_id": c.id,
        }))
    }
}
