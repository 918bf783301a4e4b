//! Sealing values with AES-256-GCM. Private to the store: no other layer can call it.
//!
//! A sealed value is `[format: 1 byte][key version: u32 LE][nonce: 12 bytes][ciphertext+tag]`.
//! The nonce is random per value (never a counter: a file restored from backup would
//! replay a counter). The caller binds associated data (tenant, table, key, key version),
//! so a value copied to another place fails to open.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use std::fmt;
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

/// A 256-bit key, wiped from memory when dropped. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let key = Key::<Aes256Gcm>::generate();
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(key.as_slice());
        Self(bytes)
    }

    /// From exactly 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// From 64 hexadecimal characters (surrounding white space ignored).
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut_slice()).ok()?;
        Some(Self(bytes))
    }

    /// The key as 64 hexadecimal characters (for writing a key file).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key derived from this one for `purpose` (HMAC-SHA256): stable for the same key
    /// and purpose, unrelated to it otherwise. Dev mode derives its tenant and admin keys
    /// from the dev master key this way, so they survive a restart without being stored.
    pub fn derive(&self, purpose: &str) -> SecretKey {
        use hmac::{Mac, SimpleHmac};
        let mut mac = <SimpleHmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&mac.finalize().into_bytes());
        Self(bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A random 64-bit id from the operating system's generator (outbox action ids).
pub(super) fn random_u64() -> u64 {
    let key = SecretKey::generate();
    let b = key.bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Why a sealed value did not open.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OpenError {
    /// Too short, or an unknown format byte.
    Malformed,
    /// Authentication failed: wrong key, tampered bytes, or the value was moved.
    Rejected,
}

/// Seals `plain` under `key`; `aad` must be given again to open it.
pub(super) fn seal(key: &SecretKey, version: u32, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce = Nonce::generate();
    let ct = key
        .cipher()
        .encrypt(&nonce, Payload { msg: plain, aad })
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(HEADER + ct.len());
    out.push(FORMAT);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(nonce.as_slice());
    out.extend_from_slice(&ct);
    out
}

/// The key version a sealed value was written under.
pub(super) fn version_of(sealed: &[u8]) -> Result<u32, OpenError> {
    if sealed.len() < HEADER + 16 || sealed[0] != FORMAT {
        return Err(OpenError::Malformed);
    }
    Ok(u32::from_le_bytes([
        sealed[1], sealed[2], sealed[3], sealed[4],
    ]))
}

/// Opens a value sealed by [`seal`] with the same key and associated data.
pub(super) fn open(
    key: &SecretKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    version_of(sealed)?;
    let nonce = Nonce::try_from(&sealed[5..HEADER]).map_err(|_| OpenError::Malformed)?;
    key.cipher()
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed[HEADER..],
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenError::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_tampering_fails() {
        let key = SecretKey::generate();
        let sealed = seal(&key, 7, b"aad", b"450k in Plano");
        assert_eq!(version_of(&sealed), Ok(7));
        assert_eq!(
            open(&key, b"aad", &sealed).unwrap().as_slice(),
            b"450k in Plano"
        );
        assert!(!sealed.windows(4).any(|w| w == b"450k"));
        assert_eq!(open(&key, b"other", &sealed), Err(OpenError::Rejected));
        assert_eq!(
            open(&SecretKey::generate(), b"aad", &sealed),
            Err(OpenError::Rejected)
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, b"aad", &flipped), Err(OpenError::Rejected));
        assert_eq!(open(&key, b"aad", &sealed[..10]), Err(OpenError::Malformed));
        // Same plaintext twice: different nonces, different bytes.
        assert_ne!(seal(&key, 7, b"aad", b"x"), seal(&key, 7, b"aad", b"x"));
    }

    #[test]
    fn hex_round_trip_and_debug_hides_the_key() {
        let key = SecretKey::generate();
        let again = SecretKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(key.bytes(), again.bytes());
        assert!(SecretKey::from_hex("abc").is_none());
        assert_eq!(format!("{key:?}"), "SecretKey(..)");
    }
}
