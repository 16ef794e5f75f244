//! Webhook subscriptions: where a workspace's events go, which ones, how deliveries are
//! retried, and the secret that signs them. The secret is shown once (at creation and at
//! each rotation) and stored sealed; reads only say that there is one.

use super::{
    WebhooksState, catalog, db_error, new_id,
    signature::{SIGNATURE_HEADERS, SigningSecret},
};
use crate::store::subscriptions::{self as store, SubscriptionRow};
use chrono::{DateTime, Duration, Utc};
use crm_platform::error::ApiError;
use reqwest::Url;
use sea_orm::TransactionTrait;
use std::collections::BTreeMap;
use tonic::Status;

const URL_MAX: usize = 2048;
const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;
const EVENTS_MAX: usize = 100;
const HEADERS_MAX: usize = 20;
const HEADER_NAME_MAX: usize = 64;
const HEADER_VALUE_MAX: usize = 1000;
/// Grace period of a rotated secret when the caller names none: a day.
const DEFAULT_GRACE_SECONDS: i32 = 86_400;
const MAX_GRACE_SECONDS: i32 = 604_800;
/// The statuses a subscription may have.
pub const STATUSES: [&str; 2] = ["active", "disabled"];

/// Headers a subscription may not set: hop-by-hop ones, those the HTTP client owns, and
/// the signature headers (a receiver must be able to trust them).
const REFUSED_HEADERS: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// How the delivery engine retries a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    pub max_retries: i32,
    pub retry_delay_ms: i64,
    pub backoff_multiplier: f64,
    pub timeout_ms: i32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            retry_delay_ms: 5_000,
            backoff_multiplier: 2.0,
            timeout_ms: 10_000,
        }
    }
}

/// A retryConfig as sent: the fields given replace the current ones.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryInput {
    pub max_retries: Option<i32>,
    pub retry_delay_ms: Option<i64>,
    pub backoff_multiplier: Option<f64>,
    pub timeout_ms: Option<i32>,
}

impl RetryInput {
    fn apply(self, mut to: RetryConfig) -> Result<RetryConfig, ApiError> {
        fn bounded<T: PartialOrd + std::fmt::Display + Copy>(
            field: &str,
            v: Option<T>,
            min: T,
            max: T,
            current: T,
        ) -> Result<T, ApiError> {
            match v {
                None => Ok(current),
                Some(v) if v >= min && v <= max => Ok(v),
                Some(_) => Err(ApiError::invalid_field(
                    field,
                    format!("must be between {min} and {max}"),
                )),
            }
        }
        to.max_retries = bounded(
            "retryConfig.maxRetries",
            self.max_retries,
            0,
            10,
            to.max_retries,
        )?;
        to.retry_delay_ms = bounded(
            "retryConfig.retryDelay",
            self.retry_delay_ms,
            0,
            86_400_000,
            to.retry_delay_ms,
        )?;
        to.backoff_multiplier = bounded(
            "retryConfig.backoffMultiplier",
            self.backoff_multiplier,
            1.0,
            10.0,
            to.backoff_multiplier,
        )?;
        to.timeout_ms = bounded(
            "retryConfig.timeout",
            self.timeout_ms,
            1_000,
            30_000,
            to.timeout_ms,
        )?;
        Ok(to)
    }
}

/// A subscription as its owner reads it.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    pub name: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub retry: RetryConfig,
    pub verify_ssl: bool,
    pub status: String,
    /// Why the delivery engine disabled it (its receiver answered 410), if it did.
    pub disabled_reason: Option<String>,
    pub rate_limit_per_second: Option<i32>,
    pub headers: BTreeMap<String, String>,
    /// Until then the previous secret signs too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The partner API client it belongs to, if any.
    pub client_id: Option<String>,
}

impl From<&SubscriptionRow> for Subscription {
    fn from(row: &SubscriptionRow) -> Self {
        Self {
            id: row.id.clone(),
            workspace_id: row.workspace_id.clone(),
            url: row.url.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            // Written by this module only, so always valid JSON.
            events: serde_json::from_str(&row.events).unwrap_or_default(),
            retry: RetryConfig {
                max_retries: row.max_retries,
                retry_delay_ms: row.retry_delay_ms,
                backoff_multiplier: row.backoff_multiplier,
                timeout_ms: row.timeout_ms,
            },
            verify_ssl: row.verify_ssl,
            status: row.status.clone(),
            disabled_reason: row.disabled_reason.clone(),
            rate_limit_per_second: row.rate_limit_per_second,
            headers: serde_json::from_str(&row.headers).unwrap_or_default(),
            previous_secret_expires_at: row
                .previous_secret_expires_at
                .filter(|at| *at > Utc::now()),
            created_by: row.created_by.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            client_id: row.client_id.clone(),
        }
    }
}

