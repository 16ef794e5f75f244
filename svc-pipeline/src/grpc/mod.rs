//! gRPC faces of svc-pipeline: one file per proto service, converting wire ↔ domain.

pub mod actions;
pub mod assignments;
pub mod calendar;
pub mod companies;
pub mod contacts;
pub mod convert;
pub mod opportunities;
pub mod pipelines;
pub mod stages;
pub mod tags;
