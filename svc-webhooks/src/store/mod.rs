//! svc-webhooks's tables and the queries on them. Queries take the workspace id first,
//! except the event sink's, whose callers are services naming the workspace in each event.

pub mod attempts;
pub mod deliveries;
pub mod events;
pub mod subscriptions;