/// What a caller gives to create a subscription.
#[derive(Default)]
pub struct NewSubscription {
    pub url: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub retry: Option<RetryInput>,
    pub verify_ssl: Option<bool>,
    pub status: Option<String>,
    pub rate_limit_per_second: Option<i32>,
    pub headers: Option<BTreeMap<String, String>>,
    pub secret: Option<String>,
    /// The partner API client it is for; without a `url` it sends to the client's
    /// `webhookUrl`.
    pub client_id: Option<String>,
}

/// What a caller may change; `None` leaves a field as it is.
#[derive(Default)]
pub struct SubscriptionChanges {
    pub url: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub retry: Option<RetryInput>,
    pub verify_ssl: Option<bool>,
    pub status: Option<String>,
    pub rate_limit_per_second: Option<i32>,
    pub headers: Option<BTreeMap<String, String>>,
}

/// A subscription id as sent: a UUID, or a 400 naming `id`.
pub fn parse_id(raw: &str) -> Result<String, Status> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field("id", "must be a UUID").into())
}

/// The URL checked: http(s), within bounds, and reaching an address webhooks may reach.
async fn target_url(state: &WebhooksState, raw: &str) -> Result<Url, Status> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ApiError::invalid_field("url", "is required").into());
    }
    if raw.chars().count() > URL_MAX {
        return Err(ApiError::invalid_field("url", "must be at most 2048 characters").into());
    }
    let url = Url::parse(raw)
        .map_err(|_| ApiError::invalid_field("url", "must be an absolute http or https URL"))?;
    state
        .targets
        .resolve(&url)
        .await
        .map_err(|why| ApiError::invalid_field("url", why.to_string()))?;
    Ok(url)
}

fn name(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::invalid_field("name", "must not be blank"));
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

/// The event list checked against the catalog, trimmed and without repeats.
pub fn events(raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid_field(
            "events",
            "name at least one event type (GET /api/v1/webhook-events), 'resource.*' or '*'",
        ));
    }
    if raw.len() > EVENTS_MAX {
        return Err(ApiError::invalid_field("events", "at most 100 entries"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for e in raw {
        let e = e.trim();
        if let Some(why) = catalog::unknown_pattern(e) {
            return Err(ApiError::invalid_field("events", why));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_owned());
        }
    }
    Ok(out)
}

fn status(raw: &str) -> Result<String, ApiError> {
    let v = raw.trim().to_ascii_lowercase();
    if STATUSES.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ApiError::invalid_field(
            "status",
            "must be active or disabled",
        ))
    }
}

