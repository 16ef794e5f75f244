//! svc-auth's domain: what a login, a membership and an API key mean, independent of the
//! wire and of the tables.

pub mod agent_activity;
pub mod agents;
pub mod api_client;
pub mod api_key;
pub mod assignment_counts;
pub mod audit;
pub mod client_extras;
pub mod client_quota;
mod dates;
pub mod external_identity;
pub mod invitation;
pub mod key_owner;
pub mod key_policy;
pub mod login_throttle;
pub mod members;
pub mod password;
pub mod provision;
pub mod role;
pub mod scopes;
pub mod session;
pub mod usage;
pub mod workspace_access;
pub mod workspaces;

use crm_platform::{bus::Bus, jwt::JwtKeys, sealed::Sealer};
use sea_orm::DatabaseConnection;

/// What the domain functions need: the database, token keys, the invalidation bus and the
/// data key.
#[derive(Clone)]
pub struct AuthState {
    /// svc-auth's database.
    pub db: DatabaseConnection,
    /// svc-metrics, which holds the request log: a client's usage for its dashboard.
    pub usage: usage::UsageReader,
    /// Keys for the tokens svc-auth mints.
    pub jwt: JwtKeys,
    /// Where key changes are announced to gateways.
    pub bus: Bus,
    /// Lifetime of minted tokens, in seconds.
    pub token_ttl_secs: i64,
    /// Seals secrets that must be read back (webhook signing secrets).
    pub sealer: std::sync::Arc<Sealer>,
    /// The gateways' admission buckets, for a client's dashboard.
    pub quota: crm_platform::quota_view::QuotaView,
    /// Who may sign up.
    pub signup: session::SignupMode,
    /// Ceilings on keys' rate limits and on keys per user.
    pub key_limits: key_policy::KeyLimits,
    /// svc-pipeline's assignment counts for the agents; `None` without a `pipeline_url`
    /// (every count is then 0).
    pub assignments: Option<std::sync::Arc<assignment_counts::AssignmentCounts>>,
    /// Keeps `last_active` writes to one a minute per member.
    pub activity: std::sync::Arc<agent_activity::ActivityThrottle>,
}

/// Now, at the millisecond precision every backend stores, so a value read back equals the
/// value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(3)
}
