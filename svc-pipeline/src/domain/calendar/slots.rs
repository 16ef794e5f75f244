//! Slots: admins open, change and delete them; the public reads a day of them.

use super::{
    ADMIN_ID_MAX, LOCATION_MAX, TEXT_MAX, TITLE_MAX, booking::cancel_in, date, day_window, given,
    instant, interval, missing, rfc3339, text,
};
use crate::domain::{PipelineState, input, new_id, now};
use crate::store::{
    self,
    calendar::{self as cal, calendar_events::Model as Event},
    db_error,
};
use chrono::{DateTime, Utc};
use crm_platform::error::ApiError;
use sea_orm::{DatabaseTransaction, TransactionTrait};
use std::collections::HashMap;
use tonic::Status;

const STATUSES: &[&str] = &["scheduled", "confirmed", "completed", "cancelled"];
const BOOKING_TYPES: &[&str] = &["single", "group"];
const MAX_BOOKINGS_LIMIT: i32 = 1000;
const DEFAULT_TITLE: &str = "Available slot";

/// What an admin sends to create a slot (`id` absent) or change one: `None` leaves a field
/// as it is (or takes the default when creating), an empty string clears an optional one.
#[derive(Default)]
pub struct EventChanges {
    pub id: Option<String>,
    pub contact_id: Option<String>,
    pub admin_id: Option<String>,
    pub event_title: Option<String>,
    pub event_description: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub status: Option<String>,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub booking_type: Option<String>,
    pub max_bookings: Option<i32>,
}

fn one_of(field: &str, raw: &str, allowed: &[&str]) -> Result<String, Status> {
    let v = raw.trim().to_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(
            ApiError::invalid_field(field, format!("must be one of: {}", allowed.join(", ")))
                .into(),
        )
    }
}

/// Creates a slot, or updates the workspace's slot `id`.
pub async fn upsert_event(
    state: &PipelineState,
    workspace_id: &str,
    caller: &str,
    changes: EventChanges,
) -> Result<Event, Status> {
    let at = now();
    let creating = changes.id.is_none();
    let mut event = match changes.id.as_deref() {
        Some(raw) => {
            let id = input::id("id", raw)?;
            cal::find_event(&state.db, workspace_id, &id)
                .await
                .map_err(db_error("find calendar event"))?
                .ok_or_else(|| ApiError::not_found("Appointment", raw))?
        }
        None => {
            missing(&[
                ("start_time", given(&changes.start_time)),
                ("end_time", given(&changes.end_time)),
            ])?;
            Event {
                id: new_id(),
                workspace_id: workspace_id.to_owned(),
                // A slot an admin opens without naming one is the caller's own.
                admin_id: Some(caller.to_owned()).filter(|c| !c.is_empty()),
                contact_id: None,
                title: DEFAULT_TITLE.to_owned(),
                description: None,
                start_time: at,
                end_time: at,
                status: "scheduled".to_owned(),
                location: None,
                notes: None,
                booking_type: "single".to_owned(),
                max_bookings: 1,
                created_at: at,
                updated_at: at,
            }
        }
    };
    if let Some(raw) = &changes.start_time {
        event.start_time = instant("start_time", raw)?;
    }
    if let Some(raw) = &changes.end_time {
        event.end_time = instant("end_time", raw)?;
    }
    interval(event.start_time, event.end_time)?;
    if let Some(raw) = &changes.event_title {
        event.title = input::required("event_title", raw, TITLE_MAX)?;
    }
    if let Some(raw) = &changes.event_description {
        event.description = text("event_description", Some(raw), TEXT_MAX)?;
    }
    if let Some(raw) = &changes.location {
        event.location = text("location", Some(raw), LOCATION_MAX)?;
    }
    if let Some(raw) = &changes.notes {
        event.notes = text("notes", Some(raw), TEXT_MAX)?;
    }
    if let Some(raw) = &changes.admin_id {
        event.admin_id = text("admin_id", Some(raw), ADMIN_ID_MAX)?;
    }
    if let Some(raw) = &changes.status {
        event.status = one_of("status", raw, STATUSES)?;
    }
    if let Some(raw) = &changes.booking_type {
        event.booking_type = one_of("booking_type", raw, BOOKING_TYPES)?;
    }
    if let Some(n) = changes.max_bookings {
        if !(1..=MAX_BOOKINGS_LIMIT).contains(&n) {
            return Err(ApiError::invalid_field("max_bookings", "must be 1..1000").into());
        }
        event.max_bookings = n;
    }
    if let Some(raw) = &changes.contact_id {
        event.contact_id = match raw.trim() {
            "" => None,
            id => {
                let id = input::id("contact_id", id)?;
                store::contacts::find(&state.db, workspace_id, &id)
                    .await
                    .map_err(db_error("find contact"))?
                    .ok_or_else(|| ApiError::not_found("Contact", raw))?;
                Some(id)
            }
        };
    }
    event.updated_at = at;
    if creating {
        cal::insert_event(&state.db, event.clone())
            .await
            .map_err(db_error("insert calendar event"))?;
        return Ok(event);
    }
    // Under the lock bookings take, so no booking lands between the check and the save.
    let (txn, held) = locked_bookings(state, workspace_id, &event.id, at).await?;
    still_holds(&event, &held)?;
    cal::save_event(&txn, event.clone())
        .await
        .map_err(db_error("save calendar event"))?;
    txn.commit()
        .await
        .map_err(db_error("commit calendar event"))?;
    Ok(event)
}

