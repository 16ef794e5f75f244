//! gRPC faces of svc-webhooks.

pub mod sink;
pub mod webhooks;
