//! `crm.pipeline.v1.StageService`.

use super::convert::stage;
use crate::domain::{
    PipelineState,
    access::authorize,
    stages::{self as stages, StageFields},
};
use crm_platform::Principal;
use crm_proto::pipeline::{self as pb, stage_service_server::StageService};
use tonic::{Request, Response, Status};

/// Implements `StageService`.
pub struct StageApi {
    pub(crate) state: PipelineState,
}

#[tonic::async_trait]
impl StageService for StageApi {
    async fn list_stages(
        &self,
        request: Request<pb::ListStagesRequest>,
    ) -> Result<Response<pb::ListStagesResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "stages:read")?;
        let pipeline_id = Some(request.get_ref().pipeline_id.as_str()).filter(|p| !p.is_empty());
        let data = stages::list(&self.state, ws, pipeline_id)
            .await?
            .into_iter()
            .map(stage)
            .collect();
        Ok(Response::new(pb::ListStagesResponse { data }))
    }

    async fn create_stage(
        &self,
        request: Request<pb::CreateStageRequest>,
    ) -> Result<Response<pb::CreateStageResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "stages:write")?.to_owned();
        let actor = p.subject.clone();
        let r = request.into_inner();
        let fields = StageFields {
            name: Some(r.name),
            description: r.description,
            color: r.color,
            default_probability: r.default_probability,
            is_won_stage: Some(r.is_won_stage),
            is_lost_stage: Some(r.is_lost_stage),
        };
        let view =
            stages::create(&self.state, &ws, &actor, &r.pipeline_id, r.position, fields).await?;
        Ok(Response::new(pb::CreateStageResponse {
            data: Some(stage(view)),
        }))
    }

    async fn update_stage(
        &self,
        request: Request<pb::UpdateStageRequest>,
    ) -> Result<Response<pb::UpdateStageResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "stages:write")?.to_owned();
        let r = request.into_inner();
        let changes = StageFields {
            name: r.name,
            description: r.description,
            color: r.color,
            default_probability: r.default_probability,
            is_won_stage: r.is_won_stage,
            is_lost_stage: r.is_lost_stage,
        };
        let view = stages::update(&self.state, &ws, &r.id, r.position, changes).await?;
        Ok(Response::new(pb::UpdateStageResponse {
            data: Some(stage(view)),
        }))
    }

    async fn delete_stage(
        &self,
        request: Request<pb::DeleteStageRequest>,
    ) -> Result<Response<pb::DeleteStageResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "stages:delete")?.to_owned();
        let actor = p.subject.clone();
        let r = request.into_inner();
        let move_to = Some(r.move_to_stage_id.as_str()).filter(|m| !m.is_empty());
        let deleted = stages::delete(&self.state, &ws, &actor, &r.id, move_to).await?;
        let mut response = pb::DeleteStageResponse {
            message: format!("Pipeline stage '{}' deleted successfully", deleted.name),
            ..Default::default()
        };
        if let Some((count, target)) = deleted.moved {
            response.message = format!(
                "{}. {count} opportunities moved to '{target}'",
                response.message
            );
            response.opportunities_moved = Some(count as i64);
            response.target_stage = Some(target);
        }
        Ok(Response::new(response))
    }
}
