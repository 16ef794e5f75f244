//! The `log` provider: every send succeeds and is logged with its job and channel, never its
//! recipient or content, so `cargo run` works with nothing configured.

use super::{Outgoing, Provider, SendError};

/// Logs instead of sending.
pub struct LogProvider;

#[tonic::async_trait]
impl Provider for LogProvider {
    async fn send(&self, message: &Outgoing<'_>) -> Result<String, SendError> {
        let channel = match message {
            Outgoing::Sms { .. } => "sms",
            Outgoing::Email { .. } => "email",
        };
        tracing::info!(
            job_id = message.job_id(),
            channel,
            "message sent (log provider)"
        );
        Ok(format!("log-{}", message.job_id()))
    }
}
