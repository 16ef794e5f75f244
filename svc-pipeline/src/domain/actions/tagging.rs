//! The contact's tags as the tag actions change them: read and written in one transaction
//! that first touches the contact's row, so two actions tagging one contact at once take
//! turns instead of one overwriting the other's tag (a read, then the contact update, would
//! lose one). Records the same `contact.updated` event the contact update does.

use super::{
    ActionContext,
    config::{field, ours},
};
use crate::domain::{contacts::full_name, events, input, now};
use crate::store::{
    contacts as contact_store, db_error,
    record_tags::{self, CONTACT},
};
use crm_platform::error::ApiError;
use sea_orm::TransactionTrait;
use serde_json::json;

/// Applies `edit` to the contact's tags; `edit` says whether it changed them. Returns that.
/// A refused tag list is blamed on configuration field `key`.
pub async fn change(
    ctx: &ActionContext<'_>,
    key: &str,
    edit: impl FnOnce(&mut Vec<String>) -> bool,
) -> Result<bool, ApiError> {
    let db = |context| move |e| ours(db_error(context)(e));
    let (workspace_id, id) = (ctx.workspace_id, ctx.contact.id.as_str());
    let txn = ctx.state.db.begin().await.map_err(db("begin"))?;
    // The write comes first: it holds the row (Postgres) or the database (SQLite).
    if !contact_store::touch(&txn, workspace_id, id, now())
        .await
        .map_err(db("touch contact"))?
    {
        return Err(ApiError::not_found("Contact", id));
    }
    let contact = contact_store::find(&txn, workspace_id, id)
        .await
        .map_err(db("find contact"))?
        .ok_or_else(|| ApiError::not_found("Contact", id))?;
    let mut tags = record_tags::load(
        &txn,
        workspace_id,
        CONTACT,
        std::slice::from_ref(&contact.id),
    )
    .await
    .map_err(db("load contact tags"))?
    .remove(id)
    .unwrap_or_default();
    if !edit(&mut tags) {
        // Nothing to write: the touch is rolled back with the transaction.
        txn.rollback().await.ok();
        return Ok(false);
    }
    let tags = input::tags(&field(key), &tags)?;
    record_tags::set(&txn, workspace_id, CONTACT, id, &tags)
        .await
        .map_err(db("set contact tags"))?;
    events::emit(
        &txn,
        workspace_id,
        "contact.updated",
        "contact",
        id,
        json!({
            "id": contact.id,
            "name": full_name(&contact),
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
        }),
    )
    .await
    .map_err(db("contact.updated event"))?;
    txn.commit().await.map_err(db("commit contact tags"))?;
    ctx.state.events_committed();
    Ok(true)
}
