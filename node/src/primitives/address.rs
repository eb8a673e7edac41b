//! Bitcoin P2PKH addresses: `base58check(0x00 ‖ RIPEMD160(SHA256(compressed public key)))`.
//!
//! Every network uses version byte 0x00, so `1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa` is a valid
//! address everywhere; signatures commit to the network's genesis instead (see
//! `consensus::sighash`), so a payment cannot be replayed on another network.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::encode::{Decode, DecodeError, Encode, Reader};
use super::keys::PublicKeyBytes;

/// The 20-byte hash160 of a compressed public key: what an output pays to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PubkeyHash([u8; 20]);

impl PubkeyHash {
    pub const fn from_byte_array(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    pub const fn to_byte_array(self) -> [u8; 20] {
        self.0
    }
}

impl fmt::Debug for PubkeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PubkeyHash({})", hex::encode(self.0))
    }
}

/// Layout: the 20 bytes as-is.
impl Encode for PubkeyHash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        20
    }
}

impl Decode for PubkeyHash {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array().map(Self)
    }
}

/// A pay-to-public-key-hash address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(PubkeyHash);

/// Why a string is not a P2PKH address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error("not base58: {0}")]
    Base58(String),
    #[error("base58check checksum does not match")]
    BadChecksum,
    #[error("version byte {0:#04x} is not P2PKH (0x00)")]
    WrongVersion(u8),
    #[error("too short to be an address")]
    TooShort,
    #[error("payload is {0} bytes, expected 21")]
    WrongLength(usize),
}

impl Address {
    /// The P2PKH version byte.
    pub const VERSION: u8 = 0x00;

    pub const fn from_pubkey_hash(hash: PubkeyHash) -> Self {
        Self(hash)
    }

    pub fn from_public_key(key: &PublicKeyBytes) -> Self {
        Self(key.pubkey_hash())
    }

    pub const fn pubkey_hash(&self) -> PubkeyHash {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut payload = [0u8; 21];
        payload[0] = Self::VERSION;
        payload[1..].copy_from_slice(&self.0.0);
        f.write_str(&bs58::encode(payload).with_check().into_string())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let payload = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|e| match e {
                bs58::decode::Error::InvalidChecksum { .. } => AddressError::BadChecksum,
                bs58::decode::Error::NoChecksum => AddressError::TooShort,
                other => AddressError::Base58(other.to_string()),
            })?;
        let [version, hash @ ..] = payload.as_slice() else {
            return Err(AddressError::TooShort);
        };
        if *version != Self::VERSION {
            return Err(AddressError::WrongVersion(*version));
        }
        let hash: [u8; 20] = hash
            .try_into()
            .map_err(|_| AddressError::WrongLength(payload.len()))?;
        Ok(Self(PubkeyHash(hash)))
    }
}

serde_as_text!(Address);
