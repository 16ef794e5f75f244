//! `crm.messaging.v1.SequenceService`: sequences, applying them, executions.

use super::{authorize, ts, uuid_field};
use crate::{
    domain::{
        MessagingState,
        executions::{self, Applied, ExecutionView},
        sequences::{self, SequenceInput, Step, own_workspace},
    },
    store::{executions::ExecutionRow, sequences::SequenceRow},
};
use crm_platform::Principal;
use crm_proto::messaging::{self as pb, sequence_service_server::SequenceService};
use tonic::{Request, Response, Status};

/// Implements `SequenceService`.
pub struct SequenceApi {
    pub(crate) state: MessagingState,
}

const WRITE: &str = "sequences:write";
const READ: &str = "sequences:read";

fn step_of(m: pb::SequenceMessage) -> Step {
    Step {
        text: m.text,
        time_value: m.time_value,
        time_unit: m.time_unit,
        subflow: m.subflow,
    }
}

fn message_of(s: Step) -> pb::SequenceMessage {
    pb::SequenceMessage {
        text: s.text,
        time_value: s.time_value,
        time_unit: s.time_unit,
        subflow: s.subflow,
    }
}

fn sequence(row: SequenceRow) -> pb::Sequence {
    pb::Sequence {
        messages: sequences::steps_of(&row.messages)
            .into_iter()
            .map(message_of)
            .collect(),
        id: row.id,
        name: row.name,
        workspace_id: row.workspace_id,
        status: row.status,
        created_at: Some(ts(row.created_at)),
        updated_at: Some(ts(row.updated_at)),
        send_window: sequences::window_times(row.send_window.as_deref())
            .map(|(start, end)| pb::SendWindow { start, end }),
    }
}

fn execution(row: ExecutionRow, jobs: Vec<pb::ExecutionMessageJob>) -> pb::SequenceExecution {
    pb::SequenceExecution {
        id: row.id,
        sequence_id: row.sequence_id,
        contact_id: row.contact_id,
        status: row.status,
        started_at: Some(ts(row.started_at)),
        finished_at: row.finished_at.map(ts),
        timezone: row.timezone,
        message_jobs: jobs,
        sequence_name: row.sequence_name,
    }
}

fn view(v: ExecutionView) -> pb::SequenceExecution {
    let jobs = v
        .jobs
        .into_iter()
        .map(|(job, step)| pb::ExecutionMessageJob {
            id: job.id,
            message: Some(message_of(step)),
            status: job.status,
            scheduled_time: Some(ts(job.due_at)),
            sent_at: job.sent_at.map(ts),
        })
        .collect();
    execution(v.execution, jobs)
}

/// The caller's workspace, which must be the path's.
fn workspace<'p>(principal: &'p Principal, scope: &str, path: &str) -> Result<&'p str, Status> {
    let workspace = authorize(principal, scope)?;
    own_workspace(workspace, path)?;
    Ok(workspace)
}

