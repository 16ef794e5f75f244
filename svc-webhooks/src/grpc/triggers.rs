//! `crm.webhooks.v1.TriggerService`: field-change triggers. Thin: maps proto <-> domain and
//! calls the domain.

use super::convert::json_of_value;
use crate::domain::{
    WebhooksState,
    access::authorize,
    triggers::{self, FieldChangeInput},
};
use chrono::DateTime;
use crm_platform::{Principal, error::ApiError};
use crm_proto::webhooks::{self as pb, trigger_service_server::TriggerService};
use tonic::{Request, Response, Status};

/// Implements `TriggerService`.
pub struct TriggerApi {
    pub(crate) state: WebhooksState,
}

/// Reporting a contact's change is writing about contacts.
const WRITE: &str = "contacts:write";

/// The seed's answer to a queued change.
const QUEUED: &str = "Trigger processing queued successfully";

fn change(c: pb::ContactFieldChange, at: &str) -> Result<FieldChangeInput, Status> {
    let changed_at = c
        .changed_at
        .map(|t| {
            DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).ok_or_else(|| {
                Status::from(ApiError::invalid_field(
                    &format!("{at}changedAt"),
                    "must be an RFC 3339 time",
                ))
            })
        })
        .transpose()?;
    Ok(FieldChangeInput {
        contact_id: c.contact_id,
        workspace_id: c.workspace_id,
        field_name: c.field_name,
        old_value: c.old_value.map(json_of_value),
        new_value: c.new_value.map(json_of_value),
        changed_at,
    })
}

#[tonic::async_trait]
impl TriggerService for TriggerApi {
    async fn queue_contact_field_change(
        &self,
        request: Request<pb::ContactFieldChange>,
    ) -> Result<Response<pb::QueueContactFieldChangeResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?.to_owned();
        let input = change(request.into_inner(), "")?;
        let task_id = triggers::queue_one(&self.state, &workspace, input).await?;
        Ok(Response::new(pb::QueueContactFieldChangeResponse {
            task_id,
            message: QUEUED.to_owned(),
        }))
    }

    async fn queue_bulk_field_changes(
        &self,
        request: Request<pb::QueueBulkFieldChangesRequest>,
    ) -> Result<Response<pb::QueueBulkFieldChangesResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?.to_owned();
        let inputs = request
            .into_inner()
            .changes
            .into_iter()
            .enumerate()
            .map(|(i, c)| change(c, &format!("changes[{i}].")))
            .collect::<Result<Vec<_>, _>>()?;
        let task_ids = triggers::queue_bulk(&self.state, &workspace, inputs).await?;
        Ok(Response::new(pb::QueueBulkFieldChangesResponse {
            tasks_queued: task_ids.len() as i32,
            task_ids,
        }))
    }
}