fn rate_limit(v: i32) -> Result<i32, ApiError> {
    if (1..=1000).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid_field(
            "rate_limit_per_second",
            "must be between 1 and 1000",
        ))
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Custom headers checked: HTTP header names and printable values, none of the refused ones.
pub fn headers(raw: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError> {
    if raw.len() > HEADERS_MAX {
        return Err(ApiError::invalid_field("headers", "at most 20 headers"));
    }
    let mut seen = std::collections::HashSet::new();
    for (name, value) in &raw {
        if name.is_empty() || name.len() > HEADER_NAME_MAX || !name.chars().all(is_token_char) {
            return Err(ApiError::invalid_field(
                "headers",
                format!(
                    "'{name}' is not a header name (1 to 64 letters, digits or !#$%&'*+-.^_`|~)"
                ),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if REFUSED_HEADERS.contains(&lower.as_str()) || SIGNATURE_HEADERS.contains(&lower.as_str())
        {
            return Err(ApiError::invalid_field(
                "headers",
                format!("'{name}' is set by the sender itself; remove it"),
            ));
        }
        if !seen.insert(lower) {
            return Err(ApiError::invalid_field(
                "headers",
                format!("'{name}' is given twice (header names ignore case)"),
            ));
        }
        if value.len() > HEADER_VALUE_MAX
            || !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c))
        {
            return Err(ApiError::invalid_field(
                "headers",
                format!("the value of '{name}' must be at most 1000 printable ASCII characters"),
            ));
        }
    }
    Ok(raw)
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("strings always serialize")
}

async fn existing(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<SubscriptionRow, Status> {
    let id = parse_id(id)?;
    store::find(&state.db, workspace_id, &id)
        .await
        .map_err(db_error("find webhook"))?
        .ok_or_else(|| ApiError::not_found("Webhook", &id).into())
}

/// The workspace's subscriptions (one partner client's when `client_id` is given), newest
/// first.
pub async fn list(
    state: &WebhooksState,
    workspace_id: &str,
    client_id: Option<&str>,
) -> Result<Vec<Subscription>, Status> {
    if let Some(client_id) = client_id {
        state.clients.webhook_url(workspace_id, client_id).await?;
    }
    let rows = store::list(&state.db, workspace_id, client_id)
        .await
        .map_err(db_error("list webhooks"))?;
    Ok(rows.iter().map(Subscription::from).collect())
}

/// One subscription of the workspace.
pub async fn get(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<Subscription, Status> {
    Ok(Subscription::from(
        &existing(state, workspace_id, id).await?,
    ))
}

/// Creates a subscription; returns it with its secret, which is never shown again.
pub async fn create(
    state: &WebhooksState,
    workspace_id: &str,
    created_by: &str,
    new: NewSubscription,
) -> Result<(Subscription, SigningSecret), Status> {
    // Cheap checks first: the URL's check may wait on DNS.
    let events = events(&new.events)?;
    let name_given = new.name.as_deref().map(name).transpose()?;
    let description = match new.description.as_deref() {
        Some(raw) => description(raw)?,
        None => None,
    };
    let retry = new
        .retry
        .unwrap_or_default()
        .apply(RetryConfig::default())?;
    let status = new.status.as_deref().map(status).transpose()?;
    let rate_limit_per_second = new.rate_limit_per_second.map(rate_limit).transpose()?;
    let headers = headers(new.headers.unwrap_or_default())?;
    let secret = match new
        .secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(raw) => {
            SigningSecret::parse(raw).map_err(|why| ApiError::invalid_field("secret", why))?
        }
        None => SigningSecret::generate(),
    };
    let url = match (&new.client_id, new.url.trim()) {
        (Some(client_id), given) => {
            let client_url = state.clients.webhook_url(workspace_id, client_id).await?;
            match (given, client_url.as_str()) {
                ("", "") => {
                    return Err(ApiError::invalid_field(
                        "url",
                        "is required: the API client has no webhookUrl to default to",
                    )
                    .into());
                }
                ("", client_url) => target_url(state, client_url).await?,
                (given, _) => target_url(state, given).await?,
            }
        }
        (None, _) => target_url(state, &new.url).await?,
    };
    let id = new_id();
    let at = Utc::now();
    let row = SubscriptionRow {
        secret_sealed: state.sealer.seal(secret.text(), &id),
        id,
        workspace_id: workspace_id.to_owned(),
        name: name_given.unwrap_or_else(|| url.host_str().unwrap_or_default().to_owned()),
        url: url.to_string(),
        description,
        events: to_json(&events),
        max_retries: retry.max_retries,
        retry_delay_ms: retry.retry_delay_ms,
        backoff_multiplier: retry.backoff_multiplier,
        timeout_ms: retry.timeout_ms,
        verify_ssl: new.verify_ssl.unwrap_or(true),
        status: status.unwrap_or_else(|| "active".into()),
        rate_limit_per_second,
        headers: to_json(&headers),
        previous_secret_sealed: None,
        previous_secret_expires_at: None,
        created_by: created_by.to_owned(),
        created_at: at,
        updated_at: at,
        deleted_at: None,
        disabled_reason: None,
        failing_since: None,
        client_id: new.client_id,
    };
    store::insert(&state.db, row.clone())
        .await
        .map_err(db_error("insert webhook"))?;
    Ok((Subscription::from(&row), secret))
}

/// Changes a subscription; a new URL is checked like a new one.
pub async fn update(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
    changes: SubscriptionChanges,
) -> Result<Subscription, Status> {
    let mut row = existing(state, workspace_id, id).await?;
    let before = row.clone();
    if let Some(raw) = &changes.events {
        row.events = to_json(&events(raw)?);
    }
    if let Some(raw) = &changes.name {
        row.name = name(raw)?;
    }
    if let Some(raw) = &changes.description {
        row.description = description(raw)?;
    }
    if let Some(input) = changes.retry {
        let retry = input.apply(Subscription::from(&row).retry)?;
        row.max_retries = retry.max_retries;
        row.retry_delay_ms = retry.retry_delay_ms;
        row.backoff_multiplier = retry.backoff_multiplier;
        row.timeout_ms = retry.timeout_ms;
    }
    if let Some(v) = changes.verify_ssl {
        row.verify_ssl = v;
    }
    if let Some(raw) = &changes.status {
        row.status = status(raw)?;
        // A status set by hand replaces the engine's.
        row.disabled_reason = None;
    }
    if let Some(v) = changes.rate_limit_per_second {
        row.rate_limit_per_second = Some(rate_limit(v)?);
    }
    if let Some(raw) = changes.headers {
        row.headers = to_json(&headers(raw)?);
    }
    if let Some(raw) = &changes.url {
        row.url = target_url(state, raw).await?.to_string();
    }
    row.updated_at = Utc::now();
    save_and_replay(state, &before, row).await.map(|(s, _)| s)
}

/// Writes `row` back; when it turns a disabled subscription active, in the same
/// transaction queues again what failed meanwhile. Returns it and how many were queued.
async fn save_and_replay(
    state: &WebhooksState,
    before: &SubscriptionRow,
    row: SubscriptionRow,
) -> Result<(Subscription, u64), Status> {
    let reenabled = before.status != "active" && row.status == "active";
    let saved = async {
        let txn = state.db.begin().await?;
        store::save(&txn, &row.workspace_id, row.clone()).await?;
        let replayed = if reenabled {
            super::endpoint_health::reenable(&txn, before).await?
        } else {
            0
        };
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(replayed)
    };
    let replayed = saved.await.map_err(db_error("save webhook"))?;
    if reenabled || before.url != row.url {
        // Another receiver, or the same one said to be fixed: its past failures say nothing.
        state.circuits.reset(&row.id);
    }
    if replayed > 0 {
        state.wake.notify_one();
    }
    Ok((Subscription::from(&row), replayed))
}

/// A subscription of the workspace that belongs to partner client `client_id`; the same 404
/// as an unknown id when it belongs to another client or none.
pub async fn of_client(
    state: &WebhooksState,
    workspace_id: &str,
    client_id: &str,
    id: &str,
) -> Result<Subscription, Status> {
    let found = get(state, workspace_id, id).await?;
    if found.client_id.as_deref() != Some(client_id) {
        return Err(ApiError::not_found("Webhook", id.trim()).into());
    }
    Ok(found)
}

/// Makes a subscription active again (see `endpoint_health::enable`).
pub(crate) async fn set_active(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<(Subscription, u64), Status> {
    let mut row = existing(state, workspace_id, id).await?;
    let before = row.clone();
    row.status = "active".into();
    row.disabled_reason = None;
    row.updated_at = Utc::now();
    save_and_replay(state, &before, row).await
}

/// Soft-deletes a subscription; returns its name.
pub async fn delete(state: &WebhooksState, workspace_id: &str, id: &str) -> Result<String, Status> {
    let mut row = existing(state, workspace_id, id).await?;
    let at = Utc::now();
    row.deleted_at = Some(at);
    row.updated_at = at;
    row.status = "disabled".into();
    store::save(&state.db, workspace_id, row.clone())
        .await
        .map_err(db_error("delete webhook"))?;
    Ok(row.name)
}

/// Gives a subscription a new secret; the current one keeps signing for `grace_seconds`
/// (default a day, 0 to stop at once). Returns the subscription and the new secret.
pub async fn rotate_secret(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
    grace_seconds: Option<i32>,
) -> Result<(Subscription, SigningSecret), Status> {
    let grace = grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(ApiError::invalid_field(
            "grace_period_seconds",
            "must be between 0 and 604800 (a week)",
        )
        .into());
    }
    let mut row = existing(state, workspace_id, id).await?;
    let secret = SigningSecret::generate();
    let at = Utc::now();
    if grace > 0 {
        row.previous_secret_sealed = Some(row.secret_sealed.clone());
        row.previous_secret_expires_at = Some(at + Duration::seconds(grace.into()));
    } else {
        row.previous_secret_sealed = None;
        row.previous_secret_expires_at = None;
    }
    row.secret_sealed = state.sealer.seal(secret.text(), &row.id);
    row.updated_at = at;
    store::save(&state.db, workspace_id, row.clone())
        .await
        .map_err(db_error("rotate webhook secret"))?;
    Ok((Subscription::from(&row), secret))
}

/// The secrets that sign a delivery now: the current one, then the previous one while its
/// grace period lasts.
pub fn signing_secrets(
    state: &WebhooksState,
    row: &SubscriptionRow,
) -> Result<Vec<SigningSecret>, Status> {
    let open = |sealed: &str| -> Result<SigningSecret, Status> {
        let text = state.sealer.open(sealed, &row.id).map_err(|e| {
            crm_platform::error::internal(
                "opening a webhook secret (is CRM_DATA_KEY the one it was sealed with?)",
                e,
            )
        })?;
        SigningSecret::parse(text.expose())
            .map_err(|e| crm_platform::error::internal("stored webhook secret", e))
    };
    let mut secrets = vec![open(&row.secret_sealed)?];
    if let (Some(previous), Some(until)) =
        (&row.previous_secret_sealed, row.previous_secret_expires_at)
        && until > Utc::now()
    {
        secrets.push(open(previous)?);
    }
    Ok(secrets)
}

/// The stored row of a live subscription, for senders.
pub async fn row(
    state: &WebhooksState,
    workspace_id: &str,
    id: &str,
) -> Result<SubscriptionRow, Status> {
    existing(state, workspace_id, id).await
}
