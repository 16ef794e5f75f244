//! `send_email` {subject, html, to?, delay?, scheduledTime?}: queues an email to the contact
//! through svc-messaging, as the caller (see [`super::messaging`]), to the contact's email
//! unless `to` says otherwise; a contact without one fails naming `configuration.to`.

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, failed},
    messaging::{self, delay, not_configured},
};
use crm_platform::error::ApiError;
use crm_proto::messaging::ScheduleEmailRequest;
use serde_json::{Value, json};

/// The `send_email` action.
pub struct SendEmail;

/// svc-messaging's limits, checked here too so a bad configuration is never recorded.
const SUBJECT_MAX: usize = 998;
const HTML_MAX: usize = 1_000_000;
const TO_MAX: usize = 254;
const TIME_MAX: usize = 64;

#[tonic::async_trait]
impl ActionHandler for SendEmail {
    fn action_type(&self) -> &'static str {
        "send_email"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        config.required_str("subject", SUBJECT_MAX)?;
        config.required_str("html", HTML_MAX)?;
        config.optional_str("to", TO_MAX)?;
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
        let contact_email = ctx.contact.email.as_deref().map(str::trim);
        let to = match (config.optional_str("to", TO_MAX)?, contact_email) {
            (Some(to), _) => to.to_owned(),
            (None, Some(email)) if !email.is_empty() => email.to_owned(),
            (None, _) => {
                return Err(failed(
                    "to",
                    "the contact has no email address; give configuration.to",
                ));
            }
        };
        let answer = client
            .schedule_email(
                ctx.caller,
                ScheduleEmailRequest {
                    to: to.clone(),
                    subject: config.required_str("subject", SUBJECT_MAX)?.to_owned(),
                    html: config.required_str("html", HTML_MAX)?.to_owned(),
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
            "channel": "email",
            "to": to,
            "contact_id": ctx.contact.id,
        }))
    }
}
