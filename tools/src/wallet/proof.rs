//! Checks that a confirmed transaction is in a block, without trusting the node's word for it
//! (simplified payment verification): the wallet hashes the transaction bytes itself, follows
//! the merkle branch the node sent to a root, and compares it with the merkle root of a header
//! whose hash is the claimed block hash and whose proof of work meets its own bits.
//!
//! It does not check that the header is on the heaviest chain (that needs the whole header
//! chain); it proves the node did not invent the transaction's inclusion.

use chaincore::primitives::merkle::root_from_branch;
use chaincore::primitives::{BlockHash, BlockHeader, MerkleRoot, Transaction, decode};

/// What the node sent for one transaction: its bytes, its merkle proof, and the block's header.
#[derive(Clone, Debug)]
pub struct InclusionClaim {
    pub txid: String,
    pub tx_hex: String,
    pub block_hash: String,
    pub position: usize,
    pub branch: Vec<String>,
    pub header_hex: String,
}

/// Why an inclusion claim does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the transaction bytes do not decode: {0}")]
    BadTransaction(String),
    #[error("the transaction bytes hash to {actual}, not {claimed}")]
    WrongTransaction { claimed: String, actual: String },
    #[error("the header does not decode: {0}")]
    BadHeader(String),
    #[error("the header hashes to {actual}, not to the block hash {claimed}")]
    WrongHeader { claimed: String, actual: String },
    #[error("the header's hash does not meet its own target")]
    NoProofOfWork,
    #[error("branch entry {0:?} is not a hash")]
    BadBranch(String),
    #[error("the merkle branch leads to {computed}, but the header commits to {committed}")]
    RootMismatch { computed: String, committed: String },
}

impl InclusionClaim {
    /// Checks the claim; `Ok` means the transaction is committed to by a header with valid
    /// proof of work whose hash is `block_hash`.
    pub fn verify(&self) -> Result<(), ProofError> {
        let tx_bytes =
            hex::decode(&self.tx_hex).map_err(|e| ProofError::BadTransaction(e.to_string()))?;
        let tx: Transaction =
            decode(&tx_bytes).map_err(|e| ProofError::BadTransaction(e.to_string()))?;
        if tx.txid().to_string() != self.txid {
            return Err(ProofError::WrongTransaction {
                claimed: self.txid.clone(),
                actual: tx.txid().to_string(),
            });
        }
        let header_bytes =
            hex::decode(&self.header_hex).map_err(|e| ProofError::BadHeader(e.to_string()))?;
        let header: BlockHeader =
            decode(&header_bytes).map_err(|e| ProofError::BadHeader(e.to_string()))?;
        let hash: BlockHash = header.block_hash();
        if hash.to_string() != self.block_hash {
            return Err(ProofError::WrongHeader {
                claimed: self.block_hash.clone(),
                actual: hash.to_string(),
            });
        }
        let meets = header
            .bits
            .to_target()
            .is_ok_and(|target| target.is_met_by(&hash));
        if !meets {
            return Err(ProofError::NoProofOfWork);
        }
        let branch = self
            .branch
            .iter()
            .map(|h| {
                h.parse::<MerkleRoot>()
                    .map_err(|_| ProofError::BadBranch(h.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let computed = root_from_branch(&tx.wtxid(), self.position, &branch);
        if computed != header.merkle_root {
            return Err(ProofError::RootMismatch {
                computed: computed.to_string(),
                committed: header.merkle_root.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chaincore::consensus::params::DEV;
    use chaincore::primitives::merkle::merkle_branch;
    use chaincore::primitives::{Amount, OutPoint, PrivateKey, TxOut, encode};
    use chaincore::testkit::{TestChain, key, spend};

    use super::*;

    /// A claim for transaction `index` of a real mined block with two payments.
    fn claim(index: usize) -> InclusionClaim {
        let (alice, bob) = (key(1), key(2));
        let (mut chain, coin) = TestChain::with_mature_coin(&DEV, &alice.address());
        let half = Amount::from_units(chain.utxos()[&coin].output.value.units() / 2).unwrap();
        let pay = |to: &PrivateKey| TxOut::to_address(half, &to.address());
        let first = spend(
            &[coin],
            &alice,
            vec![pay(&bob), pay(&alice)],
            &DEV.genesis_hash(),
        );
        let change = OutPoint::new(first.txid(), 1);
        let second = spend(&[change], &alice, vec![pay(&bob)], &DEV.genesis_hash());
        let block = chain
            .mine(&key(3).address(), vec![first, second])
            .block()
            .clone();
        let tx = &block.transactions[index];
        InclusionClaim {
            txid: tx.txid().to_string(),
            tx_hex: hex::encode(encode(tx)),
            block_hash: block.header.block_hash().to_string(),
            position: index,
            branch: merkle_branch(&block.wtxids(), index)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect(),
            header_hex: hex::encode(block.header.to_bytes()),
        }
    }

    #[test]
    fn a_true_claim_verifies() {
        for index in 0..3 {
            assert_eq!(claim(index).verify(), Ok(()));
        }
    }

    #[test]
    fn every_tampered_part_fails_with_its_reason() {
        let good = claim(1);
        let mut flipped = good.branch.clone();
        flipped[0] = format!("{}0", &flipped[0][..63]);
        type IsExpected = fn(&ProofError) -> bool;
        let cases: Vec<(InclusionClaim, IsExpected)> = vec![
            (
                InclusionClaim {
                    branch: flipped,
                    ..good.clone()
                },
                |e| matches!(e, ProofError::RootMismatch { .. }),
            ),
            (
                InclusionClaim {
                    position: 2,
                    ..good.clone()
                },
                |e| matches!(e, ProofError::RootMismatch { .. }),
            ),
            (
                InclusionClaim {
                    txid: claim(2).txid,
                    ..good.clone()
                },
                |e| matches!(e, ProofError::WrongTransaction { .. }),
            ),
            (
                InclusionClaim {
                    block_hash: "00".repeat(32),
                    ..good.clone()
                },
                |e| matches!(e, ProofError::WrongHeader { .. }),
            ),
            (
                InclusionClaim {
                    branch: vec!["xyz".into()],
                    ..good.clone()
                },
                |e| matches!(e, ProofError::BadBranch(_)),
            ),
            (
                InclusionClaim {
                    header_hex: "00".into(),
                    ..good.clone()
                },
                |e| matches!(e, ProofError::BadHeader(_)),
            ),
        ];
        for (bad, expected) in cases {
            let error = bad.verify().unwrap_err();
            assert!(expected(&error), "{error}");
        }
    }
}
