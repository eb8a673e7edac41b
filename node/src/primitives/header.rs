//! The 80-byte block header, and `Height`.

use std::fmt;

use super::encode::{Decode, DecodeError, Encode, Reader};
use super::hash::{BlockHash, MerkleRoot, Midstate, sha256d};
use super::target::CompactTarget;

/// A block's distance from genesis (genesis is height 0).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Height(u32);

impl Height {
    pub const GENESIS: Self = Self(0);

    pub const fn new(height: u32) -> Self {
        Self(height)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The next height; a chain of 2^32 blocks is beyond any use of this node.
    pub fn next(self) -> Self {
        Self(self.0.checked_add(1).expect("height overflow"))
    }

    /// The previous height, or `None` at genesis.
    pub fn prev(self) -> Option<Self> {
        self.0.checked_sub(1).map(Self)
    }

    /// How many blocks `self` is above `earlier`, or `None` if it is below.
    pub fn blocks_since(self, earlier: Self) -> Option<u32> {
        self.0.checked_sub(earlier.0)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The part of a block that proof of work covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    pub version: u32,
    pub prev_blockhash: BlockHash,
    pub merkle_root: MerkleRoot,
    /// Seconds since the Unix epoch, as the miner claims it.
    pub time: u32,
    pub bits: CompactTarget,
    pub nonce: u32,
}

impl BlockHeader {
    /// The encoded size: always 80 bytes.
    pub const SIZE: usize = 80;

    /// The 80 bytes that are hashed.
    pub fn to_bytes(&self) -> [u8; 80] {
        let mut out = [0u8; 80];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(self.prev_blockhash.as_bytes());
        out[36..68].copy_from_slice(self.merkle_root.as_bytes());
        out[68..72].copy_from_slice(&self.time.to_le_bytes());
        out[72..76].copy_from_slice(&self.bits.to_consensus().to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_byte_array(sha256d(&self.to_bytes()))
    }

    /// The SHA-256 midstate of the first 64 bytes, for miners that walk the nonce.
    pub fn midstate(&self) -> Midstate {
        Midstate::new(&self.to_bytes())
    }
}

/// Layout (80 bytes): version u32 | prev_blockhash [32] | merkle_root [32] | time u32 |
/// bits u32 | nonce u32; integers little-endian.
impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
    fn encoded_len(&self) -> usize {
        Self::SIZE
    }
}

impl Decode for BlockHeader {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            version: reader.u32()?,
            prev_blockhash: BlockHash::decode_from(reader)?,
            merkle_root: MerkleRoot::decode_from(reader)?,
            time: reader.u32()?,
            bits: CompactTarget::decode_from(reader)?,
            nonce: reader.u32()?,
        })
    }
}