#[tonic::async_trait]
impl SequenceService for SequenceApi {
    async fn create_sequence(
        &self,
        request: Request<pb::CreateSequenceRequest>,
    ) -> Result<Response<pb::SequenceResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, WRITE, &request.get_ref().workspace_id)?.to_owned();
        let r = request.into_inner();
        let row = sequences::create(
            &self.state,
            &ws,
            SequenceInput {
                name: Some(r.name),
                messages: r.messages.into_iter().map(step_of).collect(),
                status: r.status,
                send_window: r.send_window.map(|w| (w.start, w.end)),
            },
        )
        .await?;
        Ok(Response::new(pb::SequenceResponse {
            sequence: Some(sequence(row)),
        }))
    }

    async fn update_sequence(
        &self,
        request: Request<pb::UpdateSequenceRequest>,
    ) -> Result<Response<pb::SequenceResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, WRITE, &request.get_ref().workspace_id)?.to_owned();
        let r = request.into_inner();
        uuid_field("id", &r.id)?;
        let row = sequences::update(
            &self.state,
            &ws,
            &r.id,
            SequenceInput {
                name: r.name,
                messages: r.messages.into_iter().map(step_of).collect(),
                status: r.status,
                send_window: r.send_window.map(|w| (w.start, w.end)),
            },
        )
        .await?;
        Ok(Response::new(pb::SequenceResponse {
            sequence: Some(sequence(row)),
        }))
    }

    async fn get_sequence(
        &self,
        request: Request<pb::GetSequenceRequest>,
    ) -> Result<Response<pb::SequenceResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, READ, &request.get_ref().workspace_id)?.to_owned();
        uuid_field("id", &request.get_ref().id)?;
        let row = sequences::get(&self.state, &ws, &request.get_ref().id).await?;
        Ok(Response::new(pb::SequenceResponse {
            sequence: Some(sequence(row)),
        }))
    }

    async fn list_sequences(
        &self,
        request: Request<pb::ListSequencesRequest>,
    ) -> Result<Response<pb::ListSequencesResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, READ, &request.get_ref().workspace_id)?.to_owned();
        let rows = sequences::list(&self.state, &ws, request.get_ref().status.as_deref()).await?;
        Ok(Response::new(pb::ListSequencesResponse {
            sequences: rows.into_iter().map(sequence).collect(),
        }))
    }

    async fn apply_sequence(
        &self,
        request: Request<pb::ApplySequenceRequest>,
    ) -> Result<Response<pb::ApplySequenceResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let ws = workspace(&principal, WRITE, &request.get_ref().workspace_id)?.to_owned();
        let r = request.into_inner();
        uuid_field("id", &r.id)?;
        let results = executions::apply(&self.state, &principal, &ws, &r.id, r.contact_ids).await?;
        let mut answer = pb::ApplySequenceResponse::default();
        for result in results {
            match result {
                Applied::Started {
                    contact_id,
                    execution_id,
                } => answer.succeeded.push(pb::AppliedContact {
                    contact_id,
                    execution_id,
                }),
                Applied::Refused { contact_id, error } => {
                    answer.failed.push(pb::FailedContact { contact_id, error })
                }
            }
        }
        Ok(Response::new(answer))
    }

    async fn get_sequence_execution(
        &self,
        request: Request<pb::GetSequenceExecutionRequest>,
    ) -> Result<Response<pb::SequenceExecutionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, READ, &request.get_ref().workspace_id)?.to_owned();
        uuid_field("id", &request.get_ref().id)?;
        let v = executions::get(&self.state, &ws, &request.get_ref().id).await?;
        Ok(Response::new(pb::SequenceExecutionResponse {
            execution: Some(view(v)),
        }))
    }

    async fn cancel_sequence_execution(
        &self,
        request: Request<pb::CancelSequenceExecutionRequest>,
    ) -> Result<Response<pb::SequenceExecutionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, WRITE, &request.get_ref().workspace_id)?.to_owned();
        uuid_field("id", &request.get_ref().id)?;
        let v =
            executions::cancel(&self.state, &ws, &request.get_ref().id, self.state.lease).await?;
        Ok(Response::new(pb::SequenceExecutionResponse {
            execution: Some(view(v)),
        }))
    }

    async fn list_active_sequences(
        &self,
        request: Request<pb::ListActiveSequencesRequest>,
    ) -> Result<Response<pb::ListActiveSequencesResponse>, Status> {
        let principal = Principal::of(&request)?;
        let ws = workspace(principal, READ, &request.get_ref().workspace_id)?.to_owned();
        let contact = uuid::Uuid::parse_str(&request.get_ref().contact_id)
            .map_err(|_| {
                Status::from(crate::error::MessagingError::InvalidField {
                    field: "contactId",
                    message: "must be a UUID".into(),
                })
            })?
            .to_string();
        let rows = executions::active_of_contact(&self.state, &ws, &contact).await?;
        Ok(Response::new(pb::ListActiveSequencesResponse {
            executions: rows.into_iter().map(|r| execution(r, Vec::new())).collect(),
        }))
    }
}
