//! svc-auth's tables and the queries on them. Every query takes the workspace id first,
//! except the few global auth lookups, which say so in their names.

pub mod api_client;
pub mod api_key;
pub mod entities;
pub mod request_log;
pub mod workspace;

use crm_platform::error::internal;
use sea_orm::DbBackend;
use std::fmt::Write;
use tonic::Status;

/// Maps a database error to an opaque internal status, logging the cause here.
pub(crate) fn db_error(context: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Status {
    move |e| internal(context, e)
}

/// `(?, ?), (?, ?)` (SQLite) or `($1, $2), ($3, $4)` (Postgres): the placeholders of a
/// multi-row `VALUES` list of `rows` rows of `columns` values.
pub(crate) fn values_placeholders(backend: DbBackend, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(sql, "${}", r * columns + c + 1);
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend() {
        assert_eq!(
            values_placeholders(DbBackend::Sqlite, 2, 2),
            "(?, ?), (?, ?)"
        );
        assert_eq!(
            values_placeholders(DbBackend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
    }
}
