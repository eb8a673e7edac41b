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
