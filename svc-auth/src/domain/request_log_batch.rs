//! A gateway's request-log batch as svc-auth holds it (texts once, entries naming them) and
//! as the chunks it stores, one per key.

use crate::store::{
    log_chunk::{self, ChunkWriter, Entry},
    request_log::NewChunk,
};
use chrono::{DateTime, Utc};
use std::{collections::HashMap, sync::Arc};

/// Longest text kept of a user agent.
const MAX_USER_AGENT: usize = 512;

/// A gateway's batch: each entry names its texts by their index in `texts`, so a text that
/// many entries share (a key's ids, a route, a user agent) is held, and bound, once.
#[derive(Default)]
pub struct LogBatch {
    /// Texts the entries name.
    pub texts: Vec<Arc<str>>,
    /// Entries, in any order.
    pub entries: Vec<NewLog>,
}

/// One request as a gateway reported it; texts are indexes into [`LogBatch::texts`].
#[derive(Clone, Copy, Debug)]
pub struct NewLog {
    /// Workspace of the key.
    pub workspace_id: u32,
    /// Key used.
    pub api_key_id: u32,
    /// HTTP method (gRPC calls: `POST`).
    pub method: u32,
    /// Route template or gRPC path.
    pub endpoint: u32,
    /// Client address.
    pub request_ip: u32,
    /// User agent.
    pub user_agent: u32,
    /// Request id.
    pub request_id: u32,
    /// HTTP status.
    pub status_code: u32,
    /// Latency.
    pub response_time_ms: u32,
    /// Request body bytes.
    pub request_size: u64,
    /// Response body bytes.
    pub response_size: u64,
    /// When the request arrived.
    pub timestamp: DateTime<Utc>,
}

impl LogBatch {
    /// Whether every text index of every entry names a text.
    pub fn names_only_its_texts(&self) -> bool {
        let n = self.texts.len() as u64;
        self.entries.iter().all(|e| {
            [
                e.workspace_id,
                e.api_key_id,
                e.method,
                e.endpoint,
                e.request_ip,
                e.user_agent,
                e.request_id,
            ]
            .iter()
            .all(|&i| u64::from(i) < n)
        })
    }
}

/// Builds a [`LogBatch`] from entries given with their texts, holding each distinct text once.
#[derive(Default)]
pub struct BatchBuilder {
    batch: LogBatch,
    index: HashMap<Arc<str>, u32>,
}

impl BatchBuilder {
    /// The index of `text` in the batch's texts, adding it if new.
    pub fn text(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.batch.texts.len() as u32;
        let text: Arc<str> = text.into();
        self.batch.texts.push(text.clone());
        self.index.insert(text, i);
        i
    }

    /// Adds an entry whose texts came from [`BatchBuilder::text`].
    pub fn push(&mut self, entry: NewLog) {
        self.batch.entries.push(entry);
    }

    /// The batch.
    pub fn finish(self) -> LogBatch {
        self.batch
    }
}

/// A gateway's batch as chunks to store: one per key (split past
/// [`log_chunk::MAX_ENTRIES`]), each key's entries in time order. Keys are ranked by their
/// text once and the entries sorted by rank and time, comparing integers, not key texts, for
/// every pair. Entry and chunk ids are UUID v7 made here, in that order.
pub fn chunks_of(batch: LogBatch) -> Vec<NewChunk> {
    let LogBatch {
        mut texts,
        mut entries,
    } = batch;
    cap_user_agents(&mut texts, &mut entries);
    let mut keys: Vec<u32> = entries.iter().map(|e| e.api_key_id).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.sort_unstable_by(|a, b| texts[*a as usize].cmp(&texts[*b as usize]));
    let mut rank = vec![0u32; texts.len()];
    for (r, k) in keys.iter().enumerate() {
        rank[*k as usize] = r as u32;
    }
    entries.sort_unstable_by_key(|e| (rank[e.api_key_id as usize], e.timestamp));
    let text = |i: u32| &*texts[i as usize];
    let mut chunks = Vec::new();
    let mut open: Option<(NewLog, ChunkWriter)> = None;
    for e in entries {
        if let Some((first, writer)) = &open
            && (first.api_key_id != e.api_key_id
                || first.workspace_id != e.workspace_id
                || writer.len() >= log_chunk::MAX_ENTRIES)
            && let Some((first, writer)) = open.take()
        {
            chunks.push(close(&texts, first, writer));
        }
        let (_, writer) = open.get_or_insert_with(|| (e, ChunkWriter::default()));
        writer.push(Entry {
            id: *uuid::Uuid::now_v7().as_bytes(),
            // Millisecond precision, as every other stored time (the README's decision).
            at_ms: e.timestamp.timestamp_millis(),
            method: text(e.method),
            endpoint: text(e.endpoint),
            request_ip: text(e.request_ip),
            user_agent: text(e.user_agent),
            request_id: text(e.request_id),
            status_code: e.status_code.min(999),
            response_time_ms: e.response_time_ms,
            request_size: e.request_size.min(i64::MAX as u64),
            response_size: e.response_size.min(i64::MAX as u64),
        });
    }
    if let Some((first, writer)) = open {
        chunks.push(close(&texts, first, writer));
    }
    chunks
}

