//! Incoming webhooks (seed 002): hooks whose secret URL outside systems post JSON to, each
//! call mapped onto a contact or an opportunity in svc-pipeline.
//!
//! - `hooks`: the hooks' CRUD, their token (stored as a hash) and signing secret (sealed);
//! - `fields`: which record fields a hook may write, per module;
//! - `mapping`: payload paths (`data_get` style) to typed record fields;
//! - `signature`: tokens, signing secrets and the HMAC check of a call;
//! - `records`: the calls to svc-pipeline;
//! - `receive`: one call of the public endpoint, from token to log;
//! - `logs`: the calls a hook received, as its owner reads them.

pub mod fields;
pub mod hooks;
pub mod logs;
pub mod mapping;
pub mod receive;
pub mod records;
pub mod signature;

use super::WebhooksState;
use std::sync::Arc;

/// What the incoming-webhook handlers share.
#[derive(Clone)]
pub struct IncomingState {
    /// The service's database and secret sealer.
    pub webhooks: WebhooksState,
    /// svc-pipeline, where the records go.
    pub pipeline: Arc<records::Pipeline>,
    /// Largest body a call may carry (`CRM_WEBHOOKS__INCOMING_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Calls a hook accepts per minute (`CRM_WEBHOOKS__INCOMING_CALLS_PER_MINUTE`).
    pub calls_per_minute: u32,
}

/// The path senders post to, for a token.
pub fn url_of(token: &str) -> String {
    format!("/api/v1/webhooks/incoming/{token}")
}
