//! `crm.messaging.v1.MessagingService`: scheduling, reading, listing and cancelling jobs.

use super::{authorize, object_of_struct, struct_of_object, ts, uuid_field};
use crate::{
    domain::{
        MessagingState,
        input::{self, EmailInput, SmsInput},
        messages,
    },
    error::MessagingError,
    store::jobs::{JobFilter, JobRow},
};
use crm_platform::Principal;
use crm_proto::messaging::{self as pb, messaging_service_server::MessagingService};
use tonic::{Request, Response, Status};

/// Implements `MessagingService`.
pub struct MessagingApi {
    pub(crate) state: MessagingState,
}

const WRITE: &str = "messages:write";
const READ: &str = "messages:read";

fn message(row: JobRow) -> pb::Message {
    let metadata = match serde_json::from_str::<serde_json::Value>(&row.metadata) {
        Ok(serde_json::Value::Object(map)) => Some(struct_of_object(&map)),
        _ => None,
    };
    pb::Message {
        job_id: row.id,
        channel: row.channel,
        status: row.status,
        contact_id: row.contact_id,
        to: row.recipient,
        subject: row.subject,
        attempts: row.attempts,
        provider_message_id: row.provider_message_id,
        reason: row.reason,
        due_at: Some(ts(row.due_at)),
        sent_at: row.sent_at.map(ts),
        created_at: Some(ts(row.created_at)),
        metadata,
        delivery_status: row.delivery_status,
        delivered_at: row.delivered_at.map(ts),
    }
}

fn answer(job_id: String, message: String) -> Response<pb::ScheduleMessageResponse> {
    Response::new(pb::ScheduleMessageResponse { job_id, message })
}

#[tonic::async_trait]
impl MessagingService for MessagingApi {
    async fn schedule_sms(
        &self,
        request: Request<pb::ScheduleSmsRequest>,
    ) -> Result<Response<pb::ScheduleMessageResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let workspace = authorize(&principal, WRITE)?;
        let r = request.into_inner();
        let job = input::sms(
            workspace,
            SmsInput {
                phone_number: r.phone_number,
                message: r.message,
                contact_id: r.contact_id,
                workspace_id: r.workspace_id,
                delay: r.delay,
                scheduled_time: r.scheduled_time,
                metadata: r.metadata.map(object_of_struct).unwrap_or_default(),
            },
            chrono::Utc::now(),
        )?;
        let (id, text) = messages::schedule(&self.state, &principal, workspace, job).await?;
        Ok(answer(id, text))
    }

    async fn schedule_email(
        &self,
        request: Request<pb::ScheduleEmailRequest>,
    ) -> Result<Response<pb::ScheduleMessageResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let workspace = authorize(&principal, WRITE)?;
        let r = request.into_inner();
        let job = input::email(
            workspace,
            EmailInput {
                to: r.to,
                subject: r.subject,
                html: r.html,
                contact_id: r.contact_id,
                workspace_id: r.workspace_id,
                delay: r.delay,
                scheduled_time: r.scheduled_time,
                metadata: r.metadata.map(object_of_struct).unwrap_or_default(),
            },
            chrono::Utc::now(),
        )?;
        let (id, text) = messages::schedule(&self.state, &principal, workspace, job).await?;
        Ok(answer(id, text))
    }

    async fn get_message(
        &self,
        request: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::GetMessageResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?.to_owned();
        let id = &request.get_ref().job_id;
        uuid_field("jobId", id)?;
        let row = messages::get(&self.state, &workspace, id).await?;
        Ok(Response::new(pb::GetMessageResponse {
            data: Some(message(row)),
        }))
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?.to_owned();
        let r = request.into_inner();
        let status = r.status;
        if let Some(s) = &status
            && ![
                "pending",
                "sending",
                "sent",
                "failed",
                "cancelled",
                "skipped",
            ]
            .contains(&s.as_str())
        {
            return Err(MessagingError::InvalidField {
                field: "status",
                message: "must be one of pending, sending, sent, failed, cancelled, skipped".into(),
            }
            .into());
        }
        let channel = r.channel;
        if let Some(c) = &channel
            && input::Channel::parse(c).is_none()
        {
            return Err(MessagingError::InvalidField {
                field: "channel",
                message: "must be sms or email".into(),
            }
            .into());
        }
        // Stored in the canonical hyphenated lowercase form.
        let contact_id = r
            .contact_id
            .map(|c| {
                uuid::Uuid::parse_str(&c)
                    .map(|u| u.to_string())
                    .map_err(|_| {
                        Status::from(MessagingError::InvalidField {
                            field: "contactId",
                            message: "must be a UUID".into(),
                        })
                    })
            })
            .transpose()?;
        let cursor = r.cursor;
        if let Some(c) = &cursor {
            uuid_field("cursor", c)?;
        }
        let (rows, next_cursor) = messages::list(
            &self.state,
            &workspace,
            JobFilter {
                status: status.as_deref(),
                channel: channel.as_deref(),
                contact_id: contact_id.as_deref(),
                before_id: cursor.as_deref(),
            },
            r.limit,
        )
        .await?;
        Ok(Response::new(pb::ListMessagesResponse {
            data: rows.into_iter().map(message).collect(),
            next_cursor,
        }))
    }

    async fn cancel_message(
        &self,
        request: Request<pb::CancelMessageRequest>,
    ) -> Result<Response<pb::CancelMessageResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?.to_owned();
        let id = &request.get_ref().job_id;
        uuid_field("jobId", id)?;
        let row = messages::cancel(&self.state, &workspace, id).await?;
        Ok(Response::new(pb::CancelMessageResponse {
            data: Some(message(row)),
        }))
    }
}
