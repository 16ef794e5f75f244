//! The `api_request_log_chunks` table: a gateway's batch stored as one chunk per key (at most
//! [`super::log_chunk::MAX_ENTRIES`] entries each), read back chunk by chunk for the keys and times
//! a query covers, and pruned after the retention period. Filters run here on the decoded
//! entries, pages and aggregates in `domain::request_log_read`, the same on SQLite and Postgres.

use super::{
    ChunkedSql, db_error,
    entities::api_request_log_chunks as chunks,
    log_chunk::{Chunk, Entry},
    values_placeholders,
};
use chrono::{DateTime, Utc};
use crm_platform::error::internal;
use futures::TryStreamExt;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    Value,
};
use std::sync::{Arc, OnceLock};
use tonic::Status;

/// Which status codes a query covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// All.
    #[default]
    Any,
    /// Codes in `lo..=hi`.
    Range(u32, u32),
}

/// What a log query covers (always within one workspace).
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Requests of these keys.
    pub api_key_ids: Vec<String>,
    /// Status codes.
    pub status: StatusFilter,
    /// HTTP method, upper case.
    pub method: Option<String>,
    /// Substring of the endpoint template.
    pub endpoint: Option<String>,
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until (exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// The first whole millisecond at or after `at`: entries are stored in whole milliseconds,
/// so `entry >= at` exactly when `entry_ms >= ceil_ms(at)`, and `entry < at` when below it.
pub(crate) fn ceil_ms(at: DateTime<Utc>) -> i64 {
    let ms = at.timestamp_millis();
    if at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms + 1
    }
}

