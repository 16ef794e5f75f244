//! Tokens and signatures of incoming hooks. A token is the credential of the public URL: it
//! is shown once and stored as its SHA-256, which is what calls are looked up by. A signing
//! secret (optional) keys a hex HMAC-SHA256 of the raw body that the sender puts in the
//! hook's signature header (seed 002's `hash_hmac('sha256', $payload, $secret)`).

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked ones are recognizable.
const TOKEN_PREFIX: &str = "iwh_";
/// Characters of the token kept to tell hooks apart in lists.
const SHOWN_PREFIX_CHARS: usize = 12;
/// The header a signature is read from unless the hook names another.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Webhook-Signature";

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// A fresh token: `iwh_` + 48 hex characters (192 random bits).
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex(24))
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The part of a token shown in lists.
pub fn token_prefix(token: &str) -> String {
    token.chars().take(SHOWN_PREFIX_CHARS).collect()
}

/// A fresh signing secret: 64 hex characters, used as the HMAC key as written.
pub fn new_signing_secret() -> String {
    random_hex(32)
}

/// Why a call's signature was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
}

/// Checks `header_value` (hex HMAC-SHA256 of `body` keyed by `secret`, optionally written
/// `sha256=<hex>`) in constant time.
pub fn verify(secret: &str, body: &[u8], header_value: Option<&str>) -> Result<(), SignatureError> {
    let value = header_value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing)?;
    let hex_part = value.strip_prefix("sha256=").unwrap_or(value);
    let given = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn accepts_the_hex_hmac_of_the_body_bare_or_prefixed() {
        let body = br#"{"email":"a@example.com"}"#;
        let good = sign("s3cret", body);
        assert_eq!(verify("s3cret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify("s3cret", body, Some(&format!("sha256={good}"))),
            Ok(())
        );
        assert_eq!(
            verify("other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("s3cret", b"{}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("s3cret", body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify("s3cret", body, Some("zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn tokens_are_random_and_stored_as_their_hash() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("iwh_") && a.len() == 52);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_prefix(&a), a[..12]);
    }
}
