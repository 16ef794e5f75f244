//! `crm.pipeline.v1.TagService`.

use super::convert::ts;
use crate::domain::{
    PipelineState,
    access::authorize,
    tags::{self, NewTag, TagChanges, TagQuery, TagUsage},
};
use crm_platform::Principal;
use crm_proto::pipeline::{self as pb, tag_service_server::TagService};
use tonic::{Request, Response, Status};

/// Implements `TagService`.
pub struct TagApi {
    pub(crate) state: PipelineState,
}

fn tag(t: TagUsage) -> pb::Tag {
    let TagUsage { tag, usage_count } = t;
    pb::Tag {
        id: tag.id,
        name: tag.name,
        color: tag.color,
        description: tag.description,
        workspace_id: tag.workspace_id,
        usage_count,
        created_at: Some(ts(tag.created_at)),
        updated_at: Some(ts(tag.updated_at)),
    }
}

#[tonic::async_trait]
impl TagService for TagApi {
    async fn list_tags(
        &self,
        request: Request<pb::ListTagsRequest>,
    ) -> Result<Response<pb::ListTagsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "tags:read")?.to_owned();
        let r = request.into_inner();
        let query = TagQuery {
            search: r.search,
            color: r.color,
            limit: r.limit,
            offset: r.offset,
        };
        let page = tags::list(&self.state, &workspace, query).await?;
        Ok(Response::new(pb::ListTagsResponse {
            pagination: Some(pb::TagPagination {
                limit: page.window.limit as i32,
                offset: page.window.offset as i32,
                total: page.total as i64,
            }),
            data: page.tags.into_iter().map(tag).collect(),
        }))
    }

    async fn create_tag(
        &self,
        request: Request<pb::CreateTagRequest>,
    ) -> Result<Response<pb::CreateTagResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "tags:write")?.to_owned();
        let r = request.into_inner();
        let new = NewTag {
            name: r.name,
            color: r.color,
            description: r.description,
        };
        let created = tags::create(&self.state, &workspace, new).await?;
        Ok(Response::new(pb::CreateTagResponse {
            data: Some(tag(created)),
        }))
    }

    async fn update_tag(
        &self,
        request: Request<pb::UpdateTagRequest>,
    ) -> Result<Response<pb::UpdateTagResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "tags:write")?.to_owned();
        let r = request.into_inner();
        let changes = TagChanges {
            name: r.name,
            color: r.color,
            description: r.description,
        };
        let updated = tags::update(&self.state, &workspace, &r.id, changes).await?;
        Ok(Response::new(pb::UpdateTagResponse {
            data: Some(tag(updated)),
        }))
    }

    async fn delete_tag(
        &self,
        request: Request<pb::DeleteTagRequest>,
    ) -> Result<Response<pb::DeleteTagResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "tags:delete")?;
        let name = tags::delete(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteTagResponse {
            message: format!("Tag '{name}' deleted successfully"),
        }))
    }
}