impl LogFilter {
    /// The entry test of this filter, times turned into milliseconds once.
    fn matcher(&self) -> impl Fn(&Entry<'_>) -> bool + '_ {
        let from = self.from.map(ceil_ms);
        let to = self.to.map(ceil_ms);
        move |e| {
            from.is_none_or(|f| e.at_ms >= f)
                && to.is_none_or(|t| e.at_ms < t)
                && match self.status {
                    StatusFilter::Any => true,
                    StatusFilter::Range(lo, hi) => (lo..=hi).contains(&e.status_code),
                }
                && self.method.as_deref().is_none_or(|m| e.method == m)
                && self
                    .endpoint
                    .as_deref()
                    .is_none_or(|s| e.endpoint.contains(s))
        }
    }
}

/// A chunk to store.
#[derive(Clone, Debug)]
pub struct NewChunk {
    /// UUID v7, made when stored.
    pub id: String,
    /// Workspace of the key.
    pub workspace_id: Arc<str>,
    /// Key used.
    pub api_key_id: Arc<str>,
    /// The earliest entry.
    pub first_at: DateTime<Utc>,
    /// The latest entry.
    pub last_at: DateTime<Utc>,
    /// Entries in `body`.
    pub entries: i32,
    /// [`super::log_chunk::ChunkWriter::finish`].
    pub body: Vec<u8>,
}

/// Chunks per INSERT: a fixed size keeps the SQL text the same from batch to batch.
const CHUNKS_PER_INSERT: usize = 50;

const COLUMNS: &str = "id, workspace_id, api_key_id, first_at, last_at, entries, body";
const COLUMN_COUNT: usize = 7;

fn values(c: NewChunk) -> [Value; COLUMN_COUNT] {
    [
        c.id.into(),
        c.workspace_id.to_string().into(),
        c.api_key_id.to_string().into(),
        c.first_at.into(),
        c.last_at.into(),
        c.entries.into(),
        c.body.into(),
    ]
}

fn insert_sql(backend: DbBackend, rows: usize) -> String {
    format!(
        "INSERT INTO api_request_log_chunks ({COLUMNS}) VALUES {}",
        values_placeholders(backend, rows, COLUMN_COUNT)
    )
}

static INSERT: ChunkedSql = ChunkedSql {
    rows_per_statement: CHUNKS_PER_INSERT,
    sql: insert_sql,
    full: [OnceLock::new(), OnceLock::new()],
    context: "insert request logs",
};

/// Stores a gateway's batch, made into chunks, in one transaction.
pub async fn insert_chunks(db: &DatabaseConnection, chunks: Vec<NewChunk>) -> Result<(), Status> {
    INSERT.run(db, chunks, values).await
}

/// Calls `visit` with each stored entry in `workspace_id` that `filter` matches, and the key
/// it belongs to, chunk by chunk, latest chunk first. Chunks are read one at a time from the
/// database, so memory does not grow with the range.
pub async fn for_each_match(
    db: &DatabaseConnection,
    workspace_id: &str,
    filter: &LogFilter,
    mut visit: impl FnMut(&str, &Entry<'_>),
) -> Result<(), Status> {
    if filter.api_key_ids.is_empty() {
        return Ok(());
    }
    let mut cond = Condition::all()
        .add(chunks::Column::WorkspaceId.eq(workspace_id))
        .add(chunks::Column::ApiKeyId.is_in(filter.api_key_ids.clone()));
    if let Some(from) = filter.from {
        cond = cond.add(chunks::Column::LastAt.gte(from));
    }
    if let Some(to) = filter.to {
        cond = cond.add(chunks::Column::FirstAt.lt(to));
    }
    let matches = filter.matcher();
    let context = "read request logs";
    // Newest first: a page newest first then fills with the first chunks read and passes
    // over the rest without keeping their entries.
    let mut rows = chunks::Entity::find()
        .filter(cond)
        .order_by_desc(chunks::Column::LastAt)
        .stream(db)
        .await
        .map_err(db_error(context))?;
    while let Some(row) = rows.try_next().await.map_err(db_error(context))? {
        let chunk = Chunk::decode(&row.body).map_err(|e| internal(context, e))?;
        for e in chunk.entries().filter(|e| matches(e)) {
            visit(&row.api_key_id, &e);
        }
    }
    Ok(())
}

/// Deletes chunks whose every entry is older than `cutoff`, in every workspace (global: the
/// retention job), and returns how many. The table keeps no index on time, which every insert
/// would pay for; old chunks are found by their ids instead. Ids are UUID v7, which sort by
/// the time they were made, and a chunk is made after its requests, so every chunk made
/// before `cutoff` has an id below [`uuid_v7_floor`]. The time test alone decides what goes,
/// so a chunk that arrived late is only kept until a later prune, never deleted early.
pub async fn prune_before_global(
    db: &DatabaseConnection,
    cutoff: DateTime<Utc>,
) -> Result<u64, Status> {
    chunks::Entity::delete_many()
        .filter(chunks::Column::Id.lt(uuid_v7_floor(cutoff)))
        .filter(chunks::Column::LastAt.lt(cutoff))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
        .map_err(db_error("prune request logs"))
}

/// The lowest UUID v7 (hyphenated, lower case, as ids are stored) of `at`'s millisecond: every
/// id made before `at` sorts below it, as text, and every id made from `at` on sorts above.
fn uuid_v7_floor(at: DateTime<Utc>) -> String {
    let ms = at.timestamp_millis().clamp(0, (1 << 48) - 1) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log_chunk::{ChunkWriter, Entry};
    use sea_orm::PaginatorTrait;
    use uuid::{NoContext, Timestamp, Uuid};

    fn id_at(at: DateTime<Utc>) -> String {
        let ts = Timestamp::from_unix(
            NoContext,
            at.timestamp() as u64,
            at.timestamp_subsec_nanos(),
        );
        Uuid::new_v7(ts).to_string()
    }

    /// A chunk of key `k` stored at `stored` holding one request made at `at`.
    fn chunk(stored: DateTime<Utc>, at: DateTime<Utc>) -> NewChunk {
        let mut w = ChunkWriter::default();
        w.push(Entry {
            id: [0; 16],
            at_ms: at.timestamp_millis(),
            method: "GET",
            endpoint: "/api/auth/me",
            request_ip: "127.0.0.1",
            user_agent: "",
            request_id: "",
            status_code: 200,
            response_time_ms: 1,
            request_size: 0,
            response_size: 0,
        });
        NewChunk {
            id: id_at(stored),
            workspace_id: "w".into(),
            api_key_id: "k".into(),
            first_at: at,
            last_at: at,
            entries: 1,
            body: w.finish(),
        }
    }

    /// The prune takes chunks stored before the cutoff whose requests are all older; a chunk
    /// of an old request stored later (a late batch) stays until a later prune, and nothing
    /// of a request since the cutoff goes.
    #[tokio::test]
    async fn the_prune_takes_old_requests_stored_before_the_cutoff() {
        let db = crate::migration::memory_db(None).await;
        let now = Utc::now();
        let cutoff = now - chrono::Duration::days(30);
        let old = cutoff - chrono::Duration::days(1);
        let rows = vec![
            chunk(old, old),
            chunk(old, old),
            chunk(now, now),
            chunk(now, old),
            chunk(old, now),
        ];
        insert_chunks(&db, rows).await.unwrap();
        assert_eq!(prune_before_global(&db, cutoff).await.unwrap(), 2);
        let left = chunks::Entity::find().all(&db).await.unwrap();
        assert_eq!(left.len(), 3);
        assert!(
            left.iter()
                .all(|r| r.id > uuid_v7_floor(cutoff) || r.last_at > cutoff)
        );
        assert_eq!(prune_before_global(&db, cutoff).await.unwrap(), 0);
        let later = now + chrono::Duration::seconds(1);
        assert_eq!(prune_before_global(&db, later).await.unwrap(), 3);
        assert_eq!(chunks::Entity::find().count(&db).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn chunks_are_read_for_their_keys_workspace_and_times_only() {
        let db = crate::migration::memory_db(None).await;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let t = at("2026-12-01T10:00:00.500Z");
        let mut other_ws = chunk(t, t);
        other_ws.workspace_id = "w2".into();
        let mut other_key = chunk(t, t);
        other_key.api_key_id = "k2".into();
        let rows = vec![chunk(t, t), other_ws, other_key];
        insert_chunks(&db, rows).await.unwrap();
        let count = |from: Option<&str>, to: Option<&str>| {
            let filter = LogFilter {
                api_key_ids: vec!["k".into()],
                from: from.map(at),
                to: to.map(at),
                ..LogFilter::default()
            };
            let db = db.clone();
            async move {
                let mut n = 0;
                for_each_match(&db, "w", &filter, |key, _| {
                    assert_eq!(key, "k");
                    n += 1;
                })
                .await
                .unwrap();
                n
            }
        };
        assert_eq!(count(None, None).await, 1);
        assert_eq!(count(Some("2026-12-01T10:00:00.500Z"), None).await, 1);
        assert_eq!(count(Some("2026-12-01T10:00:00.5001Z"), None).await, 0);
        assert_eq!(count(None, Some("2026-12-01T10:00:00.5001Z")).await, 1);
        assert_eq!(count(None, Some("2026-12-01T10:00:00.500Z")).await, 0);
    }

    #[test]
    fn v7_floor_splits_ids_by_the_millisecond_they_were_made() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T08:17:24.500Z")
            .unwrap()
            .with_timezone(&Utc);
        let floor = uuid_v7_floor(at);
        let ms = chrono::Duration::milliseconds(1);
        for _ in 0..100 {
            assert!(id_at(at - ms) < floor);
            assert!(id_at(at) > floor);
            assert!(id_at(at + chrono::Duration::days(400)) > floor);
            assert!(id_at(at - chrono::Duration::days(400)) < floor);
        }
    }
}
