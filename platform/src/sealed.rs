//! Secrets we must read back (a webhook signing secret is used to sign, so it cannot be
//! hashed) are stored sealed: ChaCha20-Poly1305 under a key derived from the configured data
//! key, a fresh random nonce each time, and the owning row's id as associated data so a sealed
//! value copied onto another row does not open.

use crate::Secret;
use ring::{
    aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    hkdf,
    rand::{SecureRandom, SystemRandom},
};

/// Version tag of the stored form, so the scheme can change without guessing.
const PREFIX: &str = "v1:";

/// Seals and opens values with one data key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

/// A sealed value did not open: wrong data key, or the value or its row id was altered.
#[derive(Debug, thiserror::Error)]
#[error("sealed value does not open with this data key")]
pub struct Unsealable;

impl Sealer {
    /// A sealer whose key is derived from `data_key` (any length; HKDF spreads it).
    pub fn new(data_key: &Secret) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"crm sealed values")
            .extract(data_key.expose().as_bytes());
        let okm = prk
            .expand(&[b"chacha20-poly1305 v1"], &CHACHA20_POLY1305)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            rng: SystemRandom::new(),
        }
    }

    /// `plain` sealed for the row `owner`, as text fit for a column.
    pub fn seal(&self, plain: &str, owner: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the operating system's random source is available");
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut data,
            )
            .expect("a value this size always seals");
        let mut out = String::with_capacity(PREFIX.len() + 2 * (NONCE_LEN + data.len()));
        out.push_str(PREFIX);
        out.push_str(&hex::encode(nonce));
        out.push_str(&hex::encode(data));
        out
    }

    /// The value `sealed` holds, if it was sealed by this key for the row `owner`.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<Secret, Unsealable> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Unsealable)?;
        if bytes.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut data)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: &str) -> Sealer {
        Sealer::new(&Secret::new(key))
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_row() {
        let s = sealer("k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1");
        let sealed = s.seal("whsec_abc", "client-1");
        assert!(!sealed.contains("whsec"), "{sealed}");
        assert_eq!(s.open(&sealed, "client-1").unwrap().expose(), "whsec_abc");
        assert!(s.open(&sealed, "client-2").is_err(), "another row");
        assert!(
            sealer("k2-k2-k2-k2-k2-k2-k2-k2-k2-k2-k2-k2")
                .open(&sealed, "client-1")
                .is_err()
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(
            s.open(std::str::from_utf8(&tampered).unwrap(), "client-1")
                .is_err()
        );
        assert!(s.open("v1:00", "client-1").is_err());
        assert!(s.open("plain", "client-1").is_err());
    }

    #[test]
    fn sealing_twice_gives_different_text() {
        let s = sealer("k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1");
        assert_ne!(s.seal("same", "row"), s.seal("same", "row"));
    }
}
