//! The API key format, shared by svc-auth (which mints keys) and the gateway (which rejects
//! malformed ones before any I/O).
//!
//! `crm_live_<64 hex random>_<8 hex CRC32>`: the checksum covers everything before it, so a
//! mistyped or truncated key, or a random string that merely looks like a key, is refused
//! without touching a cache or a database. Only the SHA-256 of the key is ever stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of production keys.
pub const LIVE_PREFIX: &str = "crm_live_";
/// Prefix of test keys (same behaviour; lets integrators tell their keys apart).
pub const TEST_PREFIX: &str = "crm_test_";
/// Characters of the display prefix kept after the type prefix (`crm_live_abc123`).
const DISPLAY_CHARS: usize = 6;
const RANDOM_HEX: usize = 64;
const CHECKSUM_HEX: usize = 8;

/// A freshly minted key: show `full` once, store `hash` and `display_prefix`.
pub struct MintedKey {
    /// The whole key, returned to the caller exactly once.
    pub full: String,
    /// Lowercase hex SHA-256 of `full`.
    pub hash: String,
    /// What lists show, e.g. `crm_live_3f9a1c`.
    pub display_prefix: String,
}

/// Why a string is not a well-formed key.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Does not start with a known prefix.
    #[error("API key must start with crm_live_ or crm_test_")]
    Prefix,
    /// Wrong length or characters.
    #[error("API key is malformed")]
    Shape,
    /// Checksum does not match: mistyped or truncated.
    #[error("API key checksum does not match; check the key was copied whole")]
    Checksum,
}

/// Checks `prefix` is one we mint, returning the canonical form.
pub fn parse_prefix(prefix: &str) -> Option<&'static str> {
    match prefix {
        "" | LIVE_PREFIX | "crm_live" => Some(LIVE_PREFIX),
        TEST_PREFIX | "crm_test" => Some(TEST_PREFIX),
        _ => None,
    }
}

/// Mints a new key with 256 bits of randomness from the OS generator.
pub fn mint(prefix: &'static str) -> MintedKey {
    let mut random = [0u8; RANDOM_HEX / 2];
    rand::rng().fill_bytes(&mut random);
    let body = format!("{prefix}{}", hex::encode(random));
    let full = format!("{body}_{:08x}", crc32fast::hash(body.as_bytes()));
    MintedKey {
        hash: hash(&full),
        display_prefix: full[..prefix.len() + DISPLAY_CHARS].to_owned(),
        full,
    }
}

/// Validates shape and checksum with no I/O.
pub fn check(key: &str) -> Result<(), KeyFormatError> {
    let prefix_len = if key.starts_with(LIVE_PREFIX) || key.starts_with(TEST_PREFIX) {
        LIVE_PREFIX.len()
    } else {
        return Err(KeyFormatError::Prefix);
    };
    if key.len() != prefix_len + RANDOM_HEX + 1 + CHECKSUM_HEX {
        return Err(KeyFormatError::Shape);
    }
    let (body, rest) = key.split_at(prefix_len + RANDOM_HEX);
    let is_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let Some(checksum) = rest.strip_prefix('_') else {
        return Err(KeyFormatError::Shape);
    };
    if !is_hex(&body[prefix_len..]) || !is_hex(checksum) {
        return Err(KeyFormatError::Shape);
    }
    let expected = u32::from_str_radix(checksum, 16).map_err(|_| KeyFormatError::Shape)?;
    if crc32fast::hash(body.as_bytes()) != expected {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

/// Lowercase hex SHA-256 of a key: the only form in which keys are stored or looked up.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// True when a string looks like one of our keys rather than a JWT.
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with("crm_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_pass_their_own_check() {
        for prefix in [LIVE_PREFIX, TEST_PREFIX] {
            let k = mint(prefix);
            assert!(k.full.starts_with(prefix));
            assert_eq!(check(&k.full), Ok(()));
            assert_eq!(k.hash, hash(&k.full));
            assert_eq!(k.display_prefix.len(), prefix.len() + 6);
            assert!(k.full.starts_with(&k.display_prefix));
        }
        assert_ne!(mint(LIVE_PREFIX).full, mint(LIVE_PREFIX).full);
    }

    #[test]
    fn one_changed_character_fails_the_checksum() {
        let k = mint(LIVE_PREFIX).full;
        let mut chars: Vec<char> = k.chars().collect();
        chars[12] = if chars[12] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(check(&typo), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(check("sk_live_abc"), Err(KeyFormatError::Prefix));
        assert_eq!(check("crm_live_abc_123"), Err(KeyFormatError::Shape));
        let k = mint(LIVE_PREFIX).full;
        assert_eq!(check(&k[..k.len() - 1]), Err(KeyFormatError::Shape));
        assert_eq!(
            check(&k.to_uppercase().replacen("CRM_LIVE_", "crm_live_", 1)),
            Err(KeyFormatError::Shape)
        );
    }
}
