//! Bookings: the public books a slot and cancels with its token; admins list and cancel.
//! Booking and cancelling run in one transaction that first takes the workspace's calendar
//! lock, then counts and inserts: bookings of a workspace run one at a time.

use super::{
    ADMIN_ID_MAX, LOCATION_MAX, TEXT_MAX, TITLE_MAX,
    contact::{self, Booker},
    date, day_window, instant, interval, missing, sent_text, text,
};
use crate::domain::{PipelineState, events, input, new_id, now};
use crate::store::{
    calendar::{self as cal, BOOKED, BookingFilter, appointments::Model as Booking},
    db_error,
};
use crm_platform::{api_key::hash, error::ApiError};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use serde_json::json;
use tonic::Status;

const PRODUCT_MAX: usize = 200;

/// A public booking request, as given.
#[derive(Default)]
pub struct BookingRequest {
    pub workspace_id: String,
    pub contact_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub event_id: Option<String>,
    pub admin_id: Option<String>,
    pub event_title: Option<String>,
    pub event_description: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub product_interest: Option<String>,
}

fn disabled() -> Status {
    ApiError::forbidden("Public booking is not enabled for this workspace")
        .with_meta(
            "hint",
            "a workspace admin switches it on with PUT /api/calendar/settings",
        )
        .into()
}

/// Refuses unless the workspace switched public booking on.
pub(super) async fn require_public(
    state: &PipelineState,
    workspace_id: &str,
) -> Result<(), Status> {
    match cal::public_booking(&state.db, workspace_id)
        .await
        .map_err(db_error("calendar settings"))?
    {
        Some(true) => Ok(()),
        _ => Err(disabled()),
    }
}

fn full() -> Status {
    ApiError::already_exists("This slot is fully booked").into()
}

/// Books a slot; returns the booking and the cancel token (shown once, stored hashed).
pub async fn book(state: &PipelineState, r: BookingRequest) -> Result<(Booking, String), Status> {
    missing(&[
        ("workspace_id", !r.workspace_id.trim().is_empty()),
        ("start_time", !r.start_time.trim().is_empty()),
        ("end_time", !r.end_time.trim().is_empty()),
    ])?;
    let workspace_id = input::id("workspace_id", &r.workspace_id)?;
    let start = instant("start_time", &r.start_time)?;
    let end = instant("end_time", &r.end_time)?;
    interval(start, end)?;
    let booker = Booker::parse(
        r.contact_id.as_deref(),
        r.contact_name.as_deref(),
        r.contact_email.as_deref(),
        r.contact_phone.as_deref(),
    )?;
    let event_id = r
        .event_id
        .as_deref()
        .map(|raw| input::id("event_id", raw))
        .transpose()?;
    let admin_id = sent_text("admin_id", r.admin_id.as_deref(), ADMIN_ID_MAX)?;
    let title = text("event_title", r.event_title.as_deref(), TITLE_MAX)?;
    let description = text(
        "event_description",
        r.event_description.as_deref(),
        TEXT_MAX,
    )?;
    let location = text("location", r.location.as_deref(), LOCATION_MAX)?;
    let notes = text("notes", r.notes.as_deref(), TEXT_MAX)?;
    let product = text(
        "product_interest",
        r.product_interest.as_deref(),
        PRODUCT_MAX,
    )?;

    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    // The lock is the first statement: see the module comment.
    if cal::lock(&txn, &workspace_id)
        .await
        .map_err(db_error("calendar lock"))?
        != Some(true)
    {
        return Err(disabled());
    }
    let contact = contact::resolve(&txn, &workspace_id, &booker).await?;
    let slot = pick_slot(
        &txn,
        &workspace_id,
        event_id.as_deref(),
        admin_id.as_deref(),
        start,
        end,
    )
    .await?;
    if cal::overlapping(&txn, &workspace_id, &contact.id, start, end)
        .await
        .map_err(db_error("overlapping bookings"))?
        .is_some()
    {
        return Err(ApiError::already_exists(
            "The contact already has a booking overlapping this time",
        )
        .into());
    }
    let name = format!("{} {}", contact.firstname, contact.lastname)
        .trim()
        .to_owned();
    let topic = product.clone().unwrap_or_else(|| slot.title.clone());
    let email = contact.email.clone().unwrap_or_default();
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let booking = Booking {
        id: new_id(),
        workspace_id: workspace_id.clone(),
        event_id: Some(slot.id.clone()),
        contact_id: contact.id.clone(),
        admin_id: slot.admin_id.clone(),
        title: title.unwrap_or_else(|| format!("{topic} - {name}")),
        description: description.or_else(|| Some(format!("{topic} booking for {name} ({email})"))),
        start_time: start,
        end_time: end,
        location: location.or_else(|| slot.location.clone()),
        notes,
        product_interest: product,
        status: BOOKED.to_owned(),
        cancel_token_hash: hash(&token),
        created_at: now(),
    };
    cal::insert_booking(&txn, booking.clone())
        .await
        .map_err(db_error("insert booking"))?;
    emit(&txn, "booking.created", &booking).await?;
    txn.commit().await.map_err(db_error("commit booking"))?;
    state.events_committed();
    Ok((booking, token))
}

