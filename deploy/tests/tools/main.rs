//! End-to-end tests that drive the stack with outside tools: stock gRPC-web clients (node),
//! schemathesis against `/openapi.json`, the `/docs` page in headless Chromium, and the
//! `standardwebhooks` Python library verifying our webhook signatures. A binary
//! of their own: cargo runs test binaries one after another, so these CPU-heavy runs never
//! share the machine with the timing-sensitive tests of `it` (revocations and role changes
//! that must reach every gateway within a second).
//!
//! Each skips, saying why, when its tool is missing, and fails instead when
//! `CRM_REQUIRE_TOOLS=1` (set by `.ci/run`, which installs the tools).

#[allow(dead_code)]
#[path = "../it/helpers.rs"]
mod helpers;

mod docs_page;
mod grpc_web_clients;
mod openapi_conformance;
mod smtp_delivery;
mod webhook_verification;
