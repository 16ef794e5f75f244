//! Companies: the organisations contacts and opportunities belong to.

use super::{PipelineState, events, input, new_id, now};
use crate::store::{self, companies, db_error, entities::companies::Model as Company};
use crm_platform::error::ApiError;
use sea_orm::TransactionTrait;
use serde_json::json;
use tonic::Status;

/// What a caller gives to create a company.
pub struct NewCompany {
    pub name: String,
    pub industry: Option<String>,
    pub website: Option<String>,
}

/// Creates a company in `workspace_id`, recording `company.created` with it.
pub async fn create(
    state: &PipelineState,
    workspace_id: &str,
    new: NewCompany,
) -> Result<Company, Status> {
    let at = now();
    let company = Company {
        id: new_id(),
        workspace_id: workspace_id.to_owned(),
        name: input::required("name", &new.name, 200)?,
        industry: input::optional("industry", new.industry.as_deref(), 100)?,
        website: input::optional("website", new.website.as_deref(), 500)?,
        created_at: at,
        updated_at: at,
    };
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    companies::insert(&txn, company.clone())
        .await
        .map_err(db_error("insert company"))?;
    events::emit(
        &txn,
        workspace_id,
        "company.created",
        "company",
        &company.id,
        json!({
            "id": company.id,
            "name": company.name,
            "industry": company.industry,
            "website": company.website,
        }),
    )
    .await
    .map_err(db_error("company.created event"))?;
    txn.commit().await.map_err(db_error("commit company"))?;
    state.events_committed();
    Ok(company)
}

/// One company of the workspace; any other id (malformed ones included) is not found.
pub async fn get(state: &PipelineState, workspace_id: &str, id: &str) -> Result<Company, Status> {
    store::companies::find(&state.db, workspace_id, id.trim())
        .await
        .map_err(db_error("find company"))?
        .ok_or_else(|| ApiError::not_found("Company", id).into())
}

/// Checks that `id` names a company of the workspace, for records that reference one.
pub async fn require(state: &PipelineState, workspace_id: &str, id: &str) -> Result<(), Status> {
    let found = store::companies::find(&state.db, workspace_id, id)
        .await
        .map_err(db_error("find company"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "company_id",
            "must name a company of this workspace; create it with POST /api/companies",
        )
        .into()),
    }
}
