//! Where messages go out: one [`Provider`] trait, implemented by the `log` provider (the
//! embedded stack's default: sends succeed and are logged without their content), SMTP
//! (lettre) for email and a Twilio-compatible HTTP API for SMS. Which one serves each channel
//! is configuration ([`ProviderSettings`]).

pub mod log;
pub mod smtp;
pub mod twilio;

use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

/// A message to send, as the provider needs it.
#[derive(Debug)]
pub enum Outgoing<'a> {
    Sms {
        job_id: &'a str,
        to: &'a str,
        body: &'a str,
    },
    Email {
        job_id: &'a str,
        to: &'a str,
        subject: &'a str,
        html: &'a str,
    },
}

impl Outgoing<'_> {
    /// The job the message belongs to.
    pub fn job_id(&self) -> &str {
        match self {
            Self::Sms { job_id, .. } | Self::Email { job_id, .. } => job_id,
        }
    }
}

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again (network trouble, 5xx, 429); `after` is what the provider asked for.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The provider refused the message for good (invalid number, rejected recipient).
    Permanent { reason: String },
}

/// Sends messages of one channel.
#[tonic::async_trait]
pub trait Provider: Send + Sync {
    /// Hands the message over; returns the provider's id for it.
    async fn send(&self, message: &Outgoing<'_>) -> Result<String, SendError>;
}

/// Which provider each channel uses, and their settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderSettings {
    /// `log` (default) or `twilio`.
    pub sms_provider: String,
    /// `log` (default) or `smtp`.
    pub email_provider: String,
    pub twilio: twilio::TwilioConfig,
    pub smtp: smtp::SmtpConfig,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            sms_provider: "log".into(),
            email_provider: "log".into(),
            twilio: twilio::TwilioConfig::default(),
            smtp: smtp::SmtpConfig::default(),
        }
    }
}

/// The provider of each channel.
#[derive(Clone)]
pub struct Providers {
    pub sms: Arc<dyn Provider>,
    pub email: Arc<dyn Provider>,
}

impl Providers {
    /// Builds the configured providers; an unknown name or a missing setting is an error
    /// naming it.
    pub fn from_settings(settings: &ProviderSettings) -> Result<Self, String> {
        let sms: Arc<dyn Provider> = match settings.sms_provider.as_str() {
            "" | "log" => Arc::new(log::LogProvider),
            "twilio" => Arc::new(twilio::TwilioProvider::new(&settings.twilio)?),
            other => {
                return Err(format!(
                    "messaging.sms_provider is '{other}': use 'log' or 'twilio' (CRM_MESSAGING__SMS_PROVIDER)"
                ));
            }
        };
        let email: Arc<dyn Provider> = match settings.email_provider.as_str() {
            "" | "log" => Arc::new(log::LogProvider),
            "smtp" => Arc::new(smtp::SmtpProvider::new(&settings.smtp)?),
            other => {
                return Err(format!(
                    "messaging.email_provider is '{other}': use 'log' or 'smtp' (CRM_MESSAGING__EMAIL_PROVIDER)"
                ));
            }
        };
        Ok(Self { sms, email })
    }

    /// The provider of `channel` ("sms" or "email").
    pub fn for_channel(&self, channel: &str) -> &dyn Provider {
        if channel == "sms" {
            self.sms.as_ref()
        } else {
            self.email.as_ref()
        }
    }
}
