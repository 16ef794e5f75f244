//! The booking's contact, found or created inside the booking's transaction: an existing
//! `contact_id`, else a contact of the workspace with the email, else one with the phone
//! number (numbers are unique per workspace), else a new one with lead source
//! `calendar_booking`.

use super::missing;
use crate::domain::{events, input, new_id, now, phone::E164Phone};
use crate::store::{self, contacts::BasicSearch, db_error, entities::contacts::Model as Contact};
use crm_platform::error::ApiError;
use sea_orm::ConnectionTrait;
use serde_json::json;
use tonic::Status;

const LEAD_SOURCE: &str = "calendar_booking";
const NAME_MAX: usize = 100;
const EMAIL_MAX: usize = 254;

/// Who is booking, validated before the transaction.
pub struct Booker {
    pub contact_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl Booker {
    /// Validates the booker's fields. Without a `contact_id`, name and email are required
    /// (the seed) and so is a phone, which every contact carries; a contact matched by email
    /// needs neither name nor phone, so those are only demanded at creation.
    pub fn parse(
        contact_id: Option<&str>,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Self, Status> {
        if let Some(raw) = contact_id {
            return Ok(Self {
                contact_id: Some(input::id("contact_id", raw)?),
                name: None,
                email: None,
                phone: None,
            });
        }
        let name = input::optional("contact_name", name, NAME_MAX * 2)?;
        let email = email_field(email)?;
        missing(&[
            ("contact_name", name.is_some()),
            ("contact_email", email.is_some()),
        ])?;
        let phone = phone
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|raw| E164Phone::parse("contact_phone", raw).map(E164Phone::into_string))
            .transpose()?;
        Ok(Self {
            contact_id: None,
            name,
            email,
            phone,
        })
    }
}

/// A loose email check, lowercased (stored emails are lowercase).
fn email_field(raw: Option<&str>) -> Result<Option<String>, Status> {
    let Some(v) = input::optional("contact_email", raw, EMAIL_MAX)? else {
        return Ok(None);
    };
    let ok = v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !v.chars().any(char::is_whitespace);
    if !ok {
        return Err(ApiError::invalid_field("contact_email", "must be an email address").into());
    }
    Ok(Some(v.to_lowercase()))
}

/// Finds or creates the booker's contact on `conn` (the booking's transaction).
pub async fn resolve<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    booker: &Booker,
) -> Result<Contact, Status> {
    if let Some(id) = &booker.contact_id {
        return store::contacts::find(conn, workspace_id, id)
            .await
            .map_err(db_error("find contact"))?
            .ok_or_else(|| ApiError::not_found("Contact", id).into());
    }
    let by_email = BasicSearch {
        email: booker.email.clone(),
        ..Default::default()
    };
    if let Some(found) = store::contacts::search(conn, workspace_id, &by_email, 1)
        .await
        .map_err(db_error("find contact by email"))?
        .pop()
    {
        return Ok(found);
    }
    missing(&[("contact_phone", booker.phone.is_some())])?;
    let phone = booker.phone.clone().unwrap_or_default();
    if let Some(holder) = store::contacts::find_by_phone(conn, workspace_id, &phone)
        .await
        .map_err(db_error("find contact by phone"))?
    {
        return Ok(holder);
    }
    let name = booker.name.clone().unwrap_or_default();
    let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
    let at = now();
    let contact = Contact {
        id: new_id(),
        workspace_id: workspace_id.to_owned(),
        firstname: first.trim().chars().take(NAME_MAX).collect(),
        lastname: last.trim().chars().take(NAME_MAX).collect(),
        phone_number: phone,
        email: booker.email.clone(),
        lead_status: None,
        lead_source: Some(LEAD_SOURCE.to_owned()),
        product: None,
        address: None,
        city: None,
        state: None,
        zip: None,
        notes: None,
        priority: None,
        opt_in_through: None,
        timezone: None,
        follow_up_date: None,
        webhook_name: None,
        company_id: None,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        assigned_to: None,
    };
    store::contacts::insert(conn, contact.clone())
        .await
        .map_err(|e| {
            if store::is_unique_violation(&e) {
                // A contact created outside the calendar took the number meanwhile.
                ApiError::already_exists(
                    "A contact with this phone number already exists in this workspace",
                )
                .with_field(
                    "contact_phone",
                    "taken by another contact; retry to match it",
                )
                .into()
            } else {
                db_error("insert contact")(e)
            }
        })?;
    events::emit(
        conn,
        workspace_id,
        "contact.created",
        "contact",
        &contact.id,
        json!({
            "id": contact.id,
            "name": format!("{} {}", contact.firstname, contact.lastname),
            "firstname": contact.firstname,
            "lastname": contact.lastname,
            "phone_number": contact.phone_number,
            "email": contact.email,
            "lead_status": contact.lead_status,
            "lead_source": contact.lead_source,
            "tags": Vec::<String>::new(),
            "webhook_name": contact.webhook_name,
            "company_id": contact.company_id,
            "assigned_to": contact.assigned_to,
        }),
    )
    .await
    .map_err(db_error("contact.created event"))?;
    Ok(contact)
}
