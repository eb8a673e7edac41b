//! Consensus errors: one variant per broken rule, each with a stable machine code.
//!
//! The code (`TxError::code`, `BlockError::code`) is what the API reports as `reason` and
//! metrics count by; the message says the specifics. `BlockError` also says what the failure
//! means for the block's *hash*: a body that does not match its header (a mutated block,
//! CVE-2012-2459) proves nothing against the header, and neither does a time too far ahead
//! of our own clock, so those must not mark the hash invalid.

use thiserror::Error;

use crate::primitives::{
    Amount, BlockHash, CompactTarget, CompactTargetError, Height, OutPoint, SignatureError, Txid,
};

/// Why a transaction is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxError {
    #[error("transaction has no inputs")]
    NoInputs,
    #[error("transaction has no outputs")]
    NoOutputs,
    #[error("outputs sum above the maximum supply")]
    OutputsTooLarge,
    #[error("input {0:?} is spent twice in the transaction")]
    DuplicateInput(OutPoint),
    #[error("a non-coinbase input spends the null outpoint")]
    NullInput,
    #[error("coinbase transaction outside the first position of a block")]
    UnexpectedCoinbase,
    #[error("input {0:?} spends an output that does not exist or is already spent")]
    MissingInput(OutPoint),
    #[error(
        "input {outpoint:?} spends a coinbase from height {coin_height} before maturity (spendable at {spendable_at})"
    )]
    ImmatureCoinbase {
        outpoint: OutPoint,
        coin_height: Height,
        spendable_at: Height,
    },
    #[error("input {index} is signed by a key whose hash is not the output's")]
    WrongKey { index: usize },
    #[error("input {index}: {source}")]
    BadSignature {
        index: usize,
        source: SignatureError,
    },
    #[error("outputs ({outputs}) are worth more than inputs ({inputs})")]
    OutputsExceedInputs { inputs: Amount, outputs: Amount },
    #[error("transaction is {size} bytes, above the {max} byte limit")]
    Oversized { size: usize, max: usize },
}

impl TxError {
    /// Every code [`TxError::code`] returns, for metrics that must exist before the first
    /// refusal.
    pub const CODES: [&'static str; 14] = [
        "tx-no-inputs",
        "tx-no-outputs",
        "tx-outputs-too-large",
        "tx-duplicate-input",
        "tx-null-input",
        "tx-unexpected-coinbase",
        "tx-missing-or-spent-input",
        "tx-immature-coinbase-spend",
        "tx-wrong-key",
        "tx-high-s-signature",
        "tx-invalid-public-key",
        "tx-bad-signature",
        "tx-outputs-exceed-inputs",
        "tx-oversized",
    ];

    /// A stable, machine-readable name of the broken rule.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::NoInputs => "tx-no-inputs",
            TxError::NoOutputs => "tx-no-outputs",
            TxError::OutputsTooLarge => "tx-outputs-too-large",
            TxError::DuplicateInput(_) => "tx-duplicate-input",
            TxError::NullInput => "tx-null-input",
            TxError::UnexpectedCoinbase => "tx-unexpected-coinbase",
            TxError::MissingInput(_) => "tx-missing-or-spent-input",
            TxError::ImmatureCoinbase { .. } => "tx-immature-coinbase-spend",
            TxError::WrongKey { .. } => "tx-wrong-key",
            TxError::BadSignature {
                source: SignatureError::HighS,
                ..
            } => "tx-high-s-signature",
            TxError::BadSignature {
                source: SignatureError::InvalidPublicKey,
                ..
            } => "tx-invalid-public-key",
            TxError::BadSignature { .. } => "tx-bad-signature",
            TxError::OutputsExceedInputs { .. } => "tx-outputs-exceed-inputs",
            TxError::Oversized { .. } => "tx-oversized",
        }
    }
}

