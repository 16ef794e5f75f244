//! The retention sweep: payloads (stored events) and attempts are kept for the configured
//! number of days, then really deleted, with the finished deliveries that pointed at them.

use crate::store::retention;
use chrono::Utc;
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long what was delivered is kept, and how often the sweep runs.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Days events, attempts and finished deliveries are kept; 0 keeps them forever.
    pub days: u32,
    /// Pause between sweeps.
    pub every: Duration,
}

/// Sweeps now and then every `retention.every` until `shutdown`.
pub async fn run(db: DatabaseConnection, retention: Retention, shutdown: CancellationToken) {
    if retention.days == 0 {
        return;
    }
    loop {
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention.days));
        match retention::sweep_across_workspaces(&db, cutoff).await {
            Ok(swept) => tracing::info!(
                attempts = swept.attempts,
                deliveries = swept.deliveries,
                events = swept.events,
                "webhook retention sweep"
            ),
            Err(e) => tracing::warn!(error = %e, "webhook retention sweep failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(retention.every) => {}
        }
    }
}
