//! The shared runtime of the CRM services. Only what two or more services need lives here:
//! configuration, telemetry, database connection, the signed principal and what each role
//! may do, error mapping, the invalidation bus, server bootstrap and test support. No domain
//! logic.

pub mod api_key;
pub mod bus;
pub mod config;
pub mod db;
pub mod error;
pub mod jwt;
pub mod outbox;
pub mod principal;
pub mod quota_view;
pub mod rate_tiers;
pub mod roles;
pub mod sealed;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod testing;
pub mod workspaces;

pub use principal::{Principal, PrincipalKind};

/// The allocator every binary of ours installs (`#[global_allocator]`): glibc's malloc spent
/// a sixth of a loaded gateway's CPU in malloc, free and their arena locks.
pub type Allocator = mimalloc::MiMalloc;
pub use secret::Secret;