/// The chunk `writer` holds, of the key and workspace `first` names.
fn close(texts: &[Arc<str>], first: NewLog, writer: ChunkWriter) -> NewChunk {
    let (lo, hi) = writer.span();
    NewChunk {
        id: uuid::Uuid::now_v7().to_string(),
        workspace_id: texts[first.workspace_id as usize].clone(),
        api_key_id: texts[first.api_key_id as usize].clone(),
        first_at: log_chunk::time_of(lo),
        last_at: log_chunk::time_of(hi),
        entries: writer.len() as i32,
        body: writer.finish(),
    }
}

/// Points entries whose user agent is longer than the stored maximum at a copy cut to it.
fn cap_user_agents(texts: &mut Vec<Arc<str>>, entries: &mut [NewLog]) {
    let mut capped: HashMap<u32, u32> = HashMap::new();
    for e in entries {
        // A text of at most that many bytes has at most that many characters.
        if texts[e.user_agent as usize].len() <= MAX_USER_AGENT {
            continue;
        }
        e.user_agent = *capped.entry(e.user_agent).or_insert_with(|| {
            let t = texts[e.user_agent as usize].clone();
            match t.char_indices().nth(MAX_USER_AGENT) {
                Some((at, _)) => {
                    texts.push(Arc::from(&t[..at]));
                    (texts.len() - 1) as u32
                }
                None => e.user_agent,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log_chunk::Chunk;

    #[test]
    fn a_batch_becomes_one_chunk_per_key_in_time_order() {
        let mut b = BatchBuilder::default();
        let at = |ms: i64| DateTime::from_timestamp_millis(1_764_590_000_000 + ms).unwrap();
        let long_agent = "ğ".repeat(600);
        let mut entry = |key: &str, ms: i64, agent: &str| {
            let e = NewLog {
                workspace_id: b.text("w"),
                api_key_id: b.text(key),
                method: b.text("GET"),
                endpoint: b.text("/api/auth/me"),
                request_ip: b.text("127.0.0.1"),
                user_agent: b.text(agent),
                request_id: b.text(""),
                status_code: 1_000,
                response_time_ms: 3,
                request_size: u64::MAX,
                response_size: 7,
                timestamp: at(ms),
            };
            b.push(e);
        };
        entry("k2", 5, "sdk");
        entry("k1", 9, &long_agent);
        entry("k2", 1, "sdk");
        entry("k1", 2, "sdk");
        let batch = b.finish();
        assert!(batch.names_only_its_texts());
        assert_eq!(batch.texts.len(), 9, "each distinct text once");
        let chunks = chunks_of(batch);
        let keys: Vec<(&str, i32, i64, i64)> = chunks
            .iter()
            .map(|c| {
                let ms = |t: DateTime<Utc>| t.timestamp_millis() % 1_000;
                (&*c.api_key_id, c.entries, ms(c.first_at), ms(c.last_at))
            })
            .collect();
        assert_eq!(keys, [("k1", 2, 2, 9), ("k2", 2, 1, 5)]);
        assert!(chunks[0].id < chunks[1].id, "ids in storage order");
        let k1 = Chunk::decode(&chunks[0].body).unwrap();
        let entries: Vec<_> = k1.entries().collect();
        assert_eq!(entries[0].at_ms % 1_000, 2);
        assert_eq!(entries[0].user_agent, "sdk");
        assert_eq!(entries[1].user_agent.chars().count(), MAX_USER_AGENT);
        assert!(long_agent.starts_with(entries[1].user_agent));
        assert_eq!(entries[0].status_code, 999);
        assert_eq!(entries[0].request_size, i64::MAX as u64);
        assert!(entries[0].id < entries[1].id, "entry ids in time order");
    }

    #[test]
    fn a_busy_key_is_split_into_chunks_of_at_most_the_maximum() {
        let mut b = BatchBuilder::default();
        let n = log_chunk::MAX_ENTRIES * 2 + 1;
        for i in 0..n {
            let e = NewLog {
                workspace_id: b.text("w"),
                api_key_id: b.text("k"),
                method: b.text("GET"),
                endpoint: b.text("/"),
                request_ip: b.text("::1"),
                user_agent: b.text(""),
                request_id: b.text(&i.to_string()),
                status_code: 200,
                response_time_ms: 1,
                request_size: 0,
                response_size: 0,
                timestamp: DateTime::from_timestamp_millis(i as i64).unwrap(),
            };
            b.push(e);
        }
        let sizes: Vec<i32> = chunks_of(b.finish()).iter().map(|c| c.entries).collect();
        let max = log_chunk::MAX_ENTRIES as i32;
        assert_eq!(sizes, [max, max, 1]);
    }
}
