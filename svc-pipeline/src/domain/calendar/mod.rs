//! The calendar (seed 004 "Calendar Booking API"): slots admins open and bookings the public
//! makes in them. Times are stored in UTC; a "day" (availability, the bookings' `date`
//! filter) is a day in the workspace's timezone. Every change that books, cancels or deletes
//! takes the workspace's calendar lock first, so a slot never takes more than its
//! `max_bookings` and a contact never holds two overlapping bookings, on SQLite and Postgres.

mod booking;
mod contact;
mod slots;

pub use booking::{BookingRequest, ListQuery, book, cancel_as_admin, cancel_with_token, list};
pub use slots::{
    EventChanges, availability, availability_request, delete_event, set_public_booking,
    upsert_event,
};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use tonic::{Code, Status};

/// Longest accepted texts.
const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 2000;
const LOCATION_MAX: usize = 500;
const ADMIN_ID_MAX: usize = 100;
/// Longest slot or booking: a week keeps a day's availability meaningful.
const LONGEST: chrono::Duration = chrono::Duration::days(7);

/// Roles a user needs for the admin endpoints (the seed's "Admin required"); API keys need
/// the scope only, since a key never holds more than its owner could.
const ADMIN_ROLES: &[&str] = &["owner", "admin", "manager"];

/// Checks an admin caller: the scope (keys) or an admin role (users); returns its workspace.
/// A `workspace_id` the caller sent must be its own (403 otherwise: never trusted).
pub fn admin<'p>(
    principal: &'p Principal,
    scope: &str,
    claimed_workspace: Option<&str>,
) -> Result<&'p str, Status> {
    let workspace = super::access::authorize(principal, scope)?;
    if principal.kind == PrincipalKind::User && !ADMIN_ROLES.contains(&principal.role.as_str()) {
        return Err(ApiError::forbidden(
            "calendar administration needs the owner, admin or manager role",
        )
        .into());
    }
    // Sent but not a workspace id: a 400 (the schema promises a UUID); another one's: a 403.
    if let Some(claimed) = claimed_workspace
        && super::input::id("workspace_id", claimed)? != workspace
    {
        return Err(
            ApiError::forbidden("workspace_id is not the workspace you act in")
                .with_field("workspace_id", "must be your own workspace")
                .into(),
        );
    }
    Ok(workspace)
}

/// The seed's 400 for absent required fields, naming each.
fn missing(fields: &[(&str, bool)]) -> Result<(), Status> {
    let absent: Vec<&str> = fields
        .iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| *name)
        .collect();
    if absent.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::new(
        Code::InvalidArgument,
        "VALIDATION_ERROR",
        format!("Missing required fields: {}", absent.join(", ")),
    );
    for field in absent {
        e = e.with_field(field, "is required");
    }
    Err(e.into())
}

/// Whether an optional text was sent with content.
fn given(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// A strict RFC 3339 instant, at millisecond precision (what every backend stores).
fn instant(field: &str, raw: &str) -> Result<DateTime<Utc>, Status> {
    use chrono::SubsecRound;
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(3))
        .map_err(|_| {
            ApiError::invalid_field(
                field,
                "must be an ISO 8601 timestamp with a zone, like 2025-07-15T09:00:00Z",
            )
            .into()
        })
}

/// `start < end`, at most [`LONGEST`] apart.
fn interval(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), Status> {
    if end <= start {
        return Err(ApiError::invalid_field("end_time", "must be after start_time").into());
    }
    if end - start > LONGEST {
        return Err(
            ApiError::invalid_field("end_time", "must be at most 7 days after start_time").into(),
        );
    }
    Ok(())
}

/// The UTC instants `[from, to)` of a local day in `tz`.
fn day_window(day: NaiveDate, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_of = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        // A day starting in a DST gap begins at the first instant that exists.
        tz.from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| (midnight + chrono::Duration::hours(1)).and_utc())
    };
    let next = day.succ_opt().unwrap_or(day);
    (start_of(day), start_of(next))
}

/// A `YYYY-MM-DD` day.
fn date(field: &str, raw: &str) -> Result<NaiveDate, Status> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid_field(field, "must be a date in YYYY-MM-DD format").into())
}

/// A workspace timezone name as chrono-tz reads it (UTC when unknown).
pub fn timezone(name: &str) -> chrono_tz::Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// The wire form of an instant: `2025-07-15T09:00:00Z` (milliseconds only when set).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An optional text that, when sent, is not blank (the schema's `not_blank`).
fn sent_text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, Status> {
    match raw {
        Some(v) if v.trim().is_empty() => {
            Err(ApiError::invalid_field(field, "must not be blank when sent").into())
        }
        _ => text(field, raw, max),
    }
}

fn text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, Status> {
    Ok(super::input::optional(field, raw, max)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_maps_to_its_utc_window() {
        let day = NaiveDate::from_ymd_opt(2025, 7, 15).unwrap();
        let (from, to) = day_window(day, timezone("America/New_York"));
        assert_eq!(rfc3339(from), "2025-07-15T04:00:00Z");
        assert_eq!(rfc3339(to), "2025-07-16T04:00:00Z");
        let (from, _) = day_window(day, timezone("nowhere"));
        assert_eq!(rfc3339(from), "2025-07-15T00:00:00Z");
    }

    #[test]
    fn absent_fields_are_named_in_order() {
        let e = missing(&[("start_time", false), ("x", true), ("end_time", false)]).unwrap_err();
        assert_eq!(e.message(), "Missing required fields: start_time, end_time");
    }
}
