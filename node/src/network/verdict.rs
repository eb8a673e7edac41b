//! What a peer's block or transaction says about the peer: the one place where a node's
//! judgement becomes a gossip verdict and, when the peer is at fault, an [`Offence`].
//!
//! A peer is at fault only for what no honest node could have sent: a block or header that
//! breaks a rule, a transaction invalid whatever the chain. What depends on our own view (a
//! missing or spent input, a full mempool, a block time ahead of *our* clock) is ignored,
//! not punished: an honest peer ahead of us or with another mempool sends such things.

use crate::chainstate::{ChainError, SubmitOutcome};
use crate::consensus::{BlockError, TxError};
use crate::ledger::TxSubmitError;
use crate::mempool::{Accepted, MempoolError};

use super::peers::Offence;

/// The fate of a gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Not forwarded, but the sender did nothing wrong.
    Ignore,
    /// Invalid: not forwarded, and the sender pays.
    Reject(Offence),
}

impl Verdict {
    /// The verdicts' names in metrics, every one.
    pub const LABELS: [&'static str; 3] = ["accept", "ignore", "reject"];

    /// This verdict's name in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Accept => Self::LABELS[0],
            Verdict::Ignore => Self::LABELS[1],
            Verdict::Reject(_) => Self::LABELS[2],
        }
    }
}

/// The verdict on a gossiped block, given what the node made of it.
pub fn on_block(result: &Result<SubmitOutcome, ChainError>) -> Verdict {
    match result {
        Ok(SubmitOutcome::Accepted { .. }) => Verdict::Accept,
        Ok(_) => Verdict::Ignore,
        Err(error) => block_offence(error).map_or(Verdict::Ignore, Verdict::Reject),
    }
}

/// What a block or header error costs the peer that sent it, if it is at fault.
pub fn block_offence(error: &ChainError) -> Option<Offence> {
    match error {
        ChainError::Invalid {
            error: BlockError::TimeTooNew { .. },
            ..
        } => None,
        ChainError::Invalid { .. } | ChainError::KnownInvalid(_) => Some(Offence::InvalidBlock),
        ChainError::Unconnected { .. } | ChainError::NotAChain { .. } => {
            Some(Offence::ProtocolViolation)
        }
        ChainError::Store(_) | ChainError::Inconsistent(_) => None,
    }
}

/// The verdict on a gossiped transaction.
pub fn on_transaction(result: &Result<Accepted, TxSubmitError>) -> Verdict {
    match result {
        Ok(_) => Verdict::Accept,
        Err(TxSubmitError::Rejected(MempoolError::Invalid(error)))
            if tx_is_invalid_anywhere(error) =>
        {
            Verdict::Reject(Offence::InvalidTransaction)
        }
        Err(_) => Verdict::Ignore,
    }
}

/// Whether a transaction error holds whatever the chain: the sender should have known.
fn tx_is_invalid_anywhere(error: &TxError) -> bool {
    match error {
        TxError::MissingInput(_) | TxError::ImmatureCoinbase { .. } => false,
        TxError::NoInputs
        | TxError::NoOutputs
        | TxError::OutputsTooLarge
        | TxError::DuplicateInput(_)
        | TxError::NullInput
        | TxError::UnexpectedCoinbase
        | TxError::WrongKey { .. }
        | TxError::BadSignature { .. }
        | TxError::OutputsExceedInputs { .. }
        | TxError::Oversized { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{BlockHash, OutPoint, Txid};

    fn invalid(error: BlockError) -> Result<SubmitOutcome, ChainError> {
        Err(ChainError::Invalid {
            hash: BlockHash::ZERO,
            error,
        })
    }

    #[test]
    fn invalid_blocks_cost_the_sender_but_clock_skew_and_orphans_do_not() {
        assert_eq!(
            on_block(&Ok(SubmitOutcome::Accepted {
                on_main_chain: true
            })),
            Verdict::Accept
        );
        assert_eq!(on_block(&Ok(SubmitOutcome::AlreadyKnown)), Verdict::Ignore);
        assert_eq!(
            on_block(&Ok(SubmitOutcome::LowWork)),
            Verdict::Ignore,
            "a low-work block is not relayed, and not punished by itself"
        );
        assert_eq!(
            on_block(&Ok(SubmitOutcome::Orphan {
                missing: BlockHash::ZERO
            })),
            Verdict::Ignore
        );
        assert_eq!(
            on_block(&invalid(BlockError::BadMerkleRoot)),
            Verdict::Reject(Offence::InvalidBlock)
        );
        assert_eq!(
            on_block(&Err(ChainError::KnownInvalid(BlockHash::ZERO))),
            Verdict::Reject(Offence::InvalidBlock)
        );
        assert_eq!(
            on_block(&invalid(BlockError::TimeTooNew { time: 9, now: 1 })),
            Verdict::Ignore
        );
        assert_eq!(
            on_block(&Err(ChainError::Inconsistent("disk".into()))),
            Verdict::Ignore
        );
    }

    #[test]
    fn transactions_are_punished_only_when_invalid_on_any_chain() {
        let rejected = |e: MempoolError| on_transaction(&Err(TxSubmitError::Rejected(e)));
        let outpoint = OutPoint {
            txid: Txid::ZERO,
            vout: 0,
        };
        assert_eq!(
            rejected(MempoolError::Invalid(TxError::NoInputs)),
            Verdict::Reject(Offence::InvalidTransaction)
        );
        assert_eq!(
            rejected(MempoolError::Invalid(TxError::WrongKey { index: 0 })),
            Verdict::Reject(Offence::InvalidTransaction)
        );
        assert_eq!(
            rejected(MempoolError::Invalid(TxError::MissingInput(outpoint))),
            Verdict::Ignore
        );
        assert_eq!(
            rejected(MempoolError::AlreadyInPool(Txid::ZERO)),
            Verdict::Ignore
        );
        assert_eq!(
            rejected(MempoolError::Conflict {
                outpoint,
                with: Txid::ZERO
            }),
            Verdict::Ignore
        );
    }
}
