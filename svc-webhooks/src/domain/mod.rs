//! svc-webhooks's rules, between the thin gRPC layer and the store.

pub mod access;
pub mod catalog;
pub mod circuits;
pub mod clients;
pub mod deliveries;
pub mod delivery;
pub mod dispatch;
pub mod endpoint_health;
pub mod envelope;
pub mod fanout;
pub mod http_clients;
pub mod incoming;
pub mod retention;
pub mod schedule;
pub mod signature;
pub mod ssrf;
pub mod subscriptions;
pub mod triggers;

use crm_platform::{error::internal, sealed::Sealer};
use std::sync::Arc;
use tonic::Status;

/// What the webhook handlers share.
#[derive(Clone)]
pub struct WebhooksState {
    pub db: sea_orm::DatabaseConnection,
    /// Seals signing secrets at rest (`CRM_DATA_KEY`).
    pub sealer: Arc<Sealer>,
    /// Which addresses webhooks may reach.
    pub targets: Arc<ssrf::TargetPolicy>,
    /// Poked when deliveries become due (a fan-out, a manual retry), so a worker claims them
    /// without waiting for its next poll.
    pub wake: Arc<tokio::sync::Notify>,
    /// How long a subscription may fail every attempt before the engine disables it.
    pub disable_after_failing: std::time::Duration,
    /// HTTP clients for sends, reused per receiver.
    pub http: Arc<http_clients::HttpClients>,
    /// Which receivers have been failing, so the workers send them probes, not backlogs.
    pub circuits: Arc<circuits::Circuits>,
    /// svc-auth's partner clients, which per-client subscriptions belong to.
    pub clients: Arc<clients::ClientDirectory>,
}

/// Maps a database error to an opaque internal status, logging the cause here.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Status {
    move |e| internal(context, e)
}

/// A new row id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
