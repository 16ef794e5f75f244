//! svc-pipeline's tables and the queries on them. Every query takes the workspace id first.

pub mod actions;
pub mod assignments;
pub mod calendar;
pub mod companies;
pub mod contacts;
pub mod entities;
pub mod opportunities;
pub mod pipelines;
pub mod record_tags;
pub mod stages;
pub mod tags;

use crm_platform::error::internal;
use tonic::Status;

/// Maps a database error to an opaque internal status, logging the cause here.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Status {
    move |e| internal(context, e)
}

/// A `LIKE` pattern matching values that contain `needle` lowercased, with the needle's own
/// `%`, `_` and `\` taken literally.
pub(crate) fn contains_pattern(needle: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// `LOWER(column) LIKE '%needle%'` (see [`contains_pattern`]).
pub(crate) fn contains_ignoring_case(
    column: impl sea_orm::sea_query::IntoColumnRef,
    needle: &str,
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    Expr::expr(Func::lower(Expr::col(column))).like(contains_pattern(needle))
}

pub(crate) use crm_platform::db::is_unique_violation;
