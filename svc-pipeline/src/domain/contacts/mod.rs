//! Contacts: people a workspace talks to. A phone number (E.164) belongs to one live contact
//! per workspace; deleting a contact is soft and frees its number. Tags live in record_tags.

use super::{PipelineState, events, now, paging::Window};
use crate::store::{
    self, db_error,
    entities::contacts::Model as Contact,
    record_tags::{self, CONTACT},
};
use crm_platform::error::ApiError;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use tonic::Status;

mod fields;
mod search;
mod write;

pub use search::{enhanced_search, search};
pub use write::{create, update};

// Longest accepted values, generous for real data and small enough to keep rows bounded.
const NAME_MAX: usize = 100;
const EMAIL_MAX: usize = 254;
const LEAD_STATUS_MAX: usize = 50;
const SHORT_MAX: usize = 100;
const PRODUCT_MAX: usize = 200;
const ADDRESS_MAX: usize = 500;
const ZIP_MAX: usize = 20;
const NOTES_MAX: usize = 5000;
const WEBHOOK_NAME_MAX: usize = 200;

const DUPLICATE_PHONE: &str = "A contact with this phone number already exists in this workspace";
const BASIC_SEARCH_NEEDS: &str =
    "At least one search parameter is required: id, phone, email, firstname, or lastname";
const ENHANCED_SEARCH_NEEDS: &str = "At least one search parameter is required: contact_id, phone_number, lead_status, tag, follow_up_date, or webhook_name";

/// A contact with the tags it carries.
pub struct ContactRecord {
    pub contact: Contact,
    pub tags: Vec<String>,
}

/// What a caller gives to create a contact, as given.
#[derive(Default)]
pub struct NewContact {
    pub firstname: String,
    pub lastname: String,
    pub phone_number: String,
    pub email: Option<String>,
    pub lead_status: Option<String>,
    pub lead_source: Option<String>,
    pub product: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub priority: Option<String>,
    pub opt_in_through: Option<String>,
    pub timezone: Option<String>,
    pub follow_up_date: Option<String>,
    pub webhook_name: Option<String>,
    pub company_id: Option<String>,
    /// A member's user id; empty or absent leaves the contact unassigned.
    pub assigned_to: Option<String>,
}

/// What a caller may change: `None` leaves a field as it is, an empty string clears an
/// optional one, `tags` replaces them all.
#[derive(Default)]
pub struct ContactChanges {
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub lead_status: Option<String>,
    pub lead_source: Option<String>,
    pub product: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub notes: Option<String>,
    pub tags: Option<prost_types::ListValue>,
    pub priority: Option<String>,
    pub opt_in_through: Option<String>,
    pub timezone: Option<String>,
    pub follow_up_date: Option<String>,
    pub webhook_name: Option<String>,
    pub company_id: Option<String>,
    /// A member's user id; "" unassigns.
    pub assigned_to: Option<String>,
}

/// The basic search's parameters as given (empty means not given).
#[derive(Default)]
pub struct SearchQuery {
    pub id: String,
    pub phone: String,
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    pub limit: Option<i32>,
}

/// The enhanced search's parameters as given (empty means not given).
#[derive(Default)]
pub struct EnhancedQuery {
    pub contact_id: String,
    pub phone_number: String,
    pub lead_status: String,
    pub tag: String,
    pub follow_up_date: String,
    pub webhook_name: String,
    pub from_date: String,
    pub to_date: String,
    pub limit: Option<i32>,
    pub offset: Option<i32>,
}

/// One page of the enhanced search.
pub struct ContactPage {
    pub contacts: Vec<ContactRecord>,
    pub window: Window,
    pub total: u64,
}

/// "firstname lastname", the seed's `name`.
pub fn full_name(contact: &Contact) -> String {
    format!("{} {}", contact.firstname, contact.lastname)
}

