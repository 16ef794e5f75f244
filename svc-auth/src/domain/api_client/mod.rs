//! Partner applications (seed 003): a client has contact details, a status, a rate-limit
//! tier its keys inherit, and scopes its keys never exceed. Owners and admins manage them.
//! Changes that affect authentication (status, tier, scopes, deletion) are announced for
//! every key of the client, so gateways reload them at once.

mod access;
mod client_keys;
mod fields;
mod lifecycle;

pub use access::{ListQuery, get, list};
pub use client_keys::{Effective, effective, keys, revoke_key};
pub(super) use client_keys::{check_within, for_new_key};
pub use lifecycle::{create, delete, update};

use super::{client_extras::SecretChange, scopes::Scopes};
use crate::store::api_client as store;
use crm_platform::Secret;

pub use store::Model as ApiClient;

/// Input of [`create`] and [`update`] (for update, `None` leaves a field).
#[derive(Default)]
pub struct ClientFields {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// OAuth redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Website.
    pub website: Option<String>,
    /// Logo URL.
    pub logo_url: Option<String>,
    /// Contact email.
    pub contact_email: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// Scopes.
    pub scopes: Option<Scopes>,
    /// The caller's JSON object.
    pub metadata: Option<serde_json::Value>,
    /// What happens to the webhook signing secret.
    pub webhook_secret: SecretChange,
}

/// A client as stored, and its webhook signing secret when this call set one (shown once).
pub type Saved = (ApiClient, Option<Secret>);
