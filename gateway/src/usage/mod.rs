//! API-key usage, kept off the request path: each request made with a key is queued
//! (`request_log`), and one background task sends the queued requests in batches to
//! svc-metrics (the request log and usage statistics) and, from the same batches, each key's
//! request count and last use to svc-auth (`batch`).

pub mod batch;
pub mod request_log;
