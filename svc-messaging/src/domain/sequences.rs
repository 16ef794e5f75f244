//! Sequences (seed 004 "Sequence Management"): a name, a status and up to 20 SMS messages,
//! each a time after the previous one.

use super::{
    MessagingState,
    timing::{Unit, Window},
};
use crate::{
    error::MessagingError,
    store::sequences::{self, SequenceRow},
};
use chrono::Utc;
use serde::{Deserialize, Serialize};

/// Most messages a sequence holds (the seed's recommended maximum).
pub const MAX_MESSAGES: usize = 20;
/// Longest wait of one step, in its unit.
pub const MAX_TIME_VALUE: i32 = 1000;

/// One message of a sequence, as stored and answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub text: String,
    pub time_value: i32,
    pub time_unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subflow: Option<String>,
}

impl Step {
    /// The unit, parsed (stored steps were checked when saved).
    pub fn unit(&self) -> Unit {
        Unit::parse(&self.time_unit).unwrap_or(Unit::Minutes)
    }
}

/// A sequence's fields as a create or update sends them.
pub struct SequenceInput {
    pub name: Option<String>,
    /// Empty: not sent (an update keeps the messages).
    pub messages: Vec<Step>,
    pub status: Option<String>,
    /// (start, end) as sent; equal times clear the window.
    pub send_window: Option<(String, String)>,
}

/// A send window as stored.
#[derive(Serialize, Deserialize)]
struct StoredWindow {
    start: String,
    end: String,
}

/// Checks a window; `None` when it admits any time.
fn check_window(start: &str, end: &str) -> Result<Option<String>, MessagingError> {
    let window = Window::parse(start, end).map_err(|which| {
        invalid(
            if which == "start" {
                "sendWindow.start"
            } else {
                "sendWindow.end"
            },
            "must be a local time HH:MM, e.g. 09:00",
        )
    })?;
    if window.start == window.end {
        return Ok(None);
    }
    Ok(Some(
        serde_json::to_string(&StoredWindow {
            start: start.to_owned(),
            end: end.to_owned(),
        })
        .unwrap_or_default(),
    ))
}

/// The stored window as (start, end).
pub fn window_times(stored: Option<&str>) -> Option<(String, String)> {
    let w: StoredWindow = serde_json::from_str(stored?).ok()?;
    Some((w.start, w.end))
}

/// The stored window, parsed.
pub fn window_of(stored: Option<&str>) -> Option<Window> {
    let (start, end) = window_times(stored)?;
    Window::parse(&start, &end).ok()
}

fn invalid(field: &'static str, message: impl Into<String>) -> MessagingError {
    MessagingError::InvalidField {
        field,
        message: message.into(),
    }
}

/// The path's workspace must be the caller's.
pub fn own_workspace(caller: &str, path: &str) -> Result<(), MessagingError> {
    if caller == path {
        Ok(())
    } else {
        Err(MessagingError::ForeignWorkspace)
    }
}

fn check_name(name: &str) -> Result<String, MessagingError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be blank"));
    }
    if name.chars().count() > 200 {
        return Err(invalid("name", "must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

fn check_status(status: &str) -> Result<String, MessagingError> {
    match status {
        "active" | "inactive" => Ok(status.to_owned()),
        _ => Err(invalid("status", "must be active or inactive")),
    }
}

fn check_steps(steps: &[Step]) -> Result<(), MessagingError> {
    if steps.len() > MAX_MESSAGES {
        return Err(invalid(
            "messages",
            format!("at most {MAX_MESSAGES} messages (got {})", steps.len()),
        ));
    }
    for step in steps {
        // The field rules are per message; the violation names `messages` (field names are
        // static here) with the position in the description.
        if step.text.trim().is_empty() {
            return Err(invalid("messages", "every message needs a non-blank text"));
        }
        if step.text.chars().count() > 1600 {
            return Err(invalid(
                "messages",
                "a message's text is at most 1600 characters",
            ));
        }
        if !(0..=MAX_TIME_VALUE).contains(&step.time_value) {
            return Err(invalid(
                "messages",
                format!("a message's timeValue is 0..{MAX_TIME_VALUE}"),
            ));
        }
        if Unit::parse(&step.time_unit).is_none() {
            return Err(invalid(
                "messages",
                "a message's timeUnit is minutes, hours, days or weeks",
            ));
        }
        if step
            .subflow
            .as_ref()
            .is_some_and(|s| s.chars().count() > 200)
        {
            return Err(invalid(
                "messages",
                "a message's subflow is at most 200 characters",
            ));
        }
    }
    Ok(())
}

/// The steps of a stored sequence or execution.
pub fn steps_of(json: &str) -> Vec<Step> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Creates a sequence in `workspace_id`.
pub async fn create(
    state: &MessagingState,
    workspace_id: &str,
    input: SequenceInput,
) -> Result<SequenceRow, MessagingError> {
    let name = input.name.unwrap_or_default();
    let mut missing = Vec::new();
    if name.trim().is_empty() {
        missing.push("name");
    }
    if input.messages.is_empty() {
        missing.push("messages");
    }
    if !missing.is_empty() {
        return Err(MessagingError::Missing(missing));
    }
    let name = check_name(&name)?;
    check_steps(&input.messages)?;
    let status = check_status(input.status.as_deref().unwrap_or("active"))?;
    let send_window = match &input.send_window {
        Some((start, end)) => check_window(start, end)?,
        None => None,
    };
    let now = Utc::now();
    let row = SequenceRow {
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: workspace_id.to_owned(),
        name,
        status,
        messages: serde_json::to_string(&input.messages).unwrap_or_else(|_| "[]".into()),
        send_window,
        created_at: now,
        updated_at: now,
    };
    sequences::insert(&state.db, row.clone())
        .await
        .map_err(MessagingError::db("creating a sequence"))?;
    Ok(row)
}

/// One sequence of the workspace.
pub async fn get(
    state: &MessagingState,
    workspace_id: &str,
    id: &str,
) -> Result<SequenceRow, MessagingError> {
    sequences::find(&state.db, workspace_id, id)
        .await
        .map_err(MessagingError::db("reading a sequence"))?
        .ok_or_else(|| MessagingError::SequenceNotFound(id.to_owned()))
}

/// Changes what `input` sends; running executions keep the messages they started with.
pub async fn update(
    state: &MessagingState,
    workspace_id: &str,
    id: &str,
    input: SequenceInput,
) -> Result<SequenceRow, MessagingError> {
    let mut row = get(state, workspace_id, id).await?;
    if let Some(name) = input.name {
        row.name = check_name(&name)?;
    }
    if !input.messages.is_empty() {
        check_steps(&input.messages)?;
        row.messages = serde_json::to_string(&input.messages).unwrap_or_else(|_| "[]".into());
    }
    if let Some(status) = input.status {
        row.status = check_status(&status)?;
    }
    if let Some((start, end)) = &input.send_window {
        row.send_window = check_window(start, end)?;
    }
    row.updated_at = Utc::now();
    sequences::update(&state.db, workspace_id, &row)
        .await
        .map_err(MessagingError::db("updating a sequence"))?;
    Ok(row)
}

/// The workspace's sequences, optionally of one status.
pub async fn list(
    state: &MessagingState,
    workspace_id: &str,
    status: Option<&str>,
) -> Result<Vec<SequenceRow>, MessagingError> {
    if let Some(status) = status {
        check_status(status)?;
    }
    sequences::list(&state.db, workspace_id, status)
        .await
        .map_err(MessagingError::db("listing sequences"))
}
