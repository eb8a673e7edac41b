//! Primitives: the data types of the chain and their one canonical byte encoding.
//!
//! A newtype per meaning (`BlockHash` is not a `Txid`, an `Amount` cannot exceed the
//! supply). This module knows how things are *shaped* and *hashed*; whether they are
//! *valid* is for `consensus`. No I/O, no clock, no global state.

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
