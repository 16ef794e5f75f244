//! gRPC faces of svc-webhooks.

mod convert;
pub mod incoming;
pub mod sink;
pub mod triggers;
pub mod webhooks;
