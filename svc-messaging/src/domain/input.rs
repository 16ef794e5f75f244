//! The schedule requests as sent (seed 004's fields), checked into a [`NewJob`]: required
//! fields, formats the OpenAPI document promises, the caller's own workspace, and when the
//! job is due.

use crate::error::MessagingError;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

/// Longest `delay`: a year, in milliseconds.
pub const MAX_DELAY_MS: i64 = 31_536_000_000;

/// Which way a message goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// The stored name, also the `channel` of answers and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    /// The name the seed's answers use ("SMS queued...", "Email scheduled...").
    pub fn label(self) -> &'static str {
        match self {
            Self::Sms => "SMS",
            Self::Email => "Email",
        }
    }

    /// A stored channel name back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Self::Sms),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// A job as the caller asked for it, checked.
#[derive(Debug)]
pub struct NewJob {
    pub channel: Channel,
    pub contact_id: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub metadata: Map<String, Value>,
    /// When it is due; `None` means now.
    pub due_at: Option<DateTime<Utc>>,
    /// When the request arrived: `delay` counts from here.
    pub requested_at: DateTime<Utc>,
}

/// The SMS request's fields.
pub struct SmsInput {
    pub phone_number: String,
    pub message: String,
    pub contact_id: String,
    pub workspace_id: String,
    pub delay: Option<i64>,
    pub scheduled_time: Option<String>,
    pub metadata: Map<String, Value>,
}