/// Why a block (or its header) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    #[error("bits {0}: {1}")]
    BadCompactTarget(CompactTarget, CompactTargetError),
    #[error("target of bits {0} is easier than the pow limit")]
    TargetAboveLimit(CompactTarget),
    #[error("block hash {0} is above the target")]
    HighHash(BlockHash),
    #[error("bits {found} differ from the {expected} required at this height")]
    BadDifficultyBits {
        expected: CompactTarget,
        found: CompactTarget,
    },
    #[error("time {time} is not after the median time past {median_time_past}")]
    TimeTooOld { time: u32, median_time_past: u32 },
    #[error("time {time} is more than 2 hours ahead of the node's clock ({now})")]
    TimeTooNew { time: u32, now: u64 },
    #[error("block's parent {found} is not the expected {expected}")]
    WrongParent {
        expected: BlockHash,
        found: BlockHash,
    },
    #[error("block is {size} bytes, above the {max} byte limit")]
    Oversized { size: usize, max: usize },
    #[error("block has no transactions")]
    NoTransactions,
    #[error("first transaction is not a coinbase")]
    FirstNotCoinbase,
    #[error("transaction {0} is a second coinbase")]
    ExtraCoinbase(usize),
    #[error("coinbase commits to height {found}, not {expected}")]
    BadCoinbaseHeight { expected: Height, found: Height },
    #[error("coinbase pays {paid}, above subsidy plus fees of {allowed}")]
    CoinbaseTooLarge { paid: Amount, allowed: Amount },
    #[error("merkle root does not match the transactions")]
    BadMerkleRoot,
    #[error("transaction {0} appears twice (CVE-2012-2459 mutation)")]
    DuplicateTransaction(Txid),
    #[error("outpoint {0:?} is spent by two transactions of the block")]
    DoubleSpendInBlock(OutPoint),
    #[error("total fees pass the maximum supply")]
    FeesTooLarge,
    #[error("transaction {index} ({txid}): {source}")]
    Transaction {
        index: usize,
        txid: Txid,
        source: TxError,
    },
}

impl BlockError {
    /// Every code [`BlockError::code`] returns besides the [`TxError::CODES`] of a block's
    /// transaction, for metrics that must exist before the first refusal.
    pub const CODES: [&'static str; 17] = [
        "block-bad-compact-target",
        "block-target-above-limit",
        "block-hash-above-target",
        "block-bad-difficulty-bits",
        "block-time-too-old",
        "block-time-too-new",
        "block-wrong-parent",
        "block-oversized",
        "block-no-transactions",
        "block-first-not-coinbase",
        "block-extra-coinbase",
        "block-bad-coinbase-height",
        "block-coinbase-too-large",
        "block-bad-merkle-root",
        "block-duplicate-transaction",
        "block-double-spend",
        "block-fees-too-large",
    ];

