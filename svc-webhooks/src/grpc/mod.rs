//! gRPC faces of svc-webhooks.

mod convert;
pub mod sink;
pub mod webhooks;
