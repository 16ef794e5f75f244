//! `crm.pipeline.v1.PipelineService`.

use super::convert::pipeline;
use crate::domain::{
    PipelineState,
    access::authorize,
    pipelines::{self as pipelines, NewPipeline, PipelineChanges, StageSpec},
};
use crm_platform::Principal;
use crm_proto::pipeline::{self as pb, pipeline_service_server::PipelineService};
use tonic::{Request, Response, Status};

/// Implements `PipelineService`.
pub struct PipelineApi {
    pub(crate) state: PipelineState,
}

#[tonic::async_trait]
impl PipelineService for PipelineApi {
    async fn list_pipelines(
        &self,
        request: Request<pb::ListPipelinesRequest>,
    ) -> Result<Response<pb::ListPipelinesResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "pipelines:read")?;
        let data = pipelines::list(&self.state, ws, request.get_ref().include_inactive)
            .await?
            .into_iter()
            .map(pipeline)
            .collect();
        Ok(Response::new(pb::ListPipelinesResponse { data }))
    }

    async fn get_pipeline(
        &self,
        request: Request<pb::GetPipelineRequest>,
    ) -> Result<Response<pb::GetPipelineResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "pipelines:read")?;
        let view = pipelines::get(&self.state, ws, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetPipelineResponse {
            data: Some(pipeline(view)),
        }))
    }

    async fn create_pipeline(
        &self,
        request: Request<pb::CreatePipelineRequest>,
    ) -> Result<Response<pb::CreatePipelineResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "pipelines:write")?.to_owned();
        let actor = p.subject.clone();
        let r = request.into_inner();
        let input = NewPipeline {
            name: r.name,
            description: r.description,
            is_default: r.is_default,
            stages: r
                .stages
                .into_iter()
                .map(|s| StageSpec {
                    name: s.name,
                    description: s.description,
                    color: s.color,
                    default_probability: s.default_probability,
                    is_won_stage: s.is_won_stage,
                    is_lost_stage: s.is_lost_stage,
                })
                .collect(),
        };
        let view = pipelines::create(&self.state, &ws, &actor, input).await?;
        Ok(Response::new(pb::CreatePipelineResponse {
            data: Some(pipeline(view)),
        }))
    }

    async fn update_pipeline(
        &self,
        request: Request<pb::UpdatePipelineRequest>,
    ) -> Result<Response<pb::UpdatePipelineResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "pipelines:write")?.to_owned();
        let r = request.into_inner();
        let changes = PipelineChanges {
            name: r.name,
            description: r.description,
            is_active: r.is_active,
            is_default: r.is_default,
        };
        let view = pipelines::update(&self.state, &ws, &r.id, changes).await?;
        Ok(Response::new(pb::UpdatePipelineResponse {
            data: Some(pipeline(view)),
        }))
    }

    async fn delete_pipeline(
        &self,
        request: Request<pb::DeletePipelineRequest>,
    ) -> Result<Response<pb::DeletePipelineResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "pipelines:delete")?;
        let name = pipelines::delete(&self.state, ws, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeletePipelineResponse {
            message: format!("Pipeline '{name}' has been deactivated successfully"),
        }))
    }
}
