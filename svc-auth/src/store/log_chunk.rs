//! How a chunk of one key's request-log entries is stored: a protobuf message of columns,
//! entry `i` being the `i`-th value of each, with texts (route, address, user agent, request
//! id) held once per chunk and named by index. One row then holds what used to be dozens, so
//! a gateway's batch costs the database one insert and one index entry per busy key instead
//! of one per request (the README's Decisions: request-log chunks).

use chrono::{DateTime, Utc};
use prost::Message;
use std::collections::HashMap;

/// Most entries in one chunk: a busy key's batch is split so that a chunk stays a few pages.
pub const MAX_ENTRIES: usize = 512;

/// The stored body of a chunk.
#[derive(Clone, PartialEq, Message)]
pub struct ChunkBody {
    /// Texts the entries name.
    #[prost(string, repeated, tag = "1")]
    pub texts: Vec<String>,
    /// Entry ids, 16 bytes (a UUID) each.
    #[prost(bytes = "vec", tag = "2")]
    pub ids: Vec<u8>,
    /// Unix milliseconds of the first entry.
    #[prost(int64, tag = "3")]
    pub base_ms: i64,
    /// Each entry's time minus the previous entry's (the first's minus `base_ms`).
    #[prost(sint64, repeated, tag = "4")]
    pub step_ms: Vec<i64>,
    /// Indexes into `texts`.
    #[prost(uint32, repeated, tag = "5")]
    pub method: Vec<u32>,
    #[prost(uint32, repeated, tag = "6")]
    pub endpoint: Vec<u32>,
    #[prost(uint32, repeated, tag = "7")]
    pub request_ip: Vec<u32>,
    #[prost(uint32, repeated, tag = "8")]
    pub user_agent: Vec<u32>,
    #[prost(uint32, repeated, tag = "9")]
    pub request_id: Vec<u32>,
    #[prost(uint32, repeated, tag = "10")]
    pub status_code: Vec<u32>,
    #[prost(uint32, repeated, tag = "11")]
    pub response_time_ms: Vec<u32>,
    #[prost(uint64, repeated, tag = "12")]
    pub request_size: Vec<u64>,
    #[prost(uint64, repeated, tag = "13")]
    pub response_size: Vec<u64>,
}

/// One entry, as added to a chunk and as read from one (its texts then borrowed from the
/// decoded chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// UUID v7.
    pub id: [u8; 16],
    /// Arrival, Unix milliseconds.
    pub at_ms: i64,
    pub method: &'a str,
    pub endpoint: &'a str,
    pub request_ip: &'a str,
    pub user_agent: &'a str,
    pub request_id: &'a str,
    pub status_code: u32,
    pub response_time_ms: u32,
    pub request_size: u64,
    pub response_size: u64,
}

/// Builds a chunk's body entry by entry.
#[derive(Default)]
pub struct ChunkWriter {
    body: ChunkBody,
    texts: HashMap<String, u32>,
    last_ms: Option<i64>,
}

impl ChunkWriter {
    /// Entries so far.
    pub fn len(&self) -> usize {
        self.body.status_code.len()
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn text(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.texts.get(text) {
            return i;
        }
        let i = self.body.texts.len() as u32;
        self.body.texts.push(text.to_owned());
        self.texts.insert(text.to_owned(), i);
        i
    }

    /// Adds an entry.
    pub fn push(&mut self, e: Entry<'_>) {
        let b = &mut self.body;
        b.ids.extend_from_slice(&e.id);
        match self.last_ms {
            None => {
                b.base_ms = e.at_ms;
                b.step_ms.push(0);
            }
            Some(last) => b.step_ms.push(e.at_ms.wrapping_sub(last)),
        }
        self.last_ms = Some(e.at_ms);
        b.status_code.push(e.status_code);
        b.response_time_ms.push(e.response_time_ms);
        b.request_size.push(e.request_size);
        b.response_size.push(e.response_size);
        let texts = [
            e.method,
            e.endpoint,
            e.request_ip,
            e.user_agent,
            e.request_id,
        ]
        .map(|t| self.text(t));
        let b = &mut self.body;
        for (column, i) in [
            &mut b.method,
            &mut b.endpoint,
            &mut b.request_ip,
            &mut b.user_agent,
            &mut b.request_id,
        ]
        .into_iter()
        .zip(texts)
        {
            column.push(i);
        }
    }

    /// The earliest and latest entry times (entries may be added in any order).
    pub fn span(&self) -> (i64, i64) {
        let mut at = self.body.base_ms;
        let (mut lo, mut hi) = (at, at);
        for step in &self.body.step_ms {
            at = at.wrapping_add(*step);
            lo = lo.min(at);
            hi = hi.max(at);
        }
        (lo, hi)
    }

    /// The encoded body.
    pub fn finish(self) -> Vec<u8> {
        self.body.encode_to_vec()
    }
}

/// A decoded chunk whose columns were checked to agree, so its entries can be read.
pub struct Chunk {
    body: ChunkBody,
}

/// A chunk that does not decode or whose columns disagree.
#[derive(Debug, thiserror::Error)]
#[error("request-log chunk is damaged: {0}")]
pub struct Damaged(String);

impl Chunk {
    /// Decodes and checks a stored body.
    pub fn decode(bytes: &[u8]) -> Result<Self, Damaged> {
        let body = ChunkBody::decode(bytes).map_err(|e| Damaged(e.to_string()))?;
        let n = body.status_code.len();
        let lengths = [
            body.ids.len() / 16,
            body.step_ms.len(),
            body.method.len(),
            body.endpoint.len(),
            body.request_ip.len(),
            body.user_agent.len(),
            body.request_id.len(),
            body.response_time_ms.len(),
            body.request_size.len(),
            body.response_size.len(),
        ];
        if body.ids.len() % 16 != 0 || lengths.iter().any(|&l| l != n) {
            return Err(Damaged("columns of different lengths".into()));
        }
        let texts = body.texts.len() as u64;
        let named = [
            &body.method,
            &body.endpoint,
            &body.request_ip,
            &body.user_agent,
            &body.request_id,
        ];
        if named
            .iter()
            .any(|c| c.iter().any(|&i| u64::from(i) >= texts))
        {
            return Err(Damaged("a text index out of range".into()));
        }
        Ok(Self { body })
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.body.status_code.len()
    }

