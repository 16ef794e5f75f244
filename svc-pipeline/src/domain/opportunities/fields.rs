//! Checks of an opportunity's input fields: money, currency, expected close date, and that
//! the contact and company it names belong to the workspace.

use super::super::input;
use crate::store::{companies as company_store, contacts as contact_store, db_error};
use chrono::NaiveDate;
use crm_platform::error::ApiError;
use sea_orm::ConnectionTrait;
use tonic::Status;

pub(super) fn money(value: Option<f64>, amount: Option<f64>) -> Result<Option<i64>, ApiError> {
    match (value, amount) {
        (Some(v), Some(a)) if input::cents("value", v)? != input::cents("amount", a)? => Err(
            ApiError::invalid_field("amount", "value and amount differ: give one of them"),
        ),
        (_, Some(a)) => input::cents("amount", a).map(Some),
        (Some(v), None) => input::cents("value", v).map(Some),
        (None, None) => Ok(None),
    }
}

pub(super) fn currency(raw: &str) -> Result<String, ApiError> {
    let c = raw.trim().to_ascii_uppercase();
    if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
        return Err(ApiError::invalid_field(
            "currency",
            "must be a 3-letter ISO 4217 code such as USD",
        ));
    }
    Ok(c)
}

pub(super) fn close_date(raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => input::date("expected_close_date", d).map(Some),
    }
}

/// Checks that optional references point at records of the workspace.
pub(super) async fn check_refs<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    contact_id: Option<&str>,
    company_id: Option<&str>,
) -> Result<(), Status> {
    if let Some(id) = contact_id {
        let id = input::id("contact_id", id)?;
        if contact_store::find_many(conn, workspace_id, &[id])
            .await
            .map_err(db_error("reading contact"))?
            .is_empty()
        {
            return Err(
                ApiError::invalid_field("contact_id", "no such contact in this workspace").into(),
            );
        }
    }
    if let Some(id) = company_id {
        let id = input::id("company_id", id)?;
        if company_store::find_many(conn, workspace_id, &[id])
            .await
            .map_err(db_error("reading company"))?
            .is_empty()
        {
            return Err(
                ApiError::invalid_field("company_id", "no such company in this workspace").into(),
            );
        }
    }
    Ok(())
}
