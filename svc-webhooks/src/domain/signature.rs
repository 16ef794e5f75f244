//! Signing a delivery, in the two schemes receivers verify:
//!
//! - Standard Webhooks (what Svix and the `standardwebhooks` libraries check): `webhook-id`,
//!   `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//!   "{id}.{timestamp}.{body}">`, keyed by the base64-decoded part of the `whsec_` secret;
//!   several signatures, space-separated, while a rotated secret is in its grace period.
//! - Seed 003's headers: `X-Webhook-Id`, `X-Webhook-Event`, `X-Webhook-Timestamp` (RFC 3339)
//!   and `X-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{body}">`, keyed
//!   by the secret text exactly as shown (`whsec_...`), which is what seed 003's sample
//!   receiver (`createHmac('sha256', secret)`) does; one `v1=` per signing secret.
//!
//! Pure functions: the caller gives the time, so the published test vector checks them.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix every signing secret carries.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
const GENERATED_BYTES: usize = 24;
/// Bounds on the key bytes of a caller's own secret.
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

/// A subscription's signing secret: its text as shown to the owner and the key it decodes to.
#[derive(Clone)]
pub struct SigningSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    /// A fresh secret: `whsec_` + base64 of 24 random bytes.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    /// A secret from its text, when it is `whsec_` + base64 of 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or("must start with 'whsec_'")?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "must be 'whsec_' followed by standard base64")?;
        if !(MIN_BYTES..=MAX_BYTES).contains(&key.len()) {
            return Err("must encode 24 to 64 bytes after 'whsec_'");
        }
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    /// The secret as shown to its owner (only ever shown at creation and rotation).
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The Standard Webhooks signature of one message: `v1,<base64>`.
pub fn standard_signature(
    secret: &SigningSecret,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        &secret.key,
        &[message_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// Seed 003's signature of one message: hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn seed_signature(secret: &SigningSecret, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    hex::encode(hmac_sha256(
        secret.text.as_bytes(),
        &[ts.as_bytes(), b".", body],
    ))
}

/// Every header that signs one delivery, in both schemes, for each secret in `secrets`
/// (the current one first, then one in its grace period).
pub fn signed_headers(
    secrets: &[SigningSecret],
    message_id: &str,
    event_type: &str,
    at: DateTime<Utc>,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let ts = at.timestamp();
    let standard: Vec<String> = secrets
        .iter()
        .map(|s| standard_signature(s, message_id, ts, body))
        .collect();
    let mut seed = format!("t={ts}");
    for s in secrets {
        seed.push_str(",v1=");
        seed.push_str(&seed_signature(s, ts, body));
    }
    vec![
        ("webhook-id", message_id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", standard.join(" ")),
        ("X-Webhook-Id", message_id.to_owned()),
        ("X-Webhook-Event", event_type.to_owned()),
        (
            "X-Webhook-Timestamp",
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        ("X-Webhook-Signature", seed),
    ]
}

/// Header names a subscription's custom headers may not use, lowercased: ours.
pub const SIGNATURE_HEADERS: [&str; 7] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-id",
    "x-webhook-event",
    "x-webhook-timestamp",
    "x-webhook-signature",
];

#[cfg(test)]
mod tests {
    use super::*;

    // The published Standard Webhooks test vector (standard-webhooks/standard-webhooks,
    // libraries' test suites).
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1614265330;
    const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let secret = SigningSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(
            standard_signature(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY.as_bytes()),
            VECTOR_SIGNATURE
        );
    }

    #[test]
    fn the_seed_signature_is_hex_hmac_of_timestamp_dot_body_keyed_by_the_secret_text() {
        let secret = SigningSecret::parse(VECTOR_SECRET).unwrap();
        let expected = hex::encode(hmac_sha256(
            VECTOR_SECRET.as_bytes(),
            &[format!("{VECTOR_TS}.{VECTOR_BODY}").as_bytes()],
        ));
        assert_eq!(
            seed_signature(&secret, VECTOR_TS, VECTOR_BODY.as_bytes()),
            expected
        );
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn every_secret_signs_during_a_grace_period() {
        let old = SigningSecret::parse(VECTOR_SECRET).unwrap();
        let new = SigningSecret::generate();
        let at = DateTime::from_timestamp(VECTOR_TS, 0).unwrap();
        let headers = signed_headers(
            &[new.clone(), old.clone()],
            VECTOR_ID,
            "webhook.test",
            at,
            VECTOR_BODY.as_bytes(),
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let standard = get("webhook-signature");
        let parts: Vec<&str> = standard.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], VECTOR_SIGNATURE);
        assert_eq!(get("webhook-timestamp"), "1614265330");
        assert_eq!(get("X-Webhook-Timestamp"), "2021-02-25T15:02:10Z");
        let seed = get("X-Webhook-Signature");
        assert!(seed.starts_with("t=1614265330,v1="), "{seed}");
        assert_eq!(seed.matches(",v1=").count(), 2);
        assert!(seed.ends_with(&seed_signature(&old, VECTOR_TS, VECTOR_BODY.as_bytes())));
    }

    #[test]
    fn generated_secrets_parse_back_and_differ() {
        let a = SigningSecret::generate();
        let b = SigningSecret::generate();
        assert!(a.text().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(a.text()).unwrap().key.len(), 24);
        assert_ne!(a.text(), b.text());
        assert!(!format!("{a:?}").contains("whsec"));
    }

    #[test]
    fn refuses_secrets_that_are_not_whsec_base64_of_24_to_64_bytes() {
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_not base64!").is_err());
        assert!(SigningSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 23]))).is_err());
        assert!(SigningSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 65]))).is_err());
        assert!(SigningSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 64]))).is_ok());
    }
}
