//! `crm.pipeline.v1.ContactService`.

use super::convert::ts;
use crate::domain::{
    PipelineState,
    access::authorize,
    contacts::{
        self, ContactChanges, ContactRecord, EnhancedQuery, NewContact, SearchQuery, full_name,
    },
};
use crm_platform::Principal;
use crm_proto::pipeline::{self as pb, contact_service_server::ContactService};
use tonic::{Request, Response, Status};

/// Implements `ContactService`.
pub struct ContactApi {
    pub(crate) state: PipelineState,
}

/// A contact on the wire.
fn contact(record: ContactRecord) -> pb::Contact {
    let ContactRecord { contact: c, tags } = record;
    pb::Contact {
        name: full_name(&c),
        id: c.id,
        phone_number: c.phone_number,
        workspace_id: c.workspace_id,
        email: c.email,
        created_at: Some(ts(c.created_at)),
        updated_at: Some(ts(c.updated_at)),
        firstname: c.firstname,
        lastname: c.lastname,
        lead_source: c.lead_source,
        lead_status: c.lead_status,
        product: c.product,
        address: c.address,
        city: c.city,
        state: c.state,
        zip: c.zip,
        notes: c.notes,
        tags,
        priority: c.priority,
        opt_in_through: c.opt_in_through,
        timezone: c.timezone,
        follow_up_date: c.follow_up_date.map(|d| d.format("%Y-%m-%d").to_string()),
        webhook_name: c.webhook_name,
        company_id: c.company_id,
        assigned_to: c.assigned_to,
    }
}

#[tonic::async_trait]
impl ContactService for ContactApi {
    async fn create_contact(
        &self,
        request: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::CreateContactResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:write")?.to_owned();
        // `workspace_id` in the body is the seed's; the caller's own workspace always wins.
        let r = request.into_inner();
        let new = NewContact {
            firstname: r.firstname,
            lastname: r.lastname,
            phone_number: r.phone_number,
            email: r.email,
            lead_status: r.lead_status,
            lead_source: r.lead_source,
            product: r.product,
            address: r.address,
            city: r.city,
            state: r.state,
            zip: r.zip,
            notes: r.notes,
            tags: r.tags,
            priority: r.priority,
            opt_in_through: r.opt_in_through,
            timezone: r.timezone,
            follow_up_date: r.follow_up_date,
            webhook_name: r.webhook_name,
            company_id: r.company_id,
            assigned_to: r.assigned_to,
        };
        let created = contacts::create(&self.state, &workspace, new).await?;
        Ok(Response::new(pb::CreateContactResponse {
            message: "Contact created successfully".into(),
            data: Some(contact(created)),
        }))
    }

    async fn search_contacts(
        &self,
        request: Request<pb::SearchContactsRequest>,
    ) -> Result<Response<pb::SearchContactsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:read")?.to_owned();
        let r = request.into_inner();
        let query = SearchQuery {
            id: r.id,
            phone: r.phone,
            email: r.email,
            firstname: r.firstname,
            lastname: r.lastname,
            limit: r.limit,
        };
        let found = contacts::search(&self.state, &workspace, query).await?;
        Ok(Response::new(pb::SearchContactsResponse {
            count: found.len() as i64,
            data: found.into_iter().map(contact).collect(),
        }))
    }

    async fn enhanced_search_contacts(
        &self,
        request: Request<pb::EnhancedSearchContactsRequest>,
    ) -> Result<Response<pb::EnhancedSearchContactsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:read")?.to_owned();
        let r = request.into_inner();
        let query = EnhancedQuery {
            contact_id: r.contact_id,
            phone_number: r.phone_number,
            lead_status: r.lead_status,
            tag: r.tag,
            follow_up_date: r.follow_up_date,
            webhook_name: r.webhook_name,
            from_date: r.from_date,
            to_date: r.to_date,
            limit: r.limit,
            offset: r.offset,
        };
        let page = contacts::enhanced_search(&self.state, &workspace, query).await?;
        let returned = page.contacts.len() as u64;
        Ok(Response::new(pb::EnhancedSearchContactsResponse {
            count: page.total as i64,
            pagination: Some(pb::OffsetPagination {
                limit: page.window.limit as i32,
                offset: page.window.offset as i32,
                total: page.total as i64,
                has_more: page.window.offset + returned < page.total,
            }),
            data: page.contacts.into_iter().map(contact).collect(),
        }))
    }

    async fn get_contact(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::GetContactResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:read")?;
        let found = contacts::get(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetContactResponse {
            data: Some(contact(found)),
        }))
    }

    async fn update_contact(
        &self,
        request: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::UpdateContactResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:write")?.to_owned();
        let r = request.into_inner();
        let changes = ContactChanges {
            firstname: r.firstname,
            lastname: r.lastname,
            phone_number: r.phone_number,
            email: r.email,
            lead_status: r.lead_status,
            lead_source: r.lead_source,
            product: r.product,
            address: r.address,
            city: r.city,
            state: r.state,
            zip: r.zip,
            notes: r.notes,
            tags: r.tags,
            priority: r.priority,
            opt_in_through: r.opt_in_through,
            timezone: r.timezone,
            follow_up_date: r.follow_up_date,
            webhook_name: r.webhook_name,
            company_id: r.company_id,
            assigned_to: r.assigned_to,
        };
        let updated = contacts::update(&self.state, &workspace, &r.id, changes).await?;
        Ok(Response::new(pb::UpdateContactResponse {
            data: Some(contact(updated)),
        }))
    }

    async fn delete_contact(
        &self,
        request: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<pb::DeleteContactResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, "contacts:delete")?;
        let name = contacts::delete(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteContactResponse {
            message: format!("Contact '{name}' deleted successfully"),
        }))
    }
}
