//! Primitives: the data types of the chain and their one canonical byte encoding.
//!
//! A newtype per meaning (`BlockHash` is not a `Txid`, an `Amount` cannot exceed the
//! supply). This module knows how things are *shaped* and *hashed*; whether they are
//! *valid* is for `consensus`. No I/O, no clock, no global state.

/// Serde for a type that is text in JSON: written with `Display`, read with `FromStr`.
macro_rules! serde_as_text {
    ($name:ty) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Hex text (`Debug`, `Display`, `FromStr`, serde) and the fixed-size encoding of a
/// newtype over `[u8; $len]`; `$map_error` maps a `hex::FromHexError` to its parse error
/// `$error`. The declaring macros (`hash_newtype!`, `bytes_newtype!`) add the rest.
macro_rules! hex_bytes_newtype {
    ($name:ident, $len:literal, $error:ty, $map_error:expr) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(s, &mut bytes).map_err($map_error)?;
                Ok(Self(bytes))
            }
        }

        serde_as_text!($name);

        impl $crate::primitives::encode::Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
            fn encoded_len(&self) -> usize {
                $len
            }
        }

        impl $crate::primitives::encode::Decode for $name {
            fn decode_from(
                reader: &mut $crate::primitives::encode::Reader<'_>,
            ) -> Result<Self, $crate::primitives::encode::DecodeError> {
                reader.array().map(Self)
            }
        }
    };
}

pub mod address;
pub mod amount;
pub mod block;
pub mod encode;
pub mod hash;
pub mod header;
pub mod keys;
pub mod merkle;
pub mod target;
pub mod transaction;

pub use address::{Address, AddressError, PubkeyHash};
pub use amount::{Amount, AmountError};
pub use block::Block;
pub use encode::{Decode, DecodeError, Encode, Reader, decode, encode};
pub use hash::{BlockHash, MerkleRoot, Midstate, Txid, Wtxid, hash160, sha256d};
pub use header::{BlockHeader, Height};
pub use keys::{PrivateKey, PublicKeyBytes, SignatureBytes, SignatureError};
pub use target::{CompactTarget, CompactTargetError, Target, Work};
pub use transaction::{IdentifiedTx, OutPoint, Transaction, TxIn, TxOut, Witness};
