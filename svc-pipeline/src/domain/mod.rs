//! svc-pipeline's domain: what pipelines, stages, opportunities, contacts and tags mean and
//! which changes are allowed, independent of the wire and of the tables.

pub mod access;
pub mod actions;
pub mod assignments;
pub mod calendar;
pub mod companies;
pub mod contacts;
pub mod events;
pub mod input;
pub mod opportunities;
pub mod paging;
pub mod phone;
pub mod pipelines;
pub mod stages;
pub mod tags;

use crm_platform::outbox::Relay;
use sea_orm::DatabaseConnection;

/// What the domain functions need: the database and the outbox relay to wake after a commit.
#[derive(Clone)]
pub struct PipelineState {
    /// svc-pipeline's database.
    pub db: DatabaseConnection,
    /// Delivers outbox events; `None` when no sink is configured (events stay queued).
    pub relay: Option<Relay>,
    /// svc-auth's memberships, which an `assigned_to` must be among; `None` when no
    /// `auth_url` is configured (then only its shape is checked).
    pub members: Option<std::sync::Arc<assignments::MemberDirectory>>,
    /// svc-messaging, which the send_sms, send_email and apply_sequence actions call; `None`
    /// when no `messaging_url` is configured (then those actions answer 503).
    pub messaging: Option<std::sync::Arc<actions::messaging::Messaging>>,
}

impl PipelineState {
    /// Call after committing a transaction that recorded events, so they leave at once.
    pub fn events_committed(&self) {
        if let Some(relay) = &self.relay {
            relay.nudge();
        }
    }
}

/// Now, at the millisecond precision every backend stores, so a value read back equals the
/// value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(3)
}

/// A new record id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
