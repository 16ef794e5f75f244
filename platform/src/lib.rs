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
pub mod rate_tiers;
pub mod roles;
pub mod sealed;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod testing;

pub use principal::{Principal, PrincipalKind};
pub use secret::Secret;
