//! Finding contacts: the basic search (any of id, phone, email, names) and the enhanced one
//! (status, tag, follow-up date, webhook name, creation window; paged with a total).

use crate::domain::{PipelineState, input, paging::window};
use crate::store::{
    self,
    contacts::{BasicSearch, EnhancedSearch},
    db_error,
};
use crm_platform::error::ApiError;
use tonic::{Code, Status};

use super::{fields::*, *};

pub(super) fn given(raw: &str) -> Option<String> {
    Some(raw.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Basic search: id, phone (normalized, exact), email (exact, ignoring case), first and last
/// name (contained, ignoring case); all given ones must match. Newest first.
pub async fn search(
    state: &PipelineState,
    workspace_id: &str,
    query: SearchQuery,
) -> Result<Vec<ContactRecord>, Status> {
    let window = window(None, query.limit, None, 50, 100)?;
    let by = BasicSearch {
        id: given(&query.id),
        phone: match given(&query.phone) {
            Some(_) => Some(searched_phone("phone", &query.phone)?),
            None => None,
        },
        email: given(&query.email).map(|e| e.to_lowercase()),
        firstname: given(&query.firstname),
        lastname: given(&query.lastname),
    };
    if by.id.is_none()
        && by.phone.is_none()
        && by.email.is_none()
        && by.firstname.is_none()
        && by.lastname.is_none()
    {
        return Err(ApiError::new(
            Code::InvalidArgument,
            "VALIDATION_ERROR",
            BASIC_SEARCH_NEEDS,
        )
        .into());
    }
    let rows = store::contacts::search(&state.db, workspace_id, &by, window.limit)
        .await
        .map_err(db_error("search contacts"))?;
    with_tags(state, workspace_id, rows).await
}

/// Enhanced search: every given criterion must match, `from_date`/`to_date` bound creation;
/// one page newest first with the total (three queries whatever the page size).
pub async fn enhanced_search(
    state: &PipelineState,
    workspace_id: &str,
    query: EnhancedQuery,
) -> Result<ContactPage, Status> {
    let window = window(None, query.limit, query.offset, 20, 100)?;
    let by = EnhancedSearch {
        contact_id: given(&query.contact_id),
        phone_number: match given(&query.phone_number) {
            Some(_) => Some(searched_phone("phone_number", &query.phone_number)?),
            None => None,
        },
        lead_status: given(&query.lead_status),
        tag_key: given(&query.tag).map(|t| t.to_lowercase()),
        follow_up_date: follow_up_date("follow_up_date", Some(&query.follow_up_date))?,
        webhook_name: given(&query.webhook_name),
        from: given(&query.from_date)
            .map(|v| input::instant("from_date", &v, false))
            .transpose()?,
        to: given(&query.to_date)
            .map(|v| input::instant("to_date", &v, true))
            .transpose()?,
    };
    if by.contact_id.is_none()
        && by.phone_number.is_none()
        && by.lead_status.is_none()
        && by.tag_key.is_none()
        && by.follow_up_date.is_none()
        && by.webhook_name.is_none()
    {
        return Err(ApiError::new(
            Code::InvalidArgument,
            "VALIDATION_ERROR",
            ENHANCED_SEARCH_NEEDS,
        )
        .into());
    }
    let (rows, total) =
        store::contacts::enhanced_search(&state.db, workspace_id, &by, window.limit, window.offset)
            .await
            .map_err(db_error("enhanced search contacts"))?;
    Ok(ContactPage {
        contacts: with_tags(state, workspace_id, rows).await?,
        window,
        total,
    })
}