    /// A stable, machine-readable name of the broken rule.
    pub fn code(&self) -> &'static str {
        match self {
            BlockError::BadCompactTarget(..) => "block-bad-compact-target",
            BlockError::TargetAboveLimit(_) => "block-target-above-limit",
            BlockError::HighHash(_) => "block-hash-above-target",
            BlockError::BadDifficultyBits { .. } => "block-bad-difficulty-bits",
            BlockError::TimeTooOld { .. } => "block-time-too-old",
            BlockError::TimeTooNew { .. } => "block-time-too-new",
            BlockError::WrongParent { .. } => "block-wrong-parent",
            BlockError::Oversized { .. } => "block-oversized",
            BlockError::NoTransactions => "block-no-transactions",
            BlockError::FirstNotCoinbase => "block-first-not-coinbase",
            BlockError::ExtraCoinbase(_) => "block-extra-coinbase",
            BlockError::BadCoinbaseHeight { .. } => "block-bad-coinbase-height",
            BlockError::CoinbaseTooLarge { .. } => "block-coinbase-too-large",
            BlockError::BadMerkleRoot => "block-bad-merkle-root",
            BlockError::DuplicateTransaction(_) => "block-duplicate-transaction",
            BlockError::DoubleSpendInBlock(_) => "block-double-spend",
            BlockError::FeesTooLarge => "block-fees-too-large",
            BlockError::Transaction { source, .. } => source.code(),
        }
    }

    /// Whether this failure proves the block *hash* bad forever, so that the hash (and its
    /// descendants) may be marked invalid. False when the body may simply be a mutated copy
    /// of a valid block with the same header, when only our clock disagrees, or when the
    /// block was judged against the wrong parent.
    pub fn invalidates_hash(&self) -> bool {
        !matches!(
            self,
            BlockError::BadMerkleRoot
                | BlockError::DuplicateTransaction(_)
                | BlockError::TimeTooNew { .. }
                | BlockError::WrongParent { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn outpoint() -> OutPoint {
        OutPoint::new(Txid::ZERO, 0)
    }

    /// One value of every variant (and of every signature failure, which have codes of
    /// their own): adding a variant without its code in `CODES` fails here.
    fn every_tx_error() -> Vec<TxError> {
        let signature = |source| TxError::BadSignature { index: 0, source };
        vec![
            TxError::NoInputs,
            TxError::NoOutputs,
            TxError::OutputsTooLarge,
            TxError::DuplicateInput(outpoint()),
            TxError::NullInput,
            TxError::UnexpectedCoinbase,
            TxError::MissingInput(outpoint()),
            TxError::ImmatureCoinbase {
                outpoint: outpoint(),
                coin_height: Height::GENESIS,
                spendable_at: Height::new(100),
            },
            TxError::WrongKey { index: 0 },
            signature(SignatureError::HighS),
            signature(SignatureError::InvalidPublicKey),
            signature(SignatureError::Invalid),
            TxError::OutputsExceedInputs {
                inputs: Amount::ZERO,
                outputs: Amount::ONE_COIN,
            },
            TxError::Oversized { size: 2, max: 1 },
        ]
    }

    fn every_block_error() -> Vec<BlockError> {
        let bits = CompactTarget::from_consensus(0);
        vec![
            BlockError::BadCompactTarget(bits, CompactTargetError::Zero(0)),
            BlockError::TargetAboveLimit(bits),
            BlockError::HighHash(BlockHash::ZERO),
            BlockError::BadDifficultyBits {
                expected: bits,
                found: bits,
            },
            BlockError::TimeTooOld {
                time: 0,
                median_time_past: 1,
            },
            BlockError::TimeTooNew { time: 2, now: 1 },
            BlockError::WrongParent {
                expected: BlockHash::ZERO,
                found: BlockHash::ZERO,
            },
            BlockError::Oversized { size: 2, max: 1 },
            BlockError::NoTransactions,
            BlockError::FirstNotCoinbase,
            BlockError::ExtraCoinbase(1),
            BlockError::BadCoinbaseHeight {
                expected: Height::GENESIS,
                found: Height::new(1),
            },
            BlockError::CoinbaseTooLarge {
                paid: Amount::ONE_COIN,
                allowed: Amount::ZERO,
            },
            BlockError::BadMerkleRoot,
            BlockError::DuplicateTransaction(Txid::ZERO),
            BlockError::DoubleSpendInBlock(outpoint()),
            BlockError::FeesTooLarge,
        ]
    }

    #[test]
    fn the_code_lists_name_every_code_once() {
        let tx_codes: BTreeSet<_> = every_tx_error().iter().map(TxError::code).collect();
        assert_eq!(tx_codes, BTreeSet::from(TxError::CODES));
        assert_eq!(tx_codes.len(), TxError::CODES.len(), "a code listed twice");
        let block_codes: BTreeSet<_> = every_block_error().iter().map(BlockError::code).collect();
        assert_eq!(block_codes, BTreeSet::from(BlockError::CODES));
        assert_eq!(
            block_codes.len(),
            BlockError::CODES.len(),
            "a code listed twice"
        );
        let in_a_block = BlockError::Transaction {
            index: 1,
            txid: Txid::ZERO,
            source: TxError::NoInputs,
        };
        assert_eq!(in_a_block.code(), "tx-no-inputs");
    }
}
