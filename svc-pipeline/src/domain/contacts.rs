//! Contacts: people a workspace talks to. A phone number (E.164) belongs to one live contact
//! per workspace; deleting a contact is soft and frees its number. Tags live in record_tags.

use super::{
    PipelineState, companies, events, input, new_id, now,
    paging::{Window, window},
    phone::E164Phone,
};
use crate::store::{
    self,
    contacts::{BasicSearch, EnhancedSearch},
    db_error,
    entities::contacts::Model as Contact,
    is_unique_violation,
    record_tags::{self, CONTACT},
};
use crm_platform::error::ApiError;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use tonic::{Code, Status};

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
fn email(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = input::optional(field, raw, EMAIL_MAX)? else {
        return Ok(None);
    };
    let valid = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && !v.chars().any(char::is_whitespace)
                && domain
                    .split_once('.')
                    .is_some_and(|(host, rest)| !host.is_empty() && !rest.is_empty())
                && !domain.ends_with('.')
        }
        None => false,
    };
    if !valid {
        return Err(ApiError::invalid_field(
            field,
            "must be an email address, e.g. john.smith@example.com",
        ));
    }
    Ok(Some(v.to_lowercase()))
}

/// An IANA time zone name (e.g. America/New_York), in its canonical spelling.
fn timezone(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = input::optional(field, raw, SHORT_MAX)? else {
        return Ok(None);
    };
    v.parse::<chrono_tz::Tz>()
        .map(|tz| Some(tz.name().to_owned()))
        .map_err(|_| {
            ApiError::invalid_field(
                field,
                "must be an IANA time zone name, e.g. America/New_York or Europe/London",
            )
        })
}

fn priority(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => input::priority(field, v).map(Some),
    }
}

fn follow_up_date(field: &str, raw: Option<&str>) -> Result<Option<chrono::NaiveDate>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => input::date(field, v).map(Some),
    }
}

/// A search's phone parameter. A `+` written unencoded in a query string arrives as a space
/// (`?phone=+1555...`), so a number that starts with one is read as international.
fn searched_phone(field: &str, raw: &str) -> Result<String, ApiError> {
    let restored = match raw.strip_prefix(' ') {
        Some(rest) if rest.trim_start().starts_with(|c: char| c.is_ascii_digit()) => {
            format!("+{}", rest.trim_start())
        }
        _ => raw.to_owned(),
    };
    E164Phone::parse(field, &restored).map(E164Phone::into_string)
}

fn duplicate_phone(holder: Option<&str>) -> Status {
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
async fn taken_by(state: &PipelineState, workspace_id: &str, phone: &str) -> Status {
    match store::contacts::find_by_phone(&state.db, workspace_id, phone).await {
        Ok(holder) => duplicate_phone(holder.as_ref().map(|c| c.id.as_str())),
        Err(e) => db_error("find contact by phone")(e),
    }
}

async fn check_phone_free<C: ConnectionTrait>(
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

fn payload(contact: &Contact, tags: &[String]) -> serde_json::Value {
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
    })
}

fn missing_required(new: &NewContact) -> Option<ApiError> {
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
    let contact = Contact {
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
    };
    let tags = input::tags("tags", &new.tags)?;
    if let Some(company) = &contact.company_id {
        companies::require(state, workspace_id, company).await?;
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

fn given(raw: &str) -> Option<String> {
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
    use super::*;

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
