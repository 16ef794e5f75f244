//! `crm.pipeline.v1.CompanyService`.

use super::convert::ts;
use crate::domain::{
    PipelineState,
    access::authorize,
    companies::{self, NewCompany},
};
use crate::store::entities::companies::Model;
use crm_platform::Principal;
use crm_proto::pipeline::{self as pb, company_service_server::CompanyService};
use tonic::{Request, Response, Status};

/// Implements `CompanyService`.
pub struct CompanyApi {
    pub(crate) state: PipelineState,
}

/// A stored company on the wire.
pub fn company(c: Model) -> pb::Company {
    pb::Company {
        id: c.id,
        name: c.name,
        industry: c.industry,
        website: c.website,
        workspace_id: c.workspace_id,
        created_at: Some(ts(c.created_at)),
        updated_at: Some(ts(c.updated_at)),
    }
}

#[tonic::async_trait]
impl CompanyService for CompanyApi {
    async fn create_company(
        &self,
        request: Request<pb::CreateCompanyRequest>,
    ) -> Result<Response<pb::CreateCompanyResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:write")?.to_owned();
        let r = request.into_inner();
        let new = NewCompany {
            name: r.name,
            industry: r.industry,
            website: r.website,
        };
        let created = companies::create(&self.state, &workspace, new).await?;
        Ok(Response::new(pb::CreateCompanyResponse {
            data: Some(company(created)),
        }))
    }

    async fn get_company(
        &self,
        request: Request<pb::GetCompanyRequest>,
    ) -> Result<Response<pb::GetCompanyResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:read")?;
        let found = companies::get(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetCompanyResponse {
            data: Some(company(found)),
        }))
    }
}