/// A transaction holding the lock bookings take, and the slot's active bookings read under
/// it: a write first (SQLite's write lock; the settings row the lock needs), then the lock.
async fn locked_bookings(
    state: &PipelineState,
    workspace_id: &str,
    event_id: &str,
    at: DateTime<Utc>,
) -> Result<(DatabaseTransaction, Vec<cal::appointments::Model>), Status> {
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    cal::ensure_settings(&txn, workspace_id, at)
        .await
        .map_err(db_error("calendar settings"))?;
    cal::lock(&txn, workspace_id)
        .await
        .map_err(db_error("calendar lock"))?;
    let held = cal::active_for_event(&txn, workspace_id, event_id)
        .await
        .map_err(db_error("slot bookings"))?;
    Ok((txn, held))
}

/// A slot's edit must keep room and time for the bookings it already holds: fewer places than
/// bookings, or times that leave one outside, is a 409 naming the field (cancel bookings first).
fn still_holds(event: &Event, held: &[cal::appointments::Model]) -> Result<(), Status> {
    let conflict = |field: &str, message: String| {
        Status::from(
            ApiError::in_use("SLOT_HAS_BOOKINGS", message)
                .with_field(field, "conflicts with existing bookings"),
        )
    };
    if held.len() > event.max_bookings as usize {
        return Err(conflict(
            "max_bookings",
            format!(
                "the slot holds {} active bookings, more than max_bookings {}; cancel bookings first",
                held.len(),
                event.max_bookings
            ),
        ));
    }
    if let Some(b) = held
        .iter()
        .find(|b| b.start_time < event.start_time || b.end_time > event.end_time)
    {
        return Err(conflict(
            "start_time",
            format!(
                "booking {} ({} to {}) would fall outside the slot; cancel it first",
                b.id,
                rfc3339(b.start_time),
                rfc3339(b.end_time)
            ),
        ));
    }
    Ok(())
}

/// Deletes a slot, cancelling its active bookings (each recording `booking.cancelled`).
pub async fn delete_event(
    state: &PipelineState,
    workspace_id: &str,
    raw: &str,
) -> Result<(), Status> {
    let not_found = || Status::from(ApiError::not_found("Appointment", raw));
    let id = input::id("id", raw).map_err(|_| not_found())?;
    let (txn, bookings) = locked_bookings(state, workspace_id, &id, now()).await?;
    if !cal::delete_event(&txn, workspace_id, &id)
        .await
        .map_err(db_error("delete calendar event"))?
    {
        return Err(not_found());
    }
    for booking in bookings {
        cancel_in(&txn, booking).await?;
    }
    txn.commit()
        .await
        .map_err(db_error("commit calendar event"))?;
    state.events_committed();
    Ok(())
}

/// Switches public booking for the workspace.
pub async fn set_public_booking(
    state: &PipelineState,
    workspace_id: &str,
    on: bool,
) -> Result<chrono::DateTime<chrono::Utc>, Status> {
    let at = now();
    cal::set_public_booking(&state.db, workspace_id, on, at)
        .await
        .map_err(db_error("calendar settings"))?;
    Ok(at)
}

