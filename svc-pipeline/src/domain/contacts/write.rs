//! Creating and updating contacts: required fields, one live contact per phone number, tags,
//! and the events each change records.

use crate::domain::{
    PipelineState, assignments, companies, events, input, new_id, now, phone::E164Phone,
};
use crate::store::{
    self, db_error,
    entities::contacts::Model as Contact,
    is_unique_violation,
    record_tags::{self, CONTACT},
};
use crm_platform::error::ApiError;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use tonic::{Code, Status};

use super::{fields::*, *};

pub(super) fn duplicate_phone(holder: Option<&str>) -> Status {
    let mut e = ApiError::already_exists(DUPLICATE_PHONE).with_field(
        "phone_number",
        "another contact of this workspace has this number; update that contact instead",
    );
    if let Some(id) = holder {
        e = e.with_body_field("contact_id", json!(id));
    }
    e.into()
}

/// The 409 for a number taken by a concurrent request, found once its transaction is gone.
pub(super) async fn taken_by(state: &PipelineState, workspace_id: &str, phone: &str) -> Status {
    match store::contacts::find_by_phone(&state.db, workspace_id, phone).await {
        Ok(holder) => duplicate_phone(holder.as_ref().map(|c| c.id.as_str())),
        Err(e) => db_error("find contact by phone")(e),
    }
}

pub(super) async fn check_phone_free<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    phone: &str,
    except: Option<&str>,
) -> Result<(), Status> {
    let holder = store::contacts::find_by_phone(conn, workspace_id, phone)
        .await
        .map_err(db_error("find contact by phone"))?;
    match holder {
        Some(c) if Some(c.id.as_str()) != except => Err(duplicate_phone(Some(&c.id))),
        _ => Ok(()),
    }
}

pub(super) fn payload(contact: &Contact, tags: &[String]) -> serde_json::Value {
    json!({
        "id": contact.id,
        "name": full_name(contact),
        "firstname": contact.firstname,
        "lastname": contact.lastname,
        "phone_number": contact.phone_number,
        "email": contact.email,
        "lead_status": contact.lead_status,
        "lead_source": contact.lead_source,
        "tags": tags,
        "webhook_name": contact.webhook_name,
        "company_id": contact.company_id,
        "assigned_to": contact.assigned_to,
    })
}

pub(super) fn missing_required(new: &NewContact) -> Option<ApiError> {
    let missing: Vec<&str> = [
        ("firstname", &new.firstname),
        ("lastname", &new.lastname),
        ("phone_number", &new.phone_number),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(field, _)| field)
    .collect();
    if missing.is_empty() {
        return None;
    }
    let mut e = ApiError::new(
        Code::InvalidArgument,
        "VALIDATION_ERROR",
        format!("Missing required fields: {}", missing.join(", ")),
    );
    for field in missing {
        e = e.with_field(field, "is required");
    }
    Some(e)
}

/// Creates a contact in `workspace_id`, recording `contact.created` in the same transaction.
pub async fn create(
    state: &PipelineState,
    workspace_id: &str,
    new: NewContact,
) -> Result<ContactRecord, Status> {
    if let Some(e) = missing_required(&new) {
        return Err(e.into());
    }
    let at = now();
    let mut contact = Contact {
        id: new_id(),
        workspace_id: workspace_id.to_owned(),
        firstname: input::required("firstname", &new.firstname, NAME_MAX)?,
        lastname: input::required("lastname", &new.lastname, NAME_MAX)?,
        phone_number: E164Phone::parse("phone_number", &new.phone_number)?.into_string(),
        email: email("email", new.email.as_deref())?,
        lead_status: input::optional("lead_status", new.lead_status.as_deref(), LEAD_STATUS_MAX)?,
        lead_source: input::optional("lead_source", new.lead_source.as_deref(), SHORT_MAX)?,
        product: input::optional("product", new.product.as_deref(), PRODUCT_MAX)?,
        address: input::optional("address", new.address.as_deref(), ADDRESS_MAX)?,
        city: input::optional("city", new.city.as_deref(), SHORT_MAX)?,
        state: input::optional("state", new.state.as_deref(), SHORT_MAX)?,
        zip: input::optional("zip", new.zip.as_deref(), ZIP_MAX)?,
        notes: input::optional("notes", new.notes.as_deref(), NOTES_MAX)?,
        priority: priority("priority", new.priority.as_deref())?,
        opt_in_through: input::optional(
            "opt_in_through",
            new.opt_in_through.as_deref(),
            SHORT_MAX,
        )?,
        timezone: timezone("timezone", new.timezone.as_deref())?,
        follow_up_date: follow_up_date("follow_up_date", new.follow_up_date.as_deref())?,
        webhook_name: input::optional(
            "webhook_name",
            new.webhook_name.as_deref(),
            WEBHOOK_NAME_MAX,
        )?,
        company_id: input::optional("company_id", new.company_id.as_deref(), SHORT_MAX)?,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        assigned_to: None,
    };
    let tags = input::tags("tags", &new.tags)?;
    if let Some(company) = &contact.company_id {
        companies::require(state, workspace_id, company).await?;
    }
    // Asked before the transaction: a call to svc-auth never holds the write lock.
    if let Some(raw) = &new.assigned_to {
        contact.assigned_to =
            assignments::assignee(state, workspace_id, "assigned_to", raw).await?;
    }

    check_phone_free(&state.db, workspace_id, &contact.phone_number, None).await?;
    // The insert is the transaction's first statement: a write first takes SQLite's write
    // lock at once (a read first would have to upgrade, which fails under concurrency).
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if let Err(e) = store::contacts::insert(&txn, contact.clone()).await {
        txn.rollback().await.ok();
        return Err(if is_unique_violation(&e) {
            // A concurrent create took the number between the check and the insert.
            taken_by(state, workspace_id, &contact.phone_number).await
        } else {
            db_error("insert contact")(e)
        });
    }
    record_tags::set(&txn, workspace_id, CONTACT, &contact.id, &tags)
        .await
        .map_err(db_error("set contact tags"))?;
    events::emit(
        &txn,
        workspace_id,
        "contact.created",
        "contact",
        &contact.id,
        payload(&contact, &tags),
    )
    .await
    .map_err(db_error("contact.created event"))?;
    txn.commit().await.map_err(db_error("commit contact"))?;
    state.events_committed();
    Ok(ContactRecord { contact, tags })
}

