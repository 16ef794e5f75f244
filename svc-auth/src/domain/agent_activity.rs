//! An agent's `last_active`: sign-ins and token requests are written to `member_activity`
//! at most once a minute per member (a busy member costs one small upsert a minute, never
//! one per request); API-key use comes from `api_keys.last_used_at`, which the gateways'
//! batched usage reports keep anyway.

use super::AuthState;
use crate::store::activity;
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How stale a recorded `last_active` may be.
pub const RECORD_EVERY: Duration = Duration::from_secs(60);

/// Members remembered before old entries are dropped (each is a few dozen bytes).
const REMEMBERED: usize = 50_000;

/// When this process last wrote each member's activity, so it writes again only once
/// [`RECORD_EVERY`] has passed. Per process: several replicas write at most once a minute
/// each.
#[derive(Default)]
pub struct ActivityThrottle {
    written: Mutex<HashMap<(String, String), Instant>>,
}

impl ActivityThrottle {
    /// True (and remembered as written now) when the member's activity is due a write.
    fn due(&self, workspace_id: &str, user_id: &str, now: Instant) -> bool {
        let Ok(mut written) = self.written.lock() else {
            return true;
        };
        let key = (workspace_id.to_owned(), user_id.to_owned());
        if written
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < RECORD_EVERY)
        {
            return false;
        }
        if written.len() >= REMEMBERED {
            written.retain(|_, at| now.duration_since(*at) < RECORD_EVERY);
        }
        written.insert(key, now);
        true
    }

    /// Forgets a write that did not happen, so the next activity tries again.
    fn forget(&self, workspace_id: &str, user_id: &str) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(&(workspace_id.to_owned(), user_id.to_owned()));
        }
    }
}

/// Records that the member acted now, unless this process did so less than a minute ago.
/// Never fails the caller: a lost write only makes `last_active` older.
pub async fn record(state: &AuthState, workspace_id: &str, user_id: &str) {
    if workspace_id.is_empty() || user_id.is_empty() {
        return;
    }
    if !state.activity.due(workspace_id, user_id, Instant::now()) {
        return;
    }
    if let Err(e) = activity::touch(&state.db, workspace_id, user_id, super::now()).await {
        state.activity.forget(workspace_id, user_id);
        tracing::warn!(error = %e, workspace_id, user_id, "could not record member activity");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_per_member_per_minute() {
        let t = ActivityThrottle::default();
        let start = Instant::now();
        assert!(t.due("w", "u", start));
        assert!(!t.due("w", "u", start + Duration::from_secs(59)));
        assert!(t.due("w", "other", start));
        assert!(t.due("w2", "u", start));
        assert!(t.due("w", "u", start + RECORD_EVERY));
        t.forget("w", "u");
        assert!(t.due("w", "u", start + RECORD_EVERY));
    }
}
