//! Checks of a contact's input fields: email, IANA time zone, priority, follow-up date and
//! the phone number searched for.

use crate::domain::{input, phone::E164Phone};
use crm_platform::error::ApiError;

use super::*;

pub(super) fn email(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
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
pub(super) fn timezone(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
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

pub(super) fn priority(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => input::priority(field, v).map(Some),
    }
}

pub(super) fn follow_up_date(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<chrono::NaiveDate>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => input::date(field, v).map(Some),
    }
}

/// A search's phone parameter. A `+` written unencoded in a query string arrives as a space
/// (`?phone=+1555...`), so a number that starts with one is read as international.
pub(super) fn searched_phone(field: &str, raw: &str) -> Result<String, ApiError> {
    let restored = match raw.strip_prefix(' ') {
        Some(rest) if rest.trim_start().starts_with(|c: char| c.is_ascii_digit()) => {
            format!("+{}", rest.trim_start())
        }
        _ => raw.to_owned(),
    };
    E164Phone::parse(field, &restored).map(E164Phone::into_string)
}
