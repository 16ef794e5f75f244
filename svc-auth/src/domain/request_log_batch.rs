//! A gateway's request-log batch as svc-auth holds it (texts once, entries naming them) and
//! as the rows it stores, in the per-key index's order.

use crate::store::request_log::NewRow;
use chrono::{DateTime, SubsecRound, Utc};
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

/// A gateway's batch as rows to store, in the order of the per-key index, so that the rows
/// of one key go in one after another onto the same index page instead of each insert
/// seeking a different key's page. Keys are ranked by their text once, and the entries
/// sorted by rank and time: comparing integers, not key texts, for every pair.
pub fn rows_of(batch: LogBatch) -> Vec<NewRow> {
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
    // A batch spans a second or so: format each hour once, not once per row.
    let mut hour: Option<(i64, Arc<str>)> = None;
    let text = |i: u32| texts[i as usize].clone();
    entries
        .into_iter()
        .map(|l| NewRow {
            id: new_id(),
            hour_bucket: hour_bucket(&mut hour, l.timestamp),
            workspace_id: text(l.workspace_id),
            api_key_id: text(l.api_key_id),
            method: text(l.method),
            endpoint: text(l.endpoint),
            status_code: l.status_code.min(999) as i32,
            response_time_ms: l.response_time_ms.min(i32::MAX as u32) as i32,
            request_ip: text(l.request_ip),
            user_agent: text(l.user_agent),
            request_size: l.request_size.min(i64::MAX as u64) as i64,
            response_size: l.response_size.min(i64::MAX as u64) as i64,
            request_id: text(l.request_id),
            // Millisecond precision, as every other stored time (the README's decision).
            timestamp: l.timestamp.trunc_subsecs(3),
        })
        .collect()
}

/// A new row id: UUID v7, whose order is the order rows are stored in.
fn new_id() -> Arc<str> {
    let mut buf = uuid::Uuid::encode_buffer();
    Arc::from(&*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf))
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

/// `2024-01-15T10:00:00Z` for a time in that hour; `last` holds the hour formatted last.
fn hour_bucket(last: &mut Option<(i64, Arc<str>)>, at: DateTime<Utc>) -> Arc<str> {
    let h = at.timestamp().div_euclid(3600);
    match last {
        Some((seen, text)) if *seen == h => text.clone(),
        _ => {
            let text: Arc<str> = at.format("%Y-%m-%dT%H:00:00Z").to_string().into();
            *last = Some((h, text.clone()));
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_buckets() {
        let mut last = None;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            &*hour_bucket(&mut last, at("2024-01-15T10:59:59Z")),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            &*hour_bucket(&mut last, at("2024-01-15T10:00:00Z")),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            &*hour_bucket(&mut last, at("2024-01-15T11:00:00Z")),
            "2024-01-15T11:00:00Z"
        );
    }

    #[test]
    fn a_batch_becomes_rows_in_key_order_sharing_its_texts() {
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
        let rows = rows_of(batch);
        let order: Vec<(&str, i64)> = rows
            .iter()
            .map(|r| (&*r.api_key_id, r.timestamp.timestamp_millis() % 1_000))
            .collect();
        assert_eq!(order, [("k1", 2), ("k1", 9), ("k2", 1), ("k2", 5)]);
        assert_eq!(rows[1].user_agent.chars().count(), MAX_USER_AGENT);
        assert!(long_agent.starts_with(&*rows[1].user_agent));
        assert_eq!(&*rows[0].user_agent, "sdk");
        assert!(Arc::ptr_eq(&rows[0].api_key_id, &rows[1].api_key_id));
        assert_eq!(rows[0].status_code, 999);
        assert_eq!(rows[0].request_size, i64::MAX);
        assert!(rows.windows(2).all(|w| w[0].id != w[1].id));
    }
}
