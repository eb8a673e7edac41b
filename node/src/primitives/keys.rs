//! secp256k1 keys and the raw byte forms that transactions carry.
//!
//! A transaction input carries a 33-byte compressed public key and a 64-byte compact
//! (`r ‖ s`) signature as plain bytes ([`PublicKeyBytes`], [`SignatureBytes`]): a decoder
//! must accept any bytes, and only consensus decides whether they are a valid key and a
//! valid low-S signature. [`PrivateKey`] is the wallet-side handle that signs.

use std::fmt;

use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use thiserror::Error;

use super::address::{Address, PubkeyHash};
use super::hash::hash160;

/// Declares a fixed-size byte newtype shown and parsed as hex.
macro_rules! bytes_newtype {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;
        }

        hex_bytes_newtype!($name, $len, hex::FromHexError, std::convert::identity);
    };
}

bytes_newtype!(
    /// A compressed SEC1 public key as carried by an input: `02`/`03` ‖ x. Maybe not a point.
    PublicKeyBytes,
    33
);
bytes_newtype!(
    /// A compact ECDSA signature as carried by an input: `r ‖ s`, big-endian. Maybe invalid.
    SignatureBytes,
    64
);

impl PublicKeyBytes {
    /// The hash an output must carry for this key to spend it.
    pub fn pubkey_hash(&self) -> PubkeyHash {
        PubkeyHash::from_byte_array(hash160(&self.0))
    }
}

/// Why a signature check failed; consensus maps each to its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("public key is not a valid compressed secp256k1 point")]
    InvalidPublicKey,
    #[error("signature is not a valid (r, s) pair")]
    Malformed,
    #[error("signature has a high S value (only low-S signatures are valid, BIP 62)")]
    HighS,
    #[error("signature does not verify")]
    Invalid,
}

impl SignatureBytes {
    /// Checks that this is a low-S signature by `pubkey` of the 32-byte `digest`.
    pub fn verify(&self, pubkey: &PublicKeyBytes, digest: &[u8; 32]) -> Result<(), SignatureError> {
        if !matches!(pubkey.0[0], 0x02 | 0x03) {
            return Err(SignatureError::InvalidPublicKey);
        }
        let key = VerifyingKey::from_sec1_bytes(&pubkey.0)
            .map_err(|_| SignatureError::InvalidPublicKey)?;
        let signature = Signature::from_slice(&self.0).map_err(|_| SignatureError::Malformed)?;
        if signature.normalize_s() != signature {
            return Err(SignatureError::HighS);
        }
        key.verify_prehash(digest, &signature)
            .map_err(|_| SignatureError::Invalid)
    }

    /// The same signature with `s` replaced by `n - s`: valid ECDSA, but not low-S.
    /// Exists so tests can build the malleated twin that consensus must refuse.
    ///
    /// # Panics
    /// If `self` is not a well-formed signature.
    pub fn with_high_s(&self) -> Self {
        let signature = Signature::from_slice(&self.0).expect("a well-formed signature");
        let (r, s) = signature.split_scalars();
        let twin = Signature::from_scalars(r, -s).expect("negating s keeps it non-zero");
        let mut bytes = [0u8; 64];
        bytes.copy_from_slice(&twin.to_bytes());
        Self(bytes)
    }
}

/// A secp256k1 private key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

/// 32 bytes that are not a valid secp256k1 private key (zero, or not below the group order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a valid secp256k1 private key")]
pub struct InvalidPrivateKey;

impl PrivateKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        use k256::elliptic_curve::Generate;
        Self(SigningKey::generate())
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, InvalidPrivateKey> {
        SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| InvalidPrivateKey)
    }

    /// The 32-byte secret, for an (encrypted) key file.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    pub fn public_key(&self) -> PublicKeyBytes {
        let point = self.0.verifying_key().to_sec1_point(true);
        let mut bytes = [0u8; 33];
        bytes.copy_from_slice(point.as_bytes());
        PublicKeyBytes(bytes)
    }

    pub fn address(&self) -> Address {
        Address::from_public_key(&self.public_key())
    }

    /// A deterministic (RFC 6979), low-S signature of `digest`.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> SignatureBytes {
        let signature: Signature = self
            .0
            .sign_prehash(digest)
            .expect("signing a 32-byte digest with a valid key cannot fail");
        let mut bytes = [0u8; 64];
        bytes.copy_from_slice(&signature.normalize_s().to_bytes());
        SignatureBytes(bytes)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PrivateKey {
        PrivateKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_signature_verifies_only_for_its_key_and_digest() {
        let (alice, bob) = (key(1), key(2));
        let digest = [7u8; 32];
        let sig = alice.sign_digest(&digest);
        assert_eq!(sig.verify(&alice.public_key(), &digest), Ok(()));
        assert_eq!(
            sig.verify(&bob.public_key(), &digest),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            sig.verify(&alice.public_key(), &[8u8; 32]),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn the_high_s_twin_of_a_valid_signature_is_refused() {
        let alice = key(3);
        let digest = [9u8; 32];
        let sig = alice.sign_digest(&digest);
        assert_eq!(
            sig.with_high_s().verify(&alice.public_key(), &digest),
            Err(SignatureError::HighS)
        );
    }

    #[test]
    fn garbage_keys_and_signatures_are_errors_not_panics() {
        let digest = [0u8; 32];
        let sig = key(4).sign_digest(&digest);
        assert_eq!(
            sig.verify(&PublicKeyBytes([0u8; 33]), &digest),
            Err(SignatureError::InvalidPublicKey)
        );
        let mut uncompressed_prefix = key(4).public_key();
        uncompressed_prefix.0[0] = 0x04;
        assert_eq!(
            sig.verify(&uncompressed_prefix, &digest),
            Err(SignatureError::InvalidPublicKey)
        );
        assert_eq!(
            SignatureBytes([0u8; 64]).verify(&key(4).public_key(), &digest),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn private_keys_round_trip_and_reject_zero() {
        let k = PrivateKey::generate();
        assert_eq!(
            PrivateKey::from_bytes(&k.to_bytes()).unwrap().public_key(),
            k.public_key()
        );
        assert!(PrivateKey::from_bytes(&[0u8; 32]).is_err());
        assert!(!format!("{k:?}").contains(&hex::encode(k.to_bytes())));
    }
}
