//! `crm.pipeline.v1.OpportunityService`.

use super::convert::{history, opportunity};
use crate::domain::{
    PipelineState,
    access::authorize,
    input,
    opportunities::{self as opportunities, NewOpportunity, OpportunityChanges},
    paging,
};
use crate::store::opportunities::Filter;
use crm_platform::{Principal, error::ApiError};
use crm_proto::pipeline::{self as pb, opportunity_service_server::OpportunityService};
use tonic::{Request, Response, Status};

/// Implements `OpportunityService`.
pub struct OpportunityApi {
    pub(crate) state: PipelineState,
}

fn nonempty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn filter(r: &pb::ListOpportunitiesRequest) -> Result<Filter, ApiError> {
    let id = |field: &str, raw: &str| nonempty(raw).map(|v| input::id(field, v)).transpose();
    let date = |field: &str, raw: &str| nonempty(raw).map(|v| input::date(field, v)).transpose();
    let min_cents = r
        .min_amount
        .map(|v| input::cents("min_amount", v))
        .transpose()?;
    let max_cents = r
        .max_amount
        .map(|v| input::cents("max_amount", v))
        .transpose()?;
    if let (Some(lo), Some(hi)) = (min_cents, max_cents)
        && lo > hi
    {
        return Err(ApiError::invalid_field(
            "max_amount",
            "must not be less than min_amount",
        ));
    }
    let close_from = date("expected_close_date_from", &r.expected_close_date_from)?;
    let close_to = date("expected_close_date_to", &r.expected_close_date_to)?;
    if let (Some(from), Some(to)) = (close_from, close_to)
        && from > to
    {
        return Err(ApiError::invalid_field(
            "expected_close_date_to",
            "must not be before expected_close_date_from",
        ));
    }
    let search = nonempty(&r.search).map(str::to_lowercase);
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid_field(
            "search",
            "must be at most 200 characters",
        ));
    }
    Ok(Filter {
        pipeline_id: id("pipeline_id", &r.pipeline_id)?,
        stage_id: id("stage_id", &r.stage_id)?,
        contact_id: id("contact_id", &r.contact_id)?,
        priority: nonempty(&r.priority)
            .map(|p| input::priority("priority", p))
            .transpose()?,
        is_closed: r.is_closed,
        search,
        min_cents,
        max_cents,
        close_from,
        close_to,
    })
}

#[tonic::async_trait]
impl OpportunityService for OpportunityApi {
    async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "opportunities:read")?;
        let r = request.get_ref();
        let filter = filter(r)?;
        let window = paging::window(r.page, r.limit, r.offset, 50, 100)?;
        let page = opportunities::list(&self.state, ws, &filter, window).await?;
        let total_pages = paging::total_pages(page.total, window.limit);
        let pagination = pb::PagePagination {
            page: window.page as i32,
            limit: window.limit as i32,
            total: page.total as i64,
            total_pages: total_pages as i32,
            has_next: window.offset + (page.rows.len() as u64) < page.total,
            has_prev: window.offset > 0,
            offset: window.offset as i32,
        };
        Ok(Response::new(pb::ListOpportunitiesResponse {
            data: page.rows.into_iter().map(opportunity).collect(),
            pagination: Some(pagination),
        }))
    }

    async fn get_opportunity(
        &self,
        request: Request<pb::GetOpportunityRequest>,
    ) -> Result<Response<pb::GetOpportunityResponse>, Status> {
        let ws = authorize(Principal::of(&request)?, "opportunities:read")?;
        let view = opportunities::get(&self.state, ws, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetOpportunityResponse {
            data: Some(opportunity(view)),
        }))
    }

    async fn create_opportunity(
        &self,
        request: Request<pb::CreateOpportunityRequest>,
    ) -> Result<Response<pb::CreateOpportunityResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "opportunities:write")?.to_owned();
        let actor = p.subject.clone();
        let r = request.into_inner();
        let new = NewOpportunity {
            title: r.title,
            description: r.description,
            contact_id: r.contact_id,
            company_id: r.company_id,
            stage_id: r.stage_id,
            value: r.value,
            amount: r.amount,
            currency: r.currency,
            probability: r.probability,
            priority: r.priority,
            expected_close_date: r.expected_close_date,
            tags: r.tags,
            notes: r.notes,
            source: r.source,
            assigned_to: r.assigned_to,
        };
        let view = opportunities::create(&self.state, &ws, &actor, new).await?;
        Ok(Response::new(pb::CreateOpportunityResponse {
            data: Some(opportunity(view)),
        }))
    }

    async fn update_opportunity(
        &self,
        request: Request<pb::UpdateOpportunityRequest>,
    ) -> Result<Response<pb::UpdateOpportunityResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "opportunities:write")?.to_owned();
        let actor = p.subject.clone();
        let r = request.into_inner();
        let tags = r
            .tags
            .as_ref()
            .map(|t| input::tag_list("tags", t))
            .transpose()?;
        let changes = OpportunityChanges {
            title: r.title,
            description: r.description,
            amount: r.amount,
            value: r.value,
            currency: r.currency,
            probability: r.probability,
            priority: r.priority,
            expected_close_date: r.expected_close_date,
            tags,
            notes: r.notes,
            source: r.source,
            contact_id: r.contact_id,
            company_id: r.company_id,
            assigned_to: r.assigned_to,
        };
        let view = opportunities::update(&self.state, &ws, &actor, &r.id, changes).await?;
        Ok(Response::new(pb::UpdateOpportunityResponse {
            data: Some(opportunity(view)),
        }))
    }

    async fn move_opportunity(
        &self,
        request: Request<pb::MoveOpportunityRequest>,
    ) -> Result<Response<pb::MoveOpportunityResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "opportunities:write")?.to_owned();
        let actor = p.subject.clone();
        let r = request.into_inner();
        let (view, entry) =
            opportunities::move_to(&self.state, &ws, &actor, &r.id, &r.stage_id).await?;
        Ok(Response::new(pb::MoveOpportunityResponse {
            data: Some(opportunity(view)),
            history: entry.map(history),
        }))
    }

    async fn delete_opportunity(
        &self,
        request: Request<pb::DeleteOpportunityRequest>,
    ) -> Result<Response<pb::DeleteOpportunityResponse>, Status> {
        let p = Principal::of(&request)?;
        let ws = authorize(p, "opportunities:delete")?.to_owned();
        let actor = p.subject.clone();
        let title = opportunities::delete(&self.state, &ws, &actor, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteOpportunityResponse {
            message: format!("Opportunity '{title}' deleted successfully"),
        }))
    }
}
