//! Incoming hooks as their owners manage them. The token is shown once (at creation and at
//! each regeneration) and stored as its SHA-256; the signing secret, when asked for, is shown
//! once and stored sealed under `CRM_DATA_KEY` with the row id as associated data.

use super::{
    fields::{Action, Module},
    mapping,
    signature::{self, DEFAULT_SIGNATURE_HEADER},
};
use crate::domain::{WebhooksState, db_error};
use crate::store::incoming::{self as store, IncomingRow};
use chrono::{DateTime, Utc};
use crm_platform::error::ApiError;
use std::collections::BTreeMap;
use tonic::Status;

const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: i32 = 100;
/// The statuses a hook may have.
pub const STATUSES: [&str; 2] = ["active", "inactive"];

/// A hook as its owner reads it.
#[derive(Clone, Debug)]
pub struct Hook {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub module: Module,
    pub action: Action,
    pub field_mapping: BTreeMap<String, String>,
    pub upsert_key: String,
    pub status: String,
    pub token_prefix: String,
    pub verify_signature: bool,
    pub signature_header: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_received_at: Option<DateTime<Utc>>,
}

impl From<&IncomingRow> for Hook {
    fn from(row: &IncomingRow) -> Self {
        Self {
            id: row.id.clone(),
            workspace_id: row.workspace_id.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            // Written by this module only, so always valid.
            module: Module::parse(&row.module).unwrap_or(Module::Contact),
            action: Action::parse(&row.action).unwrap_or(Action::Create),
            field_mapping: serde_json::from_str(&row.field_mapping).unwrap_or_default(),
            upsert_key: row.upsert_key.clone(),
            status: row.status.clone(),
            token_prefix: row.token_prefix.clone(),
            verify_signature: row.signing_secret_sealed.is_some(),
            signature_header: row.signature_header.clone(),
            created_by: row.created_by.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_received_at: row.last_received_at,
        }
    }
}

/// What a caller gives to create a hook.
#[derive(Default)]
pub struct NewHook {
    pub name: String,
    pub description: Option<String>,
    pub module: Option<String>,
    pub module_id: Option<i32>,
    pub action: Option<String>,
    pub field_mapping: Option<BTreeMap<String, String>>,
    pub upsert_key: Option<String>,
    pub verify_signature: Option<bool>,
    pub signature_header: Option<String>,
    pub status: Option<String>,
}

/// What a caller may change; `None` leaves a field as it is.
#[derive(Default)]
pub struct HookChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub action: Option<String>,
    pub field_mapping: Option<BTreeMap<String, String>>,
    pub upsert_key: Option<String>,
    pub verify_signature: Option<bool>,
    pub signature_header: Option<String>,
    pub status: Option<String>,
}

/// A new hook's one-time secrets.
pub struct Created {
    pub hook: Hook,
    pub token: String,
    pub signing_secret: Option<String>,
}

/// One page of hooks, and the cursor of the next when there is one.
pub struct HookPage {
    pub hooks: Vec<Hook>,
    pub next_cursor: Option<String>,
}

/// An id as sent: a UUID, or a 400 naming `field`.
pub fn parse_uuid(field: &str, raw: &str) -> Result<String, Status> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field(field, "must be a UUID").into())
}

/// A page size as sent: 1..100, default 20.
pub fn page_limit(limit: Option<i32>) -> Result<u64, Status> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n as u64),
        Some(_) => Err(ApiError::invalid_field("limit", "must be 1..100").into()),
    }
}

fn name(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::invalid_field("name", "is required"));
    }
    if v.chars().count() > NAME_MAX {
        return Err(ApiError::invalid_field(
            "name",
            "must be at most 200 characters",
        ));
    }
    Ok(v.to_owned())
}

fn description(raw: &str) -> Result<Option<String>, ApiError> {
    let v = raw.trim();
    if v.chars().count() > DESCRIPTION_MAX {
        return Err(ApiError::invalid_field(
            "description",
            "must be at most 2000 characters",
        ));
    }
    Ok(Some(v.to_owned()).filter(|v| !v.is_empty()))
}

fn status(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim().to_ascii_lowercase();
    if STATUSES.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ApiError::invalid_field(
            "status",
            "must be active or inactive",
        ))
    }
}