/// The email request's fields.
pub struct EmailInput {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub contact_id: String,
    pub workspace_id: String,
    pub delay: Option<i64>,
    pub scheduled_time: Option<String>,
    pub metadata: Map<String, Value>,
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn missing(fields: &[(&'static str, &str)]) -> Result<(), MessagingError> {
    let absent: Vec<&'static str> = fields
        .iter()
        .filter(|(_, v)| blank(v))
        .map(|(name, _)| *name)
        .collect();
    if absent.is_empty() {
        Ok(())
    } else {
        Err(MessagingError::Missing(absent))
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> MessagingError {
    MessagingError::InvalidField {
        field,
        message: message.into(),
    }
}

fn at_most(field: &'static str, value: &str, max: usize) -> Result<(), MessagingError> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// E.164: `+`, a non-zero digit, 7 to 14 more digits (the document's pattern).
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// An address of the shape `local@domain.tld` with no spaces or angle brackets: enough to
/// refuse typos; the SMTP server has the last word.
pub fn is_email(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

fn common(
    caller_workspace: &str,
    contact_id: &str,
    workspace_id: &str,
) -> Result<String, MessagingError> {
    let contact =
        uuid::Uuid::parse_str(contact_id).map_err(|_| invalid("contactId", "must be a UUID"))?;
    // Never trusted: the body may only repeat the caller's own workspace, compared as given
    // (the seed's workspace ids are plain strings).
    if workspace_id != caller_workspace {
        return Err(MessagingError::ForeignWorkspace);
    }
    Ok(contact.to_string())
}

/// When the job is due: `delay` ms from `now` wins; else `scheduledTime`, else
/// `metadata.scheduledTime` (ignored unless an RFC 3339 time: metadata is free-form). A time
/// already past means now.
fn due_at(
    now: DateTime<Utc>,
    delay: Option<i64>,
    scheduled_time: Option<&str>,
    metadata: &Map<String, Value>,
) -> Result<Option<DateTime<Utc>>, MessagingError> {
    if let Some(ms) = delay {
        if !(0..=MAX_DELAY_MS).contains(&ms) {
            return Err(invalid(
                "delay",
                format!("must be 0..{MAX_DELAY_MS} milliseconds (at most a year)"),
            ));
        }
        return Ok((ms > 0).then(|| now + Duration::milliseconds(ms)));
    }
    let at = match scheduled_time {
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    invalid(
                        "scheduledTime",
                        "must be an RFC 3339 time, e.g. 2025-03-27T00:20:00.182Z",
                    )
                })?
                .with_timezone(&Utc),
        ),
        None => metadata
            .get("scheduledTime")
            .and_then(Value::as_str)
            .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
            .map(|t| t.with_timezone(&Utc)),
    };
    Ok(at.filter(|t| *t > now))
}

/// Checks an SMS request of a caller acting in `caller_workspace`.
pub fn sms(
    caller_workspace: &str,
    input: SmsInput,
    now: DateTime<Utc>,
) -> Result<NewJob, MessagingError> {
    missing(&[
        ("phoneNumber", &input.phone_number),
        ("message", &input.message),
        ("contactId", &input.contact_id),
        ("workspaceId", &input.workspace_id),
    ])?;
    let phone = input.phone_number.as_str();
    if !is_e164(phone) {
        return Err(invalid(
            "phoneNumber",
            "must be an E.164 number such as +14345054099",
        ));
    }
    at_most("message", &input.message, 1600)?;
    let contact_id = common(caller_workspace, &input.contact_id, &input.workspace_id)?;
    let due_at = due_at(
        now,
        input.delay,
        input.scheduled_time.as_deref(),
        &input.metadata,
    )?;
    Ok(NewJob {
        channel: Channel::Sms,
        contact_id,
        recipient: phone.to_owned(),
        subject: None,
        body: input.message,
        metadata: input.metadata,
        due_at,
        requested_at: now,
    })
}

/// Checks an email request of a caller acting in `caller_workspace`.
pub fn email(
    caller_workspace: &str,
    input: EmailInput,
    now: DateTime<Utc>,
) -> Result<NewJob, MessagingError> {
    missing(&[
        ("to", &input.to),
        ("subject", &input.subject),
        ("html", &input.html),
        ("contactId", &input.contact_id),
        ("workspaceId", &input.workspace_id),
    ])?;
    let to = input.to.as_str();
    at_most("to", to, 254)?;
    if !is_email(to) {
        return Err(invalid("to", "must be an email address"));
    }
    at_most("subject", &input.subject, 998)?;
    if input.subject.contains(['\r', '\n']) {
        return Err(invalid("subject", "must be one line"));
    }
    at_most("html", &input.html, 1_000_000)?;
    let contact_id = common(caller_workspace, &input.contact_id, &input.workspace_id)?;
    let due_at = due_at(
        now,
        input.delay,
        input.scheduled_time.as_deref(),
        &input.metadata,
    )?;
    Ok(NewJob {
        channel: Channel::Email,
        contact_id,
        recipient: to.to_owned(),
        subject: Some(input.subject),
        body: input.html,
        metadata: input.metadata,
        due_at,
        requested_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms_input() -> SmsInput {
        SmsInput {
            phone_number: "+14345054099".into(),
            message: "Hello".into(),
            contact_id: "3a0c1e05-4f82-4ae7-8644-97585cb5d80d".into(),
            workspace_id: "66338".into(),
            delay: None,
            scheduled_time: None,
            metadata: Map::new(),
        }
    }

    #[test]
    fn missing_fields_are_all_named() {
        let mut input = sms_input();
        input.message = " ".into();
        input.workspace_id.clear();
        let err = sms("66338", input, Utc::now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Missing required fields: message, workspaceId"
        );
    }

    #[test]
    fn delay_wins_over_scheduled_time_and_a_past_time_is_now() {
        let now = Utc::now();
        let mut input = sms_input();
        input.delay = Some(300);
        input.scheduled_time = Some("2025-03-27T00:20:00.182Z".into());
        let job = sms("66338", input, now).unwrap();
        assert_eq!(job.due_at, Some(now + Duration::milliseconds(300)));
        let mut input = sms_input();
        input.metadata.insert(
            "scheduledTime".into(),
            Value::String("2025-03-27T00:20:00.182Z".into()),
        );
        assert_eq!(sms("66338", input, now).unwrap().due_at, None);
        let mut input = sms_input();
        input.delay = Some(-1);
        assert!(sms("66338", input, now).is_err());
    }

    #[test]
    fn another_workspace_is_refused() {
        assert!(matches!(
            sms("1", sms_input(), Utc::now()),
            Err(MessagingError::ForeignWorkspace)
        ));
    }

    #[test]
    fn phone_and_email_shapes() {
        assert!(is_e164("+14345054099"));
        assert!(!is_e164("14345054099"));
        assert!(!is_e164("+0123456789"));
        assert!(is_email("recipient@example.com"));
        assert!(!is_email("recipient@example"));
        assert!(!is_email("a b@example.com"));
    }
}