/// A loose email check (something@something.tld, no spaces), lowercased: mail systems treat
/// addresses case-insensitively, and the search matches them exactly.
async fn with_tags(
    state: &PipelineState,
    workspace_id: &str,
    contacts: Vec<Contact>,
) -> Result<Vec<ContactRecord>, Status> {
    let ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
    let mut tags = record_tags::load(&state.db, workspace_id, CONTACT, &ids)
        .await
        .map_err(db_error("load contact tags"))?;
    Ok(contacts
        .into_iter()
        .map(|contact| ContactRecord {
            tags: tags.remove(&contact.id).unwrap_or_default(),
            contact,
        })
        .collect())
}

async fn existing<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Contact, Status> {
    store::contacts::find(conn, workspace_id, id.trim())
        .await
        .map_err(db_error("find contact"))?
        .ok_or_else(|| ApiError::not_found("Contact", id).into())
}

/// One live contact of the workspace; any other id (malformed ones included) is not found.
pub async fn get(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
) -> Result<ContactRecord, Status> {
    let contact = existing(&state.db, workspace_id, id).await?;
    let mut records = with_tags(state, workspace_id, vec![contact]).await?;
    Ok(records.remove(0))
}

/// Soft-deletes a contact (its number becomes free, it stops counting as a tag's use),
/// recording `contact.deleted`; returns its name.
pub async fn delete(state: &PipelineState, workspace_id: &str, id: &str) -> Result<String, Status> {
    let contact = existing(&state.db, workspace_id, id).await?;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    // A concurrent delete may have won since the read: then this one finds nothing.
    if !store::contacts::soft_delete(&txn, workspace_id, &contact.id, now())
        .await
        .map_err(db_error("delete contact"))?
    {
        return Err(ApiError::not_found("Contact", id).into());
    }
    record_tags::set(&txn, workspace_id, CONTACT, &contact.id, &[])
        .await
        .map_err(db_error("clear contact tags"))?;
    events::emit(
        &txn,
        workspace_id,
        "contact.deleted",
        "contact",
        &contact.id,
        json!({"id": contact.id, "name": full_name(&contact), "phone_number": contact.phone_number}),
    )
    .await
    .map_err(db_error("contact.deleted event"))?;
    txn.commit().await.map_err(db_error("commit contact"))?;
    state.events_committed();
    Ok(full_name(&contact))
}

#[cfg(test)]
mod tests {
    use super::{fields::*, write::*, *};

    #[test]
    fn missing_fields_are_listed_in_order() {
        let e = missing_required(&NewContact {
            phone_number: "+15551234567".into(),
            ..Default::default()
        })
        .unwrap()
        .into_status();
        assert_eq!(e.message(), "Missing required fields: firstname, lastname");
        let e = missing_required(&NewContact::default())
            .unwrap()
            .into_status();
        assert_eq!(
            e.message(),
            "Missing required fields: firstname, lastname, phone_number"
        );
    }

    #[test]
    fn emails_and_timezones() {
        assert_eq!(
            email("email", Some(" John.Smith@Example.COM "))
                .unwrap()
                .as_deref(),
            Some("john.smith@example.com")
        );
        for bad in [
            "john",
            "john@",
            "@example.com",
            "a@b@c.com",
            "a@example",
            "a b@c.com",
            "a@.com",
            "a@example.",
        ] {
            assert!(email("email", Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(email("email", Some("")).unwrap(), None);
        assert_eq!(
            timezone("timezone", Some("America/New_York"))
                .unwrap()
                .as_deref(),
            Some("America/New_York")
        );
        assert!(timezone("timezone", Some("Mars/Olympus")).is_err());
        assert!(timezone("timezone", Some("EST5")).is_err());
    }

    #[test]
    fn a_plus_lost_in_a_query_string_is_restored() {
        assert_eq!(
            searched_phone("phone", " 447911123456").unwrap(),
            "+447911123456"
        );
        assert_eq!(
            searched_phone("phone", "(555) 123-4567").unwrap(),
            "+15551234567"
        );
    }
}