fn signature_header(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::invalid_field(
            "signature_header",
            "must be a header name of 1 to 64 letters, digits or '-'",
        ));
    }
    Ok(v.to_owned())
}

/// The upsert key checked against the module, and that update/upsert hooks map it (a hook
/// that can never find its record would fail every call).
fn upsert_key(
    module: Module,
    action: Action,
    raw: Option<&str>,
    mapping: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let keys = module.keys();
    let key = match raw.map(str::trim) {
        Some(k) if keys.contains(&k) => k.to_owned(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "upsert_key",
                format!(
                    "a {} is found by one of: {}",
                    module.name(),
                    keys.join(", ")
                ),
            ));
        }
        None => keys[0].to_owned(),
    };
    if action != Action::Create && !mapping.values().any(|t| *t == key) {
        return Err(ApiError::invalid_field(
            "upsert_key",
            format!(
                "an {} hook finds its record by '{key}': map a payload path to '{key}' in field_mapping",
                action.name()
            ),
        ));
    }
    Ok(key)
}

async fn existing(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<IncomingRow, Status> {
    let id = parse_uuid("id", id)?;
    store::find(&state.db, workspace_id, &id)
        .await
        .map_err(db_error("find incoming webhook"))?
        .ok_or_else(|| ApiError::not_found("Incoming webhook", &id).into())
}

/// The workspace's hooks, newest first, a page at a time.
pub async fn list(
    state: &WebhooksState,
    workspace_id: &str,
    cursor: Option<&str>,
    limit: Option<i32>,
) -> Result<HookPage, Status> {
    let cursor = cursor.map(|c| parse_uuid("cursor", c)).transpose()?;
    let limit = page_limit(limit)?;
    let mut rows = store::list(&state.db, workspace_id, cursor.as_deref(), limit + 1)
        .await
        .map_err(db_error("list incoming webhooks"))?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(HookPage {
        hooks: rows.iter().map(Hook::from).collect(),
        next_cursor,
    })
}

/// One hook of the workspace.
pub async fn get(state: &WebhooksState, workspace_id: &str, id: &str) -> Result<Hook, Status> {
    Ok(Hook::from(&existing(state, workspace_id, id).await?))
}

/// Creates a hook; returns it with its token (and signing secret), never shown again.
pub async fn create(
    state: &WebhooksState,
    workspace_id: &str,
    created_by: &str,
    new: NewHook,
) -> Result<Created, Status> {
    let name = name(&new.name)?;
    let description = match new.description.as_deref() {
        Some(raw) => description(raw)?,
        None => None,
    };
    // A field sent empty is refused like any other value it cannot hold (proto3 reads an
    // absent optional field as None, so "" was sent on purpose).
    let by_id = new.module_id.map(Module::from_id).transpose()?;
    let module = match (new.module.as_deref().map(Module::parse).transpose()?, by_id) {
        (Some(named), Some(numbered)) if named != numbered => {
            return Err(ApiError::invalid_field(
                "module_id",
                format!(
                    "names a {} but module names a {}; send one of them",
                    numbered.name(),
                    named.name()
                ),
            )
            .into());
        }
        (Some(module), _) | (None, Some(module)) => module,
        (None, None) => Module::Contact,
    };
    let action = match new.action.as_deref() {
        Some(a) => Action::parse(a)?,
        None => Action::Create,
    };
    let mapping = mapping::validate(module, &new.field_mapping.unwrap_or_default())?;
    let key = upsert_key(module, action, new.upsert_key.as_deref(), &mapping)?;
    let header = match new.signature_header.as_deref() {
        Some(raw) => signature_header(raw)?,
        None => DEFAULT_SIGNATURE_HEADER.to_owned(),
    };
    let status = new.status.as_deref().map(status).transpose()?;
    let id = uuid::Uuid::now_v7().to_string();
    let token = signature::new_token();
    let signing_secret = new
        .verify_signature
        .unwrap_or(false)
        .then(signature::new_signing_secret);
    let at = Utc::now();
    let row = IncomingRow {
        signing_secret_sealed: signing_secret.as_deref().map(|s| state.sealer.seal(s, &id)),
        id,
        workspace_id: workspace_id.to_owned(),
        name,
        description,
        module: module.name().to_owned(),
        action: action.name().to_owned(),
        field_mapping: serde_json::to_string(&mapping).expect("strings always serialize"),
        upsert_key: key,
        status: status.unwrap_or_else(|| "active".into()),
        token_hash: signature::token_hash(&token),
        token_prefix: signature::token_prefix(&token),
        signature_header: header,
        created_by: created_by.to_owned(),
        created_at: at,
        updated_at: at,
        last_received_at: None,
        deleted_at: None,
    };
    store::insert(&state.db, row.clone())
        .await
        .map_err(db_error("insert incoming webhook"))?;
    Ok(Created {
        hook: Hook::from(&row),
        token,
        signing_secret,
    })
}

/// Changes a hook; returns it, with a new signing secret when this change made one.
pub async fn update(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
    changes: HookChanges,
) -> Result<(Hook, Option<String>), Status> {
    let mut row = existing(state, workspace_id, id).await?;
    let current = Hook::from(&row);
    if let Some(raw) = &changes.name {
        row.name = name(raw)?;
    }
    if let Some(raw) = &changes.description {
        row.description = description(raw)?;
    }
    let action = match changes.action.as_deref() {
        Some(a) => Action::parse(a)?,
        None => current.action,
    };
    let mapping = match changes.field_mapping {
        Some(raw) => mapping::validate(current.module, &raw)?,
        None => current.field_mapping.clone(),
    };
    let key = upsert_key(
        current.module,
        action,
        Some(changes.upsert_key.as_deref().unwrap_or(&current.upsert_key)),
        &mapping,
    )?;
    row.action = action.name().to_owned();
    row.field_mapping = serde_json::to_string(&mapping).expect("strings always serialize");
    row.upsert_key = key;
    if let Some(raw) = &changes.signature_header {
        row.signature_header = signature_header(raw)?;
    }
    if let Some(raw) = &changes.status {
        row.status = status(raw)?;
    }
    let mut new_secret = None;
    match changes.verify_signature {
        Some(true) => {
            let secret = signature::new_signing_secret();
            row.signing_secret_sealed = Some(state.sealer.seal(&secret, &row.id));
            new_secret = Some(secret);
        }
        Some(false) => row.signing_secret_sealed = None,
        None => {}
    }
    row.updated_at = Utc::now();
    store::save(&state.db, workspace_id, row.clone())
        .await
        .map_err(db_error("save incoming webhook"))?;
    Ok((Hook::from(&row), new_secret))
}

/// Soft-deletes a hook (its URL stops at once); returns its name.
pub async fn delete(state: &WebhooksState, workspace_id: &str, id: &str) -> Result<String, Status> {
    let mut row = existing(state, workspace_id, id).await?;
    let at = Utc::now();
    row.deleted_at = Some(at);
    row.updated_at = at;
    row.status = "inactive".into();
    store::save(&state.db, workspace_id, row.clone())
        .await
        .map_err(db_error("delete incoming webhook"))?;
    Ok(row.name)
}

/// Gives a hook a new token; the old one stops at once. Returns the hook and the token.
pub async fn regenerate_token(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<(Hook, String), Status> {
    let mut row = existing(state, workspace_id, id).await?;
    let token = signature::new_token();
    row.token_hash = signature::token_hash(&token);
    row.token_prefix = signature::token_prefix(&token);
    row.updated_at = Utc::now();
    store::save(&state.db, workspace_id, row.clone())
        .await
        .map_err(db_error("regenerate incoming webhook token"))?;
    Ok((Hook::from(&row), token))
}

/// The signing secret of a hook, when it has one.
pub fn signing_secret(state: &WebhooksState, row: &IncomingRow) -> Result<Option<String>, Status> {
    row.signing_secret_sealed
        .as_deref()
        .map(|sealed| {
            state
                .sealer
                .open(sealed, &row.id)
                .map(|s| s.expose().to_owned())
                .map_err(|e| {
                    crm_platform::error::internal(
                        "opening an incoming webhook secret (is CRM_DATA_KEY the one it was sealed with?)",
                        e,
                    )
                })
        })
        .transpose()
}
