//! A block: a header and its transactions, the coinbase first.

use super::encode::{self, Decode, DecodeError, Encode, Reader};
use super::hash::{BlockHash, MerkleRoot, Wtxid};
use super::header::BlockHeader;
use super::merkle;
use super::transaction::Transaction;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub transactions: Vec<Transaction>,
}

/// The smallest transaction encoding: version, two empty counts, lock_time.
const MIN_TX_LEN: usize = 10;

impl Block {
    pub fn block_hash(&self) -> BlockHash {
        self.header.block_hash()
    }

    /// The merkle root the transactions actually have (the header may claim another).
    pub fn compute_merkle_root(&self) -> MerkleRoot {
        merkle::merkle_root(&self.wtxids())
    }

    pub fn wtxids(&self) -> Vec<Wtxid> {
        self.transactions.iter().map(Transaction::wtxid).collect()
    }

    pub fn coinbase(&self) -> Option<&Transaction> {
        self.transactions.first()
    }

    /// The serialized size in bytes, which consensus limits.
    pub fn size(&self) -> usize {
        self.encoded_len()
    }
}

/// Layout: header [80] | CompactSize n_tx | n_tx × transaction.
impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        encode::write_list(out, &self.transactions);
    }
    fn encoded_len(&self) -> usize {
        BlockHeader::SIZE + encode::list_len(&self.transactions)
    }
}

impl Decode for Block {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: BlockHeader::decode_from(reader)?,
            transactions: reader.list(MIN_TX_LEN)?,
        })
    }
}
