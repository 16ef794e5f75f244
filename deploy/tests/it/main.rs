//! End-to-end tests: the whole stack started in-process on port 0, driven over the wire
//! through the gateway (REST, gRPC, gRPC-web). With `DATABASE_URL` / `REDIS_URL` set the same
//! tests run against Postgres and Redis; each test gets its own database and key prefix.

mod actions;
mod agents;
mod api_clients;
mod api_keys;
mod calendar;
mod client_admission;
mod client_limits;
mod client_webhook;
mod client_webhooks;
mod contacts;
mod events;
mod external_jwt;
mod grpc;
mod headers;
mod helpers;
mod idempotency;
mod incoming_webhooks;
mod ip_allowlist;
mod isolation;
mod key_auth;
mod key_rotation;
mod limits;
mod messaging;
mod metrics;
mod money;
mod opportunities;
mod opportunity_lists;
mod ops;
mod pipelines;
mod rate_limits;
mod rate_limits_grpc;
mod sessions;
mod stage_positions;
mod startup_errors;
mod tags;
mod text_input;
mod usage_logs;
mod webhook_deliveries;
mod webhook_triggers;
mod webhooks;
mod workspaces;
