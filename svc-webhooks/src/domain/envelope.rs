//! The body every webhook carries (seed 003 "Webhook Events"):
//! `{"id", "eventType", "timestamp", "data", "version"}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The envelope format's version.
pub const VERSION: &str = "1.0";

/// One event as sent.
pub struct Envelope {
    /// Unique per event; also the `webhook-id` / `X-Webhook-Id` header, so receivers can
    /// drop duplicates.
    pub id: String,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub data: Value,
}

impl Envelope {
    /// The JSON body, exactly the bytes that are signed and sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": self.id,
            "eventType": self.event_type,
            "timestamp": self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": self.data,
            "version": VERSION,
        }))
        .expect("a JSON value always serializes")
    }
}
