//! A batch of request-log entries as svc-auth takes it (`RequestLogColumns`): one packed
//! array per field, texts sent once and named by index. The entries of a batch share a few
//! keys, routes and user agents, so the batch encodes, travels and decodes as a handful of
//! arrays instead of one message of seven strings per entry.

use super::request_log::Entry;
use crate::auth::key_cache::KeyEntry;
use crm_proto::auth::RequestLogColumns;
use std::{collections::HashMap, net::IpAddr, sync::Arc};

/// Builds one batch's columns.
#[derive(Default)]
pub struct ColumnsBuilder {
    columns: RequestLogColumns,
    texts: HashMap<String, u32>,
    /// A key's two ids by the address of its cache entry, which the entries of one key
    /// share; the entry is held so that its address is not reused while the batch is built.
    keys: HashMap<usize, (Arc<KeyEntry>, u32, u32)>,
    ips: HashMap<IpAddr, u32>,
}

impl ColumnsBuilder {
    /// A builder with room for `entries` entries.
    pub fn with_capacity(entries: usize) -> Self {
        let mut b = Self::default();
        let c = &mut b.columns;
        for v in [
            &mut c.workspace_id,
            &mut c.api_key_id,
            &mut c.method,
            &mut c.endpoint,
            &mut c.request_ip,
            &mut c.user_agent,
            &mut c.request_id,
            &mut c.status_code,
            &mut c.response_time_ms,
        ] {
            v.reserve(entries);
        }
        c.request_size.reserve(entries);
        c.response_size.reserve(entries);
        c.timestamp_ms.reserve(entries);
        b
    }

    /// Entries added so far.
    pub fn len(&self) -> usize {
        self.columns.api_key_id.len()
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one entry.
    pub fn push(&mut self, e: &Entry) {
        let (workspace, key) = match self.keys.get(&(Arc::as_ptr(&e.key) as usize)) {
            Some(&(_, w, k)) => (w, k),
            None => {
                let (w, k) = (self.text(&e.key.workspace_id), self.text(&e.key.api_key_id));
                self.keys
                    .insert(Arc::as_ptr(&e.key) as usize, (e.key.clone(), w, k));
                (w, k)
            }
        };
        let ip = match self.ips.get(&e.ip) {
            Some(&i) => i,
            None => {
                let i = self.text(&e.ip.to_string());
                self.ips.insert(e.ip, i);
                i
            }
        };
        let (method, endpoint) = (self.text(e.method.as_str()), self.text(&e.endpoint));
        let (user_agent, request_id) = (self.text(&e.user_agent), self.text(&e.request_id));
        let c = &mut self.columns;
        c.workspace_id.push(workspace);
        c.api_key_id.push(key);
        c.method.push(method);
        c.endpoint.push(endpoint);
        c.request_ip.push(ip);
        c.user_agent.push(user_agent);
        c.request_id.push(request_id);
        c.status_code.push(u32::from(e.status));
        c.response_time_ms.push(e.response_time_ms);
        c.request_size.push(e.request_size);
        c.response_size.push(e.response_size);
        c.timestamp_ms.push(e.at_ms);
    }

    /// The columns built.
    pub fn finish(self) -> RequestLogColumns {
        self.columns
    }

    fn text(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.texts.get(text) {
            return i;
        }
        let i = self.columns.texts.len() as u32;
        self.columns.texts.push(text.to_owned());
        self.texts.insert(text.to_owned(), i);
        i
    }
}
