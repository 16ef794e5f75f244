//! SMS over a Twilio-compatible HTTP API: a form POST to
//! `{base_url}/2010-04-01/Accounts/{sid}/Messages.json` with basic auth. 2xx answers carry
//! the message `sid`; errors carry `{code, message}`. 429 and 5xx are retried (honouring
//! `Retry-After`), other 4xx are final. [`signature`] verifies Twilio's status callbacks.

use super::{Outgoing, Provider, SendError};
use base64::{Engine, engine::general_purpose::STANDARD};
use crm_platform::Secret;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Twilio settings (`CRM_MESSAGING__TWILIO__ACCOUNT_SID`...).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioConfig {
    /// The API's origin; another value points at a compatible API (or a test server).
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    /// The sending number (E.164).
    pub from: String,
    /// Where Twilio posts delivery status updates; empty for none.
    pub status_callback_url: String,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: Secret::default(),
            from: String::new(),
            status_callback_url: String::new(),
        }
    }
}

/// Sends SMS through a Twilio-compatible API.
pub struct TwilioProvider {
    http: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
    status_callback_url: String,
}

impl TwilioProvider {
    /// A provider for `config`; a missing setting is an error naming it.
    pub fn new(config: &TwilioConfig) -> Result<Self, String> {
        for (value, name) in [
            (config.account_sid.as_str(), "ACCOUNT_SID"),
            (config.auth_token.expose(), "AUTH_TOKEN"),
            (config.from.as_str(), "FROM"),
        ] {
            if value.is_empty() {
                return Err(format!(
                    "CRM_MESSAGING__TWILIO__{name} is required with the twilio provider"
                ));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("messaging.twilio: cannot build an HTTP client: {e}"))?;
        Ok(Self {
            http,
            messages_url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                config.base_url.trim_end_matches('/'),
                config.account_sid
            ),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            from: config.from.clone(),
            status_callback_url: config.status_callback_url.clone(),
        })
    }
}

/// Twilio's answer to a message create, successful or not.
#[derive(Deserialize, Default)]
struct Answer {
    sid: Option<String>,
    code: Option<i64>,
    message: Option<String>,
}

/// `Retry-After` in seconds (Twilio sends seconds), capped at an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

#[tonic::async_trait]
impl Provider for TwilioProvider {
    async fn send(&self, message: &Outgoing<'_>) -> Result<String, SendError> {
        let Outgoing::Sms { to, body, .. } = message else {
            return Err(SendError::Permanent {
                reason: "the Twilio provider sends SMS only".into(),
            });
        };
        let mut form = vec![("To", *to), ("From", self.from.as_str()), ("Body", *body)];
        if !self.status_callback_url.is_empty() {
            form.push(("StatusCallback", self.status_callback_url.as_str()));
        }
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::Retry {
                reason: format!("Twilio unreachable: {e}"),
                after: None,
            })?;
        let status = response.status();
        let after = retry_after(response.headers());
        let answer: Answer = response.json().await.unwrap_or_default();
        if status.is_success() {
            return answer.sid.ok_or_else(|| SendError::Retry {
                reason: format!("Twilio answered {status} without a message sid"),
                after: None,
            });
        }
        let reason = match (answer.code, answer.message) {
            (Some(code), Some(message)) => format!("Twilio error {code}: {message}"),
            (None, Some(message)) => format!("Twilio answered {status}: {message}"),
            _ => format!("Twilio answered {status}"),
        };
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Retry { reason, after })
        } else {
            Err(SendError::Permanent { reason })
        }
    }
}

fn signing_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the
/// auth token, over the full URL followed by each POST parameter's name and value, sorted by
/// name.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(signing_mac(auth_token, url, params).finalize().into_bytes())
}

/// True when `header` is the signature of a callback to `url` with `params`, compared in
/// constant time.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    signing_mac(auth_token, url, params)
        .verify_slice(&given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Twilio's "Webhooks security" page.
    #[test]
    fn signature_matches_twilios_published_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = signature("12345", url, &params);
        assert_eq!(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
        assert!(verify_signature("12345", url, &params, &sig));
        assert!(!verify_signature("54321", url, &params, &sig));
    }
}
