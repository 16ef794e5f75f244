//! svc-auth's tables and the queries on them. Every query takes the workspace id first,
//! except the few global auth lookups, which say so in their names.

pub mod api_client;
pub mod api_key;
pub mod entities;
pub mod request_log;
pub mod workspace;

use crm_platform::error::internal;
use tonic::Status;

/// Maps a database error to an opaque internal status, logging the cause here.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Status {
    move |e| internal(context, e)
}