/// Applies `changes`, re-checking a changed phone number, recording `contact.updated`.
pub async fn update(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
    changes: ContactChanges,
) -> Result<ContactRecord, Status> {
    let tags = changes
        .tags
        .as_ref()
        .map(|list| input::tag_list("tags", list))
        .transpose()?;
    let phone = changes
        .phone_number
        .as_deref()
        .map(|raw| E164Phone::parse("phone_number", raw).map(E164Phone::into_string))
        .transpose()?;
    let company_id = changes
        .company_id
        .as_deref()
        .map(|raw| input::optional("company_id", Some(raw), SHORT_MAX))
        .transpose()?;
    if let Some(Some(company)) = &company_id {
        companies::require(state, workspace_id, company).await?;
    }
    // Asked before the transaction: a call to svc-auth never holds the write lock.
    let assigned_to = match &changes.assigned_to {
        Some(raw) => Some(assignments::assignee(state, workspace_id, "assigned_to", raw).await?),
        None => None,
    };

    let at = now();
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    if !store::contacts::touch(&txn, workspace_id, id.trim(), at)
        .await
        .map_err(db_error("touch contact"))?
    {
        return Err(ApiError::not_found("Contact", id).into());
    }
    let mut c = existing(&txn, workspace_id, id).await?;
    if let Some(raw) = &changes.firstname {
        c.firstname = input::required("firstname", raw, NAME_MAX)?;
    }
    if let Some(raw) = &changes.lastname {
        c.lastname = input::required("lastname", raw, NAME_MAX)?;
    }
    if let Some(phone) = phone {
        if phone != c.phone_number {
            check_phone_free(&txn, workspace_id, &phone, Some(&c.id)).await?;
        }
        c.phone_number = phone;
    }
    // An optional field present in the request replaces the stored value ("" clears it).
    fn set<T>(
        slot: &mut Option<T>,
        raw: &Option<String>,
        parse: impl FnOnce(Option<&str>) -> Result<Option<T>, ApiError>,
    ) -> Result<(), ApiError> {
        if let Some(raw) = raw {
            *slot = parse(Some(raw))?;
        }
        Ok(())
    }
    let text =
        |field: &'static str, max: usize| move |raw: Option<&str>| input::optional(field, raw, max);
    set(&mut c.email, &changes.email, |r| email("email", r))?;
    set(
        &mut c.lead_status,
        &changes.lead_status,
        text("lead_status", LEAD_STATUS_MAX),
    )?;
    set(
        &mut c.lead_source,
        &changes.lead_source,
        text("lead_source", SHORT_MAX),
    )?;
    set(
        &mut c.product,
        &changes.product,
        text("product", PRODUCT_MAX),
    )?;
    set(
        &mut c.address,
        &changes.address,
        text("address", ADDRESS_MAX),
    )?;
    set(&mut c.city, &changes.city, text("city", SHORT_MAX))?;
    set(&mut c.state, &changes.state, text("state", SHORT_MAX))?;
    set(&mut c.zip, &changes.zip, text("zip", ZIP_MAX))?;
    set(&mut c.notes, &changes.notes, text("notes", NOTES_MAX))?;
    set(&mut c.priority, &changes.priority, |r| {
        priority("priority", r)
    })?;
    set(
        &mut c.opt_in_through,
        &changes.opt_in_through,
        text("opt_in_through", SHORT_MAX),
    )?;
    set(&mut c.timezone, &changes.timezone, |r| {
        timezone("timezone", r)
    })?;
    set(&mut c.follow_up_date, &changes.follow_up_date, |r| {
        follow_up_date("follow_up_date", r)
    })?;
    set(
        &mut c.webhook_name,
        &changes.webhook_name,
        text("webhook_name", WEBHOOK_NAME_MAX),
    )?;
    if let Some(company_id) = company_id {
        c.company_id = company_id;
    }
    if let Some(assigned_to) = assigned_to {
        c.assigned_to = assigned_to;
    }
    c.updated_at = at;

    if let Err(e) = store::contacts::save(&txn, c.clone()).await {
        txn.rollback().await.ok();
        return Err(if is_unique_violation(&e) {
            taken_by(state, workspace_id, &c.phone_number).await
        } else {
            db_error("save contact")(e)
        });
    }
    if let Some(tags) = &tags {
        record_tags::set(&txn, workspace_id, CONTACT, &c.id, tags)
            .await
            .map_err(db_error("set contact tags"))?;
    }
    let tags = match tags {
        Some(tags) => tags,
        None => record_tags::load(&txn, workspace_id, CONTACT, std::slice::from_ref(&c.id))
            .await
            .map_err(db_error("load contact tags"))?
            .remove(&c.id)
            .unwrap_or_default(),
    };
    events::emit(
        &txn,
        workspace_id,
        "contact.updated",
        "contact",
        &c.id,
        payload(&c, &tags),
    )
    .await
    .map_err(db_error("contact.updated event"))?;
    txn.commit().await.map_err(db_error("commit contact"))?;
    state.events_committed();
    Ok(ContactRecord { contact: c, tags })
}
