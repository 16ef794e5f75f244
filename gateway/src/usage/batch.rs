//! One batch of requests made with API keys, as the flusher sends it: the requests
//! themselves for svc-metrics (`RecordRequests`), and from the same requests each key's
//! count and last use for svc-auth (`RecordKeyUsage`).

use super::request_log::Entry;
use crm_proto::{auth::KeyUsage, metrics::RequestLog};
use prost::Message;
use std::collections::BTreeMap;

/// Largest encoded batch, in bytes: under tonic's default 4 MiB message limit, so a batch
/// of long user agents is sent in several calls rather than refused whole.
pub const MAX_BATCH_BYTES: usize = 3 << 20;

/// Requests waiting to be sent.
#[derive(Default)]
pub struct Batch {
    requests: Vec<RequestLog>,
    bytes: usize,
}

impl Batch {
    /// Adds one request.
    pub fn push(&mut self, e: &Entry) {
        let request = RequestLog {
            workspace_id: e.key.workspace_id.clone(),
            api_key_id: e.key.api_key_id.clone(),
            method: e.method.as_str().to_owned(),
            endpoint: e.endpoint.to_string(),
            status_code: u32::from(e.status),
            response_time_ms: e.response_time_ms,
            request_ip: e.ip.to_string(),
            user_agent: e.user_agent.to_string(),
            request_size: e.request_size,
            response_size: e.response_size,
            timestamp: Some(timestamp(e.at_ms)),
            request_id: e.request_id.to_string(),
            id: String::new(),
            api_client_id: e.key.api_client_id.clone().unwrap_or_default(),
        };
        // As encoded in `RecordRequestsRequest`: a tag byte, the length, the message.
        let len = request.encoded_len();
        self.bytes += 1 + prost::length_delimiter_len(len) + len;
        self.requests.push(request);
    }

    /// Requests held.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether no request is held.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Whether the batch holds `max` requests or is as large as one message may be.
    pub fn is_full(&self, max: usize) -> bool {
        self.requests.len() >= max || self.bytes >= MAX_BATCH_BYTES
    }

    /// Each key's requests in this batch and the time of its latest one, by key id.
    pub fn key_usage(&self) -> Vec<KeyUsage> {
        let mut by_key: BTreeMap<&str, KeyUsage> = BTreeMap::new();
        for r in &self.requests {
            let usage = by_key
                .entry(r.api_key_id.as_str())
                .or_insert_with(|| KeyUsage {
                    workspace_id: r.workspace_id.clone(),
                    api_key_id: r.api_key_id.clone(),
                    requests: 0,
                    last_used_at: None,
                });
            usage.requests += 1;
            // Entries are queued as requests finish, not as they arrive: the latest arrival
            // is not always the last entry.
            if later(r.timestamp.as_ref(), usage.last_used_at.as_ref()) {
                usage.last_used_at = r.timestamp;
            }
        }
        by_key.into_values().collect()
    }

    /// The requests, for `RecordRequests`.
    pub fn into_requests(self) -> Vec<RequestLog> {
        self.requests
    }
}

fn later(a: Option<&prost_types::Timestamp>, than: Option<&prost_types::Timestamp>) -> bool {
    match (a, than) {
        (Some(a), Some(b)) => (a.seconds, a.nanos) > (b.seconds, b.nanos),
        (a, b) => a.is_some() && b.is_none(),
    }
}

/// Unix milliseconds as a timestamp.
fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::key_cache::KeyEntry;
    use std::sync::Arc;

    fn key(workspace: &str, id: &str) -> Arc<KeyEntry> {
        Arc::new(KeyEntry {
            status: "active".into(),
            workspace_id: workspace.into(),
            api_key_id: id.into(),
            api_client_id: (id == "k2").then(|| "c2".into()),
            ..KeyEntry::default()
        })
    }

    fn entry(key: &Arc<KeyEntry>, at_ms: i64) -> Entry {
        Entry {
            key: key.clone(),
            method: http::Method::GET,
            endpoint: "/api/auth/me".into(),
            status: 200,
            response_time_ms: 3,
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            user_agent: "test".into(),
            request_id: "req-1".into(),
            request_size: 0,
            response_size: 10,
            at_ms,
        }
    }

    #[test]
    fn key_usage_counts_each_keys_requests_and_keeps_its_latest_time() {
        let (k1, k2) = (key("w1", "k1"), key("w2", "k2"));
        // The same key through another cache entry (reloaded after its TTL) is the same key.
        let k1_again = key("w1", "k1");
        let mut batch = Batch::default();
        for (k, at) in [
            (&k1, 1_000),
            (&k2, 1_500),
            (&k1, 3_250),
            (&k1_again, 2_000),
            (&k2, 1_200),
        ] {
            batch.push(&entry(k, at));
        }
        let usage = batch.key_usage();
        let summary: Vec<_> = usage
            .iter()
            .map(|u| {
                let t = u.last_used_at.unwrap();
                (
                    u.workspace_id.as_str(),
                    u.api_key_id.as_str(),
                    u.requests,
                    (t.seconds, t.nanos),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("w1", "k1", 3, (3, 250_000_000)),
                ("w2", "k2", 2, (1, 500_000_000)),
            ]
        );
        let requests = batch.into_requests();
        assert_eq!(requests.len(), 5);
        assert_eq!(
            (requests[0].endpoint.as_str(), requests[0].method.as_str()),
            ("/api/auth/me", "GET")
        );
        assert_eq!(requests[0].request_ip, "127.0.0.1");
        assert_eq!(
            (
                requests[0].api_client_id.as_str(),
                requests[1].api_client_id.as_str()
            ),
            ("", "c2"),
            "a partner key's client travels with its requests"
        );
    }

    #[test]
    fn a_batch_is_full_at_its_count_or_its_size() {
        let k = key("w", "k");
        let mut batch = Batch::default();
        assert!(batch.is_empty());
        batch.push(&entry(&k, 0));
        assert!(!batch.is_full(2));
        batch.push(&entry(&k, 0));
        assert!(batch.is_full(2));
        let mut big = Batch::default();
        let mut e = entry(&k, 0);
        e.user_agent = "x".repeat(512).into();
        while !big.is_full(usize::MAX) {
            big.push(&e);
        }
        let encoded = crm_proto::metrics::RecordRequestsRequest {
            requests: big.into_requests(),
        }
        .encoded_len();
        assert!(
            (MAX_BATCH_BYTES..MAX_BATCH_BYTES + 1024).contains(&encoded),
            "{encoded}"
        );
        assert!(encoded < 4 << 20, "fits tonic's default limit");
    }

    #[test]
    fn times_before_1970_keep_positive_nanos() {
        let t = timestamp(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_000_000));
    }
}
