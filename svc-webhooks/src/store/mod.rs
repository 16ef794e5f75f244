//! svc-webhooks's tables and the queries on them.

pub mod events;