/// The slot the booking goes in: the named one, else the earliest open one containing the
/// times (of `admin_id` when given) with room left. 400 when none contains the times, 409
/// when every one that does is full.
async fn pick_slot(
    txn: &DatabaseTransaction,
    workspace_id: &str,
    event_id: Option<&str>,
    admin_id: Option<&str>,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<cal::calendar_events::Model, Status> {
    let candidates = cal::events_containing(txn, workspace_id, start, end, admin_id)
        .await
        .map_err(db_error("calendar slots"))?;
    let candidates: Vec<_> = match event_id {
        Some(id) => candidates.into_iter().filter(|e| e.id == id).collect(),
        None => candidates,
    };
    if candidates.is_empty() {
        return Err(ApiError::invalid_field(
            "start_time",
            "no open slot of the workspace contains start_time..end_time; see /api/calendar/availability",
        )
        .into());
    }
    for slot in candidates {
        let taken = cal::booked_count(txn, workspace_id, &slot.id)
            .await
            .map_err(db_error("count bookings"))?;
        if taken < u64::try_from(slot.max_bookings).unwrap_or(0) {
            return Ok(slot);
        }
    }
    Err(full())
}

async fn emit<C: ConnectionTrait>(
    conn: &C,
    event_type: &'static str,
    b: &Booking,
) -> Result<(), Status> {
    events::emit(
        conn,
        &b.workspace_id,
        event_type,
        "booking",
        &b.id,
        json!({
            "id": b.id,
            "event_id": b.event_id,
            "contact_id": b.contact_id,
            "title": b.title,
            "start_time": super::rfc3339(b.start_time),
            "end_time": super::rfc3339(b.end_time),
            "status": b.status,
        }),
    )
    .await
    .map_err(db_error("booking event"))
}

/// Cancels an active booking on `conn` and records `booking.cancelled`; 409 when it was
/// already cancelled.
pub(super) async fn cancel_in<C: ConnectionTrait>(
    conn: &C,
    mut booking: Booking,
) -> Result<Booking, Status> {
    if !cal::cancel_booking(conn, &booking.workspace_id, &booking.id)
        .await
        .map_err(db_error("cancel booking"))?
    {
        return Err(
            ApiError::in_use("ALREADY_CANCELLED", "This booking is already cancelled").into(),
        );
    }
    booking.status = cal::CANCELLED.to_owned();
    emit(conn, "booking.cancelled", &booking).await?;
    Ok(booking)
}

async fn cancel(state: &PipelineState, booking: Booking) -> Result<Booking, Status> {
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    // The cancelling UPDATE is the first statement (a write: SQLite's write lock at once).
    let booking = cancel_in(&txn, booking).await?;
    txn.commit().await.map_err(db_error("commit booking"))?;
    state.events_committed();
    Ok(booking)
}

/// The booker cancels with the booking's token. A wrong token reads as not found, so ids
/// cannot be probed.
pub async fn cancel_with_token(
    state: &PipelineState,
    id: &str,
    token: &str,
) -> Result<Booking, Status> {
    missing(&[
        ("id", !id.trim().is_empty()),
        ("cancel_token", !token.trim().is_empty()),
    ])?;
    let not_found = || Status::from(ApiError::not_found("Booking", id));
    let id = input::id("id", id).map_err(|_| not_found())?;
    let booking = cal::find_booking_by_id(&state.db, &id)
        .await
        .map_err(db_error("find booking"))?
        .filter(|b| b.cancel_token_hash == hash(token.trim()))
        .ok_or_else(not_found)?;
    cancel(state, booking).await
}

/// An admin cancels a booking of the workspace.
pub async fn cancel_as_admin(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
) -> Result<Booking, Status> {
    let not_found = || Status::from(ApiError::not_found("Booking", id));
    let id = input::id("id", id).map_err(|_| not_found())?;
    let booking = cal::find_booking(&state.db, workspace_id, &id)
        .await
        .map_err(db_error("find booking"))?
        .ok_or_else(not_found)?;
    cancel(state, booking).await
}

/// The list's filters, as given.
#[derive(Default)]
pub struct ListQuery {
    pub contact_id: Option<String>,
    pub admin_id: Option<String>,
    pub date: Option<String>,
    pub status: Option<String>,
}

/// One page of the workspace's bookings matching the filters, soonest first (`date` in
/// `tz`), and how many match.
pub async fn list(
    state: &PipelineState,
    workspace_id: &str,
    tz: chrono_tz::Tz,
    q: ListQuery,
    window: crate::domain::paging::Window,
) -> Result<(Vec<Booking>, u64), Status> {
    let mut filter = BookingFilter::default();
    if q.contact_id.is_some() {
        filter.contact_id = Some(input::id(
            "contact_id",
            q.contact_id.as_deref().unwrap_or_default(),
        )?);
    }
    filter.admin_id = sent_text("admin_id", q.admin_id.as_deref(), ADMIN_ID_MAX)?;
    if q.date.is_some() {
        let day = date("date", q.date.as_deref().unwrap_or_default())?;
        filter.window = Some(day_window(day, tz));
    }
    if let Some(status) = q.status.as_deref().map(str::trim) {
        if status != BOOKED && status != cal::CANCELLED {
            return Err(
                ApiError::invalid_field("status", "must be one of: booked, cancelled").into(),
            );
        }
        filter.status = Some(status.to_owned());
    }
    cal::list_bookings(&state.db, workspace_id, filter, window.offset, window.limit)
        .await
        .map_err(db_error("list bookings"))
}
