//! svc-messaging's rules, between the thin gRPC layer and the store.

pub mod callbacks;
pub mod contacts;
pub mod events;
pub mod executions;
pub mod input;
pub mod messages;
pub mod providers;
pub mod retry;
pub mod sequences;
pub mod timing;
pub mod worker;

use crm_platform::outbox::Relay;
use std::sync::Arc;

/// What the handlers and workers share.
#[derive(Clone)]
pub struct MessagingState {
    pub db: sea_orm::DatabaseConnection,
    /// svc-pipeline's contacts.
    pub contacts: contacts::Contacts,
    /// Checks Twilio's status callbacks; `None` when SMS does not go through Twilio.
    pub twilio_callbacks: Option<callbacks::TwilioCallbackAuth>,
    /// svc-auth's workspace settings: the timezone of a contact without one.
    pub workspaces: crm_platform::workspaces::WorkspaceProfiles,
    /// Pushes the `message.*` events to svc-webhooks; `None` leaves them queued.
    pub relay: Option<Relay>,
    /// Poked when a job is queued, so a worker in this process claims it (or recomputes its
    /// sleep until the next due job) without waiting for its poll.
    pub wake: Arc<tokio::sync::Notify>,
    /// How long a worker's claim lasts: the longest a cancel waits for a send in progress.
    pub lease: std::time::Duration,
}

impl MessagingState {
    /// Wakes the relay after events were committed.
    pub fn events_committed(&self) {
        if let Some(relay) = &self.relay {
            relay.nudge();
        }
    }
}
