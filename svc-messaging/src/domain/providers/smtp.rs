//! Email over SMTP (lettre): STARTTLS, implicit TLS or plain (a local relay), with optional
//! credentials. The job id becomes the Message-ID, which is the provider's id we keep.

use super::{Outgoing, Provider, SendError};
use crm_platform::Secret;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// SMTP settings (`CRM_MESSAGING__SMTP__HOST`...).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub host: String,
    /// 0: the default of `tls` (587 for STARTTLS, 465 for TLS, 25 for none).
    pub port: u16,
    /// `starttls` (default), `tls`, or `none` (a relay on a trusted network only).
    pub tls: String,
    /// Empty: no authentication.
    pub username: String,
    pub password: Secret,
    /// The sender, e.g. `CRM <no-reply@example.com>`.
    pub from: String,
    /// Longest a send may take.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 0,
            tls: "starttls".into(),
            username: String::new(),
            password: Secret::default(),
            from: String::new(),
            timeout_secs: 30,
        }
    }
}

/// Sends email through one SMTP server.
pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpProvider {
    /// A provider for `config`; a missing or malformed setting is an error naming it.
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        if config.host.is_empty() {
            return Err("messaging.smtp.host is required with the smtp provider (CRM_MESSAGING__SMTP__HOST)".into());
        }
        let from: Mailbox = config.from.parse().map_err(|_| {
            format!(
                "messaging.smtp.from is '{}', not an address: set CRM_MESSAGING__SMTP__FROM to e.g. 'CRM <no-reply@example.com>'",
                config.from
            )
        })?;
        let host = config.host.as_str();
        let tls_error = |e: lettre::transport::smtp::Error| {
            format!("messaging.smtp: cannot set up TLS for '{host}': {e}")
        };
        let mut builder = match config.tls.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
            "starttls" | "" => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
            }
            other => {
                return Err(format!(
                    "messaging.smtp.tls is '{other}': use 'starttls', 'tls' or 'none' (CRM_MESSAGING__SMTP__TLS)"
                ));
            }
        };
        if config.port != 0 {
            builder = builder.port(config.port);
        }
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.expose().to_owned(),
            ));
        }
        let transport = builder
            .timeout(Some(Duration::from_secs(config.timeout_secs.max(1))))
            .build();
        Ok(Self { transport, from })
    }
}

#[tonic::async_trait]
impl Provider for SmtpProvider {
    async fn send(&self, message: &Outgoing<'_>) -> Result<String, SendError> {
        let Outgoing::Email {
            job_id,
            to,
            subject,
            html,
        } = message
        else {
            return Err(SendError::Permanent {
                reason: "the SMTP provider sends email only".into(),
            });
        };
        let to: Mailbox = to.parse().map_err(|_| SendError::Permanent {
            reason: format!("'{to}' is not an email address"),
        })?;
        let message_id = format!("<{job_id}@{}>", self.from.email.domain());
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(*subject)
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_HTML)
            .body(html.to_string())
            .map_err(|e| SendError::Permanent {
                reason: format!("the email could not be built: {e}"),
            })?;
        match self.transport.send(email).await {
            Ok(_) => Ok(message_id),
            Err(e) if e.is_permanent() => Err(SendError::Permanent {
                reason: format!("the SMTP server refused the email: {e}"),
            }),
            Err(e) => Err(SendError::Retry {
                reason: format!("SMTP: {e}"),
                after: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(tls: &str) -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            tls: tls.into(),
            from: "CRM <no-reply@example.com>".into(),
            ..SmtpConfig::default()
        }
    }

    #[test]
    fn every_tls_mode_builds_and_bad_settings_are_named() {
        for tls in ["starttls", "tls", "none"] {
            assert!(SmtpProvider::new(&config(tls)).is_ok(), "{tls}");
        }
        let err = SmtpProvider::new(&config("ssl")).err().unwrap();
        assert!(err.contains("CRM_MESSAGING__SMTP__TLS"), "{err}");
        let mut c = config("starttls");
        c.from = "nobody".into();
        assert!(SmtpProvider::new(&c).err().unwrap().contains("SMTP__FROM"));
        c.host.clear();
        assert!(SmtpProvider::new(&c).err().unwrap().contains("SMTP__HOST"));
    }
}