/// A slot with the active bookings it holds.
pub struct SlotView {
    pub event: Event,
    pub booked: i64,
}

/// An availability request, checked: the day and the workspace, which must have switched
/// public booking on (asked before anything else of the workspace, its timezone included).
pub async fn availability_request(
    state: &PipelineState,
    workspace_id: &str,
    day: &str,
) -> Result<(String, chrono::NaiveDate), Status> {
    missing(&[
        ("date", !day.trim().is_empty()),
        ("workspace_id", !workspace_id.trim().is_empty()),
    ])?;
    let day = date("date", day)?;
    let workspace_id = input::id("workspace_id", workspace_id)?;
    super::booking::require_public(state, &workspace_id).await?;
    Ok((workspace_id, day))
}

/// The open slots starting on `day` (in `tz`), of one admin when given (see
/// [`availability_request`]).
pub async fn availability(
    state: &PipelineState,
    workspace_id: &str,
    tz: chrono_tz::Tz,
    day: chrono::NaiveDate,
    admin_id: Option<&str>,
) -> Result<(String, Vec<SlotView>), Status> {
    let (from, to) = day_window(day, tz);
    let admin = super::sent_text("admin_id", admin_id, ADMIN_ID_MAX)?;
    let admin = admin.as_deref();
    let events = cal::events_starting(&state.db, workspace_id, from, to, admin)
        .await
        .map_err(db_error("calendar availability"))?;
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let mut counts: HashMap<String, i64> = cal::booked_counts(&state.db, workspace_id, &ids)
        .await
        .map_err(db_error("calendar booked counts"))?;
    let slots = events
        .into_iter()
        .map(|event| SlotView {
            booked: counts.remove(&event.id).unwrap_or(0),
            event,
        })
        .collect();
    Ok((day.format("%Y-%m-%d").to_string(), slots))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        format!("2025-07-15T{hour:02}:00:00Z").parse().unwrap()
    }

    fn slot(start: u32, end: u32, max_bookings: i32) -> Event {
        Event {
            id: "e".into(),
            workspace_id: "w".into(),
            admin_id: None,
            contact_id: None,
            title: "t".into(),
            description: None,
            start_time: at(start),
            end_time: at(end),
            status: "scheduled".into(),
            location: None,
            notes: None,
            booking_type: "group".into(),
            max_bookings,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn booking(start: u32, end: u32) -> cal::appointments::Model {
        cal::appointments::Model {
            id: format!("b{start}"),
            workspace_id: "w".into(),
            event_id: Some("e".into()),
            contact_id: "c".into(),
            admin_id: None,
            title: "t".into(),
            description: None,
            start_time: at(start),
            end_time: at(end),
            location: None,
            notes: None,
            product_interest: None,
            status: "booked".into(),
            cancel_token_hash: String::new(),
            created_at: at(0),
        }
    }

    /// Which limit a refusal names: its room or its times.
    fn field(r: Result<(), Status>) -> Option<String> {
        r.err().map(|s| {
            assert_eq!(s.code(), tonic::Code::FailedPrecondition);
            if s.message().contains("max_bookings") {
                "max_bookings".into()
            } else {
                assert!(s.message().contains("outside the slot"), "{s:?}");
                "start_time".into()
            }
        })
    }

    #[test]
    fn an_edit_keeps_room_and_time_for_the_bookings_held() {
        let held = [booking(9, 10), booking(10, 11)];
        assert_eq!(field(still_holds(&slot(9, 11, 2), &held)), None);
        assert_eq!(field(still_holds(&slot(8, 12, 5), &held)), None);
        assert_eq!(
            field(still_holds(&slot(9, 11, 1), &held)).as_deref(),
            Some("max_bookings")
        );
        assert_eq!(
            field(still_holds(&slot(10, 11, 2), &held)).as_deref(),
            Some("start_time")
        );
        assert_eq!(
            field(still_holds(&slot(9, 10, 2), &held)).as_deref(),
            Some("start_time")
        );
        assert_eq!(field(still_holds(&slot(12, 13, 1), &[])), None);
    }
}
