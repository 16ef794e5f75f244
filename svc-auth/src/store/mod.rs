//! svc-auth's tables and the queries on them. Every query takes the workspace id first,
//! except the few global auth lookups, which say so in their names.

pub mod activity;
pub mod api_client;
pub mod api_key;
pub mod audit;
pub mod entities;
pub mod invitation;
pub mod login_failure;
pub mod members;
pub mod workspace;

use crm_platform::error::internal;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};
use std::{fmt::Write, sync::OnceLock};
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

/// A multi-row statement whose text depends only on the backend and its row count.
pub(crate) struct ChunkedSql {
    /// Rows per statement.
    pub rows_per_statement: usize,
    /// The statement for `rows` rows.
    pub sql: fn(DbBackend, usize) -> String,
    /// The full-size statement per backend (SQLite, Postgres), written once: the same text
    /// from batch to batch keeps its prepared plan.
    pub full: [OnceLock<String>; 2],
    /// What the statement does, for errors.
    pub context: &'static str,
}

impl ChunkedSql {
    /// The statement for a chunk of `rows` rows: the full-size one is written once per
    /// backend.
    pub(crate) fn sql_for(&self, backend: DbBackend, rows: usize) -> String {
        if rows == self.rows_per_statement {
            self.full[usize::from(backend == DbBackend::Postgres)]
                .get_or_init(|| (self.sql)(backend, rows))
                .clone()
        } else {
            (self.sql)(backend, rows)
        }
    }

    /// Runs `rows` in one transaction, `rows_per_statement` at a time, each row bound as the
    /// values `values` gives for it.
    pub(crate) async fn run<T, V>(
        &self,
        db: &DatabaseConnection,
        rows: Vec<T>,
        values: impl Fn(T) -> V,
    ) -> Result<(), Status>
    where
        V: IntoIterator<Item = Value>,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let backend = db.get_database_backend();
        let txn = db.begin().await.map_err(db_error(self.context))?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<T> = rows.by_ref().take(self.rows_per_statement).collect();
            let sql = self.sql_for(backend, chunk.len());
            let values = chunk.into_iter().flat_map(&values);
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .map_err(db_error(self.context))?;
        }
        txn.commit().await.map_err(db_error(self.context))
    }
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
