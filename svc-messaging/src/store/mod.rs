//! svc-messaging's tables and the queries on them. Queries take the workspace id first,
//! except the workers' (claiming due jobs of every workspace), which are named so.

pub mod executions;
pub mod jobs;
pub mod send_windows;
pub mod sequences;
