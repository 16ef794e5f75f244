//! `send_sms` {message, phoneNumber?, delay?, scheduledTime?}: queues an SMS to the contact
//! through svc-messaging, as the caller (see [`super::messaging`]), to the contact's phone
//! unless `phoneNumber` says otherwise. svc-messaging checks the number, the times and the
//! contact's opt-out; its job id is the result.

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, failed},
    messaging::{self, delay, not_configured},
};
use crm_platform::error::ApiError;
use crm_proto::messaging::ScheduleSmsRequest;
use serde_json::{Value, json};

/// The `send_sms` action.
pub struct SendSms;

/// svc-messaging's limits, checked here too so a bad configuration is never recorded.
const MESSAGE_MAX: usize = 1600;
const PHONE_MAX: usize = 20;
const TIME_MAX: usize = 64;

#[tonic::async_trait]
impl ActionHandler for SendSms {
    fn action_type(&self) -> &'static str {
        "send_sms"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        config.required_str("message", MESSAGE_MAX)?;
        config.optional_str("phoneNumber", PHONE_MAX)?;
        config.optional_str("scheduledTime", TIME_MAX)?;
        delay(config)?;
        Ok(())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let client = ctx.state.messaging.as_ref().ok_or_else(not_configured)?;
        let phone = match config.optional_str("phoneNumber", PHONE_MAX)? {
            Some(p) => p.to_owned(),
            None if !ctx.contact.phone_number.trim().is_empty() => {
                ctx.contact.phone_number.trim().to_owned()
            }
            None => {
                return Err(failed(
                    "phoneNumber",
                    "the contact has no phone number; give one",
                ));
            }
        };
        let answer = client
            .schedule_sms(
                ctx.caller,
                ScheduleSmsRequest {
                    phone_number: phone.clone(),
                    message: config.required_str("message", MESSAGE_MAX)?.to_owned(),
                    contact_id: ctx.contact.id.clone(),
                    workspace_id: ctx.workspace_id.to_owned(),
                    delay: delay(config)?,
                    scheduled_time: config
                        .optional_str("scheduledTime", TIME_MAX)?
                        .map(str::to_owned),
                    metadata: Some(messaging::source_metadata()),
                },
            )
            .await?;
        Ok(json!({
            "job_id": answer.job_id,
            "message": answer.message,
            "channel": "sms",
            "to": phone,
            "contact_id": ctx.contact.id,
        }))
    }
}
