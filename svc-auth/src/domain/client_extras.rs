//! Seed 003 client fields that are not plain columns: the caller's `metadata` object and the
//! webhook signing secret. The secret signs deliveries, so it is kept sealed (encrypted with
//! the data key, bound to the client's id) rather than hashed, shown once when it is set, and
//! handed out only to our own services.

use super::AuthState;
use crate::store::api_client as store;
use crm_platform::{Secret, error::ApiError};
use rand::RngCore;
use serde_json::Value;
use tonic::Status;

/// Most metadata keys, longest key and largest stored object (a key-value store would be the
/// place for more).
const MAX_KEYS: usize = 50;
const MAX_KEY_CHARS: usize = 40;
const MAX_BYTES: usize = 8 * 1024;

/// Shortest and longest signing secret a caller may choose.
const MIN_SECRET: usize = 24;
const MAX_SECRET: usize = 256;

/// `metadata` as stored: `None` for an empty object (which clears it).
pub fn metadata(value: &Value) -> Result<Option<String>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::invalid_field("metadata", "must be a JSON object"));
    };
    if map.is_empty() {
        return Ok(None);
    }
    if map.len() > MAX_KEYS {
        return Err(ApiError::invalid_field(
            "metadata",
            format!("has {} keys; at most {MAX_KEYS}", map.len()),
        ));
    }
    if let Some(k) = map
        .keys()
        .find(|k| k.is_empty() || k.chars().count() > MAX_KEY_CHARS)
    {
        return Err(ApiError::invalid_field(
            &format!("metadata.{k}"),
            format!("keys are 1 to {MAX_KEY_CHARS} characters"),
        ));
    }
    let text = value.to_string();
    if text.len() > MAX_BYTES {
        return Err(ApiError::invalid_field(
            "metadata",
            format!("is {} bytes as JSON; at most {MAX_BYTES}", text.len()),
        ));
    }
    Ok(Some(text))
}

/// What a request does to the signing secret.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum SecretChange {
    /// Leave it; a client that gets a webhook URL and has no secret gets a generated one.
    #[default]
    Keep,
    /// Use the caller's secret.
    Set(String),
    /// Remove it.
    Remove,
    /// Replace it with a generated one.
    Rotate,
}

impl SecretChange {
    /// From the update request's `webhookSecret` and `rotateWebhookSecret`.
    pub fn of_update(secret: Option<String>, rotate: bool) -> Result<Self, ApiError> {
        match (secret, rotate) {
            (Some(_), true) => Err(ApiError::invalid_field(
                "rotateWebhookSecret",
                "send either webhookSecret or rotateWebhookSecret, not both",
            )),
            (Some(s), false) if s.is_empty() => Ok(Self::Remove),
            (Some(s), false) => Ok(Self::Set(s)),
            (None, true) => Ok(Self::Rotate),
            (None, false) => Ok(Self::Keep),
        }
    }
}

/// A new signing secret in the form webhook receivers know: `whsec_` and 32 random bytes.
fn generate() -> String {
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    format!("whsec_{}", hex::encode(random))
}

fn chosen(value: &str) -> Result<String, ApiError> {
    let ok = (MIN_SECRET..=MAX_SECRET).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::invalid_field(
            "webhookSecret",
            format!("must be {MIN_SECRET} to {MAX_SECRET} printable characters without spaces"),
        ));
    }
    Ok(value.to_owned())
}

/// The column value after `change` for client `id`, and the secret to show when one was set.
/// `stored` is the current column; `has_url` whether the client has a webhook URL afterwards.
pub fn apply_secret(
    state: &AuthState,
    id: &str,
    stored: Option<String>,
    change: SecretChange,
    has_url: bool,
) -> Result<(Option<String>, Option<Secret>), ApiError> {
    let new = match change {
        SecretChange::Keep if stored.is_none() && has_url => generate(),
        SecretChange::Keep => return Ok((stored, None)),
        SecretChange::Remove => return Ok((None, None)),
        SecretChange::Set(s) => chosen(&s)?,
        SecretChange::Rotate => generate(),
    };
    let sealed = state.sealer.seal(&new, id);
    Ok((Some(sealed), Some(Secret::new(new))))
}

/// A live client's webhook URL and signing secret, for our own services (deliveries are
/// signed with it); `None` when the workspace has no such client.
pub async fn webhook(
    state: &AuthState,
    workspace_id: &str,
    client_id: &str,
) -> Result<Option<(String, Option<Secret>)>, Status> {
    let Some(c) = store::get(&state.db, workspace_id, client_id).await? else {
        return Ok(None);
    };
    let secret = c
        .webhook_secret
        .as_deref()
        .map(|s| open_secret(state, &c.id, s))
        .transpose()?;
    Ok(Some((c.webhook_url, secret)))
}

/// The signing secret of a client row, opened.
fn open_secret(state: &AuthState, id: &str, sealed: &str) -> Result<Secret, ApiError> {
    state.sealer.open(sealed, id).map_err(|_| {
        tracing::error!(api_client_id = %id, "webhook secret does not open: was CRM_DATA_KEY changed?");
        ApiError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_is_a_bounded_object() {
        assert_eq!(
            metadata(&json!({"plan": "gold", "seats": 3}))
                .unwrap()
                .as_deref(),
            Some(r#"{"plan":"gold","seats":3}"#)
        );
        assert_eq!(metadata(&json!({})).unwrap(), None);
        // The message starts with the field it names.
        let field = |v: Value| {
            let m = metadata(&v).unwrap_err().into_status().message().to_owned();
            m.split_once(": ").unwrap().0.to_owned()
        };
        assert_eq!(field(json!([1])), "metadata");
        assert_eq!(
            field(json!({"x".repeat(41): 1})),
            format!("metadata.{}", "x".repeat(41))
        );
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(field(Value::Object(many)), "metadata");
        assert_eq!(field(json!({"big": "x".repeat(9000)})), "metadata");
    }

    #[test]
    fn the_update_request_says_one_thing_about_the_secret() {
        assert_eq!(
            SecretChange::of_update(None, false).unwrap(),
            SecretChange::Keep
        );
        assert_eq!(
            SecretChange::of_update(Some(String::new()), false).unwrap(),
            SecretChange::Remove
        );
        assert_eq!(
            SecretChange::of_update(None, true).unwrap(),
            SecretChange::Rotate
        );
        assert!(SecretChange::of_update(Some("s".repeat(30)), true).is_err());
        assert!(chosen("short").is_err());
        assert!(chosen(&format!("{} x", "s".repeat(30))).is_err());
        assert!(generate().starts_with("whsec_") && generate().len() == 70);
    }
}