    /// Whether the chunk holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in the order they were added.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        let b = &self.body;
        let text = move |i: u32| b.texts[i as usize].as_str();
        let mut at = b.base_ms;
        (0..self.len()).map(move |i| {
            at = at.wrapping_add(b.step_ms[i]);
            let mut id = [0u8; 16];
            id.copy_from_slice(&b.ids[i * 16..i * 16 + 16]);
            Entry {
                id,
                at_ms: at,
                method: text(b.method[i]),
                endpoint: text(b.endpoint[i]),
                request_ip: text(b.request_ip[i]),
                user_agent: text(b.user_agent[i]),
                request_id: text(b.request_id[i]),
                status_code: b.status_code[i],
                response_time_ms: b.response_time_ms[i],
                request_size: b.request_size[i],
                response_size: b.response_size[i],
            }
        })
    }
}

/// Unix milliseconds as a time (clamped to what chrono holds).
pub fn time_of(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, at_ms: i64, agent: &str) -> Entry<'_> {
        Entry {
            id: [n; 16],
            at_ms,
            method: "GET",
            endpoint: "/api/auth/me",
            request_ip: "2001:db8::1",
            user_agent: agent,
            request_id: if n == 2 { "req-2" } else { "" },
            status_code: 200 + u32::from(n),
            response_time_ms: u32::from(n),
            request_size: u64::MAX,
            response_size: u64::from(n) * 1000,
        }
    }

    #[test]
    fn entries_come_back_as_written_with_texts_held_once() {
        let mut w = ChunkWriter::default();
        let base = 1_764_590_000_000;
        let input = [
            entry(1, base + 5, "sdk"),
            entry(2, base + 3, "sdk"),
            entry(3, base + 90_000, "curl"),
        ];
        for e in input {
            w.push(e);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.span(), (base + 3, base + 90_000));
        let chunk = Chunk::decode(&w.finish()).unwrap();
        assert_eq!(
            chunk.body.texts.len(),
            7,
            "GET, route, address, 2 agents, 2 ids"
        );
        let out: Vec<Entry<'_>> = chunk.entries().collect();
        assert_eq!(out.len(), 3);
        for (got, want) in out.iter().zip(input) {
            assert_eq!(
                (got.id, got.at_ms, got.user_agent, got.request_id),
                (want.id, want.at_ms, want.user_agent, want.request_id)
            );
            assert_eq!(
                (got.status_code, got.request_size, got.response_size),
                (want.status_code, want.request_size, want.response_size)
            );
            assert_eq!(
                (got.method, got.endpoint, got.request_ip),
                ("GET", "/api/auth/me", "2001:db8::1")
            );
        }
    }

    #[test]
    fn damaged_bodies_are_refused() {
        assert!(Chunk::decode(b"\xff\xff").is_err());
        let mut w = ChunkWriter::default();
        w.push(entry(1, 0, "sdk"));
        let mut body = ChunkBody::decode(&*w.finish()).unwrap();
        body.endpoint[0] = 99;
        assert!(Chunk::decode(&body.encode_to_vec()).is_err());
        body.endpoint.clear();
        assert!(Chunk::decode(&body.encode_to_vec()).is_err());
        assert!(Chunk::decode(&[]).unwrap().is_empty());
    }
}
