//! Retention and, on Postgres, the day partitions of `request_log`. Global: these run over
//! every workspace, for the maintenance task only.

use super::{Sql, UsageDb, execute, query};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr};

/// Rows deleted per statement: each delete is a short transaction, so ingest waits little.
const DELETE_BATCH: i64 = 10_000;

/// What a prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Day partitions dropped (Postgres).
    pub partitions: u64,
    /// Rows deleted one by one (SQLite; Postgres' default partition).
    pub rows: u64,
    /// Rollup rows deleted.
    pub minutes: u64,
}

/// What happened to one day's partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DayPartition {
    /// SQLite: the table is not partitioned.
    Unpartitioned,
    Created,
    Existed,
    /// Rows of that day sit in the default partition, which Postgres would refuse to split;
    /// they stay there until retention deletes them.
    RowsInDefault,
}

/// The partition holding `day`'s rows.
pub fn partition_name(day: NaiveDate) -> String {
    format!("request_log_{}", day.format("%Y%m%d"))
}

fn day_of_partition(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix("request_log_")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl UsageDb {
    /// Makes `day`'s partition of `request_log` (Postgres only; SQLite has none).
    pub async fn ensure_day_partition(&self, day: NaiveDate) -> Result<DayPartition, DbErr> {
        if !self.is_postgres() {
            return Ok(DayPartition::Unpartitioned);
        }
        let name = partition_name(day);
        let (start, end) = (day_start(day), day_start(day.succ_opt().unwrap_or(day)));
        let mut exists = Sql::default();
        let p = exists.param(name.clone());
        exists.push(&format!(
            "SELECT to_regclass(CAST({p} AS TEXT)) IS NOT NULL AS present"
        ));
        let present: bool = query(&self.conn, exists)
            .await?
            .first()
            .map(|r| r.try_get("", "present"))
            .transpose()?
            .unwrap_or(false);
        if present {
            return Ok(DayPartition::Existed);
        }
        let mut stranded = Sql::new("SELECT 1 AS one FROM request_log_default WHERE at >= ");
        let from = stranded.param(start);
        let to = stranded.param(end);
        stranded.push(&format!("{from} AND at < {to} LIMIT 1"));
        if !query(&self.conn, stranded).await?.is_empty() {
            return Ok(DayPartition::RowsInDefault);
        }
        // DDL takes no parameters; the bounds are formatted from a date.
        let fmt = "%Y-%m-%d %H:%M:%S+00";
        self.conn
            .execute_unprepared(&format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF request_log \
                 FOR VALUES FROM ('{}') TO ('{}')",
                start.format(fmt),
                end.format(fmt)
            ))
            .await?;
        Ok(DayPartition::Created)
    }

    /// The days that have a partition (Postgres), oldest first.
    pub async fn day_partitions(&self) -> Result<Vec<NaiveDate>, DbErr> {
        if !self.is_postgres() {
            return Ok(Vec::new());
        }
        let rows = query(
            &self.conn,
            Sql::new(
                "SELECT c.relname::text AS name FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'request_log'::regclass",
            ),
        )
        .await?;
        let mut days = Vec::new();
        for r in rows {
            let name: String = r.try_get("", "name")?;
            days.extend(day_of_partition(&name));
        }
        days.sort();
        Ok(days)
    }

    /// Removes the requests and rollup minutes older than `cutoff`. On Postgres a day
    /// partition goes whole once its day has ended by `cutoff` (so up to a day more is kept),
    /// and the default partition is deleted from by time; on SQLite rows go in batches.
    pub async fn prune_before(&self, cutoff: DateTime<Utc>) -> Result<Pruned, DbErr> {
        let mut pruned = Pruned::default();
        if self.is_postgres() {
            for day in self.day_partitions().await? {
                let end = day_start(day.succ_opt().unwrap_or(day));
                if end <= cutoff {
                    // The name was read from the catalog and matched `request_log_YYYYMMDD`.
                    self.conn
                        .execute_unprepared(&format!(
                            "DROP TABLE IF EXISTS {}",
                            partition_name(day)
                        ))
                        .await?;
                    pruned.partitions += 1;
                }
            }
            pruned.rows = self
                .delete_batches("request_log_default", "at", "ctid", cutoff)
                .await?;
            pruned.minutes = self
                .delete_batches("request_minutes", "minute", "ctid", cutoff)
                .await?;
        } else {
            pruned.rows = self
                .delete_batches("request_log", "at", "rowid", cutoff)
                .await?;
            pruned.minutes = self
                .delete_batches("request_minutes", "minute", "rowid", cutoff)
                .await?;
        }
        Ok(pruned)
    }

    /// Deletes `table`'s rows with `column < cutoff`, [`DELETE_BATCH`] at a time, addressing
    /// rows by `address` (`rowid` on SQLite, `ctid` on Postgres).
    async fn delete_batches(
        &self,
        table: &str,
        column: &str,
        address: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        let mut deleted = 0;
        loop {
            let mut sql = Sql::default();
            let before = sql.param(cutoff);
            let limit = sql.param(DELETE_BATCH);
            let matching =
                format!("SELECT {address} FROM {table} WHERE {column} < {before} LIMIT {limit}");
            sql.push(&if self.is_postgres() {
                format!("DELETE FROM {table} WHERE {address} = ANY(ARRAY({matching}))")
            } else {
                format!("DELETE FROM {table} WHERE {address} IN ({matching})")
            });
            let n = execute(&self.conn, sql).await?.rows_affected();
            deleted += n;
            if n < DELETE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let day = NaiveDate::from_ymd_opt(2024, 1, 5).unwrap();
        assert_eq!(partition_name(day), "request_log_20240105");
        assert_eq!(day_of_partition("request_log_20240105"), Some(day));
        assert_eq!(day_of_partition("request_log_default"), None);
        assert_eq!(day_of_partition("request_log_2024010"), None);
    }
}
