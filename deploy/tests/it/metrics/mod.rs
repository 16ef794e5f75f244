//! Pipeline analytics (svc-metrics) over REST: every figure compared with what the test
//! computes from its own record of the opportunities it made (`book`, `model`), the legacy
//! endpoints' shapes, the scope, workspace isolation and bad input.

mod access;
mod book;
mod compare;
mod correctness;
mod generated;
mod model;

use crate::helpers::{Options, TestApp};
use crm_gateway::ratelimit::policy::RateLimitConfig;

/// A stack without rate limits: the data sets take hundreds of requests a minute.
async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        rate_limits: Some(RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        }),
        ..Options::default()
    })
    .await
}
